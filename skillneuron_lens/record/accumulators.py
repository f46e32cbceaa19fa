"""Mergeable accumulators: what a recorder keeps instead of the activations.

Both accumulators hold float64 sums or int64 counts of shape ``[subtask, slot, layer, neuron]``.
Two accumulators over disjoint shards of the data merge by adding (``merge`` here, or
``all_reduce`` across ``torch.distributed`` processes), giving the same answer as one pass.

Targets: each example has one entry per binary subtask, ``1`` (positive), ``0`` (negative) or
``-1`` (not part of that subtask, e.g. class 1 in the "pn" subtask of a 3-class task).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "ActivationCollector",
    "ColumnFanOut",
    "MeanAccumulator",
    "ThresholdAccuracyAccumulator",
    "TokenMeanAccumulator",
    "WeightedMeanAccumulator",
    "check_finite",
]


def check_finite(values: torch.Tensor, where: str) -> None:
    """Raise a clear error naming ``where`` if any of ``values`` is NaN or infinite.

    Raises:
        SkillNeuronError: With the number of bad values and what to check.
    """
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
        """The tensors that merge by adding."""
        raise NotImplementedError

    def _extremes(self) -> list[tuple[torch.Tensor, str]]:
        """Tensors that merge by ``"min"`` or ``"max"`` instead of adding (none by default)."""
        return []

    def state(self) -> list[torch.Tensor]:
        """Every tensor the examples added so far changed (sums, counts, minima, maxima), in a fixed order.

        With :meth:`load_state` this checkpoints a pass: an accumulator of the same shapes that loads
        the state and is fed the remaining batches ends with the same tensors, bit for bit, as one
        fed every batch (the additions happen in the same order).
        """
        return [*self._tensors(), *(tensor for tensor, _ in self._extremes())]

    def load_state(self, state: list[torch.Tensor]) -> None:
        """Replace this accumulator's tensors by a :meth:`state` saved earlier (copied in place).

        Raises:
            SkillNeuronError: If the number, shapes or dtypes of the tensors differ from this one's.
        """
        mine = self.state()
        if len(state) != len(mine):
            raise SkillNeuronError(
                f"A saved {type(self).__name__} state has {len(state)} tensors, expected {len(mine)}."
            )
        for index, (current, saved) in enumerate(zip(mine, state, strict=True)):
            if current.shape != saved.shape or current.dtype != saved.dtype:
                raise SkillNeuronError(
                    f"Tensor {index} of a saved {type(self).__name__} state is {saved.dtype} "
                    f"{tuple(saved.shape)}, expected {current.dtype} {tuple(current.shape)}."
                )
        for current, saved in zip(mine, state, strict=True):
            current.copy_(saved.to(current.device))

    def merge(self, other: _Accumulator) -> None:
        """Add another accumulator's sums (same shapes) into this one; minima and maxima combine."""
        if type(other) is not type(self):
            raise SkillNeuronError(f"Cannot merge {type(other).__name__} into {type(self).__name__}.")
        mine_all, theirs_all = self.state(), other.state()
        for mine, theirs in zip(mine_all, theirs_all, strict=True):
            if mine.shape != theirs.shape:
                raise SkillNeuronError(
                    f"Cannot merge accumulators of shapes {tuple(theirs.shape)} and {tuple(mine.shape)}."
                )
        for mine, theirs in zip(self._tensors(), other._tensors(), strict=True):
            mine += theirs.to(mine.device)
        for (mine, how), (theirs, _) in zip(self._extremes(), other._extremes(), strict=True):
            combine = torch.minimum if how == "min" else torch.maximum
            mine.copy_(combine(mine, theirs.to(mine.device)))

    def all_reduce(self) -> None:
        """Sum this accumulator across ``torch.distributed`` processes (no-op when not initialised)."""
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            return
        for tensor in self._tensors():
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        for tensor, how in self._extremes():
            dist.all_reduce(tensor, op=dist.ReduceOp.MIN if how == "min" else dist.ReduceOp.MAX)


