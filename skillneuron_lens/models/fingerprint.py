"""A short, stable identity for a model, stored with every result.

It combines the model's class family, its shape (layers, widths, vocabulary) and a SHA-256 over
every parameter's name, shape, dtype, float64 sum and first and last few values. Two checkpoints of
the same architecture get different fingerprints; the same weights always get the same one.
The hash depends on how the model class names and lays out its parameters, so a
``HookedTransformer`` and a ``TransformerBridge`` of the same weights differ.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch

__all__ = ["model_fingerprint", "same_model"]

_EDGE = 64
_SHAPE_FIELDS = ("n_layers", "d_model", "d_mlp", "d_vocab", "n_heads", "n_ctx")


def model_fingerprint(model: Any) -> dict[str, Any]:
    """Identify a model by its architecture and weights.

    Args:
        model: Any torch module with a TransformerLens-style ``cfg``.

    Returns:
        A JSON-friendly dict: ``class``, ``model_name``, shape fields and ``weights_sha256``.
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters(), key=lambda item: item[0]):
            flat = parameter.detach().reshape(-1).to("cpu", torch.float64)
            digest.update(f"{name}|{tuple(parameter.shape)}|{parameter.dtype}|".encode())
            digest.update(f"{float(flat.sum()):.12e}".encode())
            digest.update(flat[:_EDGE].numpy().tobytes())
            digest.update(flat[-_EDGE:].numpy().tobytes())
    cfg = getattr(model, "cfg", None)
    shape = {key: getattr(cfg, key, None) for key in _SHAPE_FIELDS}
    return {
        "class": type(model).__name__,
        "model_name": str(getattr(cfg, "model_name", "")),
        **{key: (int(value) if isinstance(value, int) else value) for key, value in shape.items()},
        "weights_sha256": digest.hexdigest(),
    }


def same_model(saved: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether two fingerprints describe the same weights."""
    return saved.get("weights_sha256") == current.get("weights_sha256")
