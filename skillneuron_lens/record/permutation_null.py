"""A Monte Carlo label-permutation null, accumulated inside the dev pass.

For aggregated scores (max over slots, mean/min over runs, subtask merges) the exact tails of
:mod:`skillneuron_lens.stats.significance` only give union bounds. A permutation test is exact at any
aggregation: draw ``K`` permutations of each subtask's dev labels once (:func:`permuted_targets`),
accumulate for every neuron how often its firing indicator ``1[a > baseline]`` matches each permuted
label vector (:class:`PermutationNullAccumulator`, one batched matmul per layer), aggregate the
permuted scores exactly like the real ones (:func:`aggregate_null_scores`; every run fed the
permutations of the same seed), and compare (:func:`monte_carlo_p_values`).

Costs and limits:

* memory: ``K x subtasks x slots x layers x neurons`` float32 counters (whole numbers, exact below
  2^24 = 16.7 million dev examples, which is checked), i.e. 4 bytes each
  (K = 1,000 on 6 layers x 1,536 neurons, one slot and one subtask: 37 MB), plus the permuted
  targets, ``examples x subtasks x K`` int8;
* time: one in-place batched product ``[subtask, K, batch] @ [subtask, batch, slots x neurons]``
  per layer and batch. Measured on one thread of a loaded 2-core CPU: 320 dev examples x 6 layers
  x 1,536 neurons with K = 1,000 take about 0.5 s (the plain accuracy counts: about 0.12 s), and
  :func:`permuted_targets` about 0.1 s;
* resolution: the smallest attainable p-value is ``1 / (K + 1)``. Benjamini-Hochberg over ``N``
  neurons at level ``q`` needs ``p <= q / N`` for even one discovery, so ``K >= N / q - 1``
  (``N = 9,216``, ``q = 0.05``: ``K >= 184,319``); :func:`check_permutations_reach` says so. Use the
  exact p-values for FDR selection and this null for chance bands (:func:`null_layer_maxima`) and
  for checking aggregated p-values.
"""

from __future__ import annotations

import math

import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.record.accumulators import _Accumulator, check_finite
from skillneuron_lens.stats.significance import RunAggregation, aggregate_scores, check_q

__all__ = [
    "permuted_targets",
    "PermutationNullAccumulator",
    "aggregate_null_scores",
    "monte_carlo_p_values",
    "null_layer_maxima",
    "minimum_permutations",
    "check_permutations_reach",
]

_FLOAT32_EXACT = 1 << 24
"""Counts below this are whole numbers held exactly in float32 (every partial sum is one too)."""

_RANDOM_BLOCK = 1 << 21
"""Random numbers drawn at once while permuting (fixed, so results depend only on the seed)."""