@dataclass
class MeanAccumulator(_Accumulator):
    """Per-subtask train statistics: the baseline (mean activation), spread, minimum and maximum.

    Sums, sums of squares and counts merge by adding; minima and maxima by ``min`` / ``max``.
    """

    sums: torch.Tensor = field(init=False)
    sums_of_squares: torch.Tensor = field(init=False)
    minimum: torch.Tensor = field(init=False)
    maximum: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        """Allocate zeroed sums and counts, and empty extremes."""
        self.sums = self._zeros(torch.float64)
        self.sums_of_squares = self._zeros(torch.float64)
        self.minimum = self._zeros(torch.float64).fill_(math.inf)
        self.maximum = self._zeros(torch.float64).fill_(-math.inf)
        self.counts = self._new_counts()

    def _tensors(self) -> list[torch.Tensor]:
        return [self.sums, self.sums_of_squares, self.counts]

    def _extremes(self) -> list[tuple[torch.Tensor, str]]:
        return [(self.minimum, "min"), (self.maximum, "max")]

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Add one layer's reduced activations for the batch."""
        check_finite(values, where)
        values = values.to(torch.float64)
        included = (targets >= 0).to(values.dtype)
        self.sums[:, :, layer_slot, :] += torch.einsum("bs,bkn->skn", included, values)
        self.sums_of_squares[:, :, layer_slot, :] += torch.einsum("bs,bkn->skn", included, values.square())
        for subtask in range(self.n_subtasks):
            keep = targets[:, subtask] >= 0
            if bool(keep.any()):
                kept = values[keep]
                low, high = self.minimum[subtask, :, layer_slot], self.maximum[subtask, :, layer_slot]
                low.copy_(torch.minimum(low, kept.amin(dim=0)))
                high.copy_(torch.maximum(high, kept.amax(dim=0)))

    def means(self) -> Float[torch.Tensor, "subtask slot layer neuron"]:
        """The baselines: sums divided by counts."""
        if bool((self.counts == 0).any()):
            raise SkillNeuronError("A subtask has no training examples; cannot compute its baseline.")
        return self.sums / self.counts[:, None, None, None].to(self.sums.dtype)

    def stds(self) -> Float[torch.Tensor, "subtask slot layer neuron"]:
        """Population standard deviation of the train activations (0 for a constant neuron)."""
        means = self.means()
        second_moment = self.sums_of_squares / self.counts[:, None, None, None].to(self.sums.dtype)
        return (second_moment - means.square()).clamp_min(0.0).sqrt()

    def layer_scales(self) -> Float[torch.Tensor, "subtask slot layer"]:
        """Each layer's activation scale: the root mean square over its neurons and train examples."""
        if bool((self.counts == 0).any()):
            raise SkillNeuronError("A subtask has no training examples; cannot compute its baseline.")
        second_moment = self.sums_of_squares / self.counts[:, None, None, None].to(self.sums.dtype)
        return second_moment.mean(dim=-1).sqrt()


