"""Exact p-values against brute-force enumeration, aggregated bounds against a slow Monte Carlo
reference, multiple-testing corrections and Wilson intervals against hand computations."""

import itertools
import math

import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.stats import significance as significance
from skillneuron_lens.stats.significance import (
    SMALLEST_P,
    adjust_p_values,
    aggregated_p_values,
    dev_size_for_effect,
    exact_p_values,
    score_distance,
    score_tail,
    significant,
    smallest_attainable_p,
    threshold_tail,
    typical_neuron_p,
    wilson_interval,
)


def enumerate_correct_counts(n: int, n_pos: int, firing: int) -> list[int]:
    """The correct count of a neuron firing on the first ``firing`` examples, for EVERY placement
    of ``n_pos`` positive labels among ``n`` examples (all equally likely under the null)."""
    fires = [1] * firing + [0] * (n - firing)
    counts = []
    for positives in itertools.combinations(range(n), n_pos):
        labels = [0] * n
        for index in positives:
            labels[index] = 1
        counts.append(sum(f == y for f, y in zip(fires, labels, strict=True)))
    return counts


SMALL_CASES = [(n, m, k) for n in range(1, 9) for m in range(n + 1) for k in range(n + 1)] + [
    (10, 5, 0), (10, 5, 10), (10, 5, 5), (10, 3, 6), (10, 0, 4), (10, 10, 7), (10, 4, 9), (9, 2, 1),
]


@pytest.mark.parametrize(("n", "n_pos", "firing"), SMALL_CASES)
def test_tails_match_enumeration_of_all_label_arrangements(n, n_pos, firing):
    counts = enumerate_correct_counts(n, n_pos, firing)
    distances = [abs(2 * c - n) for c in counts]
    for min_distance in range(-1, n + 2):
        expected = sum(d >= min_distance for d in distances) / len(distances)
        got = threshold_tail(firing, n, n_pos, min_distance)
        assert got.dtype == torch.float64
        assert float(got) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    for correct in sorted(set(counts)):
        expected = sum(d >= abs(2 * correct - n) for d in distances) / len(distances)
        assert float(exact_p_values(correct, firing, n, n_pos)) == pytest.approx(expected, rel=1e-12)
    for score in (0.5, 0.55, 0.6, 2 / 3, 0.7, 0.75, 0.8, 0.875, 0.9, 1.0):
        expected = sum(max(c / n, 1 - c / n) >= score - 1e-12 for c in counts) / len(counts)
        assert float(score_tail(firing, n, n_pos, score)) == pytest.approx(expected, rel=1e-12)


def test_a_float_score_maps_back_to_its_own_integer_distance():
    """score_distance undoes c -> max(c / n, 1 - c / n) exactly for every count up to n = 500,
    so the observed count is always inside its own tail (never excluded by a float tie)."""
    for n in range(1, 501):
        correct = torch.arange(n + 1)
        accuracy = correct.double() / n
        score = torch.maximum(accuracy, 1 - accuracy)
        assert torch.equal(score_distance(torch.tensor(n), score), (2 * correct - n).abs())


def test_constant_firing_and_one_class_give_p_one_never_nan():
    n = torch.tensor([12, 12, 12, 12])
    firing = torch.tensor([0, 12, 5, 7])
    n_pos = torch.tensor([6, 6, 0, 12])
    correct = torch.tensor([6, 6, 7, 7])  # k = 0: c = n - m; k = n: c = m; m = 0: n - k; m = n: k
    p = exact_p_values(correct, firing, n, n_pos)
    assert torch.equal(p, torch.ones(4, dtype=torch.float64))


def test_vectorised_call_equals_one_by_one_and_broadcasts():
    generator = torch.Generator().manual_seed(0)
    n, n_pos = 40, 17
    firing = torch.randint(0, n + 1, (3, 50), generator=generator)
    distance = torch.randint(-2, n + 3, (3, 50), generator=generator)
    together = threshold_tail(firing, n, n_pos, distance)
    assert together.shape == (3, 50)
    for index in range(0, 150, 7):
        row, column = divmod(index, 50)
        alone = threshold_tail(int(firing[row, column]), n, n_pos, int(distance[row, column]))
        assert float(together[row, column]) == float(alone)


