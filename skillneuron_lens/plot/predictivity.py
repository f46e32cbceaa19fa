"""Figures of predictivity and skill neurons.

The layer x neuron heatmap, per-layer distributions, skill-neuron counts, and the slot x layer heatmap.

Wide layers are down-sampled for display, never silently truncated: :func:`predictivity_heatmap`
groups neighbouring columns into bins and shows the *maximum* of each bin (so a strong neuron can
never disappear from the picture), and says so in the figure's subtitle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.plot.layout import (
    CHANCE,
    DIVERGING_SCALE,
    PREDICTIVITY_SCALE,
    RANDOM_COLOUR,
    SKILL_COLOUR,
    add_layer_spread,
    check_layout,
    context_line,
    finish_figure,
    sample_viridis,
    subtask_index,
)
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.permutation_null import null_layer_maxima
from skillneuron_lens.stats.significance import aggregate_scores

__all__ = [
    "ColumnBins",
    "bin_columns_max",
    "layer_distribution",
    "position_layer_heatmap",
    "predictivity_heatmap",
    "skill_counts",
    "slot_predictivity",
    "subtask_scores",
]

def subtask_scores(
    result: PredictivityResult, subtask: int | str | None = None
) -> tuple[Float[torch.Tensor, "layer neuron"], Int[torch.Tensor, "layer neuron"], int | None]:
    """The predictivity and polarity a figure shows: one subtask's, or the merge over subtasks.

    Args:
        result: The result.
        subtask: An index or name; ``None`` for :attr:`PredictivityResult.predictivity` (mean over
            subtasks) and :attr:`PredictivityResult.polarity` (the first subtask's).

    Returns:
        ``(predictivity, polarity, subtask index or None)``.

    Raises:
        SkillNeuronError: For an unknown subtask (the message lists the valid ones).
    """
    index = subtask_index(result.subtask_names, subtask)
    if index is None:
        return result.predictivity, result.polarity, None
    return result.subtask_predictivity[index], result.subtask_polarity[index], index


def _chance_band(result: PredictivityResult, subtask: int | None) -> Float[torch.Tensor, " layer"] | None:
    """The 95% quantile of each layer's best null predictivity, merged or for one subtask."""
    if subtask is None or result.null_run_predictivity is None:
        return result.null_layer_maxima(0.95)
    per_run = result.null_run_predictivity.double().permute(1, 2, 0, 3, 4)[:, :, None]
    per_subtask = aggregate_scores(per_run, result.run_aggregation)[0]
    return null_layer_maxima(per_subtask[subtask], 0.95)


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


def predictivity_heatmap(
    result: PredictivityResult,
    *,
    order: Literal["index", "sorted"] = "index",
    max_columns: int = 2000,
    signed: bool = False,
    zmax: float | None = None,
    subtask: int | str | None = None,
    task: str | None = None,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Layer x neuron heatmap of predictivity.

    Wide layers are down-sampled: when a layer has more than ``max_columns`` neurons, neighbouring
    columns are grouped into bins of ``ceil(n_neurons / max_columns)`` and each cell shows the
    *maximum* predictivity in its bin (see :func:`bin_columns_max`), so the most predictive neurons
    always stay visible; the hover names the bin's neuron range and its best neuron, and the
    subtitle says that the figure is down-sampled. A 30 x 11,008 model becomes 30 x 1,835 cells.
    The subtitle's last line says what was scored (:func:`~skillneuron_lens.plot.layout.context_line`).

    Args:
        result: The predictivity to show (:attr:`PredictivityResult.predictivity`, with the
            polarity of the first subtask, unless ``subtask`` picks one).
        order: ``"index"`` (column = neuron index) or ``"sorted"`` (each layer sorted best first,
            column = rank within the layer; the hover names the neuron).
        max_columns: The most columns drawn before binning.
        signed: Colour by ``0.5 + polarity * (predictivity - 0.5)`` on a scale diverging around
            chance (red: high activation predicts the positive class, blue: the negative class)
            instead of predictivity (white at chance, darker red above).
        zmax: Top of the colour scale (default: the largest value shown); chance is the bottom
            (or the middle when ``signed``).
        subtask: The subtask to show, by index or name (``result.subtask_names``); ``None``
            (default) shows the paper's merge: the mean over subtasks, with the first subtask's
            polarity.
        task: Task name for the subtitle.
        title: Figure title (overrides the default).
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Heatmap`` with ``y`` the model layers and ``x`` the first neuron (or
        rank) of each column; ``customdata`` (float32) holds ``[neuron, polarity, predictivity]``
        per cell, or ``[first, last, best neuron, polarity, predictivity]`` per bin when
        down-sampled (first and last are ranks with ``order="sorted"``).

    Raises:
        SkillNeuronError: For an unknown ``order`` or ``subtask``, or ``max_columns`` below 1.
    """
    check_layout(layout)
    if order not in ("index", "sorted"):
        raise SkillNeuronError(f"order must be 'index' or 'sorted', got {order!r}.")
    shown, shown_polarity, index = subtask_scores(result, subtask)
    scores = shown.double().cpu()
    polarity = shown_polarity.cpu().long()
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
    return finish_figure(
        fig,
        title=title or default_title,
        subtitle=subtitle,
        x_title=x_title,
        y_title="layer",
        layout=layout,
        context=context_line(result, subtask=index, task=task),
    )


def layer_distribution(
    result: PredictivityResult,
    kind: Literal["violin", "box", "histogram"] = "violin",
    *,
    bins: int = 50,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
    chance_band: bool = True,
    subtask: int | str | None = None,
    task: str | None = None,
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
            result recorded permutations), for the subtask shown.
        subtask: The subtask to show, by index or name (``result.subtask_names``); ``None``
            (default) shows the paper's merge, the mean over subtasks.
        task: Task name for the subtitle.

    Returns:
        The figure, one trace per layer, named ``"layer L"`` (plus the chance band, when drawn); the
        subtitle says what was scored (:func:`~skillneuron_lens.plot.layout.context_line`).

    Raises:
        SkillNeuronError: For an unknown ``kind`` or ``subtask``, or ``bins`` below 1.
    """
    check_layout(layout)
    shown, _, index = subtask_scores(result, subtask)
    scores = shown.double().cpu().numpy()
    fig = go.Figure()
    if kind in ("violin", "box"):
        add_layer_spread(
            fig, scores, result.layers, kind=kind, value_label="predictivity", show_mean=True
        )
        band = _chance_band(result, index) if chance_band else None
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
                    line=dict(shape="hvh", width=1.5, color=sample_viridis(position)),
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
    return finish_figure(
        fig,
        title=title or "Predictivity by layer",
        subtitle=None,
        x_title=x_title,
        y_title=y_title,
        layout=layout,
        context=context_line(result, subtask=index, task=task),
    )


def skill_counts(
    neurons: NeuronSet,
    *,
    result: PredictivityResult | None = None,
    task: str | None = None,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Number of skill neurons in each layer, as bars.

    Args:
        neurons: The set to count (e.g. :meth:`NeuronSet.top`).
        result: The result the set was selected from, for the subtitle's context (model, hook,
            positions, example counts); without it the subtitle names the set's hook.
        task: Task name for the subtitle.
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Bar`` with ``x`` the model layers and ``y`` the counts; the subtitle
        gives the total, then the context.

    Raises:
        SkillNeuronError: If ``result`` has other layers, neurons per layer or hook than the set.
    """
    check_layout(layout)
    if result is not None and (
        tuple(result.layers) != tuple(neurons.layers)
        or result.n_neurons != int(neurons.mask.shape[1])
        or result.hook != neurons.hook
    ):
        raise SkillNeuronError(
            f"The neuron set (hook {neurons.hook!r}, layers {list(neurons.layers)}, "
            f"{int(neurons.mask.shape[1])} neurons per layer) was not selected from this result (hook "
            f"{result.hook!r}, layers {list(result.layers)}, {result.n_neurons} neurons per layer); pass "
            "the result the set came from, or result=None."
        )
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
    return finish_figure(
        fig,
        title=title or "Skill neurons per layer",
        subtitle=subtitle,
        x_title="layer",
        y_title="skill neurons",
        layout=layout,
        context=context_line(result, task=task, hook=neurons.hook),
    )


def slot_predictivity(
    result: PredictivityResult, subtask: int | str | None = None
) -> Float[torch.Tensor, "slot layer neuron"]:
    """``max(Acc, 1 - Acc)`` per slot, combined over runs (the result's aggregation).

    Args:
        result: The result.
        subtask: One subtask, by index or name; ``None`` (default): the mean over subtasks.

    Raises:
        SkillNeuronError: For an unknown subtask (the message lists the valid ones).
    """
    index = subtask_index(result.subtask_names, subtask)
    per_run = result.per_position
    combined = per_run.mean(dim=0) if result.run_aggregation == "mean" else per_run.amin(dim=0)
    return combined.mean(dim=0) if index is None else combined[index]


def position_layer_heatmap(
    result: PredictivityResult,
    *,
    subtask: int | str | None = None,
    task: str | None = None,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """Slot (e.g. soft-prompt position) x layer heatmap of the best neuron's predictivity.

    Each cell is the maximum over the layer's neurons of :func:`slot_predictivity`; the hover
    names that neuron. Values are written in the cells when there are at most 400 of them.

    Args:
        result: A result recorded at one or more slots.
        subtask: The subtask to show, by index or name (``result.subtask_names``); ``None``
            (default): the mean over subtasks.
        task: Task name for the subtitle.
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Heatmap`` with ``y`` the slot names, ``x`` the model layers, ``z`` the
        best predictivity ``[slot, layer]`` and ``customdata`` the best neuron; the subtitle says what
        was scored (:func:`~skillneuron_lens.plot.layout.context_line`).

    Raises:
        SkillNeuronError: For an unknown subtask (the message lists the valid ones).
    """
    check_layout(layout)
    index = subtask_index(result.subtask_names, subtask)
    best, neuron = slot_predictivity(result, index).max(dim=2)
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
    return finish_figure(
        fig,
        title=title or "Best predictivity by position and layer",
        subtitle=None,
        x_title="layer",
        y_title="position (slot)",
        layout=layout,
        context=context_line(result, subtask=index, task=task),
    )
