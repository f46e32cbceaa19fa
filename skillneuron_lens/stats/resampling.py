"""Resampling statistics: percentile bootstrap intervals and the paired sign-flip permutation test.

Both are seeded (the same inputs and seed give the same numbers) and work in chunks, so their
temporary tensors stay small whatever the number of resamples. The perturbation analyses
(:mod:`skillneuron_lens.analysis.curves`, :mod:`skillneuron_lens.analysis.specificity`) use them on
per-example correctness; they apply to any paired per-example values.
"""

from __future__ import annotations

import torch
from jaxtyping import Float

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "bootstrap_ci",
    "sign_flip_test",
]

_CHUNK_ELEMENTS = 1 << 22  # bound on temporary tensors in the bootstrap and the permutation test


def bootstrap_ci(
    values: Float[torch.Tensor, "condition example"],
    *,
    confidence: float = 0.95,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> Float[torch.Tensor, "condition 2"]:
    """Percentile bootstrap intervals of per-condition means, resampling examples (paired).

    Every condition is averaged over the same resampled example sets.

    Args:
        values: Per-example values (e.g. 0/1 correctness) of each condition.
        confidence: Coverage of the interval, in ``(0, 1)``.
        n_bootstrap: Number of resamples.
        seed: Seed of the resampling.

    Returns:
        ``[low, high]`` per condition (float64).
    """
    if not 0.0 < confidence < 1.0:
        raise SkillNeuronError(f"confidence must be in (0, 1), got {confidence!r}.")
    if n_bootstrap < 1:
        raise SkillNeuronError(f"n_bootstrap must be at least 1, got {n_bootstrap}.")
    data = values.double()
    n_conditions, n_examples = data.shape
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n_conditions * n_examples))
    means = []
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        index = torch.randint(n_examples, (size, n_examples), generator=generator)
        means.append(data[:, index].mean(dim=2))  # [condition, size]
    draws = torch.cat(means, dim=1)
    alpha = (1.0 - confidence) / 2.0
    quantiles = torch.tensor([alpha, 1.0 - alpha], dtype=torch.float64)
    return torch.quantile(draws, quantiles, dim=1).T.contiguous()


def sign_flip_test(
    differences: Float[torch.Tensor, " example"],
    *,
    n_permutations: int = 10000,
    seed: int = 0,
) -> tuple[float, float, str]:
    """One-sided paired sign-flip permutation test that the mean difference is above zero.

    Under the null hypothesis each paired difference is symmetric around zero, so flipping its sign
    leaves the distribution unchanged. Differences of exactly zero do not change under a flip and are
    left out of the enumeration.

    Args:
        differences: Paired differences ``d_i`` (e.g. random-set correctness minus skill-set
            correctness of example ``i``).
        n_permutations: Random sign vectors when exact enumeration would need more than this many.
        seed: Seed of the random sign vectors.

    Returns:
        ``(statistic, p_value, method)``: ``mean(d)``, the one-sided p-value, and ``"exact"`` or
        ``"monte carlo"``.
    """
    if n_permutations < 1:
        raise SkillNeuronError(f"n_permutations must be at least 1, got {n_permutations}.")
    d = differences.double().flatten()
    if d.numel() == 0:
        raise SkillNeuronError("differences is empty: the test needs at least one example.")
    statistic = float(d.mean())
    nonzero = d[d != 0]
    m = int(nonzero.numel())
    observed = float(nonzero.sum())
    tolerance = 1e-9 * (float(nonzero.abs().sum()) + 1.0)
    if m == 0:
        return statistic, 1.0, "exact"
    if 2**m <= n_permutations:
        codes = torch.arange(2**m, dtype=torch.int64)
        bits = (codes[:, None] >> torch.arange(m, dtype=torch.int64)) & 1
        totals = ((1 - 2 * bits).double() * nonzero).sum(dim=1)
        return statistic, float((totals >= observed - tolerance).sum()) / 2**m, "exact"
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, _CHUNK_ELEMENTS // m)
    hits = 0
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        signs = torch.randint(2, (size, m), generator=generator).double() * 2 - 1
        hits += int(((signs * nonzero).sum(dim=1) >= observed - tolerance).sum())
    return statistic, (1 + hits) / (1 + n_permutations), "monte carlo"
