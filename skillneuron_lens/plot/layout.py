"""The house style shared by every figure: colours, chance, titles and the shared drawing helpers.

Colours are shared by all figures. Predictivity is ``max(Acc, 1 - Acc) >= 0.5``, so chance (0.5) is
white and stronger neurons are darker red. Where a value can fall on both sides of chance (signed
predictivity, similarities with ``zmid``) the scale diverges around it: blue below, red above.
Every figure ends with :func:`finish_figure`, which applies the style and then the caller's
``layout`` overrides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "BOTTOM_COLOUR",
    "CHANCE",
    "CLEAN_COLOUR",
    "DIVERGING_SCALE",
    "FONT",
    "PREDICTIVITY_SCALE",
    "RANDOM_COLOUR",
    "SKILL_COLOUR",
    "VIRIDIS",
    "add_layer_spread",
    "as_numpy",
    "check_layout",
    "finish_figure",
    "sample_viridis",
]

CHANCE = 0.5
"""Predictivity (and binary accuracy) of a neuron that carries no information."""

# Blue (below chance) - white (chance) - red (above chance), after ColorBrewer's RdBu.
DIVERGING_SCALE: list[list[Any]] = [
    [0.0, "#053061"],
    [0.125, "#2166ac"],
    [0.25, "#4393c3"],
    [0.375, "#92c5de"],
    [0.5, "#f7f7f7"],
    [0.625, "#f4a582"],
    [0.75, "#d6604d"],
    [0.875, "#b2182b"],
    [1.0, "#67001f"],
]
# The upper half of DIVERGING_SCALE: white at chance, dark red at the top.
PREDICTIVITY_SCALE: list[list[Any]] = [
    [0.0, "#f7f7f7"],
    [0.25, "#f4a582"],
    [0.5, "#d6604d"],
    [0.75, "#b2182b"],
    [1.0, "#67001f"],
]
SKILL_COLOUR = "#b2182b"
RANDOM_COLOUR = "#4d4d4d"
BOTTOM_COLOUR = "#2166ac"
CLEAN_COLOUR = "#1a9850"
FONT = "Helvetica, Arial, sans-serif"
"""The font family of every figure."""

#: A coarse viridis ramp, dark purple to yellow (layer colours of line figures).
VIRIDIS = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"]


def sample_viridis(position: float) -> str:
    """A colour from a coarse viridis ramp (0 = dark purple, 1 = yellow)."""
    index = min(int(round(position * (len(VIRIDIS) - 1))), len(VIRIDIS) - 1)
    return VIRIDIS[index]


def finish_figure(
    fig: go.Figure,
    *,
    title: str,
    subtitle: str | None,
    x_title: str | None,
    y_title: str | None,
    layout: Mapping[str, Any] | None,
) -> go.Figure:
    """Apply the house style, then the caller's overrides.

    Args:
        fig: The figure to style.
        title: Figure title.
        subtitle: A line under the title (plotly >= 5.24 draws it as a subtitle, older versions as
            a smaller second line of the title), or ``None``.
        x_title: Title of the x axis.
        y_title: Title of the y axis.
        layout: The caller's overrides, applied last with ``fig.update_layout``.

    Returns:
        ``fig``, styled.
    """
    fig.update_layout(
        template="plotly_white",
        font=dict(family=FONT, size=13),
        title=dict(text=title, x=0.01, xanchor="left"),
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin=dict(l=70, r=30, t=95 if subtitle else 60, b=60),
    )
    if subtitle:
        try:
            fig.update_layout(title_subtitle_text=subtitle)
        except ValueError:  # plotly < 5.24 has no subtitles: put it under the title
            fig.update_layout(title_text=f"{title}<br><sup>{subtitle}</sup>")
    if layout:
        fig.update_layout(dict(layout))
    return fig


def as_numpy(values: Any, dtype: Any = np.float64) -> np.ndarray:
    """A tensor (detached, on the CPU) or array-like as a NumPy array of ``dtype``."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=dtype)


def check_layout(layout: Any) -> None:
    """Refuse a ``layout`` override that is not a mapping (``None`` is fine).

    Raises:
        SkillNeuronError: If ``layout`` is neither ``None`` nor a mapping.
    """
    if layout is not None and not isinstance(layout, Mapping):
        raise SkillNeuronError(
            f"layout must be a dict of plotly layout settings, got {type(layout).__name__}."
        )

def add_layer_spread(
    fig: go.Figure,
    scores: Float[np.ndarray, "layer neuron"],
    layers: Sequence[int],
    *,
    kind: Literal["violin", "box"],
    value_label: str,
    show_mean: bool,
) -> None:
    """Add one violin or box per layer of a per-neuron score, and chance as a dotted line.

    Outlying neurons are drawn as points whose hover names the neuron.

    Args:
        fig: The figure to draw on.
        scores: One score per neuron, ``[layer, neuron]``.
        layers: Model layer of each row, for the trace names (``"layer L"``).
        kind: ``"violin"`` or ``"box"``.
        value_label: Name of the score in the hover (e.g. ``"predictivity"``).
        show_mean: Draw each layer's mean too (the violin's mean line, the box's mean).
    """
    n_neurons = scores.shape[1]
    neuron_ids = np.arange(n_neurons, dtype=np.uint16 if n_neurons < 2**16 else np.int32)
    for row, layer in enumerate(layers):
        common: dict[str, Any] = dict(
            y=scores[row].astype(np.float32),
            name=f"layer {layer}",
            customdata=neuron_ids,
            hovertemplate=(
                f"layer {layer}<br>neuron %{{customdata}}<br>{value_label} %{{y:.3f}}<extra></extra>"
            ),
            marker=dict(color=SKILL_COLOUR, size=3),
            line=dict(color=SKILL_COLOUR, width=1),
            showlegend=False,
        )
        if kind == "violin":
            mean = dict(meanline_visible=True) if show_mean else {}
            fig.add_trace(go.Violin(**common, points="outliers", box_visible=True, spanmode="hard", **mean))
        else:
            fig.add_trace(go.Box(**common, boxpoints="outliers", **(dict(boxmean=True) if show_mean else {})))
    fig.add_hline(y=CHANCE, line=dict(color=RANDOM_COLOUR, dash="dot", width=1))