@dataclass
class ThresholdAccuracyAccumulator(_Accumulator):
    """Dev counts per subtask, slot, layer and neuron for thresholding at the train baselines.

    Keeps, for every neuron, the number of examples where ``1[a > baseline] == y`` (``correct``), the
    number where it fires (``firing``, ``a > baseline``), and the number whose activation lies within
    ``tolerance`` of the baseline (``near_baseline``: comparisons that float rounding can decide), plus
    the examples (``counts``) and positives (``positives``) per subtask. ``correct`` and ``firing`` are
    what the exact permutation test needs (:mod:`skillneuron_lens.stats.significance`).

    Attributes:
        baselines: Train means ``[subtask, slot, layer, neuron]``.
        tolerance: Distance from the baseline below which a comparison counts as numerically
            fragile, broadcastable to ``[subtask, slot, layer, neuron]`` (default 0: exact ties only).
    """

    baselines: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    tolerance: torch.Tensor | float = 0.0
    correct: torch.Tensor = field(init=False)
    firing: torch.Tensor = field(init=False)
    near_baseline: torch.Tensor = field(init=False)
    positives: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        """Allocate zeroed counts and check the baselines' shape."""
        self.correct = self._zeros(torch.int64)
        self.firing = self._zeros(torch.int64)
        self.near_baseline = self._zeros(torch.int64)
        self.counts = self._new_counts()
        self.positives = self._new_counts()
        expected = (self.n_subtasks, self.n_slots, self.n_layers, self.n_neurons)
        if tuple(self.baselines.shape) != expected:
            raise SkillNeuronError(
                f"Baselines have shape {tuple(self.baselines.shape)}, expected {expected}."
            )
        self.baselines = self.baselines.to(device=self.device, dtype=torch.float64)
        tolerance = torch.as_tensor(self.tolerance, dtype=torch.float64, device=self.device)
        try:
            self.tolerance = tolerance.expand(expected)
        except RuntimeError:
            raise SkillNeuronError(
                f"tolerance of shape {tuple(tolerance.shape)} does not broadcast to {expected}."
            ) from None

    def _tensors(self) -> list[torch.Tensor]:
        return [self.correct, self.firing, self.near_baseline, self.counts, self.positives]

    def add_examples(self, targets: Int[torch.Tensor, "batch subtask"]) -> None:
        """Count the batch's examples and positives per subtask."""
        super().add_examples(targets)
        self.positives += (targets == 1).sum(dim=0).to(self.positives.device)

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Add one layer's reduced activations for the batch."""
        check_finite(values, where)
        assert isinstance(self.tolerance, torch.Tensor)
        for subtask in range(self.n_subtasks):
            target = targets[:, subtask]
            keep = target >= 0
            if not bool(keep.any()):
                continue
            baseline = self.baselines[subtask, :, layer_slot, :]
            kept = values[keep]
            above = kept > baseline
            agrees = above == target[keep].bool()[:, None, None]
            near = (kept - baseline).abs() <= self.tolerance[subtask, :, layer_slot, :]
            self.correct[subtask, :, layer_slot, :] += agrees.sum(dim=0)
            self.firing[subtask, :, layer_slot, :] += above.sum(dim=0)
            self.near_baseline[subtask, :, layer_slot, :] += near.sum(dim=0)

    def accuracy(self) -> Float[torch.Tensor, "subtask slot layer neuron"]:
        """Fraction of dev examples whose thresholded activation matches the label."""
        if bool((self.counts == 0).any()):
            raise SkillNeuronError("A subtask has no dev examples; cannot compute its accuracy.")
        return self.correct.double() / self.counts[:, None, None, None].double()


class ColumnFanOut:
    """Feeds one recording pass to several accumulators, each reading its own target columns.

    Lets one forward pass serve e.g. the dev counts (the real labels) and a permutation null (the
    permuted labels, stored as further target columns).

    Args:
        parts: ``(accumulator, columns)`` pairs; ``columns`` slices the targets' subtask axis.
    """

    def __init__(self, parts: list[tuple[Any, slice]]) -> None:
        """Keep the accumulators and their column slices."""
        self.parts = parts

    def add_examples(self, targets: Int[torch.Tensor, "batch column"]) -> None:
        """Count the batch in every accumulator."""
        for accumulator, columns in self.parts:
            accumulator.add_examples(targets[:, columns])

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch column"],
        where: str,
    ) -> None:
        """Add one layer's reduced activations to every accumulator."""
        for accumulator, columns in self.parts:
            accumulator.add_layer(layer_slot, values, targets[:, columns], where)


class _LayerSums:
    """Float64 sums per layer and a total weight; the mean is their ratio. Merges by adding.

    Layers are kept apart until :meth:`means`, so layers of different widths are reported clearly.
    Targets carry each example's weight in their first column.

    Args:
        n_layers: Recorded layers (slots of the recorder).
    """

    def __init__(self, n_layers: int) -> None:
        """Start with no sums and zero weight."""
        self.sums: list[Float[torch.Tensor, " neuron"] | None] = [None] * n_layers
        self.weight = 0

    def add_examples(self, targets: Int[torch.Tensor, "batch weight"]) -> None:
        """Add the batch's weights (the first column) to the total."""
        self.weight += int(targets[:, 0].sum())

    def _add(self, layer_slot: int, added: Float[torch.Tensor, " neuron"]) -> None:
        current = self.sums[layer_slot]
        self.sums[layer_slot] = added if current is None else current + added

    def merge(self, other: _LayerSums) -> None:
        """Add another accumulator's sums and weight (over other examples) into this one."""
        if type(other) is not type(self) or len(other.sums) != len(self.sums):
            raise SkillNeuronError(
                f"Cannot merge a {type(other).__name__} over {len(other.sums)} layers into a "
                f"{type(self).__name__} over {len(self.sums)}."
            )
        for slot, theirs in enumerate(other.sums):
            if theirs is not None:
                self._add(slot, theirs)
        self.weight += other.weight

    def means(self) -> Float[torch.Tensor, "layer neuron"]:
        """The means, ``[layer, neuron]`` in float64 on the CPU.

        Raises:
            SkillNeuronError: With no weight, a layer never added, or layers of different widths.
        """
        if self.weight <= 0:
            raise SkillNeuronError("No examples (or only zero weights) were added; there is no mean.")
        sums = [total for total in self.sums if total is not None]
        if len(sums) != len(self.sums):
            raise SkillNeuronError("A recorded layer never received activations; there is no mean for it.")
        if len({int(total.numel()) for total in sums}) != 1:
            raise SkillNeuronError(
                "The layers have different widths (an already pruned model?); read them one layer at a "
                "time with layers=[l]."
            )
        return torch.stack(sums).cpu() / self.weight


