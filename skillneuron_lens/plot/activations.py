"""One neuron: its baseline threshold and a histogram of its activations by class.

The values come from :func:`skillneuron_lens.record.activations.neuron_activations`.
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
)
from skillneuron_lens.predictivity.result import PredictivityResult

__all__ = ["activation_histogram", "neuron_baseline"]


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
        classes = [(str(name), as_numpy(values).reshape(-1)) for name, values in activations.items()]
    elif isinstance(activations, tuple) and len(activations) == 2:
        values, labels = as_numpy(activations[0]), as_numpy(activations[1], np.int64).reshape(-1)
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
    check_layout(layout)
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
    return finish_figure(
        fig,
        title=title or f"{who}: activations by class",
        subtitle=subtitle,
        x_title="activation",
        y_title="examples",
        layout=layout,
    )
