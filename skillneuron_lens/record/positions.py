"""Which token positions a recorder reads, and how it reduces a padded batch to them.

Positions are given in *content coordinates*: position 0 is the first non-padding token of each
example (the [CLS] token on BERT, the first token on a decoder), ``-1`` is the last non-padding token.
This makes the answer independent of left or right padding.

A :class:`PositionSpec` yields one or more *slots* per example:

* an ``int`` or a list of ``int`` — fixed positions, one slot each (e.g. soft-prompt slots);
* ``"last"`` — the last non-padding token (one slot);
* ``"mean"`` / ``"max"`` — mean or max over all non-padding tokens, special tokens included (one slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Union

import torch
from jaxtyping import Bool, Float, Int

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "PoolingMode",
    "PositionsLike",
    "PositionSpec",
    "content_bounds",
    "gather_indices",
    "reduce_positions",
    "token_sums",
]

PoolingMode = Literal["last", "mean", "max"]
PositionsLike = Union[int, Sequence[int], PoolingMode, "PositionSpec"]
_POOLING_MODES = ("last", "mean", "max")


@dataclass(frozen=True)
class PositionSpec:
    """The positions read from every example.

    Attributes:
        fixed: Fixed content positions (negative counts from the end), one slot each; empty when a
            pooling mode is used.
        pooling: ``"last"``, ``"mean"`` or ``"max"``, or ``None`` for fixed positions.
    """

    fixed: tuple[int, ...] = ()
    pooling: PoolingMode | None = None

    @classmethod
    def parse(cls, positions: PositionsLike) -> PositionSpec:
        """Build a spec from an int, a list of ints, a pooling name, or a spec.

        Args:
            positions: What to read (see the module docstring).

        Returns:
            The spec.

        Raises:
            SkillNeuronError: For an empty list, repeated positions or an unknown mode.
        """
        if isinstance(positions, PositionSpec):
            return positions
        if isinstance(positions, str):
            if positions not in _POOLING_MODES:
                raise SkillNeuronError(
                    f"Unknown position mode {positions!r}. Use an int (e.g. 0 for [CLS]), a list of "
                    f"ints (e.g. soft-prompt slots), or one of {list(_POOLING_MODES)}."
                )
            return cls(pooling=positions)  # type: ignore[arg-type]
        if isinstance(positions, bool):
            raise SkillNeuronError("positions must be an int, a list of ints or a mode name, not a bool.")
        if isinstance(positions, int):
            return cls(fixed=(positions,))
        fixed = tuple(positions)
        if not fixed:
            raise SkillNeuronError("positions is an empty list: give at least one position.")
        if any(isinstance(p, bool) or not isinstance(p, int) for p in fixed):
            raise SkillNeuronError(f"positions must be ints, got {list(fixed)!r}.")
        if len(set(fixed)) != len(fixed):
            raise SkillNeuronError(f"positions has repeated entries: {list(fixed)!r}.")
        return cls(fixed=fixed)

    @property
    def n_slots(self) -> int:
        """Number of values each example contributes per neuron."""
        return len(self.fixed) if self.pooling is None else 1

    @property
    def slot_names(self) -> list[str]:
        """Human-readable names of the slots, e.g. ``["pos 0"]`` or ``["mean"]``."""
        if self.pooling is not None:
            return [self.pooling]
        return [f"pos {p}" for p in self.fixed]

    def to_json(self) -> int | list[int] | str:
        """A JSON-friendly form that :meth:`parse` reads back."""
        if self.pooling is not None:
            return self.pooling
        return list(self.fixed)


def content_bounds(
    attention_mask: Int[torch.Tensor, "batch pos"],
) -> tuple[Int[torch.Tensor, " batch"], Int[torch.Tensor, " batch"]]:
    """First index and length of each example's non-padding tokens.

    Args:
        attention_mask: 1 for real tokens, 0 for padding (left or right, contiguous).

    Returns:
        ``(start, length)`` per example.

    Raises:
        SkillNeuronError: If an example has no tokens or its real tokens are not contiguous.
    """
    mask = attention_mask.bool()
    length = mask.sum(dim=1)
    if bool((length == 0).any()):
        bad = int((length == 0).nonzero()[0])
        raise SkillNeuronError(f"Example {bad} of the batch has no tokens (an all-padding row).")
    start = mask.int().argmax(dim=1)
    positions = torch.arange(mask.shape[1], device=mask.device)
    expected = (positions[None, :] >= start[:, None]) & (positions[None, :] < (start + length)[:, None])
    if not bool((expected == mask).all()):
        raise SkillNeuronError(
            "The attention mask has padding in the middle of an example; only left or right padding "
            "is supported."
        )
    return start, length


def gather_indices(
    spec: PositionSpec, attention_mask: Int[torch.Tensor, "batch pos"]
) -> Int[torch.Tensor, "batch slot"]:
    """Absolute token indices of the fixed positions (or ``"last"``) for each example.

    Raises:
        SkillNeuronError: If an example is too short for a requested position.
    """
    start, length = content_bounds(attention_mask)
    offsets = [-1] if spec.pooling == "last" else list(spec.fixed)
    wanted = torch.tensor(offsets, device=attention_mask.device)
    relative = torch.where(wanted[None, :] < 0, length[:, None] + wanted[None, :], wanted[None, :])
    out_of_range = (relative < 0) | (relative >= length[:, None])
    if bool(out_of_range.any()):
        row, slot = (int(i) for i in out_of_range.nonzero()[0])
        raise SkillNeuronError(
            f"Position {offsets[slot]} does not exist in example {row} of the batch, which has "
            f"{int(length[row])} tokens. Use positions inside every example (negative positions "
            f"count from the end), or 'last' / 'mean' / 'max'."
        )
    return start[:, None] + relative


def _check_aligned(activations: torch.Tensor, attention_mask: torch.Tensor) -> None:
    if activations.ndim != 3:
        raise SkillNeuronError(
            f"Expected hook activations of shape [batch, pos, neuron], got {tuple(activations.shape)}. "
            "Choose a hook whose output has one vector per token (e.g. blocks.{layer}.mlp.hook_post)."
        )
    if activations.shape[:2] != attention_mask.shape:
        raise SkillNeuronError(
            f"Hook activations cover {tuple(activations.shape[:2])} (batch, pos) but the attention "
            f"mask is {tuple(attention_mask.shape)}: a neuron site's second axis must be the token "
            "position (attention patterns and scores, [batch, head, query, key], are not neuron sites; "
            "use a per-token hook such as blocks.{layer}.attn.hook_z)."
        )


def token_sums(
    activations: Float[torch.Tensor, "batch pos neuron"], attention_mask: Int[torch.Tensor, "batch pos"]
) -> Float[torch.Tensor, "1 1 neuron"]:
    """The batch's float64 sum over every non-padding token, as one row with one slot.

    Dividing the sums of all batches by the number of tokens gives the mean over all tokens
    (:meth:`skillneuron_lens.record.recorder.Recorder.means` with ``per="token"``).
    """
    _check_aligned(activations, attention_mask)
    mask = attention_mask.to(torch.float64)
    return torch.einsum("bpn,bp->n", activations.to(torch.float64), mask)[None, None]


def reduce_positions(
    activations: Float[torch.Tensor, "batch pos neuron"],
    attention_mask: Int[torch.Tensor, "batch pos"],
    spec: PositionSpec,
) -> Float[torch.Tensor, "batch slot neuron"]:
    """Reduce one hook's activations to the spec's slots, in float64.

    The mean is computed in float64 over the non-padding tokens, so padding never changes it.

    Args:
        activations: The hook's output for the batch.
        attention_mask: The batch's attention mask, aligned with ``activations``' position axis.
        spec: The positions to read.

    Returns:
        Float64 values per example and slot.
    """
    _check_aligned(activations, attention_mask)
    if spec.pooling in ("mean", "max"):
        mask: Bool[torch.Tensor, "batch pos 1"] = attention_mask.bool()[:, :, None]
        values = activations.double()
        if spec.pooling == "mean":
            summed = values.masked_fill(~mask, 0.0).sum(dim=1)
            return (summed / mask.sum(dim=1))[:, None, :]
        return values.masked_fill(~mask, float("-inf")).amax(dim=1)[:, None, :]
    index = gather_indices(spec, attention_mask)
    batch_index = torch.arange(activations.shape[0], device=activations.device)[:, None]
    return activations[batch_index, index].double()