def permuted_targets(
    targets: Int[torch.Tensor, "example subtask"], n_permutations: int, seed: int = 0
) -> Int[torch.Tensor, "example permuted"]:
    """``K`` label permutations of every subtask, over the whole split.

    Column ``j * K + p`` holds permutation ``p`` of subtask ``j``: that subtask's labels shuffled
    among its included rows (rows with ``-1`` stay ``-1``; class counts are preserved). The result
    depends only on ``targets``, ``n_permutations`` and ``seed``, so processes that each read their share
    of its rows (whole batches, see ``compute_predictivity(distributed=True)``) agree with one process
    reading all of it.

    Args:
        targets: ``1`` / ``0`` / ``-1`` per example and subtask (the whole dev split).
        n_permutations: ``K >= 1``.
        seed: Seed of the draw.

    Returns:
        int8 targets ``[example, subtask * K]`` on the CPU.

    Raises:
        SkillNeuronError: If ``K < 1`` or ``targets`` is not a 2-d tensor of 1 / 0 / -1.
    """
    if n_permutations < 1:
        raise SkillNeuronError(f"n_permutations must be at least 1, got {n_permutations}.")
    if targets.ndim != 2 or not bool(((targets == 1) | (targets == 0) | (targets == -1)).all()):
        raise SkillNeuronError("targets must be [example, subtask] holding 1, 0 or -1.")
    targets = targets.cpu()
    generator = torch.Generator().manual_seed(seed)
    n_examples, n_subtasks = targets.shape
    out = torch.full((n_examples, n_subtasks * n_permutations), -1, dtype=torch.int8)
    for subtask in range(n_subtasks):
        rows = torch.nonzero(targets[:, subtask] >= 0).squeeze(1)
        labels = targets[rows, subtask].to(torch.int8)
        per_block = max(1, _RANDOM_BLOCK // max(len(rows), 1))
        for first in range(0, n_permutations, per_block):
            count = min(per_block, n_permutations - first)
            order = torch.rand(count, len(rows), generator=generator, dtype=torch.float64).argsort(dim=1)
            column = subtask * n_permutations + first
            out[rows, column : column + count] = labels[order].T
    return out


class PermutationNullAccumulator(_Accumulator):
    """Correct counts of every neuron against ``K`` permuted label vectors per subtask.

    Fed by the recorder like :class:`~skillneuron_lens.record.accumulators.ThresholdAccuracyAccumulator`,
    but with targets from :func:`permuted_targets` (``[batch, subtask * K]``). Over the included
    rows of subtask ``j``, with firing ``f`` and permuted labels ``y``,
    ``correct = sum(1 - f - y + 2 f y) = n - F - m + 2 y^T f``: the number of positives ``m`` is
    the same for every permutation, so only the matches ``y^T f`` are kept per permutation (float32
    whole numbers, exact below 2^24, laid out ``[layer, subtask, perm, slot, neuron]`` so that
    each layer's batch is one in-place batched product ``baddbmm_``), next to int64 firing
    counts ``F`` ``[subtask, slot, layer, neuron]`` (the ``k`` of the exact test), examples and
    positives per subtask. All are sums: merging and all-reducing add them, like the other
    accumulators.
    """

    def __init__(
        self,
        n_subtasks: int,
        n_slots: int,
        n_layers: int,
        n_neurons: int,
        n_permutations: int,
        baselines: Float[torch.Tensor, "subtask slot layer neuron"],
        device: torch.device | str = "cpu",
    ) -> None:
        """Allocate zeroed counters.

        Args:
            n_subtasks: Binary subtasks.
            n_slots: Probed slots.
            n_layers: Recorded layers.
            n_neurons: Neurons per layer.
            n_permutations: ``K``, permutations per subtask.
            baselines: Train-split means (float64).
            device: Where the counters live.

        Raises:
            SkillNeuronError: On a bad ``K`` or baselines of the wrong shape.
        """
        super().__init__(n_subtasks, n_slots, n_layers, n_neurons, device)
        if n_permutations < 1:
            raise SkillNeuronError(f"n_permutations must be at least 1, got {n_permutations}.")
        self.n_permutations = n_permutations
        expected = (n_subtasks, n_slots, n_layers, n_neurons)
        if tuple(baselines.shape) != expected:
            raise SkillNeuronError(f"Baselines have shape {tuple(baselines.shape)}, expected {expected}.")
        self.baselines = baselines.to(device=device, dtype=torch.float64)
        self.matches = torch.zeros(
            (n_layers, n_subtasks, n_permutations, n_slots, n_neurons), dtype=torch.float32, device=device
        )
        self.firing = self._zeros(torch.int64)
        self.counts = self._new_counts()
        self.positives = self._new_counts()

    def _tensors(self) -> list[torch.Tensor]:
        return [self.matches, self.firing, self.counts, self.positives]

    def _check_targets(self, targets: torch.Tensor) -> None:
        width = self.n_subtasks * self.n_permutations
        if targets.ndim != 2 or targets.shape[1] != width:
            raise SkillNeuronError(
                f"PermutationNullAccumulator needs permuted targets [batch, {width}] "
                f"(subtasks x permutations, from permuted_targets); got {tuple(targets.shape)}."
            )

    def add_examples(self, targets: Int[torch.Tensor, "batch permuted"]) -> None:
        """Count the batch's examples and positives per subtask (from each first permutation)."""
        self._check_targets(targets)
        first_columns = targets[:, :: self.n_permutations].to(self.counts.device)
        added = (first_columns >= 0).sum(dim=0)
        if int((self.counts + added).max()) >= _FLOAT32_EXACT:
            raise SkillNeuronError(
                f"{_FLOAT32_EXACT:,} or more dev examples in a subtask would make the permutation "
                "counters inexact (float32); use fewer examples for the permutation null."
            )
        self.counts += added
        self.positives += (first_columns == 1).sum(dim=0)

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch permuted"],
        where: str,
    ) -> None:
        """Add one layer's reduced activations for the batch, against every permutation."""
        check_finite(values, where)
        self._check_targets(targets)
        batch = values.shape[0]
        shaped = targets.to(values.device).reshape(batch, self.n_subtasks, self.n_permutations)
        included = (shaped[:, :, 0] >= 0).T  # [subtask, batch]
        labels = (shaped == 1).permute(1, 2, 0).to(torch.float32)  # [subtask, perm, batch]; 0 if excluded
        baselines = self.baselines[:, :, layer_slot, :].to(values.device)  # [subtask, slot, neuron]
        fires = (values.double()[None] > baselines[:, None]) & included[:, :, None, None]
        device = self.matches.device
        layer_matches = self.matches[layer_slot].view(self.n_subtasks, self.n_permutations, -1)
        layer_matches.baddbmm_(
            labels.to(device), fires.to(device=device, dtype=torch.float32).view(self.n_subtasks, batch, -1)
        )
        self.firing[:, :, layer_slot, :] += fires.sum(dim=1).to(self.firing.device)

    @property
    def correct(self) -> Int[torch.Tensor, "perm subtask slot layer neuron"]:
        """Examples where ``1[fires]`` equals the permuted label, per permutation (int64).

        Raises:
            SkillNeuronError: If merged or all-reduced counts reach 2^24 (float32 would be inexact).
        """
        if int(self.counts.max()) >= _FLOAT32_EXACT:
            raise SkillNeuronError(
                f"{int(self.counts.max()):,} dev examples in a subtask (after merging) exceed the "
                f"{_FLOAT32_EXACT - 1:,} that the float32 permutation counters hold exactly."
            )
        fixed = self.counts[:, None, None, None] - self.firing - self.positives[:, None, None, None]
        return fixed[None] + 2 * self.matches.permute(2, 1, 3, 0, 4).long()

    def accuracy(self) -> Float[torch.Tensor, "perm subtask slot layer neuron"]:
        """Permuted-label accuracy of every neuron (float64)."""
        if bool((self.counts == 0).any()):
            raise SkillNeuronError("A subtask has no dev examples; cannot compute its null accuracy.")
        return self.correct.double() / self.counts[None, :, None, None, None].double()

    def scores(self) -> Float[torch.Tensor, "perm subtask slot layer neuron"]:
        """``max(acc, 1 - acc)`` per permutation: the null distribution of the per-slot score."""
        accuracy = self.accuracy()
        return torch.maximum(accuracy, 1.0 - accuracy)


