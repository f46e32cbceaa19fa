"""Is a neuron's predictivity above chance? Exact p-values, aggregation, multiple testing.

The null hypothesis is "the dev labels are exchangeable with respect to the firing pattern". The
paper thresholds each neuron at its TRAIN mean, a number that does not depend on any dev label, so
for one (run, subtask, slot, layer, neuron) with ``n`` dev examples, ``m`` of them positive, and a
neuron that fires (activation > baseline) on ``k`` of them:

* the number of firing positives is ``X ~ Hypergeometric(n, m, k)``
  (support ``max(0, k + m - n) <= X <= min(k, m)``);
* the number of correctly classified examples is ``C = 2X + n - k - m``;
* the score is ``max(C / n, 1 - C / n)``, and its distance from chance is the integer
  ``|2C - n|``.

All tails are exact sums of the hypergeometric pmf (first term from ``lgamma``, the others from
the ratio of successive terms, in log space), compared in integers (distances), so float ties can
never make a p-value anti-conservative. Rounding stays below a relative 1e-9 at ``n = 20,000``
(tested against a term-by-term sum), and terms below 1e-308 are left out. The
test is centred on accuracy 0.5, as the paper's score is; it is not Fisher's two-sided test. It is
discrete, hence slightly conservative.

Special cases (never NaN):

* constant firing (``k = 0`` or ``k = n``): ``C`` is fixed, so the observed score has p-value 1;
* one class on dev (``m = 0`` or ``m = n``): every relabelling is the same, ``C`` is fixed and the
  p-value is 1 (the test has no power; it does not fail);
* p-values below the smallest normal float64 (about ``2.2e-308``, e.g. a perfect neuron at
  ``n = 20,000``) are reported as that number, never as 0.

Speed of :func:`exact_p_values` / :func:`threshold_tail` (one CPU thread of a shared, loaded
2-core machine, realistic counts with firing rates spread over 5-95%): 9,216 neurons take about
0.01 s at ``n = 320`` and 0.07 s at ``n = 2,000``; 147,456 neurons (9,216 x 16) with about 20,000
distinct firing counts take 6-9 s at ``n = 20,000``. Work grows with the number of distinct
firing counts times the width of their supports (cut to a Hoeffding window of about
``2 x 19 sqrt(min(k, m))`` points), not with the number of neurons; memory is bounded by
``_CHUNK_ELEMENTS`` (a few float64 work tensors of 32 MB each).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from jaxtyping import Bool, Float, Int

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "FdrMethod",
    "RunAggregation",
    "FDR_METHODS",
    "SMALLEST_P",
    "threshold_tail",
    "exact_p_values",
    "score_distance",
    "score_tail",
    "aggregate_scores",
    "aggregated_p_values",
    "check_q",
    "adjust_p_values",
    "significant",
    "wilson_interval",
    "smallest_attainable_p",
    "typical_neuron_p",
    "dev_size_for_effect",
]

FdrMethod = Literal["bh", "by", "holm"]
RunAggregation = Literal["mean", "min"]
FDR_METHODS: tuple[str, ...] = ("bh", "by", "holm")

SMALLEST_P = torch.finfo(torch.float64).tiny
"""p-values are floored here (float64 cannot hold the exact tail of a perfect neuron at large n)."""

_CHUNK_ELEMENTS = 4_000_000
"""Support points handled at once: a few float64 work tensors of this size (about 200 MB in all)."""

_LARGEST_DEV_SIZE = 1 << 24
"""Largest dev size :func:`dev_size_for_effect` searches (beyond it, accuracy is too close to 0.5)."""


# ---- exact tails -----------------------------------------------------------------------------
def _as_int64(value: torch.Tensor | int, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(value)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise SkillNeuronError(f"{name} must hold whole-number counts, got dtype {tensor.dtype}.")
    return tensor.to(torch.int64)


def _check_counts(firing: torch.Tensor, n: torch.Tensor, n_pos: torch.Tensor) -> None:
    if bool((n <= 0).any()):
        raise SkillNeuronError(
            "A dev split has n = 0 examples (or fewer): no p-value can be computed. Give every "
            "subtask at least one dev example."
        )
    if bool(((n_pos < 0) | (n_pos > n)).any()):
        raise SkillNeuronError("The number of positives must lie in 0..n for every dev split.")
    if bool(((firing < 0) | (firing > n)).any()):
        raise SkillNeuronError("A firing count lies outside 0..n: it does not fit the dev size.")


def _support(
    firing: torch.Tensor, n: torch.Tensor, n_pos: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Smallest and largest number of firing positives."""
    return torch.clamp(firing + n_pos - n, min=0), torch.minimum(firing, n_pos)