def test_chunking_does_not_change_the_answer(monkeypatch):
    generator = torch.Generator().manual_seed(4)
    n = torch.tensor([30, 200, 1000])[:, None]
    firing = (torch.rand(3, 400, generator=generator) * (n + 1)).long()
    n_pos = torch.tensor([11, 100, 300])[:, None]
    distance = (torch.rand(3, 400, generator=generator) * (n // 3)).long()
    whole = threshold_tail(firing, n, n_pos, distance)
    monkeypatch.setattr(significance, "_CHUNK_ELEMENTS", 64)  # many chunks, some of a single law
    assert torch.equal(threshold_tail(firing, n, n_pos, distance), whole)


def log_tail_reference(n: int, n_pos: int, firing: int, min_distance: int) -> float:
    """The tail summed term by term from math.lgamma (independent of the ratio recursion)."""

    def log_choose(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    total = 0.0
    for x in range(max(0, firing + n_pos - n), min(firing, n_pos) + 1):
        correct = 2 * x + n - firing - n_pos
        if abs(2 * correct - n) >= min_distance:
            total += math.exp(
                log_choose(n_pos, x) + log_choose(n - n_pos, firing - x) - log_choose(n, firing)
            )
    return total


@pytest.mark.parametrize(
    ("n", "n_pos", "firing", "min_distance"),
    [
        (3000, 1500, 1400, 200), (3000, 1500, 1500, 600), (3000, 900, 2000, 560), (2001, 1000, 37, 30),
        # Supports wider than the Hoeffding window (tails far out, and the whole window):
        (20000, 10000, 9000, 2400), (20000, 10000, 9000, 1400), (20000, 7000, 12000, 1500),
    ],
)
def test_large_dev_sets_match_a_term_by_term_sum(n, n_pos, firing, min_distance):
    expected = log_tail_reference(n, n_pos, firing, min_distance)
    assert 1e-300 < expected < 0.5
    assert float(threshold_tail(firing, n, n_pos, min_distance)) == pytest.approx(expected, rel=1e-9)


def test_smallest_attainable_p_is_a_perfect_neuron_and_never_zero():
    assert float(smallest_attainable_p(10, 5)) == pytest.approx(2 / math.comb(10, 5), rel=1e-12)
    assert float(smallest_attainable_p(10, 3)) == pytest.approx(1 / math.comb(10, 3), rel=1e-12)
    assert float(smallest_attainable_p(60, 30)) == pytest.approx(2 / math.comb(60, 30), rel=1e-10)
    # 2 / C(20000, 10000) is about 1e-6000: floored at the smallest normal float64, not 0.
    assert float(smallest_attainable_p(20000, 10000)) == SMALLEST_P
    # A tail far outside the computed window (true value about 1e-3000) is floored the same way.
    assert float(threshold_tail(9000, 20000, 10000, 18000)) == SMALLEST_P


def test_no_neuron_beats_the_perfect_one():
    for n in range(1, 13):
        for n_pos in range(n + 1):
            firing, correct = zip(
                *[
                    (k, 2 * x + n - k - n_pos)
                    for k in range(n + 1)
                    for x in range(max(0, k + n_pos - n), min(k, n_pos) + 1)
                ],
                strict=True,
            )
            every_p = exact_p_values(torch.tensor(correct), torch.tensor(firing), n, n_pos)
            best = float(every_p.min())
            assert best == pytest.approx(float(smallest_attainable_p(n, n_pos)), rel=1e-12)


def test_impossible_distance_has_probability_zero():
    # Firing on 3 of 10 with 5 positives: |2c - n| is at most 6.
    assert float(threshold_tail(3, 10, 5, 7)) == 0.0
    assert float(threshold_tail(3, 10, 5, 6)) > 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: threshold_tail(0, 0, 0, 1), "n = 0"),
        (lambda: exact_p_values(0, 0, 0, 0), "n = 0"),
        (lambda: threshold_tail(11, 10, 5, 1), "firing count"),
        (lambda: threshold_tail(3, 10, 11, 1), "positives"),
        (lambda: threshold_tail(torch.tensor(2.0), 10, 5, 1), "whole-number"),
        (lambda: exact_p_values(5, 3, 10, 5), "cannot arise"),  # parity: c = 2x + 2 is even
        (lambda: exact_p_values(10, 3, 10, 5), "cannot arise"),  # c = 10 needs 5 firing
        (lambda: score_tail(3, 10, 5, float("nan")), "NaN"),
    ],
)
def test_bad_counts_are_clear_errors(call, match):
    with pytest.raises(SkillNeuronError, match=match):
        call()


