"""A hooked module whose neurons are all 1, and tasks whose correctness hangs on single neurons.

With it, the accuracy under any perturbation is known by hand: example ``i`` of a task made by
:func:`make_task` is correct exactly when its own neuron was left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import torch
from jaxtyping import Bool, Float

import skillneuron_lens as snl

try:
    from transformer_lens import HookedRootModule
except ImportError:  # TransformerLens 2.x
    from transformer_lens.hook_points import HookedRootModule
from transformer_lens.hook_points import HookPoint

N_LAYERS, WIDTH = 2, 20


class _MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_post = HookPoint()


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = _MLP()


class FakeNeurons(HookedRootModule):
    """A hooked module whose 'neurons' are all 1: each layer passes its input through hook_post.

    ``N_LAYERS`` layers of ``WIDTH`` neurons at ``blocks.{layer}.mlp.hook_post``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cfg = SimpleNamespace(n_layers=N_LAYERS)
        self.blocks = torch.nn.ModuleList([_Block() for _ in range(N_LAYERS)])
        self.setup()

    def forward(
        self, x: Float[torch.Tensor, "batch pos neuron"]
    ) -> Float[torch.Tensor, "layer batch pos neuron"]:
        """Each layer's hook_post output, stacked."""
        return torch.stack([block.mlp.hook_post(x) for block in self.blocks])


def make_task(
    model: FakeNeurons, depends_on: list[tuple[int, int]]
) -> tuple[
    Callable[[], Bool[torch.Tensor, " example"]],
    Callable[[snl.NeuronSet], Bool[torch.Tensor, " example"]],
    list[int],
]:
    """Example i is correct unless its neuron ``depends_on[i]`` (layer, index) is perturbed.

    Returns:
        The evaluator (per-example correctness under the current hooks), the hand-computed
        correctness when a given set is perturbed, and a list that grows by one per evaluation.
    """
    layers = torch.tensor([layer for layer, _ in depends_on])
    index = torch.tensor([neuron for _, neuron in depends_on])
    calls: list[int] = []

    def evaluate() -> Bool[torch.Tensor, " example"]:
        calls.append(1)
        out = model(torch.ones(len(depends_on), 1, WIDTH))  # [layer, example, pos, neuron]
        return (out[layers, torch.arange(len(depends_on)), 0, index] == 1.0).clone()

    def reference(neuron_set: snl.NeuronSet) -> Bool[torch.Tensor, " example"]:
        return torch.tensor([(layer, n) not in neuron_set for layer, n in depends_on])

    return evaluate, reference, calls
