"""Shared pieces of the intervention tests: a fixed choice of neurons and a before/after trace.

The tiny GPT-2 (:func:`tests.helpers.tiny_models.tiny_gpt2`) has 3 layers of ``WIDTH`` MLP neurons;
``CHOSEN`` picks a few of them in every layer, including the last column.
"""

from __future__ import annotations

from typing import Any

import torch
from jaxtyping import Float

import skillneuron_lens as snl
from skillneuron_lens.intervene.hooks import perturb
from skillneuron_lens.models.adapter import ModelAdapter, TokenBatch

HOOK = "blocks.{layer}.mlp.hook_post"
TEXTS = ["w1 w2 w3 w4 w5", "w6 w7", "w8 w9 w10 w11", "w12 w13 w14"]
WIDTH = 48
CHOSEN = [(0, 1), (0, 5), (1, 0), (2, 7), (2, 47)]

Trace = dict[int, Float[torch.Tensor, "batch pos neuron"]]


def neurons(pairs: list[tuple[int, int]], n_layers: int = 3, width: int = WIDTH) -> snl.NeuronSet:
    """A set of the given ``(layer, neuron)`` pairs over layers ``0 .. n_layers - 1``."""
    return snl.NeuronSet.from_list(pairs, layers=range(n_layers), n_neurons=width)


def spies(store: dict[int, torch.Tensor], n_layers: int = 3) -> list[tuple[str, Any]]:
    """Forward hooks that copy each layer's MLP activations into ``store[layer]``."""

    def make(layer: int) -> Any:
        return lambda act, hook: store.__setitem__(layer, act.detach().clone())

    return [(HOOK.format(layer=layer), make(layer)) for layer in range(n_layers)]


def trace(
    model: Any, batch: TokenBatch, chosen: snl.NeuronSet, mode: str, n_layers: int = 3, **kwargs: Any
) -> tuple[Trace, Trace]:
    """Activations just before and just after the intervention, at every layer, in one pass."""
    before: Trace = {}
    after: Trace = {}
    adapter = ModelAdapter(model)
    with (
        torch.no_grad(),
        model.hooks(fwd_hooks=spies(before, n_layers)),  # registered first: runs first
        perturb(model, chosen, mode, **kwargs),
        model.hooks(fwd_hooks=spies(after, n_layers)),
    ):
        adapter.forward(batch)
    return before, after


def columns(layer: int) -> list[int]:
    """The neurons of ``CHOSEN`` in ``layer``."""
    return [n for row, n in CHOSEN if row == layer]


def others(layer: int) -> list[int]:
    """The neurons of ``layer`` that ``CHOSEN`` leaves alone."""
    return [n for n in range(WIDTH) if n not in columns(layer)]