# ---- aggregated scores -----------------------------------------------------------------------
def counts_from_activations(values, baselines, targets):
    """correct / firing [run, subtask, slot, layer=1, neuron] from values [run, example, slot, neuron],
    baselines [run, slot, neuron] and targets [example, subtask], straight from the definition."""
    fires = values > baselines[:, None]  # [run, example, slot, neuron]
    included = (targets >= 0)[None, :, :, None, None]  # [1, example, subtask, 1, 1]
    labels = (targets == 1)[None, :, :, None, None]
    fires = fires[:, :, None]  # [run, example, 1, slot, neuron]
    correct = ((fires == labels) & included).sum(dim=1)
    firing = (fires & included).sum(dim=1)
    return correct[:, :, :, None], firing[:, :, :, None]


def aggregated_scores(correct, n_dev, run_aggregation):
    """The PredictivityResult chain, spelled out."""
    accuracy = correct.double() / n_dev[:, :, None, None, None].double()
    per_run = torch.maximum(accuracy, 1 - accuracy).amax(dim=2)
    per_subtask = per_run.mean(dim=0) if run_aggregation == "mean" else per_run.amin(dim=0)
    return per_subtask, per_subtask.mean(dim=0)


def test_single_run_slot_and_subtask_equals_the_exact_p_value():
    generator = torch.Generator().manual_seed(3)
    n = 23
    values = torch.randn(1, n, 1, 40, generator=generator)
    targets = (torch.rand(n, 1, generator=generator) < 0.4).long()
    correct, firing = counts_from_activations(values, torch.zeros(1, 1, 40), targets)
    n_dev = torch.tensor([[n]])
    n_pos = targets.sum(dim=0)[None]
    for how in ("mean", "min"):
        per_subtask, overall = aggregated_p_values(correct, firing, n_dev, n_pos, run_aggregation=how)
        exact = exact_p_values(correct[0, 0, 0], firing[0, 0, 0], n, int(n_pos))
        assert torch.equal(per_subtask[0], exact)
        assert torch.equal(overall, exact)


N_EXAMPLE, N_NEURON = 14, 5
TARGETS = torch.stack(
    [torch.tensor([1, 0] * 7), torch.tensor([1, 1, 0, -1, 0, 1, -1, 0, 1, 0, 0, 1, -1, 1])], dim=1
)


def aggregated_case():
    """2 runs x 3 slots x 2 subtasks (the second with excluded rows), 5 neurons; neuron 0 follows
    subtask 0 in every run and slot, so its bounds must be small, not trivially 1."""
    generator = torch.Generator().manual_seed(11)
    values = torch.randn(2, N_EXAMPLE, 3, N_NEURON, generator=generator)
    values[:, :, :, 0] += 3.0 * (TARGETS[:, 0].double() - 0.5)[None, :, None]
    baselines = torch.zeros(2, 3, N_NEURON)
    n_dev = (TARGETS >= 0).sum(dim=0).expand(2, 2)
    n_pos = (TARGETS == 1).sum(dim=0).expand(2, 2)
    return values, baselines, n_dev, n_pos


