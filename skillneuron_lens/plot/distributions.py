"""Figures of the threshold-free view: per-class activation distributions and AUROC by layer.

Both figures are drawn from a :class:`~skillneuron_lens.record.histograms.NeuronHistograms` alone, so
they need no model and no second pass over the data. Given a
:class:`~skillneuron_lens.predictivity.result.PredictivityResult` recorded with ``histograms=True``
instead, they draw its histograms and say in the subtitle what was scored (model, hook, positions,
...). Every function returns a plotly ``go.Figure`` and draws nothing itself; the house style is
that of :mod:`skillneuron_lens.plot.layout`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.plot.layout import (
    BOTTOM_COLOUR,
    SKILL_COLOUR,
    add_layer_spread,
    check_layout,
    context_line,
    finish_figure,
    subtask_index,
)
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.histograms import NeuronHistograms

__all__ = ["layer_auroc_figure", "neuron_histogram_figure"]

_CLASS_COLOURS = (BOTTOM_COLOUR, SKILL_COLOUR)


def _histograms_and_context(
    source: NeuronHistograms | PredictivityResult, subtask: int | str, task: str | None
) -> tuple[NeuronHistograms, int, str]:
    """The histograms to draw, the subtask index and the subtitle's context line.

    Raises:
        SkillNeuronError: For a result without histograms, an unknown or missing subtask, or
            another input type.
    """
    result = source if isinstance(source, PredictivityResult) else None
    if result is not None:
        if result.histograms is None:
            raise SkillNeuronError(
                "This result holds no activation histograms; compute it with "
                "compute_predictivity(..., histograms=True) (or `find --histograms`) to draw them."
            )
        source = result.histograms
    if not isinstance(source, NeuronHistograms):
        raise SkillNeuronError(
            f"Expected NeuronHistograms or a PredictivityResult with histograms, got {type(source).__name__}."
        )
    index = subtask_index(source.subtask_names, subtask, allow_merge=False)
    assert index is not None  # allow_merge=False never gives None
    return source, index, context_line(result, subtask=index, task=task)


def _display_counts(
    counts: torch.Tensor, edges: torch.Tensor, display_bins: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Merge the fine interior bins into ``display_bins`` equal-width bins (by their midpoints).

    Args:
        counts: Int ``[class, bin]`` counts of one neuron, with the under- and overflow bins.
        edges: Float64 interior edges ``[n_bins + 1]``.
        display_bins: Number of equal-width bins to show.

    Returns:
        ``(centres [display_bins], counts [class, display_bins], width)``.
    """
    low, high = float(edges[0]), float(edges[-1])
    width = (high - low) / display_bins
    midpoints = ((edges[:-1] + edges[1:]) / 2).numpy()
    which = np.clip(((midpoints - low) / width).astype(np.int64), 0, display_bins - 1)
    merged = np.zeros((counts.shape[0], display_bins), dtype=np.int64)
    for row in range(counts.shape[0]):
        np.add.at(merged[row], which, counts[row, 1:-1].numpy())
    centres = low + width * (np.arange(display_bins) + 0.5)
    return centres, merged, width