def aggregate_null_scores(
    null_scores: Float[torch.Tensor, "run perm subtask slot layer neuron"],
    run_aggregation: RunAggregation = "mean",
) -> tuple[Float[torch.Tensor, "perm subtask layer neuron"], Float[torch.Tensor, "perm layer neuron"]]:
    """Aggregate each permutation's scores exactly like the observed ones.

    Stack :meth:`PermutationNullAccumulator.scores` of every run (each run's accumulator fed with
    :func:`permuted_targets` of the SAME seed, so that permutation ``p`` is one relabelling of the
    dev split in every run); the result compares with the observed subtask scores and
    predictivity in :func:`monte_carlo_p_values`.

    Returns:
        ``(per-subtask null scores, null predictivity)``.

    Raises:
        SkillNeuronError: If the tensor is not ``[run, perm, subtask, slot, layer, neuron]``.
    """
    if null_scores.ndim != 6:
        raise SkillNeuronError(
            "null_scores must be [run, perm, subtask, slot, layer, neuron]; got "
            f"{tuple(null_scores.shape)}."
        )
    per_subtask, overall = aggregate_scores(null_scores.permute(0, 2, 3, 1, 4, 5), run_aggregation)
    return per_subtask.transpose(0, 1), overall


def monte_carlo_p_values(
    observed: Float[torch.Tensor, "..."], null_scores: Float[torch.Tensor, "perm ..."]
) -> Float[torch.Tensor, "..."]:
    """``(1 + #{null >= observed - 1e-12}) / (1 + K)`` along the first (permutation) axis.

    Valid (never below the true p-value in expectation); the smallest value is ``1 / (K + 1)``.

    Raises:
        SkillNeuronError: If there are no permutations, shapes do not broadcast, or a score is NaN.
    """
    if null_scores.ndim < 1 or null_scores.shape[0] < 1:
        raise SkillNeuronError("null_scores needs at least one permutation along its first axis.")
    if bool(torch.isnan(observed).any()) or bool(torch.isnan(null_scores).any()):
        raise SkillNeuronError("Scores are NaN; compute them from non-empty dev splits.")
    try:
        at_least = (null_scores >= observed[None] - 1e-12).sum(dim=0)
    except RuntimeError as error:
        raise SkillNeuronError(
            f"observed {tuple(observed.shape)} does not match null_scores {tuple(null_scores.shape)} "
            "without its permutation axis."
        ) from error
    return (1.0 + at_least.double()) / (1.0 + null_scores.shape[0])