@pytest.mark.parametrize("run_aggregation", ["mean", "min"])
def test_aggregated_bounds_are_valid_against_a_slow_permutation_reference(run_aggregation):
    """The reference permutes the rows of the dev target matrix (shared by runs and slots) and
    recomputes every score from scratch."""
    values, baselines, n_dev, n_pos = aggregated_case()
    correct, firing = counts_from_activations(values, baselines, TARGETS)
    per_subtask, overall = aggregated_p_values(
        correct, firing, n_dev, n_pos, run_aggregation=run_aggregation
    )
    observed_subtask, observed_overall = aggregated_scores(correct, n_dev, run_aggregation)

    generator = torch.Generator().manual_seed(12)
    n_permutations = 2000
    exceed_subtask = torch.zeros_like(observed_subtask)
    exceed_overall = torch.zeros_like(observed_overall)
    for _ in range(n_permutations):
        shuffled = TARGETS[torch.randperm(N_EXAMPLE, generator=generator)]
        permuted_correct, _ = counts_from_activations(values, baselines, shuffled)
        null_subtask, null_overall = aggregated_scores(permuted_correct, n_dev, run_aggregation)
        exceed_subtask += null_subtask >= observed_subtask - 1e-12
        exceed_overall += null_overall >= observed_overall - 1e-12
    for bound, exceed in ((per_subtask, exceed_subtask), (overall, exceed_overall)):
        estimate = exceed / n_permutations
        error = 4 * torch.sqrt(estimate * (1 - estimate) / n_permutations) + 2 / n_permutations
        assert bool((bound >= estimate - error).all()), (bound, estimate)
        assert bool((bound <= 1).all()) and bool((bound > 0).all())
    assert float(per_subtask[0, 0, 0]) < 0.05


@pytest.mark.parametrize("run_aggregation", ["mean", "min"])
def test_aggregated_bound_is_at_least_the_exact_permutation_p_value(run_aggregation):
    """Subtask 0 has no excluded rows, so its null law is exact over all C(14, 7) = 3,432 label
    arrangements; the bound must never fall below it (no Monte Carlo error here)."""
    values, baselines, n_dev, n_pos = aggregated_case()
    correct, firing = counts_from_activations(values, baselines, TARGETS)
    per_subtask, _ = aggregated_p_values(correct, firing, n_dev, n_pos, run_aggregation=run_aggregation)
    observed = aggregated_scores(correct, n_dev, run_aggregation)[0][0, 0]
    exceed = torch.zeros(N_NEURON)
    arrangements = list(itertools.combinations(range(N_EXAMPLE), 7))
    for positives in arrangements:
        targets = TARGETS.clone()
        targets[:, 0] = 0
        targets[list(positives), 0] = 1
        permuted_correct, _ = counts_from_activations(values, baselines, targets)
        exceed += aggregated_scores(permuted_correct, n_dev, run_aggregation)[0][0, 0] >= observed - 1e-12
    exact = exceed.double() / len(arrangements)
    assert bool((per_subtask[0, 0] >= exact - 1e-12).all()), (per_subtask[0, 0], exact)
    # Neuron 0 is perfect in every run and slot: exact p = 2 / 3432; the bound is a small multiple.
    assert float(exact[0]) == pytest.approx(2 / 3432)
    assert float(per_subtask[0, 0, 0]) <= 6 * 2 / 3432 + 1e-12


