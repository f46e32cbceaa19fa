"""The Mantel test: exact enumeration against a slow reference, Monte Carlo, and bad input."""

import itertools

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.stats.mantel import mantel_test


def average_ranks(values: list[float]) -> list[float]:
    """Rank of each value (0-based), ties sharing the mean of their positions."""
    ordered = sorted(values)
    return [ordered.index(v) + (ordered.count(v) - 1) / 2 for v in values]


def reference_spearman(a: list[float], b: list[float]) -> float:
    """Pearson correlation of average ranks, written out."""
    rank_a, rank_b = average_ranks(a), average_ranks(b)
    mean_a, mean_b = sum(rank_a) / len(a), sum(rank_b) / len(b)
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(rank_a, rank_b, strict=True))
    var_a = sum((x - mean_a) ** 2 for x in rank_a)
    var_b = sum((y - mean_b) ** 2 for y in rank_b)
    return cov / (var_a * var_b) ** 0.5


def reference_mantel(x: list[list[float]], y: list[list[float]]) -> tuple[float, float]:
    """Every relabelling of the tasks, pairs listed by hand."""
    n = len(x)
    pairs = [(s, t) for s in range(n) for t in range(n) if s != t]
    outcome = [y[s][t] for s, t in pairs]
    observed = reference_spearman([x[s][t] for s, t in pairs], outcome)
    values = [
        reference_spearman([x[perm[s]][perm[t]] for s, t in pairs], outcome)
        for perm in itertools.permutations(range(n))
    ]
    return observed, sum(v >= observed - 1e-12 for v in values) / len(values)


def random_case(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(5, 5, generator=generator, dtype=torch.float64)
    return x, 0.5 * x + torch.rand(5, 5, generator=generator, dtype=torch.float64)


TIED_CASE = (  # a symmetric indicator and an outcome with many ties
    torch.tensor([[0.0, 1, 2, 1], [1, 0, 3, 2], [2, 3, 0, 1], [1, 2, 1, 0]]),
    torch.tensor([[0.0, 0.5, 0.7, 0.5], [0.6, 0, 0.9, 0.7], [0.7, 0.8, 0, 0.5], [0.5, 0.6, 0.6, 0]]),
)


@pytest.mark.parametrize("case", [random_case(0), random_case(1), random_case(2), TIED_CASE])
def test_exact_p_value_matches_the_reference(case):
    x, y = case
    statistic, p_value, method = mantel_test(x, y)
    expected_statistic, expected_p = reference_mantel(x.tolist(), y.tolist())
    assert method == "exact"
    assert statistic == pytest.approx(expected_statistic)
    assert p_value == pytest.approx(expected_p)


def test_a_perfect_indicator_gets_the_smallest_p_and_the_diagonal_is_ignored():
    x = torch.tensor([[9.0, 1, 2, 3], [4, 9, 5, 6], [7, 8, 9, 10], [11, 12, 13, 9]])
    y = 2 * x + 1
    y.fill_diagonal_(-100.0)
    statistic, p_value, _ = mantel_test(x, y)
    assert statistic == pytest.approx(1.0)
    assert p_value == pytest.approx(1 / 24)  # only the identity relabelling reaches 1


def test_monte_carlo_when_enumeration_is_too_large():
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(7, 7, generator=generator, dtype=torch.float64)
    y = x + 0.1 * torch.rand(7, 7, generator=generator, dtype=torch.float64)
    statistic, p_value, method = mantel_test(x, y, n_permutations=199, seed=4)
    assert method == "monte carlo"
    assert statistic > 0.9
    assert p_value == pytest.approx(1 / 200)  # no random relabelling of 7 tasks comes close
    assert mantel_test(x, y, n_permutations=199, seed=4) == (statistic, p_value, method)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (torch.rand(3, 4), torch.rand(3, 4), "square"),
        (torch.rand(2, 2), torch.rand(2, 2), "at least 3"),
        (torch.rand(3, 3), torch.rand(4, 4), "differ in shape"),
        (torch.ones(3, 3), torch.rand(3, 3), "constant"),
        (torch.tensor([[0.0, float("nan"), 1], [1, 0, 2], [3, 4, 0]]), torch.rand(3, 3), "NaN"),
    ],
)
def test_bad_matrices_are_named(x, y, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        mantel_test(x, y)
