"""One neuron's activations: recorded at the predictivity's slots, its baseline, and a histogram by class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import DEFAULT_HOOK, PaddingSide
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
from skillneuron_lens.predictivity.compute import PredictivityResult
from skillneuron_lens.record.positions import PositionsLike
from skillneuron_lens.record.recorder import Recorder, RecordingConfig

__all__ = ["activation_histogram", "neuron_activations", "neuron_baseline"]


class _OneNeuron:
    """Accumulator that keeps one neuron's reduced value per example (the recorder's protocol)."""

    def __init__(self, neuron: int) -> None:
        self.neuron = neuron
        self.chunks: list[torch.Tensor] = []

    def add_examples(self, targets: torch.Tensor) -> None:
        del targets

    def add_layer(self, layer_slot: int, values: torch.Tensor, targets: torch.Tensor, where: str) -> None:
        del layer_slot, targets
        if not 0 <= self.neuron < values.shape[-1]:
            raise SkillNeuronError(
                f"Neuron {self.neuron} is out of range 0..{values.shape[-1] - 1} at {where}."
            )
        self.chunks.append(values[:, :, self.neuron].double().cpu())


def neuron_activations(
    model: Any,
    texts: Sequence[str],
    layer: int,
    neuron: int,
    *,
    text_pairs: Sequence[str] | None = None,
    hook: str = DEFAULT_HOOK,
    positions: PositionsLike = 0,
    batch_size: int = 32,
    max_length: int = 128,
    padding_side: PaddingSide = "right",
    prepend_bos: bool = False,
) -> Float[torch.Tensor, "example slot"]:
    """One neuron's activation on each text, at the same slots the predictivity was computed at.

    One hook on one layer; the forward pass stops right after it and only the neuron's value at
    the slots is kept, so this is cheap. Use the settings the result was computed with (e.g.
    ``positions=result.config["positions"]``).

    Args:
        model: A ``TransformerBridge``, ``HookedTransformer`` or ``HookedEncoder``.
        texts: The texts.
        layer: Model layer of the neuron.
        neuron: Index of the neuron at the hook.
        text_pairs: Second texts for pair tasks.
        hook: Hook-name template with ``{layer}``.
        positions: Slots to read, as in :func:`skillneuron_lens.compute_predictivity`.
        batch_size: Examples per forward pass.
        max_length: Truncate encodings to this many tokens.
        padding_side: ``"right"`` or ``"left"``; the values do not depend on it.
        prepend_bos: Prepend BOS when the tokenizer does not.

    Returns:
        Float64 activations ``[example, slot]`` on the CPU.

    Raises:
        SkillNeuronError: For an empty ``texts``, an unknown layer or hook, or a neuron out of range.
    """
    if len(texts) == 0:
        raise SkillNeuronError("texts is empty: give at least one text.")
    config = RecordingConfig(
        hook=hook,
        layers=(int(layer),),
        positions=positions,
        batch_size=batch_size,
        max_length=max_length,
        padding_side=padding_side,
        prepend_bos=prepend_bos,
        progress=False,
    )
    recorder = Recorder(model, config)
    keeper = _OneNeuron(int(neuron))
    targets = torch.zeros(len(texts), 1, dtype=torch.long)
    recorder.accumulate(keeper, list(texts), None if text_pairs is None else list(text_pairs), targets)
    return torch.cat(keeper.chunks)


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

    Get the values with :func:`neuron_activations` and the threshold with :func:`neuron_baseline`.
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
