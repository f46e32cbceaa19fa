"""The house style shared by every figure: colours, chance, titles and the shared drawing helpers.

Colours are shared by all figures. Predictivity is ``max(Acc, 1 - Acc) >= 0.5``, so chance (0.5) is
white and stronger neurons are darker red. Where a value can fall on both sides of chance (signed
predictivity, similarities with ``zmid``) the scale diverges around it: blue below, red above.
Every figure ends with :func:`finish_figure`, which applies the style and then the caller's
``layout`` overrides.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float

from skillneuron_lens.errors import SkillNeuronError

if TYPE_CHECKING:
    from skillneuron_lens.predictivity.result import PredictivityResult

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
    "context_line",
    "finish_figure",
    "sample_viridis",
    "subtask_index",
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
    context: str | None = None,
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
        context: What the figure was computed from (:func:`context_line`), drawn as one more line
            of the subtitle, after ``subtitle``; ``None`` or empty for none.

    Returns:
        ``fig``, styled.
    """
    lines = [line for line in (subtitle, context) if line]
    subtitle = "<br>".join(lines) or None
    fig.update_layout(
        template="plotly_white",
        font=dict(family=FONT, size=13),
        title=dict(text=title, x=0.01, xanchor="left"),
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin=dict(l=70, r=30, t=60 + 30 * len(lines) + (5 if lines else 0), b=60),
    )
    if subtitle:
        try:
            fig.update_layout(title_subtitle_text=subtitle)
        except ValueError:  # plotly < 5.24 has no subtitles: put it under the title
            fig.update_layout(title_text=f"{title}<br><sup>{subtitle}</sup>")
    if layout:
        fig.update_layout(dict(layout))
    return fig


def subtask_index(
    subtask_names: Sequence[str], subtask: int | str | None, *, allow_merge: bool = True
) -> int | None:
    """The index of a chosen subtask, or ``None`` for the paper's merge over subtasks.

    Args:
        subtask_names: The subtasks on offer (e.g. :attr:`PredictivityResult.subtask_names`).
        subtask: An index, a subtask name, or ``None`` (merge: mean over subtasks).
        allow_merge: Whether ``None`` is allowed (figures of one subtask only say ``False``).

    Returns:
        The index, or ``None``.

    Raises:
        SkillNeuronError: For an index out of range, an unknown name, or ``None`` when
            ``allow_merge`` is false; the message lists the valid subtasks.
    """
    names = list(subtask_names)
    if subtask is None and allow_merge:
        return None
    if isinstance(subtask, str) and subtask in names:
        return names.index(subtask)
    if isinstance(subtask, (int, np.integer)) and not isinstance(subtask, bool) and 0 <= subtask < len(names):
        return int(subtask)
    valid = ", ".join(f"{index} ({name!r})" for index, name in enumerate(names))
    problem = "is required here" if subtask is None else "is not one of the subtasks"
    merge = ", or subtask=None for the mean over subtasks" if allow_merge else ""
    raise SkillNeuronError(
        f"subtask={subtask!r} {problem}; the subtasks are {valid}: pass an index or a name{merge}."
    )


def _counts_text(name: str, counts: torch.Tensor) -> str:
    """``"n_dev 200"``, or ``"n_dev 198-200"`` when runs or subtasks differ."""
    low, high = int(counts.min()), int(counts.max())
    return f"{name} {low:,}" if low == high else f"{name} {low:,}–{high:,}"


def _positions_text(result: PredictivityResult) -> str:
    positions = result.config.get("positions")
    if positions is None:
        positions = list(result.slot_names)
    if isinstance(positions, (list, tuple)):
        shown = [str(position) for position in positions]
        return ", ".join(shown[:8]) + (f", … ({len(shown)} in all)" if len(shown) > 8 else "")
    return str(positions)


def context_line(
    result: PredictivityResult | None,
    *,
    subtask: int | None = None,
    task: str | None = None,
    hook: str | None = None,
) -> str:
    """One line saying what a figure was computed from, for its subtitle.

    Reads the result: task (when given), model (the fingerprint's name, else its class; a local
    folder by its last two path parts), hook,
    positions, ``n_train`` / ``n_dev`` (of the subtask shown), runs (when more than one) and the
    subtask shown (for results with more than one: the chosen one, or the merge). Parts are
    separated by `` · ``; names are HTML-escaped.

    Args:
        result: The result the figure shows, or ``None`` (then only ``task`` and ``hook``).
        subtask: Index of the subtask shown (see :func:`subtask_index`); ``None``: the mean over
            subtasks.
        task: Task name to show first, when given.
        hook: Hook to show when there is no result (e.g. a neuron set's).

    Returns:
        The line (empty when there is nothing to say).
    """
    parts = [f"task {task}"] if task else []
    if result is None:
        parts += [f"hook {hook}"] if hook else []
        return html.escape(" · ".join(parts), quote=False)
    model = str(result.fingerprint.get("model_name") or result.fingerprint.get("class") or "")
    if PurePath(model).is_absolute():  # a local folder: its last two parts name it
        model = "…/" + "/".join(PurePath(model).parts[-2:])
    parts += [f"model {model}"] if model else []
    parts += [f"hook {result.hook}", f"positions {_positions_text(result)}"]
    chosen = slice(None) if subtask is None else slice(subtask, subtask + 1)
    parts += [_counts_text(name, getattr(result, name)[:, chosen]) for name in ("n_train", "n_dev")]
    if result.n_runs > 1:
        parts.append(f"{result.n_runs} runs ({result.run_aggregation})")
    if subtask is not None and len(result.subtask_names) > 1:
        parts.append(f"subtask {result.subtask_names[subtask]}")
    elif len(result.subtask_names) > 1:
        parts.append(f"mean over subtasks {', '.join(result.subtask_names)}")
    return html.escape(" · ".join(parts), quote=False)


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
