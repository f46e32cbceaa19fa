"""The evidence behind a skill-neuron selection, in one place: significance, held-out scores, controls.

Every table, figure and summary that names neurons shows the same numbers, made here:
:func:`selection_evidence` turns a :class:`~skillneuron_lens.predictivity.result.PredictivityResult` and a
selection rule into a JSON-ready dict (the ``significance`` and ``held_out`` blocks of ``summary.json``),
and :func:`evidence_line` into the one-line summary ``find`` prints.
"""

from __future__ import annotations

import logging
from typing import Any

from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.stats.significance import FdrMethod, dev_size_for_effect, smallest_attainable_p

__all__ = [
    "LOGGER",
    "REFERENCE_EFFECT",
    "significance_summary",
    "held_out_summary",
    "warn_if_dev_too_small",
    "evidence_line",
]

LOGGER = logging.getLogger("skillneuron_lens")
REFERENCE_EFFECT = 0.6
"""The single-neuron accuracy used to say how many dev examples a significant finding would need."""


def _mean(values: Any) -> float | None:
    return None if values.numel() == 0 else float(values.double().mean())


def significance_summary(
    result: PredictivityResult,
    skill: NeuronSet,
    *,
    q: float = 0.05,
    method: FdrMethod = "bh",
    model_selected_on_dev: bool = False,
) -> dict[str, Any] | None:
    """The ``significance`` block of a run summary (``None`` for a result without significance).

    Args:
        result: The predictivity.
        skill: The run's skill-neuron selection.
        q: The false discovery rate (family-wise rate for Holm).
        method: ``"bh"``, ``"by"`` or ``"holm"``.
        model_selected_on_dev: The classifier's checkpoint was chosen on the dev split (tuned runs),
            which breaks the exchangeability of dev labels: the p-values are then optimistic.

    Returns:
        ``method``, ``q``, ``n_tested``, ``n_significant``, ``n_significant_in_skill_set``, the
        number of fragile neurons and, when it applies, the reason the p-values are optimistic.
    """
    if not result.has_significance:
        return None
    significant = NeuronSet.significant(result, q=q, method=method)
    fragile = result.fragile
    n_dev, n_pos = int(result.n_dev.min()), int(result.n_dev_positive.min())  # type: ignore[union-attr]
    summary: dict[str, Any] = {
        "method": method,
        "q": q,
        "n_tested": result.n_layers * result.n_neurons,
        "n_significant": len(significant),
        "n_significant_in_skill_set": len(skill & significant),
        "n_fragile": None if fragile is None else int(fragile.sum()),
        "n_fragile_set_aside": None if fragile is None else _fragile_set_aside(result, skill, fragile),
        "smallest_attainable_p": float(smallest_attainable_p(n_dev, n_pos)),
        "optimistic": model_selected_on_dev,
    }
    if model_selected_on_dev:
        summary["optimistic_reason"] = (
            "the tuned classifier's checkpoint was chosen on the dev split, so dev labels are not "
            "exchangeable; trust the held-out scores"
        )
    return summary


def _fragile_set_aside(result: PredictivityResult, skill: NeuronSet, fragile: Any) -> int:
    """How many fragile neurons the same selection would hold without setting them aside."""
    per_layer = int(skill.counts_per_layer().max())
    if per_layer == 0:
        return 0
    unfiltered = NeuronSet.top(result, k=per_layer, exclude_fragile=False)
    return int((unfiltered.mask & fragile).sum())


def held_out_summary(
    result: PredictivityResult, skill: NeuronSet, controls: list[NeuronSet], *, q: float, method: FdrMethod
) -> dict[str, Any] | None:
    """The ``held_out`` block: mean test-split scores of the skill set, its controls, the significant set."""
    if result.held_out_predictivity is None or result.n_held_out is None:
        return None
    draws = [_mean(control.held_out_scores(result)) for control in controls]
    valid = [draw for draw in draws if draw is not None]
    summary: dict[str, Any] = {
        "split": "test",
        "skill": _mean(skill.held_out_scores(result)),
        "random": sum(valid) / len(valid) if valid else None,
        "random_draws": draws,
        "n": int(result.n_held_out.min()),
    }
    if result.has_significance:
        significant = NeuronSet.significant(result, q=q, method=method)
        summary["significant"] = _mean(significant.held_out_scores(result))
        summary["n_significant"] = len(significant)
    return summary


def warn_if_dev_too_small(result: PredictivityResult, *, q: float = 0.05) -> str | None:
    """Warn (and return the message) when the dev split is too small for any neuron to pass BH."""
    if not result.has_significance:
        return None
    n_tested = result.n_layers * result.n_neurons
    n_dev, n_pos = int(result.n_dev.min()), int(result.n_dev_positive.min())  # type: ignore[union-attr]
    floor = float(smallest_attainable_p(n_dev, n_pos))
    if floor <= q / n_tested:
        return None
    needed = dev_size_for_effect(REFERENCE_EFFECT, n_tested, q=q)
    message = (
        f"The dev split ({n_dev} examples per subtask) is too small for any of the {n_tested:,} neurons to "
        f"reach significance at q {q}: even a perfect neuron has p {floor:.2g} > {q / n_tested:.2g}. About "
        f"{needed:,} dev examples would be needed for a neuron of accuracy {REFERENCE_EFFECT}; use more data "
        "or a larger dev share."
    )
    LOGGER.warning(message)
    return message


def evidence_line(summary: dict[str, Any], fraction: float) -> str:
    """The one-line summary ``find`` prints, from a summary's skill, significance and held-out blocks."""
    skill = summary["skill_neurons"]
    total = sum(skill["count_per_layer"])
    text = f"{total} skill neurons (top {fraction:.0%}/layer)"
    significance = summary.get("significance")
    if significance is None:
        text += ", no significance recorded"
    else:
        text += (
            f", {significance['n_significant_in_skill_set']} of them significant "
            f"({significance['n_significant']:,} of {significance['n_tested']:,} in all) at q "
            f"{significance['q']:g} ({significance['method'].upper()})"
        )
        if significance.get("optimistic"):
            text += " [optimistic: checkpoint chosen on dev]"
    held_out = summary.get("held_out")
    if held_out is not None and held_out.get("skill") is not None:
        text += f"; held-out {held_out['skill']:.3f} vs random {held_out['random']:.3f} (n={held_out['n']})"
    else:
        random = skill["random_control_mean_predictivity"]
        text += (
            f"; dev {skill['mean_predictivity']:.3f} vs random {sum(random) / len(random):.3f} "
            "(dev scores of a dev selection are biased upward; no test split)"
        )
    return text
