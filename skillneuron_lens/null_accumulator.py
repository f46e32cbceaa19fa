"""A Monte Carlo label-permutation null, accumulated inside the dev pass.

For aggregated scores (max over slots, mean/min over runs, subtask merges) the exact tails of
:mod:`skillneuron_lens.significance` only give union bounds. A permutation test is exact at any
aggregation: draw ``K`` permutations of each subtask's dev labels once (:func:`permuted_targets`),
accumulate for every neuron how often its firing indicator ``1[a > baseline]`` matches each permuted
label vector (:class:`PermutationNullAccumulator`, one batched matmul per layer), aggregate the
permuted scores exactly like the real ones, and compare (:func:`monte_carlo_p_values`).

Costs and limits:

* memory: ``K x subtasks x slots x layers x neurons`` int32 counters, i.e. 4 bytes each
  (K = 1,000 on 6 layers x 1,536 neurons, one slot and one subtask: 37 MB), plus the permuted
  targets, ``examples x subtasks x K`` int8;
* time: one ``[K + 1, batch] @ [batch, slots x neurons]`` product per subtask and layer;
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

from skillneuron_lens.accumulators import _Accumulator, _check_finite
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.significance import check_q

_INT32_MAX = torch.iinfo(torch.int32).max
_FLOAT32_EXACT = 1 << 24
"""Batches up to this size have exact float32 match counts (every partial sum is an integer < 2^24)."""

_RANDOM_BLOCK = 1 << 21
"""Random numbers drawn at once while permuting (fixed, so results depend only on the seed)."""


def permuted_targets(
    targets: Int[torch.Tensor, "example subtask"], n_permutations: int, seed: int = 0
) -> Int[torch.Tensor, "example permuted"]:
    """``K`` label permutations of every subtask, over the whole split.

    Column ``j * K + p`` holds permutation ``p`` of subtask ``j``: that subtask's labels shuffled
    among its included rows (rows with ``-1`` stay ``-1``; class counts are preserved). The result
    depends only on ``targets``, ``n_permutations`` and ``seed``, so processes that each read every
    world-size-th row of it agree with one process reading all of it.

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

    Fed by the recorder like :class:`~skillneuron_lens.accumulators.ThresholdAccuracyAccumulator`,
    but with targets from :func:`permuted_targets` (``[batch, subtask * K]``). Keeps int32
    ``correct`` counts ``[perm, subtask, slot, layer, neuron]`` and int64 per-subtask example
    ``counts``; merges and all-reduces by adding, like the other accumulators.
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
        self.correct = torch.zeros(
            (n_permutations, *expected), dtype=torch.int32, device=device
        )
        self.counts = self._new_counts()

    def _tensors(self) -> list[torch.Tensor]:
        return [self.correct, self.counts]

    def _check_targets(self, targets: torch.Tensor) -> None:
        width = self.n_subtasks * self.n_permutations
        if targets.ndim != 2 or targets.shape[1] != width:
            raise SkillNeuronError(
                f"PermutationNullAccumulator needs permuted targets [batch, {width}] "
                f"(subtasks x permutations, from permuted_targets); got {tuple(targets.shape)}."
            )

    def add_examples(self, targets: Int[torch.Tensor, "batch permuted"]) -> None:
        """Count the batch's examples per subtask (the first permutation's column of each)."""
        self._check_targets(targets)
        first_columns = targets[:, :: self.n_permutations]
        added = (first_columns >= 0).sum(dim=0).to(self.counts.device)
        if int((self.counts + added).max()) > _INT32_MAX:
            raise SkillNeuronError(
                f"More than {_INT32_MAX:,} dev examples in a subtask overflow the int32 permutation "
                "counters; use fewer examples for the permutation null."
            )
        self.counts += added

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch permuted"],
        where: str,
    ) -> None:
        """Add one layer's reduced activations for the batch, against every permutation.

        Over the included rows of subtask ``j``, with firing ``f`` and permuted labels ``y``:
        ``correct = sum(1 - f - y + 2 f y) = b - sum f - sum y + y^T f``, the last term one
        batched product for all subtasks and permutations.
        """
        _check_finite(values, where)
        self._check_targets(targets)
        if values.shape[0] >= _FLOAT32_EXACT:
            raise SkillNeuronError(f"Batches of {_FLOAT32_EXACT:,} or more examples are too large here.")
        batch = values.shape[0]
        shaped = targets.to(values.device).reshape(batch, self.n_subtasks, self.n_permutations)
        included = (shaped[:, :, 0] >= 0).to(torch.float32)  # [batch, subtask]
        labels = (shaped == 1).to(torch.float32)  # [batch, subtask, perm], 0 on excluded rows
        baselines = self.baselines[:, :, layer_slot, :].to(values.device)  # [subtask, slot, neuron]
        fires = (values.double()[None] > baselines[:, None]).to(torch.float32)  # [subtask, b, s, n]
        fires = fires * included.T[:, :, None, None]
        left = torch.cat([included.T[:, None, :], labels.permute(1, 2, 0)], dim=1)  # [subtask, 1+K, b]
        products = torch.bmm(left, fires.reshape(self.n_subtasks, batch, -1))  # [subtask, 1+K, s*n]
        n_fire = products[:, :1]
        matches = products[:, 1:]
        n_included = included.sum(dim=0)[:, None, None]
        n_positive = labels.sum(dim=0)[:, :, None]
        correct = torch.round(n_included - n_fire - n_positive + 2 * matches).to(torch.int32)
        correct = correct.reshape(self.n_subtasks, self.n_permutations, self.n_slots, self.n_neurons)
        self.correct[:, :, :, layer_slot, :] += correct.transpose(0, 1).to(self.correct.device)

    def accuracy(self) -> Float[torch.Tensor, "perm subtask slot layer neuron"]:
        """Permuted-label accuracy of every neuron (float64)."""
        if bool((self.counts == 0).any()):
            raise SkillNeuronError("A subtask has no dev examples; cannot compute its null accuracy.")
        return self.correct.double() / self.counts[None, :, None, None, None].double()

    def scores(self) -> Float[torch.Tensor, "perm subtask slot layer neuron"]:
        """``max(acc, 1 - acc)`` per permutation: the null distribution of the per-slot score."""
        accuracy = self.accuracy()
        return torch.maximum(accuracy, 1.0 - accuracy)


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
            f"{needed:,} permutations, or the exact p-values (skillneuron_lens.significance)."
        )