def null_layer_maxima(
    null_scores: Float[torch.Tensor, "perm layer neuron"], level: float = 0.95
) -> Float[torch.Tensor, " layer"]:
    """The ``level`` quantile over permutations of each layer's best null score: a chance band.

    Uses the empirical quantile rounded up (``"higher"``), so the band is never drawn too low.

    Raises:
        SkillNeuronError: If ``level`` is not in (0, 1) or the shape is not ``[perm, layer, neuron]``.
    """
    if not 0.0 < level < 1.0:
        raise SkillNeuronError(f"level must lie strictly between 0 and 1, got {level!r}.")
    if null_scores.ndim != 3 or null_scores.shape[0] < 1:
        raise SkillNeuronError(
            f"null_scores must be [perm, layer, neuron] with at least one permutation; got "
            f"{tuple(null_scores.shape)}."
        )
    best = null_scores.double().amax(dim=2)
    return torch.quantile(best, level, dim=0, interpolation="higher")


def minimum_permutations(q: float, n_tested: int) -> int:
    """Smallest ``K`` whose Monte Carlo p-value floor ``1 / (K + 1)`` passes BH for one discovery."""
    return max(1, math.ceil(n_tested / q * (1 - 1e-12)) - 1)


def check_permutations_reach(n_permutations: int, q: float, n_tested: int) -> None:
    """Raise a clear error when ``K`` permutations cannot give any BH discovery at level ``q``.

    Raises:
        SkillNeuronError: If ``1 / (K + 1) > q / n_tested``, or ``q`` is not in (0, 1).
    """
    check_q(q)
    if n_tested < 1:
        raise SkillNeuronError(f"n_tested must be at least 1, got {n_tested}.")
    # 1 / (K + 1) <= q / N, compared with a relative slack so that K = N / q - 1 itself passes.
    if (n_permutations + 1) * q < n_tested * (1 - 1e-12):
        needed = minimum_permutations(q, n_tested)
        raise SkillNeuronError(
            f"{n_permutations:,} permutations are too few for q = {q}: their smallest p-value is "
            f"1/(K+1) = {1 / (n_permutations + 1):.3g}, but Benjamini-Hochberg over {n_tested:,} "
            f"neurons needs p <= q/N = {q / n_tested:.3g} for even one discovery. Use at least "
            f"{needed:,} permutations, or the exact p-values (skillneuron_lens.stats.significance)."
        )
