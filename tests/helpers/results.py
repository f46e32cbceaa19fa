"""Predictivity results built by hand, for tests that need a known score per neuron."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float

import skillneuron_lens as snl

HOOK = "blocks.{layer}.mlp.hook_post"


def make_result(
    scores: Float[torch.Tensor, "layer neuron"] | Sequence[Sequence[float]],
    baseline: Float[torch.Tensor, "layer neuron"] | Sequence[Sequence[float]] | None = None,
    *,
    layers: Sequence[int] | None = None,
    hook: str = HOOK,
    fingerprint: dict[str, Any] | None = None,
) -> snl.PredictivityResult:
    """A one-run, one-slot binary result whose predictivity equals ``scores``.

    Args:
        scores: the accuracy of each neuron, values in [0.5, 1] so that predictivity equals them.
        baseline: the train means (thresholds) of the neurons; zeros by default.
        layers: the layer numbers of the rows (default ``0 .. n - 1``).
        hook: the hook-name template of the neurons.
        fingerprint: the model identity; a fixed dummy ``{"weights_sha256": "abc"}`` by default.
    """
    accuracy = torch.as_tensor(scores, dtype=torch.float64)[None, None, None]
    base = torch.zeros_like(accuracy)
    if baseline is not None:
        base = torch.as_tensor(baseline).double()[None, None, None]
    return snl.PredictivityResult(
        accuracy=accuracy,
        baseline=base,
        n_train=torch.ones(1, 1, dtype=torch.long),
        n_dev=torch.ones(1, 1, dtype=torch.long),
        layers=tuple(range(accuracy.shape[-2])) if layers is None else tuple(layers),
        hook=hook,
        slot_names=("pos 0",),
        subtask_names=("binary",),
        fingerprint={"weights_sha256": "abc"} if fingerprint is None else fingerprint,
    )
