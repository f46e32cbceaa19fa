"""Rank correlation of per-neuron scores: ranks with ties, Spearman over all neurons and per layer."""

from __future__ import annotations

import math
from typing import Any

import torch
from jaxtyping import Float

from skillneuron_lens.errors import SkillNeuronError

__all__ = ["rankdata", "spearman", "spearman_per_layer"]

# A PredictivityResult (anything with a ``predictivity`` tensor) or a tensor of scores.
ScoresLike = Any


def rankdata(values: Float[torch.Tensor, " n"]) -> Float[torch.Tensor, " n"]:
    """Ranks 1..n of a 1-D tensor, ties given the average of the ranks they span (float64).

    Raises:
        SkillNeuronError: For a tensor that is not 1-D or holds NaN.
    """
    if values.ndim != 1:
        raise SkillNeuronError(f"rankdata needs a 1-D tensor, got shape {tuple(values.shape)}.")
    if bool(torch.isnan(values).any()):
        raise SkillNeuronError("Cannot rank NaN values; drop or fill them first.")
    flat = values.detach().double().cpu()
    order = torch.argsort(flat, stable=True)
    _, inverse, counts = torch.unique_consecutive(flat[order], return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, dim=0).double()  # the last rank of each group of ties (1-based)
    average = ends - (counts.double() - 1.0) / 2.0
    ranks = torch.empty_like(flat)
    ranks[order] = average[inverse]
    return ranks


def _pearson(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    return float("nan") if denominator == 0.0 else float((x * y).sum()) / denominator


def _scores(value: ScoresLike, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) and isinstance(getattr(value, "predictivity", None), torch.Tensor):
        # Accuracies are fractions k / n_dev; max(Acc, 1 - Acc) and the mean over runs leave last-bit
        # noise that would split ties. Rounding to 1e-12 makes equal scores tie again.
        return torch.round(value.predictivity.double(), decimals=12)  # type: ignore[union-attr]
    if isinstance(value, torch.Tensor):
        return value
    raise SkillNeuronError(
        f"{name} must be a PredictivityResult or a tensor of per-neuron scores, got {type(value).__name__}."
    )


def spearman(a: ScoresLike, b: ScoresLike) -> float:
    """Spearman rank correlation between two tasks' per-neuron scores, over all neurons.

    Pearson correlation of the ranks, with average ranks for ties (as ``scipy.stats.spearmanr``).

    Args:
        a: A :class:`PredictivityResult` (its :attr:`~PredictivityResult.predictivity`, rounded to
            12 decimals so that scores equal up to float round-off tie) or a tensor of scores, any
            shape (e.g. ``[layer, neuron]``).
        b: The same for the other task, same shape.

    Returns:
        The correlation in ``[-1, 1]``; NaN when either side is constant (undefined).

    Raises:
        SkillNeuronError: If the shapes differ.
    """
    x, y = _scores(a, "a"), _scores(b, "b")
    if x.shape != y.shape:
        raise SkillNeuronError(
            f"Scores differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}; compare the same neurons."
        )
    if x.numel() < 2:
        raise SkillNeuronError("Spearman correlation needs at least two neurons.")
    return _pearson(rankdata(x.flatten()), rankdata(y.flatten()))


def spearman_per_layer(a: ScoresLike, b: ScoresLike) -> Float[torch.Tensor, " layer"]:
    """Spearman rank correlation within each layer (rows of ``[layer, neuron]`` scores).

    Returns:
        One float64 correlation per layer (NaN where a layer's scores are constant).
    """
    x, y = _scores(a, "a"), _scores(b, "b")
    if x.ndim != 2 or x.shape != y.shape:
        raise SkillNeuronError(
            f"Per-layer Spearman needs two [layer, neuron] tensors of one shape, got {tuple(x.shape)} "
            f"and {tuple(y.shape)}."
        )
    return torch.tensor([spearman(x[row], y[row]) for row in range(x.shape[0])], dtype=torch.float64)