def test_aggregated_p_values_reject_bad_shapes_and_aggregations():
    counts = torch.zeros(1, 1, 1, 1, 2, dtype=torch.int64)
    n = torch.tensor([[4]])
    with pytest.raises(SkillNeuronError, match="run_aggregation"):
        aggregated_p_values(counts + 2, counts, n, n // 2, run_aggregation="max")  # type: ignore[arg-type]
    with pytest.raises(SkillNeuronError, match="run, subtask, slot, layer, neuron"):
        aggregated_p_values(counts[0], counts[0], n, n // 2)
    with pytest.raises(SkillNeuronError, match="n_dev and n_pos"):
        aggregated_p_values(counts + 2, counts, torch.tensor([4]), torch.tensor([2]))
    with pytest.raises(SkillNeuronError, match="cannot arise"):
        aggregated_p_values(counts + 3, counts, n, n // 2)  # no firing: c = n - m = 2, never 3
    with pytest.raises(SkillNeuronError, match="n = 0"):
        aggregated_p_values(counts, counts, n * 0, n * 0)


# ---- multiple testing ------------------------------------------------------------------------
P_VALUES = torch.tensor([0.01, 0.04, 0.03, 0.005, 0.20], dtype=torch.float64)
# Sorted: 0.005, 0.01, 0.03, 0.04, 0.20 (N = 5).
# BH: 5p/rank = 0.025, 0.025, 0.05, 0.05, 0.2; running min from the top keeps them.
BH = [0.025, 0.05, 0.05, 0.025, 0.2]
# BY: BH times c(5) = 1 + 1/2 + 1/3 + 1/4 + 1/5 = 137/60.
BY = [0.025 * 137 / 60, 0.05 * 137 / 60, 0.05 * 137 / 60, 0.025 * 137 / 60, 0.2 * 137 / 60]
# Holm: (N - rank + 1) p = 0.025, 0.04, 0.09, 0.08, 0.2; running max gives 0.025, 0.04, 0.09, 0.09, 0.2.
HOLM = [0.04, 0.09, 0.09, 0.025, 0.2]


@pytest.mark.parametrize(("method", "expected"), [("bh", BH), ("by", BY), ("holm", HOLM)])
def test_adjusted_p_values_match_hand_computations(method, expected):
    got = adjust_p_values(P_VALUES, method)
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64), rtol=1e-12, atol=0)
    # Over all entries, whatever the shape.
    torch.testing.assert_close(
        adjust_p_values(torch.cat([P_VALUES, P_VALUES.new_ones(1)]).reshape(2, 3), method).flatten()[:5],
        adjust_p_values(torch.cat([P_VALUES, P_VALUES.new_ones(1)]), method)[:5],
    )


def test_adjustment_is_capped_and_monotone():
    # BH: 2 * 0.5 / 1 = 1.0 and 2 * 0.9 / 2 = 0.9, so the step-up gives 0.9 for both.
    assert adjust_p_values(torch.tensor([0.5, 0.9]), "bh").tolist() == pytest.approx([0.9, 0.9])
    # Holm: 2 * 0.5 = 1.0, then max(1.0, 0.9) = 1.0.
    assert adjust_p_values(torch.tensor([0.5, 0.9]), "holm").tolist() == [1.0, 1.0]
    assert adjust_p_values(torch.tensor([0.6, 0.7]), "by").tolist() == [1.0, 1.0]
    assert adjust_p_values(torch.tensor([]), "bh").numel() == 0


@pytest.mark.parametrize(
    ("method", "q", "expected"),
    [
        ("bh", 0.05, [True, True, True, True, False]),
        ("holm", 0.05, [True, False, False, True, False]),
        ("by", 0.05, [False] * 5),
        ("by", 0.06, [True, False, False, True, False]),
    ],
)
def test_significant_masks(method, q, expected):
    assert significant(P_VALUES, q, method).tolist() == expected


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: significant(P_VALUES, 0.0), "strictly between 0 and 1"),
        (lambda: significant(P_VALUES, 1.0), "strictly between 0 and 1"),
        (lambda: significant(P_VALUES, -0.1), "strictly between 0 and 1"),
        (lambda: significant(P_VALUES, 0.05, "bonferroni"), "Unknown multiple-testing method"),  # type: ignore[arg-type]
        (lambda: adjust_p_values(torch.tensor([0.1, float("nan")])), "NaN"),
        (lambda: adjust_p_values(torch.tensor([0.1, 1.5])), r"\[0, 1\]"),
    ],
)
def test_multiple_testing_errors(call, match):
    with pytest.raises(SkillNeuronError, match=match):
        call()