def _log_binomial(total: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    total, chosen = total.double(), chosen.double()
    return torch.lgamma(total + 1) - torch.lgamma(chosen + 1) - torch.lgamma(total - chosen + 1)


def _group(columns: list[torch.Tensor], bound: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Group rows of equal integer columns (each in ``0..bound``).

    One-dimensional ``unique`` calls on combined keys (much faster than ``unique(dim=0)``); keys
    stay below ``rows x (bound + 1)``.

    Returns:
        The group of each row, and one row of each group.
    """
    group = torch.zeros_like(columns[0])
    for column in columns:
        _, group = torch.unique(group * (bound + 1) + column, return_inverse=True)
    representative = torch.empty(int(group.max()) + 1, dtype=torch.int64, device=group.device)
    representative.scatter_(0, group, torch.arange(len(group), device=group.device))
    return group, representative


def _window(laws: Int[torch.Tensor, "law 3"]) -> tuple[torch.Tensor, torch.Tensor]:
    """The part of each law's support that carries all but ``SMALLEST_P`` of its mass.

    Hoeffding's bound for sampling without replacement (``d`` draws, here ``d = min(k, m)`` since
    the law is symmetric in ``k`` and ``m``) gives ``P(|X - km/n| >= s) <= 2 exp(-2 s^2 / d)``;
    ``s`` is chosen so that this is below ``SMALLEST_P``.
    """
    n, n_pos, firing = laws.unbind(dim=1)
    low, high = _support(firing, n, n_pos)
    draws = torch.minimum(firing, n_pos).double()
    reach = torch.sqrt(draws * (math.log(2.0) - math.log(SMALLEST_P)) / 2.0) + 1.0
    centre = firing.double() * n_pos.double() / n.double()
    window_low = torch.maximum(low, torch.floor(centre - reach).long())
    window_high = torch.minimum(high, torch.ceil(centre + reach).long())
    return window_low, window_high


def _tails_of_one_chunk(
    laws: Int[torch.Tensor, "law 3"], queries: Int[torch.Tensor, "query 2"]
) -> Float[torch.Tensor, " query"]:
    """Tails for queries ``(law index within the chunk, min_distance >= 1)``.

    The pmf over the window of :func:`_window` comes from its first value (``lgamma``) and the
    ratio ``p(x + 1) / p(x) = (m - x)(k - x) / ((x + 1)(n - m - k + x + 1))``, accumulated in log
    space; tails are cumulative sums from either end, so small tails keep their relative
    precision. Mass outside the window (below ``SMALLEST_P`` in all) is left out, and any possible
    event is reported as at least ``SMALLEST_P``: exact up to an absolute error below 1e-307.
    """
    n, n_pos, firing = laws.unbind(dim=1)
    low, high = _support(firing, n, n_pos)
    window_low, window_high = _window(laws)
    width = int((window_high - window_low).max()) + 1
    x = window_low[:, None].double() + torch.arange(width, device=laws.device, dtype=torch.float64)
    inside = x <= window_high[:, None]
    n_, m_, k_ = n[:, None].double(), n_pos[:, None].double(), firing[:, None].double()
    ratio = ((m_ - x[:, :-1]) * (k_ - x[:, :-1])) / ((x[:, :-1] + 1) * (n_ - m_ - k_ + x[:, :-1] + 1))
    steps = torch.where(inside[:, 1:], torch.log(ratio.clamp(min=1e-300)), 0.0)
    first = (
        _log_binomial(n_pos, window_low)
        + _log_binomial(n - n_pos, firing - window_low)
        - _log_binomial(n, firing)
    )
    log_pmf = torch.cat([first[:, None], first[:, None] + torch.cumsum(steps, dim=1)], dim=1)
    pmf = torch.where(inside, torch.exp(log_pmf), 0.0)
    at_most = torch.cumsum(pmf, dim=1)
    at_least = torch.cumsum(pmf.flip(1), dim=1).flip(1)

    law, distance = queries.unbind(dim=1)
    # |2C - n| = |4X - b| with b = 2k + 2m - n; for distance >= 1 the two sides are disjoint.
    b = 2 * firing[law] + 2 * n_pos[law] - n[law]
    lower_end = torch.div(b - distance, 4, rounding_mode="floor")
    upper_start = -torch.div(-(b + distance), 4, rounding_mode="floor")
    has_lower = lower_end >= low[law]
    has_upper = upper_start <= high[law]
    lower_index = lower_end - window_low[law]
    upper_index = upper_start - window_low[law]
    lower_tail = torch.where(lower_index >= 0, at_most[law, lower_index.clamp(0, width - 1)], 0.0)
    upper_tail = torch.where(upper_index < width, at_least[law, upper_index.clamp(0, width - 1)], 0.0)
    # A possible event keeps a positive p-value even where float64 underflows.
    return torch.where(has_lower | has_upper, (lower_tail + upper_tail).clamp(SMALLEST_P, 1.0), 0.0)


def threshold_tail(
    firing: Int[torch.Tensor, "..."] | int,
    n: Int[torch.Tensor, "..."] | int,
    n_pos: Int[torch.Tensor, "..."] | int,
    min_distance: Int[torch.Tensor, "..."] | int,
) -> Float[torch.Tensor, "..."]:
    """``P(|2C - n| >= min_distance)`` under the null, exactly.

    Args:
        firing: ``k``, dev examples on which the neuron fires.
        n: Dev examples.
        n_pos: ``m``, positive dev examples.
        min_distance: The distance ``|2C - n|`` to reach (any integer; ``<= 0`` gives 1).

    All four broadcast together. Distinct ``(n, m, k)`` laws are computed once each (cumulative
    sums from both ends of the support), in chunks that bound memory.

    Returns:
        Float64 tail probabilities, floored at :data:`SMALLEST_P` where they are positive.

    Raises:
        SkillNeuronError: If ``n <= 0``, a count lies outside ``0..n``, or a count is not an integer.
    """
    tensors = [
        _as_int64(value, name)
        for value, name in (
            (firing, "firing"), (n, "n"), (n_pos, "n_pos"), (min_distance, "min_distance")
        )
    ]
    device = next((t.device for t in tensors if t.ndim > 0), tensors[0].device)
    firing_t, n_t, n_pos_t, distance_t = torch.broadcast_tensors(*[t.to(device) for t in tensors])
    _check_counts(firing_t, n_t, n_pos_t)
    shape = firing_t.shape
    result = torch.ones(shape, dtype=torch.float64, device=device).flatten()
    if result.numel() == 0:
        return result.reshape(shape)
    distance_flat = distance_t.flatten()
    needed = distance_flat >= 1
    if not bool(needed.any()):
        return result.reshape(shape)
    n_flat, firing_flat = n_t.flatten()[needed], firing_t.flatten()[needed]
    n_pos_flat = n_pos_t.flatten()[needed]
    # The law of |2C - n| is unchanged by complementing the firing set or the labels and by
    # swapping the roles of k and m, so each law is computed once in a canonical form.
    firing_c = torch.minimum(firing_flat, n_flat - firing_flat)
    n_pos_c = torch.minimum(n_pos_flat, n_flat - n_pos_flat)
    # Distances beyond n are as impossible as n + 1; clamping keeps every column in 0..n_max + 1.
    bound = int(n_flat.max()) + 1
    columns = [
        n_flat, torch.maximum(firing_c, n_pos_c), torch.minimum(firing_c, n_pos_c),
        distance_flat[needed].clamp(max=bound),
    ]
    query_of_entry, entry_of_query = _group(columns, bound)
    queries = torch.stack([column[entry_of_query] for column in columns], dim=1)
    law_of_query, query_of_law = _group([queries[:, 0], queries[:, 1], queries[:, 2]], bound)
    laws = queries[query_of_law, :3]
    window_low, window_high = _window(laws)
    widths = (window_high - window_low + 1).cpu()
    tails = torch.empty(len(queries), dtype=torch.float64, device=device)
    # Chunk over laws (sorted by support width) so each chunk's [law, width] grid fits the budget.
    order = torch.argsort(widths, stable=True)
    sorted_widths = widths[order].tolist()
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (stop - start + 1) * sorted_widths[stop] <= _CHUNK_ELEMENTS:
            stop += 1
        chunk = order[start:stop].to(device)
        position = torch.full((len(laws),), -1, dtype=torch.int64, device=device)
        position[chunk] = torch.arange(len(chunk), device=device)
        in_chunk = position[law_of_query] >= 0
        chunk_queries = torch.stack([position[law_of_query[in_chunk]], queries[in_chunk, 3]], dim=1)
        tails[in_chunk] = _tails_of_one_chunk(laws[chunk], chunk_queries)
        start = stop
    result[needed] = tails[query_of_entry]
    return result.reshape(shape)


def exact_p_values(
    correct: Int[torch.Tensor, "..."] | int,
    firing: Int[torch.Tensor, "..."] | int,
    n: Int[torch.Tensor, "..."] | int,
    n_pos: Int[torch.Tensor, "..."] | int,
) -> Float[torch.Tensor, "..."]:
    """Exact p-value of each observed score ``max(c / n, 1 - c / n)`` (one slot, one run).

    Args:
        correct: ``c``, dev examples where ``1[fires] == label``.
        firing: ``k``, dev examples where the neuron fires.
        n: Dev examples.
        n_pos: Positive dev examples.

    Returns:
        ``P(|2C - n| >= |2c - n|)`` under the null (float64), compared in integers.

    Raises:
        SkillNeuronError: On bad counts, including a ``correct`` that no labelling of ``n``
            examples with ``n_pos`` positives can give for this firing count.
    """
    correct_t, firing_t, n_t, n_pos_t = _checked_counts(correct, firing, n, n_pos)
    return threshold_tail(firing_t, n_t, n_pos_t, (2 * correct_t - n_t).abs())


def _checked_counts(
    correct: torch.Tensor | int, firing: torch.Tensor | int, n: torch.Tensor | int, n_pos: torch.Tensor | int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four counts as broadcast int64 tensors, after checking that they fit together."""
    correct_t, firing_t, n_t, n_pos_t = torch.broadcast_tensors(
        _as_int64(correct, "correct"), _as_int64(firing, "firing"), _as_int64(n, "n"),
        _as_int64(n_pos, "n_pos"),
    )
    _check_counts(firing_t, n_t, n_pos_t)
    twice_x = correct_t - n_t + firing_t + n_pos_t
    low, high = _support(firing_t, n_t, n_pos_t)
    if bool(((twice_x % 2 != 0) | (twice_x < 2 * low) | (twice_x > 2 * high)).any()):
        raise SkillNeuronError(
            "A correct count cannot arise from its firing count, dev size and number of positives "
            "(c = 2 * firing positives + n - k - m must hold). Pass counts from the same dev pass."
        )
    return correct_t, firing_t, n_t, n_pos_t


def score_distance(
    n: Int[torch.Tensor, "..."], score: Float[torch.Tensor, "..."]
) -> Int[torch.Tensor, "..."]:
    """Smallest integer ``d >= n (2s - 1) - 1e-9 n``: a score threshold as a distance ``|2C - n|``.

    The slack makes the conversion conservative: a score computed in floats from a count always
    maps back to (at most) that count's distance.
    """
    n64 = torch.as_tensor(n).to(torch.float64)
    return torch.ceil(n64 * (2.0 * score.to(torch.float64) - 1.0) - 1e-9 * n64).to(torch.int64)


def score_tail(
    firing: Int[torch.Tensor, "..."] | int,
    n: Int[torch.Tensor, "..."] | int,
    n_pos: Int[torch.Tensor, "..."] | int,
    score: Float[torch.Tensor, "..."] | float,
) -> Float[torch.Tensor, "..."]:
    """``P(max(C / n, 1 - C / n) >= score)`` under the null, for a float threshold.

    The threshold is turned into the distance :func:`score_distance` (rounded towards the
    larger tail), so the observed count is always included.

    Raises:
        SkillNeuronError: As :func:`threshold_tail`, or for a NaN score.
    """
    score_t = torch.as_tensor(score, dtype=torch.float64)
    if bool(torch.isnan(score_t).any()):
        raise SkillNeuronError("A score is NaN; scores must be numbers in [0, 1].")
    n_t = _as_int64(n, "n")
    return threshold_tail(firing, n_t, n_pos, score_distance(n_t.to(score_t.device), score_t))


# ---- aggregated scores -----------------------------------------------------------------------
def aggregate_scores(
    per_position: Float[torch.Tensor, "run subtask slot *rest"], run_aggregation: RunAggregation
) -> tuple[Float[torch.Tensor, " subtask *rest"], Float[torch.Tensor, "*rest"]]:
    """Combine per-slot scores as :class:`~skillneuron_lens.PredictivityResult` does.

    Max over slots, then mean (or min) over runs: the subtask scores; their mean over subtasks:
    the predictivity. Trailing axes (``layer, neuron``, or ``perm, layer, neuron`` for a
    permutation null) are kept.

    Returns:
        ``(subtask scores, predictivity)``.
    """
    per_run = per_position.amax(dim=2)
    per_subtask = per_run.mean(dim=0) if run_aggregation == "mean" else per_run.amin(dim=0)
    return per_subtask, per_subtask.mean(dim=0)


def aggregated_p_values(
    correct: Int[torch.Tensor, "run subtask slot layer neuron"],
    firing: Int[torch.Tensor, "run subtask slot layer neuron"],
    n_dev: Int[torch.Tensor, "run subtask"],
    n_pos: Int[torch.Tensor, "run subtask"],
    *,
    run_aggregation: RunAggregation = "mean",
) -> tuple[Float[torch.Tensor, "subtask layer neuron"], Float[torch.Tensor, "layer neuron"]]:
    """Conservative p-values of the aggregated scores of :class:`~skillneuron_lens.PredictivityResult`.

    The scores are computed as ``PredictivityResult`` does: ``S_jrs = max(acc, 1 - acc)`` with
    ``acc = correct / n_dev`` for subtask ``j``, run ``r``, slot ``s``; the subtask score
    ``T_j = agg_r max_s S_jrs`` (``agg`` = mean or min over runs); the predictivity
    ``T = mean_j T_j``. Their joint null law has no closed form, so the p-values are union bounds
    evaluated at the observed score ``t``, with ``G_jrs(t) = P(S_jrs >= t)`` from
    :func:`score_tail` (exact for each slot and run):

    * mean over runs: ``T_j >= t`` implies ``max_s S_jrs >= t`` for SOME run ``r`` (a mean is at
      most the largest term), hence ``S_jrs >= t`` for some ``(r, s)``, and
      ``P(T_j >= t) <= bound_j(t) = sum_{r,s} G_jrs(t)``;
    * min over runs: ``T_j >= t`` implies ``max_s S_jrs >= t`` for EVERY run, so for each ``r``
      ``P(T_j >= t) <= sum_s G_jrs(t)``, hence ``bound_j(t) = min_r sum_s G_jrs(t)``;
    * per subtask: ``p_j = min(1, bound_j(T_j))``;
    * overall: ``T >= t`` implies ``T_j >= t`` for some ``j`` (a mean is at most the largest
      term), so ``p = min(1, sum_j bound_j(T))``.

    No independence between runs, slots or subtasks is assumed. With one run, one slot and one
    subtask this is exactly :func:`exact_p_values`. The bounds are Bonferroni-like: valid, and
    conservative by up to the number of slots (times runs, for the mean) per subtask.

    Args:
        correct: Correct counts per run, subtask, slot, layer and neuron.
        firing: Firing counts, same shape.
        n_dev: Dev examples per run and subtask.
        n_pos: Positive dev examples per run and subtask.
        run_aggregation: ``"mean"`` or ``"min"``, as in the result.

    Returns:
        ``(per-subtask p [subtask, layer, neuron], overall p [layer, neuron])``, float64.

    Raises:
        SkillNeuronError: On mismatched shapes, bad counts or an unknown aggregation.
    """
    if run_aggregation not in ("mean", "min"):
        raise SkillNeuronError(f"run_aggregation must be 'mean' or 'min', got {run_aggregation!r}.")
    if correct.ndim != 5 or correct.shape != firing.shape:
        raise SkillNeuronError(
            "correct and firing must both be [run, subtask, slot, layer, neuron]; got "
            f"{tuple(correct.shape)} and {tuple(firing.shape)}."
        )
    if tuple(n_dev.shape) != tuple(correct.shape[:2]) or n_pos.shape != n_dev.shape:
        raise SkillNeuronError("n_dev and n_pos must both be [run, subtask], matching the counts.")
    n_b = n_dev[:, :, None, None, None]
    m_b = n_pos[:, :, None, None, None]
    _checked_counts(correct, firing, n_b, m_b)
    accuracy = correct.double() / n_b.double()
    subtask_score, overall_score = aggregate_scores(
        torch.maximum(accuracy, 1.0 - accuracy), run_aggregation
    )

    def bound(threshold: Float[torch.Tensor, "subtask layer neuron"]) -> torch.Tensor:
        per_slot = score_tail(firing, n_b, m_b, threshold[None, :, None])
        per_run_bound = per_slot.sum(dim=2)
        if run_aggregation == "mean":
            return per_run_bound.sum(dim=0)
        return per_run_bound.amin(dim=0)

    per_subtask = bound(subtask_score).clamp(max=1.0)
    overall_threshold = overall_score[None].expand_as(subtask_score)
    overall = bound(overall_threshold).sum(dim=0).clamp(max=1.0)
    return per_subtask, overall


# ---- multiple testing ------------------------------------------------------------------------
def _check_p_values(p: torch.Tensor) -> Float[torch.Tensor, " entry"]:
    flat = torch.as_tensor(p, dtype=torch.float64).flatten()
    if bool(torch.isnan(flat).any()):
        raise SkillNeuronError(
            f"{int(torch.isnan(flat).sum())} p-value(s) are NaN; fix or drop them before adjusting."
        )
    if bool(((flat < 0) | (flat > 1)).any()):
        raise SkillNeuronError("p-values must lie in [0, 1].")
    return flat


def _check_method(method: str) -> None:
    if method not in FDR_METHODS:
        raise SkillNeuronError(
            f"Unknown multiple-testing method {method!r}; use one of {', '.join(FDR_METHODS)} "
            "(Benjamini-Hochberg, Benjamini-Yekutieli, Holm)."
        )


def check_q(q: float) -> None:
    """Raise a clear error unless ``0 < q < 1``."""
    if not (isinstance(q, (int, float)) and 0.0 < q < 1.0):
        raise SkillNeuronError(f"q must be a number strictly between 0 and 1, got {q!r}.")


def adjust_p_values(p: Float[torch.Tensor, "..."], method: FdrMethod = "bh") -> Float[torch.Tensor, "..."]:
    """Multiplicity-adjusted p-values over ALL entries of ``p`` (same shape).

    * ``"bh"``: Benjamini-Hochberg step-up (FDR under independence or positive dependence):
      ``q_(i) = min_{j >= i} N p_(j) / j``;
    * ``"by"``: Benjamini-Yekutieli (FDR under any dependence): BH times ``c(N) = sum_{i<=N} 1/i``;
    * ``"holm"``: Holm step-down (family-wise error): ``q_(i) = max_{j <= i} (N - j + 1) p_(j)``.

    All are capped at 1 and monotone in ``p``. An entry is significant at level ``q`` when its
    adjusted p-value is ``<= q``.

    Raises:
        SkillNeuronError: For NaN or out-of-range p-values or an unknown method.
    """
    _check_method(method)
    flat = _check_p_values(p)
    count = flat.numel()
    if count == 0:
        return flat.reshape(torch.as_tensor(p).shape)
    sorted_p, order = torch.sort(flat, stable=True)
    rank = torch.arange(1, count + 1, dtype=torch.float64, device=flat.device)
    if method == "holm":
        adjusted_sorted = torch.cummax((count - rank + 1) * sorted_p, dim=0).values
    else:
        scaled = sorted_p * count / rank
        if method == "by":
            scaled = scaled * (1.0 / rank).sum()
        adjusted_sorted = torch.cummin(scaled.flip(0), dim=0).values.flip(0)
    adjusted = torch.empty_like(flat)
    adjusted[order] = adjusted_sorted.clamp(max=1.0)
    return adjusted.reshape(torch.as_tensor(p).shape)


def significant(
    p: Float[torch.Tensor, "..."], q: float = 0.05, method: FdrMethod = "bh"
) -> Bool[torch.Tensor, "..."]:
    """Which entries are discoveries at level ``q`` (adjusted over all entries of ``p``).

    Raises:
        SkillNeuronError: If ``q`` is not in (0, 1), or as :func:`adjust_p_values`.
    """
    check_q(q)
    return adjust_p_values(p, method) <= q


# ---- intervals and power ---------------------------------------------------------------------
def wilson_interval(
    successes: Int[torch.Tensor, "..."] | int,
    n: Int[torch.Tensor, "..."] | int,
    confidence: float = 0.95,
) -> tuple[Float[torch.Tensor, "..."], Float[torch.Tensor, "..."]]:
    """Wilson score interval for a binomial proportion (e.g. a single neuron's accuracy).

    With ``z`` the two-sided normal quantile, ``p = successes / n``:
    centre ``(p + z^2 / 2n) / (1 + z^2 / n)``, half-width
    ``z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)``.

    Returns:
        ``(low, high)``, float64, within [0, 1].

    Raises:
        SkillNeuronError: If ``n <= 0``, ``successes`` lies outside ``0..n``, or the confidence is
            not in (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise SkillNeuronError(f"confidence must lie strictly between 0 and 1, got {confidence!r}.")
    successes_t = torch.as_tensor(successes, dtype=torch.float64)
    n_t = torch.as_tensor(n, dtype=torch.float64)
    if bool((n_t <= 0).any()):
        raise SkillNeuronError("A Wilson interval needs n >= 1 trials; got n = 0 (or fewer).")
    if bool(((successes_t < 0) | (successes_t > n_t)).any()):
        raise SkillNeuronError("successes must lie in 0..n.")
    z = float(torch.special.ndtri(torch.tensor(0.5 + confidence / 2, dtype=torch.float64)))
    share = successes_t / n_t
    shrink = 1.0 + z * z / n_t
    centre = (share + z * z / (2 * n_t)) / shrink
    half = z / shrink * torch.sqrt(share * (1 - share) / n_t + z * z / (4 * n_t * n_t))
    return (centre - half).clamp(min=0.0), (centre + half).clamp(max=1.0)


def smallest_attainable_p(
    n: Int[torch.Tensor, "..."] | int, n_pos: Int[torch.Tensor, "..."] | int
) -> Float[torch.Tensor, "..."]:
    """The p-value of a perfect neuron (fires exactly on the positives).

    It is ``1 / C(n, m)``, or twice that when the all-wrong arrangement has the same distance
    (``m = n / 2``). No firing count and correct count on a dev split of this size give a smaller
    p-value (checked exhaustively for n <= 12 in the tests), so if this exceeds ``q / n_tested``
    no neuron can pass BH.
    """
    n_t, n_pos_t = _as_int64(n, "n"), _as_int64(n_pos, "n_pos")
    return threshold_tail(n_pos_t, n_t, n_pos_t, n_t)


def typical_neuron_p(n: int, accuracy: float, positive_share: float = 0.5) -> float:
    """Exact p-value of the best neuron whose score does not exceed ``accuracy``, firing on half of ``n``.

    ``m = round(positive_share * n)`` positives, ``k = round(n / 2)`` firing examples, and the
    largest distance ``|2c - n| <= n (2 accuracy - 1)`` that such a neuron can reach (so the effect is
    never overstated). Returns 1 when no attainable count fits (tiny ``n``).
    """
    n_pos = min(max(round(positive_share * n), 0), n)
    firing = round(n / 2)
    low, high = max(0, firing + n_pos - n), min(firing, n_pos)
    largest = math.floor(n * (2 * accuracy - 1) + 1e-9 * n)
    shift = 2 * firing + 2 * n_pos - n  # |2c - n| = |4x - shift| for x firing positives
    candidates = (
        min(math.floor((shift + largest) / 4), high),
        max(math.ceil((shift - largest) / 4), low),
    )
    distances = [
        abs(4 * x - shift) for x in candidates if low <= x <= high and abs(4 * x - shift) <= largest
    ]
    if not distances:
        return 1.0
    return float(threshold_tail(firing, n, n_pos, max(distances)))


def dev_size_for_effect(
    accuracy: float, n_tested: int, q: float = 0.05, positive_share: float = 0.5
) -> int:
    """Smallest dev size at which a neuron of this accuracy could pass BH as a single discovery.

    The neuron fires on about half the examples (:func:`typical_neuron_p`); it passes as the only
    discovery among ``n_tested`` neurons when ``p <= q / n_tested``. Found by doubling, then
    bisection; because counts are whole numbers the exact p is not strictly monotone in ``n``, so
    the answer is a dev size that passes whose predecessor does not (an estimate to within a few
    examples, meant for messages such as "about N examples would be needed").

    Raises:
        SkillNeuronError: If ``accuracy`` is not in (0.5, 1], ``positive_share`` not in (0, 1),
            ``n_tested < 1``, ``q`` not in (0, 1), or more than 16.7 million examples would be
            needed.
    """
    check_q(q)
    if not 0.5 < accuracy <= 1.0:
        raise SkillNeuronError(f"accuracy must lie in (0.5, 1], got {accuracy!r}: 0.5 is chance.")
    if not 0.0 < positive_share < 1.0:
        raise SkillNeuronError(f"positive_share must lie strictly between 0 and 1, got {positive_share!r}.")
    if n_tested < 1:
        raise SkillNeuronError(f"n_tested must be at least 1, got {n_tested}.")
    level = q / n_tested
    # Normal approximation (|2C - n| has standard deviation about sqrt(n)): refuse hopeless cases
    # before computing tails at millions of examples.
    z = float(torch.special.ndtri(torch.tensor(1 - level / 2, dtype=torch.float64)))
    approximate = (z / (2 * accuracy - 1)) ** 2
    if approximate > _LARGEST_DEV_SIZE:
        raise SkillNeuronError(
            f"Accuracy {accuracy} is too close to 0.5: about {approximate:,.0f} dev examples would "
            f"be needed for it to reach significance (more than the {_LARGEST_DEV_SIZE:,} searched)."
        )

    def passes(size: int) -> bool:
        return typical_neuron_p(size, accuracy, positive_share) <= level

    low, high = 1, 2  # n = 1 never passes: its only p-value is 1 > level.
    while not passes(high):
        if high >= _LARGEST_DEV_SIZE:
            raise SkillNeuronError(
                f"Accuracy {accuracy} is too close to 0.5: more than {_LARGEST_DEV_SIZE:,} dev "
                "examples would be needed for it to reach significance."
            )
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        if passes(middle):
            high = middle
        else:
            low = middle
    return high
