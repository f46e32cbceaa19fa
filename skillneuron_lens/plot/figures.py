"""Figures of predictivity, skill neurons, activations, perturbations and task comparisons.

Every function returns a plotly ``go.Figure`` and draws nothing as a side effect: a notebook shows
the figure when it is the cell's value, :func:`skillneuron_lens.report.write_report` embeds it in a
report, and ``fig.write_image`` / ``fig.write_html`` save it. Every function takes ``layout``, a
dict passed to ``fig.update_layout`` last, to override titles, sizes, fonts or colours.

Colours are shared by all figures. Predictivity is ``max(Acc, 1 - Acc) >= 0.5``, so chance (0.5) is
white and stronger neurons are darker red. Where a value can fall on both sides of chance (signed
predictivity, similarities with ``zmid``) the scale diverges around it: blue below, red above.

Wide layers are down-sampled for display, never silently truncated: :func:`predictivity_heatmap`
groups neighbouring columns into bins and shows the *maximum* of each bin (so a strong neuron can
never disappear from the picture), and says so in the figure's subtitle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.predictivity.result import PredictivityResult

__all__ = [
    "CHANCE",
    "ColumnBins",
    "activation_histogram",
    "bin_columns_max",
    "layer_distribution",
    "neuron_baseline",
    "perturbation_curves",
    "position_layer_heatmap",
    "predictivity_heatmap",
    "similarity_matrix",
    "skill_counts",
    "slot_predictivity",
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
_FONT = "Helvetica, Arial, sans-serif"


# ---- shared helpers ---------------------------------------------------------------------------
def _finish(
    fig: go.Figure,
    *,
    title: str,
    subtitle: str | None,
    x_title: str | None,
    y_title: str | None,
    layout: Mapping[str, Any] | None,
) -> go.Figure:
    """Apply the house style, then the caller's overrides."""
    fig.update_layout(
        template="plotly_white",
        font=dict(family=_FONT, size=13),
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


def _numpy(values: Any, dtype: Any = np.float64) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=dtype)


def _check_layout(layout: Any) -> None:
    if layout is not None and not isinstance(layout, Mapping):
        raise SkillNeuronError(
            f"layout must be a dict of plotly layout settings, got {type(layout).__name__}."
        )


# ---- binning ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnBins:
    """Columns of a ``[row, column]`` array grouped into contiguous bins, keeping each bin's maximum.

    Attributes:
        values: Maximum of each bin, ``[row, bin]``.
        argmax: Column (in the input) of each bin's maximum, ``[row, bin]``; the first on ties.
        starts: First column of each bin.
        stops: Last column of each bin (inclusive).
        size: Columns per bin (the last bin may hold fewer); 1 when nothing was binned.
    """

    values: Float[torch.Tensor, "row bin"]
    argmax: Int[torch.Tensor, "row bin"]
    starts: Int[torch.Tensor, " bin"]
    stops: Int[torch.Tensor, " bin"]
    size: int

    @property
    def binned(self) -> bool:
        """Whether columns were grouped (``size > 1``)."""
        return self.size > 1


def bin_columns_max(values: Float[torch.Tensor, "row column"], max_columns: int) -> ColumnBins:
    """Group columns into at most ``max_columns`` contiguous bins and keep each bin's maximum.

    The bin size is ``ceil(n_columns / max_columns)``; bins are ``[k * size, (k + 1) * size)``,
    the last one possibly shorter. With ``n_columns <= max_columns`` every column is its own bin.

    Args:
        values: The array to down-sample.
        max_columns: The most bins to produce (at least 1).

    Returns:
        The bins.

    Raises:
        SkillNeuronError: If ``values`` is not 2-D or ``max_columns`` is below 1.
    """
    if values.ndim != 2:
        raise SkillNeuronError(f"values must be [row, column], got shape {tuple(values.shape)}.")
    if isinstance(max_columns, bool) or int(max_columns) < 1:
        raise SkillNeuronError(f"max_columns must be at least 1, got {max_columns!r}.")
    n_rows, n_columns = values.shape
    size = max(1, math.ceil(n_columns / int(max_columns)))
    n_bins = math.ceil(n_columns / size)
    padded = torch.full((n_rows, n_bins * size), float("-inf"), dtype=torch.float64)
    padded[:, :n_columns] = values.double()
    maxima, where = padded.reshape(n_rows, n_bins, size).max(dim=2)
    starts = torch.arange(n_bins) * size
    return ColumnBins(
        values=maxima,
        argmax=starts[None, :] + where,
        starts=starts,
        stops=torch.clamp(starts + size - 1, max=n_columns - 1),
        size=size,
    )