# ---- Wilson intervals and power ---------------------------------------------------------------
def test_wilson_interval_matches_hand_values():
    # The ends are the roots x of (p - x)^2 = z^2 x (1 - x) / n, i.e. of
    # (1 + z^2/n) x^2 - (2p + z^2/n) x + p^2 = 0. With z = 1.959964 (95%):
    # 8/10: 1.384146 x^2 - 1.984146 x + 0.64 = 0 -> 0.490162, 0.943318;
    # 0/10: x (1.384146 x - 0.384146) = 0 -> 0, 0.277533; 5/10: 0.236593, 0.763407.
    low, high = wilson_interval(torch.tensor([8, 0, 5]), torch.tensor([10, 10, 10]))
    expected_low = torch.tensor([0.490162, 0.0, 0.236593], dtype=torch.float64)
    expected_high = torch.tensor([0.943318, 0.277533, 0.763407], dtype=torch.float64)
    torch.testing.assert_close(low, expected_low, atol=1e-6, rtol=0)
    torch.testing.assert_close(high, expected_high, atol=1e-6, rtol=0)
    # 90% (z = 1.644854), 30 of 40: 1.067639 x^2 - 1.567639 x + 0.5625 = 0 -> 0.624027, 0.844296.
    low90, high90 = wilson_interval(30, 40, confidence=0.90)
    assert (float(low90), float(high90)) == pytest.approx((0.624027, 0.844296), abs=1e-6)


@pytest.mark.parametrize(
    ("args", "match"),
    [((3, 0), "n >= 1"), ((5, 4), "0..n"), ((1, 4, 1.0), "confidence")],
)
def test_wilson_errors(args, match):
    with pytest.raises(SkillNeuronError, match=match):
        wilson_interval(*args)


def test_dev_size_for_effect_is_monotone_and_consistent_with_exact_p():
    sizes = [dev_size_for_effect(a, 9216) for a in (0.55, 0.6, 0.7, 0.9)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    by_tests = [dev_size_for_effect(0.6, n_tested) for n_tested in (1, 100, 9216, 100_000)]
    assert by_tests == sorted(by_tests) and len(set(by_tests)) == 4
    for accuracy, n_tested, q in ((0.6, 9216, 0.05), (0.55, 1000, 0.1), (0.75, 50, 0.01)):
        size = dev_size_for_effect(accuracy, n_tested, q)
        level = q / n_tested
        assert typical_neuron_p(size, accuracy) <= level < typical_neuron_p(size - 1, accuracy)
        assert float(smallest_attainable_p(size, size // 2)) <= level


def test_typical_neuron_never_overstates_the_effect():
    # n = 10, accuracy 0.7: the best half-firing neuron with score <= 0.7 gets c = 7 (score 0.7),
    # but c is even here (k = m = 5: c = 2x), so c = 6, score 0.6: P(|2C - 10| >= 2).
    assert typical_neuron_p(10, 0.7) == pytest.approx(float(threshold_tail(5, 10, 5, 2)))
    assert typical_neuron_p(3, 0.6) == 1.0  # no count of 3 examples has a score in (0.5, 0.6]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"accuracy": 0.5, "n_tested": 10}, "chance"),
        ({"accuracy": 1.2, "n_tested": 10}, r"\(0.5, 1\]"),
        ({"accuracy": 0.6, "n_tested": 0}, "n_tested"),
        ({"accuracy": 0.6, "n_tested": 10, "q": 1.5}, "strictly between"),
        ({"accuracy": 0.6, "n_tested": 10, "positive_share": 0.0}, "positive_share"),
        ({"accuracy": 0.5000001, "n_tested": 10}, "too close to 0.5"),
    ],
)
def test_dev_size_errors(kwargs, match):
    with pytest.raises(SkillNeuronError, match=match):
        dev_size_for_effect(**kwargs)
