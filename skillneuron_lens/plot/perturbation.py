"""The perturbation figure: accuracy against the share of neurons perturbed, skill neurons vs controls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.plot.layout import (
    BOTTOM_COLOUR,
    CLEAN_COLOUR,
    RANDOM_COLOUR,
    SKILL_COLOUR,
    as_numpy,
    check_layout,
    finish_figure,
)

__all__ = ["perturbation_curves"]


def _curve_array(curve: Any, name: str, shape_tail: tuple[int, ...] = ()) -> np.ndarray | None:
    values = getattr(curve, name, None)
    if values is None:
        return None
    array = as_numpy(values)
    if shape_tail and array.shape[-len(shape_tail) :] != shape_tail:
        raise SkillNeuronError(f"curve.{name} has shape {array.shape}; expected [..., {shape_tail}].")
    return array


def perturbation_curves(
    curve: Any,
    *,
    band: Literal["ci", "minmax"] = "ci",
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Accuracy against the fraction of neurons perturbed: skill, random controls and bottom neurons.

    Args:
        curve: A perturbation curve with ``fractions``, ``clean_accuracy``, ``skill`` ``[fraction]``,
            ``random`` ``[draw, fraction]``, ``bottom`` ``[fraction]``, ``skill_ci`` /
            ``random_ci`` / ``bottom_ci`` ``[fraction, 2]``, ``p_values`` ``[fraction]`` and ``mode``.
            ``bottom``, the CIs and ``p_values`` may be ``None``.
        band: The random controls' band: ``"ci"`` (``random_ci``; falls back to min-max when it is
            missing) or ``"minmax"`` (lowest and highest draw).
        title: Figure title (default names the perturbation ``mode``).
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure. Traces, by name: ``"random band low"`` and ``"random band (...)"`` (the band,
        filled),
        ``"random (mean of N draws)"``, ``"skill neurons"`` (error bars: ``skill_ci``; hover: p-value),
        ``"bottom neurons"`` (error bars: ``bottom_ci``) and ``"clean"`` (horizontal line).

    Raises:
        SkillNeuronError: If the arrays do not match ``fractions`` or ``band`` is unknown.
    """
    check_layout(layout)
    if band not in ("ci", "minmax"):
        raise SkillNeuronError(f"band must be 'ci' or 'minmax', got {band!r}.")
    fractions = as_numpy(curve.fractions).reshape(-1)
    n = len(fractions)
    skill = as_numpy(curve.skill).reshape(-1)
    random = as_numpy(curve.random)
    random = random.reshape(1, -1) if random.ndim == 1 else random
    if len(skill) != n or random.ndim != 2 or random.shape[1] != n:
        raise SkillNeuronError(
            f"curve arrays do not match {n} fractions: skill {skill.shape}, random {random.shape} "
            "(expected [fraction] and [draw, fraction])."
        )
    skill_ci = _curve_array(curve, "skill_ci", (2,))
    random_ci = _curve_array(curve, "random_ci", (2,))
    bottom = _curve_array(curve, "bottom")
    bottom_ci = _curve_array(curve, "bottom_ci", (2,))
    p_values = _curve_array(curve, "p_values")
    for name, array in (("skill_ci", skill_ci), ("random_ci", random_ci), ("bottom_ci", bottom_ci)):
        if array is not None and array.shape[0] != n:
            raise SkillNeuronError(f"curve.{name} has {array.shape[0]} rows for {n} fractions.")
    percent = fractions * 100
    fig = go.Figure()
    use_ci = band == "ci" and random_ci is not None
    if use_ci:
        assert random_ci is not None
        low, high, band_name = random_ci[:, 0], random_ci[:, 1], "95% CI"
    else:
        low, high, band_name = random.min(axis=0), random.max(axis=0), f"min–max of {len(random)} draws"
    fig.add_trace(
        go.Scatter(
            x=percent,
            y=low,
            mode="lines",
            line=dict(width=0),
            name="random band low",
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=percent,
            y=high,
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor="rgba(77,77,77,0.18)",
            name=f"random band ({band_name})",
            legendgroup="random",
            hoverinfo="skip",
            showlegend=True,
            legendrank=3,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=percent,
            y=random.mean(axis=0),
            mode="lines+markers",
            line=dict(color=RANDOM_COLOUR, dash="dash"),
            name=f"random (mean of {len(random)} draws)",
            legendgroup="random",
            legendrank=2,
            hovertemplate="random: %{y:.3f} at %{x:.3g}%<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=percent,
            y=skill,
            mode="lines+markers",
            line=dict(color=SKILL_COLOUR, width=2.5),
            name="skill neurons",
            legendrank=1,
            error_y=_error_bars(skill, skill_ci),
            customdata=p_values if p_values is not None else np.full(n, np.nan),
            hovertemplate="skill: %{y:.3f} at %{x:.3g}%"
            + ("<br>p = %{customdata:.3g}" if p_values is not None else "")
            + "<extra></extra>",
        )
    )
    if bottom is not None:
        fig.add_trace(
            go.Scatter(
                x=percent,
                y=bottom,
                mode="lines+markers",
                line=dict(color=BOTTOM_COLOUR, dash="dot"),
                name="bottom neurons",
                legendrank=4,
                error_y=_error_bars(bottom, bottom_ci),
                hovertemplate="bottom: %{y:.3f} at %{x:.3g}%<extra></extra>",
            )
        )
    clean = float(curve.clean_accuracy)
    span = [float(percent.min()), float(percent.max())] if n else [0.0, 1.0]
    fig.add_trace(
        go.Scatter(
            x=span,
            y=[clean, clean],
            mode="lines",
            line=dict(color=CLEAN_COLOUR, width=1.5),
            name=f"clean ({clean:.3f})",
            legendrank=5,
            hovertemplate=f"clean accuracy {clean:.3f}<extra></extra>",
        )
    )
    mode = getattr(curve, "mode", None)
    subtitle = f"Shaded: random controls' {band_name}" + (
        "; error bars: 95% CI" if skill_ci is not None else ""
    )
    return finish_figure(
        fig,
        title=title or "Perturbation" + (f" ({mode})" if mode else ""),
        subtitle=subtitle,
        x_title="neurons perturbed (% of each layer)",
        y_title="accuracy",
        layout=layout,
    )


def _error_bars(values: np.ndarray, interval: np.ndarray | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return dict(
        type="data",
        symmetric=False,
        array=np.clip(interval[:, 1] - values, 0, None),
        arrayminus=np.clip(values - interval[:, 0], 0, None),
        thickness=1,
        width=3,
    )