def neuron_histogram_figure(
    hists: NeuronHistograms | PredictivityResult,
    layer: int,
    neuron: int,
    subtask: int | str = 0,
    slot: int = 0,
    *,
    class_names: Sequence[str] = ("negative", "positive"),
    display_bins: int = 40,
    task: str | None = None,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """One neuron's dev activations by class, with its train-mean baseline as a vertical line.

    The fine histogram bins are merged into ``display_bins`` equal-width bars over the train
    range; each class is shown as its share of that class's dev examples, so unequal classes
    compare. Dev examples outside the train range (the underflow and overflow bins) are counted
    in the legend. The subtitle gives the neuron's AUROC from the histograms (and, for a result,
    what was scored: :func:`~skillneuron_lens.plot.layout.context_line`).

    Args:
        hists: The histograms, or a result recorded with ``histograms=True``.
        layer: Model layer of the neuron (one of ``hists.layers``).
        neuron: Neuron index.
        subtask: Subtask index or name.
        slot: Position-slot index.
        class_names: Names of the negative (target 0) and positive (target 1) class.
        display_bins: Number of bars.
        task: Task name for the subtitle.
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one ``go.Bar`` per class (negative first) and the baseline as a layout shape.

    Raises:
        SkillNeuronError: For a layer that was not recorded, an index out of range, an unknown
            subtask, two class names not given, ``display_bins`` below 1, a subtask without both
            classes, or a result without histograms.
    """
    check_layout(layout)
    hists, subtask, context = _histograms_and_context(hists, subtask, task)
    cell = hists.locate(layer, neuron, subtask, slot)
    if isinstance(display_bins, bool) or int(display_bins) < 1:
        raise SkillNeuronError(f"display_bins must be at least 1, got {display_bins!r}.")
    if isinstance(class_names, str) or len(class_names) != 2:
        raise SkillNeuronError(
            f"class_names must name the two classes (negative, positive), got {class_names!r}."
        )
    auroc = float(hists.auroc()[cell])
    bound = float(hists.auroc_error_bound()[cell])
    counts = hists.counts[:, cell[0], cell[1], cell[2], cell[3]]
    centres, merged, width = _display_counts(
        counts, hists.bin_edges(layer, neuron, subtask, slot), int(display_bins)
    )
    fig = go.Figure()
    for index, name in enumerate(class_names):
        total = max(int(counts[index].sum()), 1)
        outside = int(counts[index, 0]), int(counts[index, -1])
        label = f"{name} (n={int(counts[index].sum())})"
        if any(outside):
            label += f", {outside[0]} below / {outside[1]} above the train range"
        fig.add_trace(
            go.Bar(
                x=centres,
                y=merged[index] / total,
                width=width,
                customdata=merged[index],
                name=label,
                marker_color=_CLASS_COLOURS[index],
                opacity=0.6,
                hovertemplate=(
                    f"{name}<br>activation %{{x:.4g}}<br>%{{customdata}} examples (%{{y:.1%}})<extra></extra>"
                ),
            )
        )
    fig.update_layout(barmode="overlay")
    baseline = float(hists.baseline[cell])
    fig.add_vline(
        x=baseline,
        line=dict(color="black", dash="dash", width=2),
        annotation_text=f"train mean {baseline:.4g}",
        annotation_position="top right",
    )
    subtitle = (
        f"AUROC {auroc:.3f} from the histograms ({hists.n_bins} bins, at most {bound:.2g} from the "
        f"exact value); {hists.subtask_names[subtask]}, {hists.slot_names[slot]}"
    )
    return finish_figure(
        fig,
        title=title or f"Layer {layer}, neuron {neuron}: dev activations by class",
        subtitle=subtitle,
        x_title="activation",
        y_title="share of the class's dev examples",
        layout=layout,
        context=context,
    )


def layer_auroc_figure(
    hists: NeuronHistograms | PredictivityResult,
    subtask: int | str = 0,
    slot: int = 0,
    *,
    kind: Literal["box", "violin"] = "box",
    task: str | None = None,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """The distribution of the neurons' AUROC in each layer, with chance (0.5) as a dotted line.

    Args:
        hists: The histograms, or a result recorded with ``histograms=True`` (its context then
            joins the subtitle: :func:`~skillneuron_lens.plot.layout.context_line`).
        subtask: Subtask index or name.
        slot: Position-slot index.
        kind: ``"box"`` or ``"violin"``, one per layer; outlying neurons are drawn as points whose
            hover names the neuron.
        task: Task name for the subtitle.
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure, one trace per layer named ``"layer L"``.

    Raises:
        SkillNeuronError: For an index out of range, an unknown ``kind`` or ``subtask``, a subtask
            without both classes, or a result without histograms.
    """
    check_layout(layout)
    hists, subtask, context = _histograms_and_context(hists, subtask, task)
    # locate() checks the subtask and slot indices (layer and neuron: any valid pair).
    subtask, slot, _, _ = hists.locate(hists.layers[0], 0, subtask, slot)
    if kind not in ("box", "violin"):
        raise SkillNeuronError(f"kind must be 'box' or 'violin', got {kind!r}.")
    fig = go.Figure()
    scores = hists.auroc()[subtask, slot].numpy()
    add_layer_spread(fig, scores, hists.layers, kind=kind, value_label="AUROC", show_mean=False)
    return finish_figure(
        fig,
        title=title or "AUROC by layer",
        subtitle=f"{hists.subtask_names[subtask]}, {hists.slot_names[slot]}; 0.5 is chance",
        x_title="layer",
        y_title="AUROC (activation ranks positives above negatives)",
        layout=layout,
        context=context,
    )