class WeightedMeanAccumulator(_LayerSums):
    """Weighted mean of each example's activation averaged over its slots, per layer.

    The weight of each example is its first target column (e.g. 1 for every example), so the result
    is ``sum_b w_b * mean_slot(a_b) / sum_b w_b``.
    """

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch weight"],
        where: str,
    ) -> None:
        """Add one layer's weighted per-example means."""
        check_finite(values, where)
        weights = targets[:, 0].to(device=values.device, dtype=values.dtype)
        self._add(layer_slot, torch.einsum("b,bn->n", weights, values.mean(dim=1)).cpu())


class TokenMeanAccumulator(_LayerSums):
    """Mean over every token: adds batch totals over tokens and counts the tokens.

    Fed by a recorder that reduces each batch with :func:`~skillneuron_lens.record.positions.token_sums`
    (values ``[1, 1, neuron]``: the batch's sum over its tokens), with each example's number of tokens
    as its target.
    """

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "1 1 neuron"],
        targets: Int[torch.Tensor, "batch weight"],
        where: str,
    ) -> None:
        """Add one layer's batch total."""
        del targets
        check_finite(values, where)
        if tuple(values.shape[:2]) != (1, 1):
            raise SkillNeuronError(
                f"TokenMeanAccumulator takes one batch total per layer ([1, 1, neuron]), got "
                f"{tuple(values.shape)} at {where}; record with token_sums."
            )
        self._add(layer_slot, values[0, 0])


class ActivationCollector:
    """Keeps every example's reduced activations, per layer (a pool, or one neuron's values).

    Unlike the other accumulators this grows with the number of examples. Targets are ignored.

    Args:
        n_layers: Recorded layers (slots of the recorder).
        neuron: Keep only this neuron's values; ``None`` keeps every neuron.
        dtype: The dtype the values are stored in (on the CPU).
    """

    def __init__(
        self, n_layers: int, *, neuron: int | None = None, dtype: torch.dtype = torch.float32
    ) -> None:
        """Start with no values."""
        self.chunks: list[list[torch.Tensor]] = [[] for _ in range(n_layers)]
        self.neuron = neuron
        self.dtype = dtype

    def add_examples(self, targets: Int[torch.Tensor, "batch subtask"]) -> None:
        """Nothing to count."""
        del targets

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Keep one layer's values (or the chosen neuron's) for the batch."""
        del targets
        check_finite(values, where)
        if self.neuron is not None:
            if not 0 <= self.neuron < values.shape[-1]:
                raise SkillNeuronError(
                    f"Neuron {self.neuron} is out of range 0..{values.shape[-1] - 1} at {where}."
                )
            values = values[:, :, self.neuron : self.neuron + 1]
        self.chunks[layer_slot].append(values.to(self.dtype).cpu())

    def merge(self, other: ActivationCollector) -> None:
        """Append another collector's examples after this one's (same layers and selection)."""
        if len(other.chunks) != len(self.chunks) or other.neuron != self.neuron:
            raise SkillNeuronError("Cannot merge collectors of different layers or neuron selections.")
        for mine, theirs in zip(self.chunks, other.chunks, strict=True):
            mine.extend(theirs)

    def per_layer(self) -> list[Float[torch.Tensor, "example slot neuron"]]:
        """The kept values, one ``[example, slot, neuron]`` tensor per layer.

        Raises:
            SkillNeuronError: If no example was added.
        """
        if any(not chunks for chunks in self.chunks):
            raise SkillNeuronError("No activations were collected for some layer; give at least one text.")
        return [torch.cat(chunks) for chunks in self.chunks]
