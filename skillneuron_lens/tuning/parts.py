"""The trainable parts of a tuned classifier: soft prompt, BitFit deltas, adapters, linear head.

Everything here lives *outside* the model and acts through hooks, so the pre-trained weights are
never touched (they stay bit-identical through training) and the FFN neurons keep their weights:

* soft prompt — ``L`` vectors spliced into the token embeddings (:mod:`skillneuron_lens.tuning.soft_prompt`);
* BitFit — one trainable bias delta per bias site, added at its hook: attention query/key/value
  (``attn.hook_q/k/v``), attention output (``hook_attn_out``), FFN input (``mlp.hook_pre``, the
  neurons' pre-activation bias) and FFN output (``hook_mlp_out``). Layer-norm biases are not
  included. Adding a delta at a hook equals training that bias (for models without biases, such as
  Llama, it adds one);
* adapters — a bottleneck ``x + up(gelu(down(x)))`` after each MLP output (``hook_mlp_out``),
  ``up`` initialised to zero so training starts from the frozen model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from jaxtyping import Float
from torch import nn

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import ModelAdapter, TokenBatch

__all__ = [
    "Method",
    "METHODS",
    "BITFIT_SITES",
    "ADAPTER_SITE",
    "HookList",
    "Adapter",
    "hook_output_shapes",
    "TunableParts",
    "random_vocabulary_ids",
    "repeat_to_length",
]

Method = Literal["prompt", "bitfit", "adapter", "none"]
METHODS: tuple[str, ...] = ("prompt", "bitfit", "adapter", "none")
BITFIT_SITES: tuple[str, ...] = (
    "blocks.{layer}.attn.hook_q",
    "blocks.{layer}.attn.hook_k",
    "blocks.{layer}.attn.hook_v",
    "blocks.{layer}.hook_attn_out",
    "blocks.{layer}.mlp.hook_pre",
    "blocks.{layer}.hook_mlp_out",
)
ADAPTER_SITE = "blocks.{layer}.hook_mlp_out"
HookList = list[tuple[str, Callable[..., Any]]]


def _key(hook_name: str) -> str:
    """A module/parameter key for a hook name (dots are not allowed in keys)."""
    return hook_name.replace(".", "__")


class Adapter(nn.Module):
    """A residual bottleneck ``x + up(gelu(down(x)))`` that starts as the identity.

    Args:
        width: Size of the vector it acts on.
        bottleneck: Hidden size.
    """

    def __init__(self, width: int, bottleneck: int) -> None:
        """Create the two projections; ``up`` starts at zero."""
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: Float[torch.Tensor, "... width"]) -> Float[torch.Tensor, "... width"]:
        """Add the adapter's output to its input."""
        return x + self.up(nn.functional.gelu(self.down(x.float()))).to(x.dtype)


def hook_output_shapes(
    adapter: ModelAdapter, names: Sequence[str], batch: TokenBatch
) -> dict[str, tuple[int, ...]]:
    """Trailing shape (after batch and position) of each hook's output, from one forward pass."""
    shapes: dict[str, tuple[int, ...]] = {}

    def make(name: str) -> Callable[..., None]:
        def record(values: torch.Tensor, hook: Any) -> None:
            shapes[name] = tuple(values.shape[2:])

        return record

    adapter.run_until_stopped(batch, [(name, make(name)) for name in names])
    return shapes


class TunableParts(nn.Module):
    """Every trainable tensor of a tuned classifier, as one module (its state dict is the checkpoint).

    Args:
        prompt: Initial soft-prompt vectors ``[slot, d_model]`` or ``None``.
        n_classes: Classes of the linear head, or ``None`` for a verbalizer (no head parameters).
        d_model: Residual width (for the linear head).
    """

    def __init__(
        self, prompt: Float[torch.Tensor, "slot d_model"] | None, n_classes: int | None, d_model: int
    ) -> None:
        """Create the prompt and head; deltas and adapters are added by the ``add_*`` methods."""
        super().__init__()
        self.prompt = None if prompt is None else nn.Parameter(prompt.detach().clone().float())
        self.head = None if n_classes is None else nn.Linear(d_model, n_classes)
        self.deltas = nn.ParameterDict()
        self.adapters = nn.ModuleDict()
        self.delta_sites: list[str] = []
        self.adapter_sites: list[str] = []

    def add_bitfit(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """One zero-initialised bias delta per hook, shaped like the hook's trailing dimensions."""
        for name, shape in shapes.items():
            self.deltas[_key(name)] = nn.Parameter(torch.zeros(shape))
            self.delta_sites.append(name)

    def add_adapters(self, sites: Sequence[str], width: int, bottleneck: int) -> None:
        """One bottleneck adapter per hook."""
        if bottleneck < 1:
            raise SkillNeuronError(f"adapter_size must be at least 1, got {bottleneck}.")
        for name in sites:
            self.adapters[_key(name)] = Adapter(width, bottleneck)
            self.adapter_sites.append(name)

    def model_hooks(self) -> HookList:
        """Hooks adding the BitFit deltas and adapters (the prompt is spliced separately)."""
        hooks: HookList = []
        for name in self.delta_sites:
            delta = self.deltas[_key(name)]
            hooks.append((name, lambda values, hook, delta=delta: values + delta.to(values.dtype)))
        for name in self.adapter_sites:
            module = self.adapters[_key(name)]
            hooks.append((name, lambda values, hook, module=module: module(values)))
        return hooks

    def n_trainable(self) -> int:
        """Number of trainable scalars."""
        return sum(parameter.numel() for parameter in self.parameters())


def random_vocabulary_ids(vocab_size: int, count: int, seed: int) -> list[int]:
    """``count`` token ids drawn uniformly (seeded), for initialising a prompt from the vocabulary."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (count,), generator=generator).tolist()


def repeat_to_length(ids: Sequence[int], length: int) -> list[int]:
    """Cycle ``ids`` until ``length`` entries (for a prompt initialised from a short text)."""
    if not ids:
        raise SkillNeuronError("The prompt initialisation text encodes to no tokens.")
    return (list(ids) * math.ceil(length / len(ids)))[:length]
