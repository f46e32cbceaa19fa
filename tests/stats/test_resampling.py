"""Resampling statistics: the sign-flip test against brute force, bootstrap intervals, one Holm."""

from __future__ import annotations

import itertools
import random

import pytest
import torch

from skillneuron_lens.stats.resampling import bootstrap_ci, sign_flip_test
from skillneuron_lens.stats.significance import adjust_p_values


def brute_force_p(d: list[float]) -> float:
    observed = sum(d)
    totals = [
        sum(s * x for s, x in zip(signs, d, strict=True))
        for signs in itertools.product((1, -1), repeat=len(d))
    ]
    return sum(t >= observed - 1e-12 for t in totals) / len(totals)


@pytest.mark.parametrize(
    "d",
    [
        [1.0, 1.0, 0.5, -0.5, 0.0, 1.0, 0.25],
        [1.0, -1.0, 0.0, 0.0],
        [0.0, 0.0],
        [-1.0, -1.0, -0.5],
        [1 / 3, 2 / 3, -1 / 3, 1.0, 1.0, -2 / 3, 1 / 3, 1.0],
    ],
)
def test_sign_flip_p_value_matches_brute_force_enumeration(d):
    statistic, p_value, method = sign_flip_test(torch.tensor(d), n_permutations=10000)
    assert method == "exact"
    assert statistic == pytest.approx(sum(d) / len(d))
    assert p_value == pytest.approx(brute_force_p(d))


def test_monte_carlo_p_value_is_close_and_never_zero():
    d = [1.0, 1.0, 0.5, -0.5, 0.0, 1.0, 0.25, 1.0, -1.0, 0.5, 1.0, 0.75, 1.0]
    statistic, p_value, method = sign_flip_test(torch.tensor(d), n_permutations=4000, seed=1)
    assert method == "monte carlo"
    assert p_value == pytest.approx(brute_force_p(d), abs=0.01)
    _, p_strong, _ = sign_flip_test(torch.ones(40), n_permutations=99)
    assert p_strong == pytest.approx(1 / 100)  # the +1 correction: never zero


def test_bootstrap_interval_of_a_constant_is_a_point():
    ci = bootstrap_ci(torch.stack([torch.ones(10), torch.zeros(10)]), n_bootstrap=50)
    assert torch.equal(ci, torch.tensor([[1.0, 1.0], [0.0, 0.0]], dtype=torch.float64))


def bootstrap_by_hand(values: torch.Tensor, n_bootstrap: int, seed: int, confidence: float) -> torch.Tensor:
    """The percentile interval, one resample at a time with the same generator draws."""
    generator = torch.Generator().manual_seed(seed)
    n = values.shape[1]
    resamples = [torch.randint(n, (1, n), generator=generator)[0] for _ in range(n_bootstrap)]
    means = torch.stack([values.double()[:, index].mean(dim=1) for index in resamples], dim=1)
    alpha = (1 - confidence) / 2
    return torch.quantile(means, torch.tensor([alpha, 1 - alpha], dtype=torch.float64), dim=1).T


def test_bootstrap_interval_equals_one_resample_at_a_time():
    values = (torch.arange(24).reshape(2, 12) % 5 < 2).double()
    interval = bootstrap_ci(values, n_bootstrap=40, seed=3, confidence=0.9)
    torch.testing.assert_close(interval, bootstrap_by_hand(values, 40, 3, 0.9), rtol=0, atol=1e-12)
    assert bool((interval[:, 0] <= values.mean(dim=1)).all() and (values.mean(dim=1) <= interval[:, 1]).all())


def old_holm(p_values: list[float]) -> list[float]:
    """The Holm adjustment that analysis.specificity carried before (kept here as the reference)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def test_holm_is_the_same_quantity_as_the_old_specificity_holm():
    assert adjust_p_values(torch.tensor([0.01, 0.04, 0.03, 0.5]), "holm").tolist() == pytest.approx(
        [0.04, 0.09, 0.09, 0.5]
    )  # by hand: 4 * 0.01, max(0.04, 3 * 0.03), max(0.09, 2 * 0.04), 0.5
    rng = random.Random(0)
    for size in (1, 2, 5, 17):
        p_values = [rng.choice([0.001, 0.01, 0.02, 0.3, 0.5, 1.0]) * rng.random() for _ in range(size)]
        p_values[0] = p_values[-1]  # a tie
        new = adjust_p_values(torch.tensor(p_values, dtype=torch.float64), "holm").tolist()
        assert new == old_holm(p_values)
