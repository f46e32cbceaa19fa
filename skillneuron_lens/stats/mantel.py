"""Does one task x task matrix go with another? A Mantel test by permuting task identities.

The transferability question of the paper: across ordered task pairs ``(source, target)``, does an
indicator (e.g. the Spearman correlation of two tasks' neuron predictivity) rank the pairs as the actual
prompt transfer does? The pairs share tasks, so they are not independent, and the usual p-value of a
correlation over pairs is wrong. The Mantel test keeps that dependence: under the null hypothesis the
indicator carries no information about which task is which, so relabelling the tasks of the indicator
matrix (the same permutation on rows and columns) gives an equally likely statistic. Every relabelling is
enumerated when there are at most ``n_permutations`` of them (5 tasks: 120), so the p-value is exact.
"""

from __future__ import annotations

import itertools
import math

import torch
from jaxtyping import Float

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.stats.correlation import spearman

__all__ = ["mantel_test"]


def _off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    mask = ~torch.eye(matrix.shape[0], dtype=torch.bool)
    return matrix[mask]


def _check(name: str, matrix: torch.Tensor) -> torch.Tensor:
    values = torch.as_tensor(matrix, dtype=torch.float64)
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise SkillNeuronError(f"{name} must be a square [task, task] matrix, got {tuple(values.shape)}.")
    if values.shape[0] < 3:
        raise SkillNeuronError(f"{name} has {values.shape[0]} tasks; a Mantel test needs at least 3.")
    if not bool(torch.isfinite(_off_diagonal(values)).all()):
        raise SkillNeuronError(f"{name} has NaN or infinite values off the diagonal.")
    return values


def mantel_test(
    indicator: Float[torch.Tensor, "task task"],
    outcome: Float[torch.Tensor, "task task"],
    *,
    n_permutations: int = 10000,
    seed: int = 0,
) -> tuple[float, float, str]:
    """One-sided Mantel test that ``indicator`` ranks the task pairs as ``outcome`` does.

    The statistic is the Spearman correlation over the off-diagonal entries (ordered pairs ``[source,
    target]``; the diagonal is ignored). Its null distribution comes from relabelling the tasks of
    ``indicator``: ``indicator[perm][:, perm]`` for every permutation ``perm`` of the tasks (exact, the
    identity included) or for ``n_permutations`` random ones (then ``p = (1 + hits) / (1 +
    n_permutations)``). Large statistics favour the hypothesis.

    Args:
        indicator: The indicator of each ordered pair, ``[source, target]``.
        outcome: The measured outcome (e.g. relative transfer accuracy), same shape.
        n_permutations: Largest number of relabellings enumerated exactly; otherwise the number drawn.
        seed: Seed of the random relabellings.

    Returns:
        ``(statistic, p_value, method)`` with method ``"exact"`` or ``"monte carlo"``.

    Raises:
        SkillNeuronError: For non-square or mismatched matrices, fewer than 3 tasks, or non-finite
            entries off the diagonal.
    """
    x, y = _check("indicator", indicator), _check("outcome", outcome)
    if x.shape != y.shape:
        raise SkillNeuronError(f"indicator and outcome differ in shape: {tuple(x.shape)}, {tuple(y.shape)}.")
    if n_permutations < 1:
        raise SkillNeuronError(f"n_permutations must be at least 1, got {n_permutations}.")
    target = _off_diagonal(y)
    observed = spearman(_off_diagonal(x), target)
    if math.isnan(observed):
        raise SkillNeuronError("The correlation is undefined: a matrix is constant off the diagonal.")
    tasks = x.shape[0]
    tolerance = 1e-12

    def statistic(order: list[int] | tuple[int, ...]) -> float:
        index = torch.tensor(order)
        return spearman(_off_diagonal(x[index][:, index]), target)

    if math.factorial(tasks) <= n_permutations:
        values = [statistic(order) for order in itertools.permutations(range(tasks))]
        hits = sum(value >= observed - tolerance for value in values)
        return observed, hits / len(values), "exact"
    generator = torch.Generator().manual_seed(seed)
    hits = sum(
        statistic(torch.randperm(tasks, generator=generator).tolist()) >= observed - tolerance
        for _ in range(n_permutations)
    )
    return observed, (1 + hits) / (1 + n_permutations), "monte carlo"
