"""Shared pieces of the pruning tests: random keep-sets and means, a reference run, a tolerance.

The reference for a pruned model is the original model with the removed neurons clamped to their
means by hooks (:func:`clamp_hooks`); :func:`run` returns what both are compared on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from jaxtyping import Float

import skillneuron_lens as snl
from skillneuron_lens.models.adapter import ModelAdapter
from tests.helpers.interventions import HOOK
from tests.helpers.tiny_llama import tiny_llama
from tests.helpers.tiny_models import tiny_encoder, tiny_gpt2, toy_texts

TOL = 1e-5
BUILDERS: dict[str, Callable[[], Any]] = {"gpt2": tiny_gpt2, "bert": tiny_encoder, "llama": tiny_llama}
TEXTS = toy_texts(6, seed=3, min_len=3, max_len=9)[0]


def n_layers(model: Any) -> int:
    """The model's number of layers."""
    return int(model.cfg.n_layers)


def width(model: Any) -> int:
    """The model's number of MLP neurons per layer."""
    return int(model.cfg.d_mlp)


def random_keep(model: Any, counts: Sequence[int], seed: int = 0) -> snl.NeuronSet:
    """Keep ``counts[i]`` random neurons in layer ``i``."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(counts), width(model), dtype=torch.bool)
    for row, count in enumerate(counts):
        mask[row, torch.randperm(width(model), generator=generator)[:count]] = True
    return snl.NeuronSet(mask, tuple(range(len(counts))), HOOK)


def random_means(keep: snl.NeuronSet, seed: int = 1) -> Float[torch.Tensor, "layer neuron"]:
    """Seeded float64 values to clamp removed neurons to, one per neuron of ``keep``'s layers."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(keep.mask.shape, generator=generator, dtype=torch.float64) * 0.5


def layer_counts(model: Any) -> list[int]:
    """Different widths per layer, one layer down to a single neuron."""
    return [7, 1, 20][: n_layers(model)] if n_layers(model) >= 3 else [7, 1]


def run(
    model: Any, extra_hooks: Iterable[tuple[str, Any]] = (), capture: Iterable[str] = ()
) -> tuple[Float[torch.Tensor, "token vocab"], Float[torch.Tensor, "token d_model"], dict[str, torch.Tensor]]:
    """Logits, the last layer's residual stream (non-padding tokens) and the captured hook activations."""
    adapter = ModelAdapter(model)
    batch = adapter.tokenize(TEXTS, padding_side="right")
    captured: dict[str, torch.Tensor] = {}

    def keep_as(name: str) -> Any:
        def hook(activations: torch.Tensor, hook: Any) -> None:
            captured[name] = activations.detach().clone()

        return hook

    last = f"blocks.{n_layers(model) - 1}.hook_resid_post"
    hooks = [*extra_hooks, (last, keep_as("resid"))] + [(name, keep_as(name)) for name in capture]
    with torch.no_grad(), adapter.hooks(hooks):
        output = adapter.forward(batch)
    logits = output if isinstance(output, torch.Tensor) else output.logits
    mask = batch.attention_mask.bool()
    return logits[mask], captured["resid"][mask], captured


def clamp_hooks(
    keep: snl.NeuronSet, means: Float[torch.Tensor, "layer neuron"], layers: Iterable[int] | None = None
) -> list[tuple[str, Any]]:
    """The reference: hooks that clamp the neurons ``keep`` removes to ``means``, on the model's device.

    Args:
        keep: the neurons a pruning keeps.
        means: the values of the removed neurons, one row per layer of ``keep`` (any device, dtype).
        layers: clamp only these layers (default: every layer of ``keep``).
    """
    chosen = None if layers is None else set(layers)
    hooks = []
    for row, layer in enumerate(keep.layers):
        if chosen is not None and layer not in chosen:
            continue
        removed = ~keep.mask[row]

        def clamp(
            activations: torch.Tensor,
            hook: Any,
            removed: torch.Tensor = removed,
            mean: torch.Tensor = means[row],
        ) -> torch.Tensor:
            values = mean[removed].to(device=activations.device, dtype=activations.dtype)
            activations[..., removed.to(activations.device)] = values
            return activations

        hooks.append((HOOK.format(layer=layer), clamp))
    return hooks


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest absolute difference between two tensors."""
    return float((a - b).abs().max())


def assert_roundoff(got: torch.Tensor, reference: torch.Tensor) -> None:
    """Equal up to float32 round-off: max abs difference below 1e-5 on the reference's scale."""
    scale = max(1.0, float(reference.abs().max()))
    assert max_diff(got, reference) < TOL * scale