# ---- predictivity -----------------------------------------------------------------------------
def predictivity_heatmap(
    result: PredictivityResult,
    *,
    order: Literal["index", "sorted"] = "index",
    max_columns: int = 2000,
    signed: bool = False,
    zmax: float | None = None,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Layer x neuron heatmap of predictivity.

    Wide layers are down-sampled: when a layer has more than ``max_columns`` neurons, neighbouring
    columns are grouped into bins of ``ceil(n_neurons / max_columns)`` and each cell shows the
    *maximum* predictivity in its bin (see :func:`bin_columns_max`), so the most predictive neurons
    always stay visible; the hover names the bin's neuron range and its best neuron, and the
    subtitle says that the figure is down-sampled. A 30 x 11,008 model becomes 30 x 1,835 cells.

    Args:
        result: The predictivity to show (:attr:`PredictivityResult.predictivity`, with the
            polarity of the first subtask).
        order: ``"index"`` (column = neuron index) or ``"sorted"`` (each layer sorted best first,
            column = rank within the layer; the hover names the neuron).
        max_columns: The most columns drawn before binning.
        signed: Colour by ``0.5 + polarity * (predictivity - 0.5)`` on a scale diverging around
            chance (red: high activation predicts the positive class, blue: the negative class)
            instead of predictivity (white at chance, darker red above).
        zmax: Top of the colour scale (default: the largest value shown); chance is the bottom
            (or the middle when ``signed``).
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Heatmap`` with ``y`` the model layers and ``x`` the first neuron (or
        rank) of each column; ``customdata`` (float32) holds ``[neuron, polarity, predictivity]``
        per cell, or ``[first, last, best neuron, polarity, predictivity]`` per bin when
        down-sampled (first and last are ranks with ``order="sorted"``).

    Raises:
        SkillNeuronError: For an unknown ``order`` or ``max_columns`` below 1.
    """
    _check_layout(layout)
    if order not in ("index", "sorted"):
        raise SkillNeuronError(f"order must be 'index' or 'sorted', got {order!r}.")
    scores = result.predictivity.double().cpu()
    polarity = result.polarity.cpu().long()
    n_neurons = result.n_neurons
    neuron_of = torch.arange(n_neurons).expand(result.n_layers, n_neurons)
    if order == "sorted":
        ranked = torch.sort(scores, dim=1, descending=True, stable=True)
        scores, neuron_of = ranked.values, ranked.indices
        polarity = polarity.gather(1, neuron_of)
    bins = bin_columns_max(scores, max_columns)
    best_neuron = neuron_of.gather(1, bins.argmax)
    best_polarity = polarity.gather(1, bins.argmax)
    z = bins.values
    if signed:
        z = CHANCE + best_polarity.double() * (z - CHANCE)
    column = "rank within layer (best first)" if order == "sorted" else "neuron"
    x = bins.starts.numpy()
    if bins.binned:
        starts, stops = bins.starts.expand_as(best_neuron), bins.stops.expand_as(best_neuron)
        customdata = torch.stack([starts, stops, best_neuron, best_polarity, bins.values], dim=-1)
        span = "ranks" if order == "sorted" else "neurons"
        hover = (
            f"layer %{{y}}<br>{span} %{{customdata[0]:d}}–%{{customdata[1]:d}}<br>"
            "best: neuron %{customdata[2]:d}<br>predictivity %{customdata[4]:.3f}<br>"
            "polarity %{customdata[3]:+d}"
        )
        x_title = f"{column} (bins of {bins.size})"
        subtitle = (
            f"Down-sampled for display: {n_neurons:,} neurons per layer shown as {len(x):,} bins of "
            f"{bins.size} (colour = maximum within each bin)"
        )
    else:
        customdata = torch.stack([best_neuron, best_polarity, bins.values], dim=-1)
        rank = "rank %{x}<br>" if order == "sorted" else ""
        hover = (
            f"layer %{{y}}<br>{rank}neuron %{{customdata[0]:d}}<br>predictivity %{{customdata[2]:.3f}}<br>"
            "polarity %{customdata[1]:+d}"
        )
        x_title, subtitle = column, None
    top = float(zmax) if zmax is not None else max(float(bins.values.max()), CHANCE + 1e-6)
    colour: dict[str, Any] = (
        dict(colorscale=DIVERGING_SCALE, zmin=1.0 - top, zmax=top, zmid=CHANCE)
        if signed
        else dict(colorscale=PREDICTIVITY_SCALE, zmin=CHANCE, zmax=top)
    )
    fig = go.Figure(
        go.Heatmap(
            z=z.numpy().astype(np.float32),
            x=x,
            y=list(result.layers),
            customdata=customdata.double().numpy().astype(np.float32),
            hovertemplate=hover + "<extra></extra>",
            colorbar=dict(title=dict(text="signed predictivity" if signed else "predictivity")),
            **colour,
        )
    )
    fig.update_yaxes(type="category")
    default_title = "Neuron predictivity" + (" (sorted within each layer)" if order == "sorted" else "")
    return _finish(
        fig, title=title or default_title, subtitle=subtitle, x_title=x_title, y_title="layer", layout=layout
    )


def layer_distribution(
    result: PredictivityResult,
    kind: Literal["violin", "box", "histogram"] = "violin",
    *,
    bins: int = 50,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
    chance_band: bool = True,
) -> go.Figure:
    """Distribution of neuron predictivity in each layer.

    Args:
        result: The predictivity to show.
        kind: ``"violin"`` or ``"box"`` (one trace per layer; outlying neurons are drawn as points
            whose hover names the neuron), or ``"histogram"`` (one step line per layer: the share of
            the layer's neurons in each of ``bins`` equal bins over ``[0.5, 1]``, coloured from
            the first layer to the last).
        bins: Number of histogram bins.
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.
        chance_band: For ``"violin"`` and ``"box"``, draw each layer's chance level: the 95% quantile of
            the layer's best predictivity under shuffled dev labels
            (:meth:`~skillneuron_lens.predictivity.PredictivityResult.null_layer_maxima`; only when the
            result recorded permutations).

    Returns:
        The figure, one trace per layer, named ``"layer L"`` (plus the chance band, when drawn).

    Raises:
        SkillNeuronError: For an unknown ``kind`` or ``bins`` below 1.
    """
    _check_layout(layout)
    scores = result.predictivity.double().cpu().numpy()
    neuron_ids = np.arange(result.n_neurons, dtype=np.uint16 if result.n_neurons < 2**16 else np.int32)
    fig = go.Figure()
    if kind in ("violin", "box"):
        for row, layer in enumerate(result.layers):
            common: dict[str, Any] = dict(
                y=scores[row].astype(np.float32),
                name=f"layer {layer}",
                customdata=neuron_ids,
                hovertemplate=(
                    f"layer {layer}<br>neuron %{{customdata}}<br>predictivity %{{y:.3f}}<extra></extra>"
                ),
                marker=dict(color=SKILL_COLOUR, size=3),
                line=dict(color=SKILL_COLOUR, width=1),
                showlegend=False,
            )
            if kind == "violin":
                fig.add_trace(
                    go.Violin(
                        **common, points="outliers", box_visible=True, meanline_visible=True, spanmode="hard"
                    )
                )
            else:
                fig.add_trace(go.Box(**common, boxpoints="outliers", boxmean=True))
        fig.add_hline(y=CHANCE, line=dict(color=RANDOM_COLOUR, dash="dot", width=1))
        band = result.null_layer_maxima(0.95) if chance_band else None
        if band is not None:
            fig.add_trace(
                go.Scatter(
                    x=[f"layer {layer}" for layer in result.layers],
                    y=band.double().cpu().numpy(),
                    mode="lines+markers",
                    line=dict(color=RANDOM_COLOUR, dash="dash", width=1.5),
                    marker=dict(symbol="line-ew-open", size=14, color=RANDOM_COLOUR),
                    name="chance: 95% of a layer's best under shuffled labels",
                    hovertemplate=(
                        "%{x}<br>best neuron under shuffled labels (95th percentile) %{y:.3f}<extra></extra>"
                    ),
                    showlegend=True,
                )
            )
        x_title, y_title = "layer", "predictivity"
    elif kind == "histogram":
        if isinstance(bins, bool) or int(bins) < 1:
            raise SkillNeuronError(f"bins must be at least 1, got {bins!r}.")
        edges = np.linspace(CHANCE, 1.0, int(bins) + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        for row, layer in enumerate(result.layers):
            counts, _ = np.histogram(scores[row], bins=edges)
            share = counts / max(result.n_neurons, 1)
            position = row / max(result.n_layers - 1, 1)
            fig.add_trace(
                go.Scatter(
                    x=centres,
                    y=share,
                    customdata=counts,
                    mode="lines",
                    line=dict(shape="hvh", width=1.5, color=_sample_viridis(position)),
                    name=f"layer {layer}",
                    hovertemplate=(
                        f"layer {layer}<br>predictivity %{{x:.3f}}<br>%{{customdata}} neurons "
                        "(%{y:.1%})<extra></extra>"
                    ),
                )
            )
        fig.update_xaxes(range=[CHANCE, 1.0])
        x_title, y_title = "predictivity", "share of the layer's neurons"
    else:
        raise SkillNeuronError(f"kind must be 'violin', 'box' or 'histogram', got {kind!r}.")
    return _finish(
        fig,
        title=title or "Predictivity by layer",
        subtitle=None,
        x_title=x_title,
        y_title=y_title,
        layout=layout,
    )


_VIRIDIS = ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"]


def _sample_viridis(position: float) -> str:
    """A colour from a coarse viridis ramp (0 = dark purple, 1 = yellow)."""
    index = min(int(round(position * (len(_VIRIDIS) - 1))), len(_VIRIDIS) - 1)
    return _VIRIDIS[index]


def skill_counts(
    neurons: NeuronSet,
    *,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Number of skill neurons in each layer, as bars.

    Args:
        neurons: The set to count (e.g. :meth:`NeuronSet.top`).
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Bar`` with ``x`` the model layers and ``y`` the counts; the subtitle
        gives the total.
    """
    _check_layout(layout)
    counts = neurons.counts_per_layer().tolist()
    total, width = len(neurons), int(neurons.mask.shape[1])
    fig = go.Figure(
        go.Bar(
            x=list(neurons.layers),
            y=counts,
            text=counts,
            textposition="outside",
            marker_color=SKILL_COLOUR,
            hovertemplate="layer %{x}<br>%{y} neurons<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    share = total / max(width * len(neurons.layers), 1)
    subtitle = f"{total:,} neurons in {len(neurons.layers)} layers ({share:.1%} of {width:,} per layer)"
    return _finish(
        fig,
        title=title or "Skill neurons per layer",
        subtitle=subtitle,
        x_title="layer",
        y_title="skill neurons",
        layout=layout,
    )


def slot_predictivity(result: PredictivityResult) -> Float[torch.Tensor, "slot layer neuron"]:
    """``max(Acc, 1 - Acc)`` per slot, combined over runs (the result's aggregation) and subtasks (mean)."""
    per_run = result.per_position
    combined = per_run.mean(dim=0) if result.run_aggregation == "mean" else per_run.amin(dim=0)
    return combined.mean(dim=0)


def position_layer_heatmap(
    result: PredictivityResult,
    *,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Slot (e.g. soft-prompt position) x layer heatmap of the best neuron's predictivity.

    Each cell is the maximum over the layer's neurons of :func:`slot_predictivity`; the hover
    names that neuron. Values are written in the cells when there are at most 400 of them.

    Args:
        result: A result recorded at one or more slots.
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Heatmap`` with ``y`` the slot names, ``x`` the model layers, ``z`` the
        best predictivity ``[slot, layer]`` and ``customdata`` the best neuron.
    """
    _check_layout(layout)
    best, neuron = slot_predictivity(result).max(dim=2)
    annotate = best.numel() <= 400
    fig = go.Figure(
        go.Heatmap(
            z=best.numpy(),
            x=list(result.layers),
            y=list(result.slot_names),
            customdata=neuron.numpy(),
            colorscale=PREDICTIVITY_SCALE,
            zmin=CHANCE,
            zmax=max(float(best.max()), CHANCE + 1e-6),
            texttemplate="%{z:.3f}" if annotate else None,
            hovertemplate=(
                "%{y}, layer %{x}<br>best neuron %{customdata}<br>predictivity %{z:.3f}<extra></extra>"
            ),
            colorbar=dict(title=dict(text="best predictivity")),
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return _finish(
        fig,
        title=title or "Best predictivity by position and layer",
        subtitle=None,
        x_title="layer",
        y_title="position (slot)",
        layout=layout,
    )


# ---- one neuron's threshold ----------------------------------------------------------------------
def neuron_baseline(
    result: PredictivityResult, layer: int, neuron: int, *, subtask: int = 0
) -> tuple[float, int]:
    """A neuron's baseline threshold (train mean activation) at its best slot, averaged over runs.

    Args:
        result: The predictivity result.
        layer: Model layer of the neuron.
        neuron: Neuron index.
        subtask: Which binary subtask's baseline and best slot.

    Returns:
        ``(threshold, slot)``.

    Raises:
        SkillNeuronError: For a layer that was not recorded or a neuron out of range.
    """
    if layer not in result.layers:
        raise SkillNeuronError(
            f"Layer {layer} was not recorded; the result has layers {list(result.layers)}."
        )
    if not 0 <= neuron < result.n_neurons:
        raise SkillNeuronError(f"Neuron {neuron} is out of range 0..{result.n_neurons - 1}.")
    row = result.layers.index(layer)
    slot = int(result.best_slot[subtask, row, neuron])
    return float(result.baseline[:, subtask, slot, row, neuron].mean()), slot


def _classes(
    activations: Mapping[str, Any] | tuple[Any, Any], label_names: Sequence[str] | None
) -> list[tuple[str, np.ndarray]]:
    if isinstance(activations, Mapping):
        classes = [(str(name), _numpy(values).reshape(-1)) for name, values in activations.items()]
    elif isinstance(activations, tuple) and len(activations) == 2:
        values, labels = _numpy(activations[0]), _numpy(activations[1], np.int64).reshape(-1)
        if values.ndim != 1 or len(values) != len(labels):
            raise SkillNeuronError(
                f"(values, labels) must be two 1-D sequences of the same length; got shapes "
                f"{values.shape} and {labels.shape}."
            )

        def name(label: int) -> str:
            if label_names is not None and 0 <= label < len(label_names):
                return str(label_names[label])
            return f"label {label}"

        classes = [(name(int(label)), values[labels == label]) for label in np.unique(labels)]
    else:
        raise SkillNeuronError(
            "activations must be a dict {class name: values} or a (values, labels) tuple, got "
            f"{type(activations).__name__}."
        )
    if not classes or all(len(values) == 0 for _, values in classes):
        raise SkillNeuronError("activations holds no values.")
    return classes


def activation_histogram(
    activations: Mapping[str, Any] | tuple[Any, Any],
    threshold: float,
    *,
    label_names: Sequence[str] | None = None,
    layer: int | None = None,
    neuron: int | None = None,
    bins: int = 40,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """A neuron's activations split by class, with the baseline threshold as a vertical line.

    Get the values with :func:`skillneuron_lens.record.activations.neuron_activations` and the
    threshold with :func:`neuron_baseline`.
    With exactly two classes, the subtitle gives the accuracy of the paper's rule on the examples
    shown: predict the second class when the activation is above the threshold (strict ``>``).

    Args:
        activations: ``{class name: values}``, or ``(values, labels)`` with integer labels.
        threshold: The baseline (train mean activation).
        label_names: Class names for ``(values, labels)`` input, by label id.
        layer: Model layer of the neuron, for the title.
        neuron: Neuron index, for the title.
        bins: Number of equal-width bins spanning the values and the threshold (shared by all
            classes).
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one overlaid ``go.Histogram`` per class (in label order) and the threshold as a
        layout shape.

    Raises:
        SkillNeuronError: For malformed input or ``bins`` below 1.
    """
    _check_layout(layout)
    if isinstance(bins, bool) or int(bins) < 1:
        raise SkillNeuronError(f"bins must be at least 1, got {bins!r}.")
    classes = _classes(activations, label_names)
    everything = np.concatenate([values for _, values in classes] + [np.array([float(threshold)])])
    low, high = float(everything.min()), float(everything.max())
    size = (high - low) / int(bins) if high > low else 1.0
    palette = [BOTTOM_COLOUR, SKILL_COLOUR, CLEAN_COLOUR, RANDOM_COLOUR, "#762a83", "#e08214"]
    fig = go.Figure()
    for index, (name, values) in enumerate(classes):
        fig.add_trace(
            go.Histogram(
                x=values,
                name=f"{name} (n={len(values)})",
                xbins=dict(start=low, end=high + size * 1e-9, size=size),
                marker_color=palette[index % len(palette)],
                opacity=0.6,
                hovertemplate=f"{name}<br>activation %{{x}}<br>%{{y}} examples<extra></extra>",
            )
        )
    fig.update_layout(barmode="overlay")
    fig.add_vline(
        x=float(threshold),
        line=dict(color="black", dash="dash", width=2),
        annotation_text=f"baseline {float(threshold):.4g}",
        annotation_position="top right",
    )
    subtitle = None
    if len(classes) == 2:
        above = np.concatenate([classes[0][1] > threshold, classes[1][1] > threshold])
        is_second = np.concatenate([np.zeros(len(classes[0][1]), bool), np.ones(len(classes[1][1]), bool)])
        accuracy = float((above == is_second).mean())
        polarity = "+1" if accuracy >= CHANCE else "-1"
        subtitle = (
            f"Threshold rule on these examples: accuracy {accuracy:.3f}, predictivity "
            f"{max(accuracy, 1 - accuracy):.3f}, polarity {polarity} (above → {classes[1][0]})"
        )
    who = "Neuron" if neuron is None else f"Neuron {neuron}"
    if layer is not None:
        who = f"Layer {layer}, {who.lower()}"
    return _finish(
        fig,
        title=title or f"{who}: activations by class",
        subtitle=subtitle,
        x_title="activation",
        y_title="examples",
        layout=layout,
    )


# ---- perturbation -----------------------------------------------------------------------------
def _curve_array(curve: Any, name: str, shape_tail: tuple[int, ...] = ()) -> np.ndarray | None:
    values = getattr(curve, name, None)
    if values is None:
        return None
    array = _numpy(values)
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
    _check_layout(layout)
    if band not in ("ci", "minmax"):
        raise SkillNeuronError(f"band must be 'ci' or 'minmax', got {band!r}.")
    fractions = _numpy(curve.fractions).reshape(-1)
    n = len(fractions)
    skill = _numpy(curve.skill).reshape(-1)
    random = _numpy(curve.random)
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
    return _finish(
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


# ---- comparisons ------------------------------------------------------------------------------
def similarity_matrix(
    matrix: Float[torch.Tensor, "task other_task"],
    tasks: Sequence[str],
    *,
    column_tasks: Sequence[str] | None = None,
    title: str = "Task similarity",
    zmid: float | None = None,
    zmin: float | None = None,
    zmax: float | None = None,
    colorbar_title: str = "similarity",
    row_label: str = "task",
    column_label: str = "task",
    value_format: str = ".2f",
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Task x task matrix (similarity, overlap, or cross-task perturbation), values written in cells.

    Args:
        matrix: Values ``[row task, column task]``.
        tasks: Names of the rows (and of the columns, unless ``column_tasks`` is given).
        column_tasks: Names of the columns, for a non-square matrix.
        title: Figure title.
        zmid: A value to diverge around (blue below, white at it, red above), e.g. 0 for a
            correlation or the clean accuracy for cross-perturbation; ``None`` for a sequential
            white-to-red scale.
        zmin: Bottom of the colour scale (default: data minimum).
        zmax: Top of the colour scale (default: data maximum).
        colorbar_title: Colour bar title.
        row_label: Title of the row axis.
        column_label: Title of the column axis.
        value_format: d3 format of the written values.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Heatmap``, first row at the top.

    Raises:
        SkillNeuronError: If the names do not match the matrix.
    """
    _check_layout(layout)
    values = _numpy(matrix)
    columns = list(tasks) if column_tasks is None else list(column_tasks)
    if values.ndim != 2 or values.shape != (len(tasks), len(columns)):
        raise SkillNeuronError(
            f"matrix has shape {values.shape} but {len(tasks)} row and {len(columns)} column names "
            "were given."
        )
    colour: dict[str, Any] = dict(zmin=zmin, zmax=zmax)
    if zmid is not None:
        colour.update(colorscale=DIVERGING_SCALE, zmid=zmid)
        if zmin is None and zmax is None and np.isfinite(values).any():
            reach = float(np.nanmax(np.abs(values - zmid))) or 1.0
            colour.update(zmin=zmid - reach, zmax=zmid + reach)
    else:
        colour.update(colorscale=PREDICTIVITY_SCALE)
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=columns,
            y=list(tasks),
            texttemplate=f"%{{z:{value_format}}}",
            hovertemplate=(
                f"{row_label} %{{y}}<br>{column_label} %{{x}}<br>%{{z:{value_format}}}<extra></extra>"
            ),
            colorbar=dict(title=dict(text=colorbar_title)),
            **colour,
        )
    )
    fig.update_xaxes(type="category", side="bottom")
    fig.update_yaxes(type="category", autorange="reversed")
    return _finish(fig, title=title, subtitle=None, x_title=column_label, y_title=row_label, layout=layout)
