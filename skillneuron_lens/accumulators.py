"""Mergeable accumulators: what a recorder keeps instead of the activations.

Both accumulators hold float64 sums or int64 counts of shape ``[subtask, slot, layer, neuron]``.
Two accumulators over disjoint shards of the data merge by adding (``merge`` here, or
``all_reduce`` across ``torch.distributed`` processes), giving the same answer as one pass.

Targets: each example has one entry per binary subtask, ``1`` (positive), ``0`` (negative) or
``-1`` (not part of that subtask, e.g. class 1 in the "pn" subtask of a 3-class task).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError


def _check_finite(values: torch.Tensor, where: str) -> None:
    if not bool(torch.isfinite(values).all()):
        n_bad = int((~torch.isfinite(values)).sum())
        raise SkillNeuronError(
            f"{n_bad} activation value(s) at {where} are NaN or infinite. Check the model's dtype "
            "(float16 overflows easily; try float32 or bfloat16) and its inputs."
        )


@dataclass
class _Accumulator:
    """Shared shape bookkeeping and merging."""

    n_subtasks: int
    n_slots: int
    n_layers: int
    n_neurons: int
    device: torch.device | str = "cpu"
    counts: torch.Tensor = field(init=False)

    def _new_counts(self) -> torch.Tensor:
        return torch.zeros(self.n_subtasks, dtype=torch.int64, device=self.device)

    def add_examples(self, targets: Int[torch.Tensor, "batch subtask"]) -> None:
        """Count the batch's examples per subtask, once per batch (not once per layer)."""
        self.counts += (targets >= 0).sum(dim=0).to(self.counts.device)

    def _zeros(self, dtype: torch.dtype) -> torch.Tensor:
        shape = (self.n_subtasks, self.n_slots, self.n_layers, self.n_neurons)
        return torch.zeros(shape, dtype=dtype, device=self.device)

    def _tensors(self) -> list[torch.Tensor]:
        raise NotImplementedError

    def merge(self, other: _Accumulator) -> None:
        """Add another accumulator's sums (same shapes) into this one."""
        if type(other) is not type(self):
            raise SkillNeuronError(f"Cannot merge {type(other).__name__} into {type(self).__name__}.")
        for mine, theirs in zip(self._tensors(), other._tensors(), strict=True):
            if mine.shape != theirs.shape:
                raise SkillNeuronError(
                    f"Cannot merge accumulators of shapes {tuple(theirs.shape)} and {tuple(mine.shape)}."
                )
            mine += theirs.to(mine.device)

    def all_reduce(self) -> None:
        """Sum this accumulator across ``torch.distributed`` processes (no-op when not initialised)."""
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            return
        for tensor in self._tensors():
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)


@dataclass
class MeanAccumulator(_Accumulator):
    """Per-subtask sums and counts for the baseline (mean activation on the train split)."""

    sums: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        """Allocate zeroed sums and counts."""
        self.sums = self._zeros(torch.float64)
        self.counts = self._new_counts()

    def _tensors(self) -> list[torch.Tensor]:
        return [self.sums, self.counts]

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Add one layer's reduced activations for the batch."""
        _check_finite(values, where)
        included = (targets >= 0).to(values.dtype)
        self.sums[:, :, layer_slot, :] += torch.einsum("bs,bkn->skn", included, values)

    def means(self) -> Float[torch.Tensor, "subtask slot layer neuron"]:
        """The baselines: sums divided by counts."""
        if bool((self.counts == 0).any()):
            raise SkillNeuronError("A subtask has no training examples; cannot compute its baseline.")
        return self.sums / self.counts[:, None, None, None].to(self.sums.dtype)


@dataclass
class ThresholdAccuracyAccumulator(_Accumulator):
    """Counts of dev examples where ``1[a > baseline] == y``, per subtask, slot, layer and neuron."""

    baselines: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    correct: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        """Allocate zeroed counts and check the baselines' shape."""
        self.correct = self._zeros(torch.int64)
        self.counts = self._new_counts()
        expected = (self.n_subtasks, self.n_slots, self.n_layers, self.n_neurons)
        if tuple(self.baselines.shape) != expected:
            raise SkillNeuronError(
                f"Baselines have shape {tuple(self.baselines.shape)}, expected {expected}."
            )
        self.baselines = self.baselines.to(device=self.device, dtype=torch.float64)

    def _tensors(self) -> list[torch.Tensor]:
        return [self.correct, self.counts]

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Add one layer's reduced activations for the batch."""
        _check_finite(values, where)
        for subtask in range(self.n_subtasks):
            target = targets[:, subtask]
            keep = target >= 0
            if not bool(keep.any()):
                continue
            above = values[keep] > self.baselines[subtask, :, layer_slot, :]
            agrees = above == target[keep].bool()[:, None, None]
            self.correct[subtask, :, layer_slot, :] += agrees.sum(dim=0)

    def accuracy(self) -> Float[torch.Tensor, "subtask slot layer neuron"]:
        """Fraction of dev examples whose thresholded activation matches the label."""
        if bool((self.counts == 0).any()):
            raise SkillNeuronError("A subtask has no dev examples; cannot compute its accuracy.")
        return self.correct.double() / self.counts[:, None, None, None].double()
