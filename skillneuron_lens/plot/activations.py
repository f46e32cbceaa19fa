"""One neuron: its baseline threshold and a histogram of its activations by class.

The three single-neuron helpers compose without reshaping::

    threshold, slot = neuron_baseline(result, layer, neuron)
    values = neuron_activations(model, texts, layer, neuron, positions=result.config["positions"])
    activation_histogram((values, labels), threshold, slot=slot, layer=layer, neuron=neuron)

:func:`skillneuron_lens.record.activations.neuron_activations` returns ``[example, slot]``;
``slot=`` picks the column the baseline belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.plot.layout import (
    BOTTOM_COLOUR,
    CHANCE,
    CLEAN_COLOUR,
    RANDOM_COLOUR,
    SKILL_COLOUR,
    as_numpy,
    check_layout,
    finish_figure,
    subtask_index,
)
from skillneuron_lens.predictivity.result import PredictivityResult

__all__ = ["activation_histogram", "neuron_baseline"]


def neuron_baseline(
    result: PredictivityResult, layer: int, neuron: int, *, subtask: int | str = 0
) -> tuple[float, int]:
    """A neuron's baseline threshold (train mean activation) at its best slot, averaged over runs.

    Args:
        result: The predictivity result.
        layer: Model layer of the neuron.
        neuron: Neuron index.
        subtask: Which binary subtask's baseline and best slot (index or name).

    Returns:
        ``(threshold, slot)``: pass ``slot`` on as ``activation_histogram(..., slot=slot)`` with the
        ``[example, slot]`` values of :func:`~skillneuron_lens.record.activations.neuron_activations`.

    Raises:
        SkillNeuronError: For a layer that was not recorded, a neuron out of range or an unknown
            subtask.
    """
    if layer not in result.layers:
        raise SkillNeuronError(
            f"Layer {layer} was not recorded; the result has layers {list(result.layers)}."
        )
    if not 0 <= neuron < result.n_neurons:
        raise SkillNeuronError(f"Neuron {neuron} is out of range 0..{result.n_neurons - 1}.")
    index = subtask_index(result.subtask_names, subtask, allow_merge=False)
    assert index is not None  # allow_merge=False never gives None
    row = result.layers.index(layer)
    slot = int(result.best_slot[index, row, neuron])
    return float(result.baseline[:, index, slot, row, neuron].mean()), slot


def _one_slot(values: np.ndarray, slot: int | None, what: str) -> np.ndarray:
    """1-D values of one slot from ``[example]`` or ``[example, slot]`` values.

    Raises:
        SkillNeuronError: For 2-D values with several slots and no ``slot``, a slot out of range,
            ``slot`` with 1-D values, or values of any other rank.
    """
    if values.ndim == 1:
        if slot is not None:
            raise SkillNeuronError(
                f"slot={slot} was given but {what} are 1-D (one value per example); drop slot=, or pass "
                "the [example, slot] values of neuron_activations."
            )
        return values
    if values.ndim != 2:
        raise SkillNeuronError(
            f"{what} must be [example] or [example, slot] (as neuron_activations returns), got shape "
            f"{values.shape}."
        )
    n_slots = values.shape[1]
    if slot is None:
        if n_slots == 1:
            return values[:, 0]
        raise SkillNeuronError(
            f"{what} have {n_slots} slots per example ([example, slot], as neuron_activations returns); "
            "say which one to show with slot=: the slot neuron_baseline returns, as in "
            "`threshold, slot = neuron_baseline(result, layer, neuron)` then "
            "`activation_histogram((values, labels), threshold, slot=slot)`."
        )
    if isinstance(slot, bool) or not 0 <= int(slot) < n_slots:
        raise SkillNeuronError(
            f"slot={slot!r} is out of range: {what} have {n_slots} slots (0..{n_slots - 1})."
        )
    return values[:, int(slot)]


def _classes(
    activations: Mapping[str, Any] | tuple[Any, Any], label_names: Sequence[str] | None, slot: int | None
) -> list[tuple[str, np.ndarray]]:
    if isinstance(activations, Mapping):
        classes = [
            (str(name), _one_slot(as_numpy(values), slot, f"the values of class {name!r}"))
            for name, values in activations.items()
        ]
    elif isinstance(activations, tuple) and len(activations) == 2:
        values = _one_slot(as_numpy(activations[0]), slot, "the values")
        labels = as_numpy(activations[1], np.int64).reshape(-1)
        if len(values) != len(labels):
            raise SkillNeuronError(
                f"values and labels must have the same length (one value per label); got "
                f"{len(values)} values and {len(labels)} labels."
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
    slot: int | None = None,
    bins: int = 40,
    title: str | None = None,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """A neuron's activations split by class, with the baseline threshold as a vertical line.

    Get the values with :func:`skillneuron_lens.record.activations.neuron_activations` (``[example,
    slot]``) and the threshold and slot with :func:`neuron_baseline`, and pass that slot as
    ``slot=``; no reshaping is needed.
    With exactly two classes, the subtitle gives the accuracy of the paper's rule on the examples
    shown: predict the second class when the activation is above the threshold (strict ``>``).

    Args:
        activations: ``{class name: values}``, or ``(values, labels)`` with integer labels; values
            are ``[example]`` or ``[example, slot]``.
        threshold: The baseline (train mean activation).
        label_names: Class names for ``(values, labels)`` input, by label id.
        layer: Model layer of the neuron, for the title.
        neuron: Neuron index, for the title.
        slot: For ``[example, slot]`` values, the slot to show (e.g. the one :func:`neuron_baseline`
            returns); may be left out when there is one slot.
        bins: Number of equal-width bins spanning the values and the threshold (shared by all
            classes).
        title: Figure title.
        layout: Overrides passed to ``fig.update_layout``.

    Returns:
        The figure: one overlaid ``go.Histogram`` per class (in label order) and the threshold as a
        layout shape.

    Raises:
        SkillNeuronError: For malformed input, ``[example, slot]`` values with several slots and no
            ``slot`` (the message says how to get it), or ``bins`` below 1.
    """
    check_layout(layout)
    if isinstance(bins, bool) or int(bins) < 1:
        raise SkillNeuronError(f"bins must be at least 1, got {bins!r}.")
    classes = _classes(activations, label_names, slot)
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
    if slot is not None:
        who += f" at slot {int(slot)}"
    return finish_figure(
        fig,
        title=title or f"{who}: activations by class",
        subtitle=subtitle,
        x_title="activation",
        y_title="examples",
        layout=layout,
    )
