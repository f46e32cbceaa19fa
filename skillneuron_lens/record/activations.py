"""Per-neuron activations of a model on texts: means, resampling pools and one neuron's values.

One function per quantity, each a thin layer over the :class:`~skillneuron_lens.record.recorder.Recorder`
reductions, so every path gets the recorder's checks (hooks that exist and fire, finite values,
padding that never changes the answer). Settings travel as one
:class:`~skillneuron_lens.record.recorder.RecordingConfig` (``recording=``); ``hook=``, ``layers=``
and ``positions=`` are shortcuts that replace the config's field. ``layers=`` also fixes the order of
the returned rows (a config's layers are sorted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float

from skillneuron_lens.record.positions import PositionsLike
from skillneuron_lens.record.recorder import MeanWeighting, Recorder, RecordingConfig, recording_config

__all__ = ["PassFeatures", "neuron_activations", "neuron_means", "neuron_pool"]


@dataclass(frozen=True)
class PassFeatures:
    """The reduced activations a predictivity pass saw, kept for read-outs that need no second pass.

    Made by ``compute_predictivity(..., keep_features=True)`` and kept in memory only (a saved result
    does not store them). Rows are the examples the pass recorded, in split order, with their class ids.

    Attributes:
        train: ``[example, slot, layer, neuron]`` of the train split (float32, CPU).
        train_labels: Class id of each train row.
        dev: The same for the dev split.
        dev_labels: Class id of each dev row.
        label_names: Class names in id order for string labels, else ``None``.
    """

    train: Float[torch.Tensor, "example slot layer neuron"]
    train_labels: tuple[int, ...]
    dev: Float[torch.Tensor, "example slot layer neuron"]
    dev_labels: tuple[int, ...]
    label_names: tuple[str, ...] | None = None

_QUIET_MEAN = RecordingConfig(positions="mean", progress=False)


def _in_given_order(recorder: Recorder, layers: Sequence[int] | None) -> list[int]:
    """Recorder slots (sorted layers) in the order the caller named the layers."""
    if layers is None:
        return list(range(len(recorder.layers)))
    return [recorder.layers.index(int(layer)) for layer in layers]


def neuron_means(
    model: Any,
    texts: Sequence[str],
    *,
    text_pairs: Sequence[str] | None = None,
    per: MeanWeighting = "token",
    recording: RecordingConfig | None = None,
    hook: str | None = None,
    layers: Sequence[int] | None = None,
    positions: PositionsLike | None = None,
) -> Float[torch.Tensor, "layer neuron"]:
    """Each neuron's mean activation over texts: the replacement values for ``mode="mean"`` and pruning.

    With ``per="token"`` (default) every non-padding token of every text weighs the same: the mean
    activation at a random token, which is what a perturbation or pruning applied at every position
    replaces (needs ``positions="mean"``, the default here). With ``per="example"`` each text's value
    (its mean over the tokens, or over the chosen ``positions``' slots) is averaged with equal weight
    per text. Either way padding never changes the answer, values are accumulated in float64 and
    streamed (nothing is kept per example), and each forward pass stops after the last requested
    layer. For the train-split baselines a predictivity result already holds, use
    :meth:`~skillneuron_lens.predictivity.result.PredictivityResult.mean_baselines` instead.

    Args:
        model: The model.
        texts: The texts (e.g. the train split).
        text_pairs: Second texts for pair tasks, or ``None``.
        per: ``"token"`` or ``"example"`` weighting, as above.
        recording: Where and how to record; default ``RecordingConfig(positions="mean", progress=False)``.
        hook: Shortcut for the config's hook template (use the neuron set's ``hook``).
        layers: Model layers, in the order of the returned rows (use the set's ``layers``); ``None``
            for the config's layers (all by default) in order.
        positions: Shortcut for the config's positions.

    Returns:
        Float64 means on the CPU, ``[layer, neuron]``.

    Raises:
        SkillNeuronError: For empty texts, an unknown ``per``, ``per="token"`` without
            ``positions="mean"``, a hook or layer the model lacks, or layers of different widths.
    """
    config = recording_config(recording, hook=hook, layers=layers, positions=positions, default=_QUIET_MEAN)
    recorder = Recorder(model, config)
    return recorder.means(texts, text_pairs, per=per)[_in_given_order(recorder, layers)]


def neuron_pool(
    model: Any,
    texts: Sequence[str],
    *,
    text_pairs: Sequence[str] | None = None,
    recording: RecordingConfig | None = None,
    hook: str | None = None,
    layers: Sequence[int] | None = None,
    positions: PositionsLike | None = None,
) -> Float[torch.Tensor, "sample layer neuron"]:
    """Stored activations of other examples, to resample from (``mode="resample", pool=...``).

    Unlike the means this keeps one value per example, slot, layer and neuron (float32, on the CPU):
    size the texts accordingly.

    Args:
        model: The model.
        texts: The texts whose activations fill the pool.
        text_pairs: Second texts for pair tasks, or ``None``.
        recording: Where and how to record; default ``RecordingConfig(positions="mean", progress=False)``.
        hook: Shortcut for the config's hook template (use the neuron set's ``hook``).
        layers: Model layers, in the order of the returned layer axis (use the set's ``layers``).
        positions: What each example contributes (see :mod:`skillneuron_lens.record.positions`):
            ``"mean"`` (the default, its mean over non-padding tokens), ``"last"``, ``"max"``, or fixed
            positions (one sample per position).

    Returns:
        ``[sample, layer, neuron]`` with samples ordered by example, then slot.
    """
    config = recording_config(recording, hook=hook, layers=layers, positions=positions, default=_QUIET_MEAN)
    recorder = Recorder(model, config)
    return recorder.pool(texts, text_pairs)[:, _in_given_order(recorder, layers)]


def neuron_activations(
    model: Any,
    texts: Sequence[str],
    layer: int,
    neuron: int,
    *,
    text_pairs: Sequence[str] | None = None,
    recording: RecordingConfig | None = None,
    hook: str | None = None,
    positions: PositionsLike | None = None,
) -> Float[torch.Tensor, "example slot"]:
    """One neuron's activation on each text, at the same slots the predictivity was computed at.

    One hook on one layer; the forward pass stops right after it and only the neuron's value at
    the slots is kept, so this is cheap. Use the settings the result was computed with (e.g.
    ``positions=result.config["positions"]``).

    Args:
        model: A ``TransformerBridge``, ``HookedTransformer`` or ``HookedEncoder``.
        texts: The texts.
        layer: Model layer of the neuron (replaces the config's layers).
        neuron: Index of the neuron at the hook.
        text_pairs: Second texts for pair tasks.
        recording: Where and how to record; default ``RecordingConfig(progress=False)`` (position 0).
        hook: Shortcut for the config's hook template.
        positions: Shortcut for the config's positions (as in
            :func:`~skillneuron_lens.predictivity.compute.compute_predictivity`).

    Returns:
        Float64 activations ``[example, slot]`` on the CPU.

    Raises:
        SkillNeuronError: For an empty ``texts``, an unknown layer or hook, or a neuron out of range.
    """
    quiet = RecordingConfig(progress=False)
    config = recording_config(recording, hook=hook, layers=(int(layer),), positions=positions, default=quiet)
    values = Recorder(model, config).activations(texts, text_pairs, neuron=int(neuron), dtype=torch.float64)
    return values[0][:, :, 0]
