"""Interventions on a set of neurons, as context managers over the model's own hook API.

:func:`perturb` attaches one forward hook per layer of a :class:`~skillneuron_lens.neurons.sets.NeuronSet`
for the body of a ``with`` block (through ``model.hooks(fwd_hooks=...)``) and always removes it on
exit, also when the body raises. Contexts nest: two ``perturb`` blocks stack their hooks, and the
inner one's hooks run after the outer one's. :func:`perturbation_hooks` returns the same hooks as a
list for ``model.run_with_hooks(..., fwd_hooks=hooks)`` or ``model.hooks(...)``.

Only the chosen neurons change; every other value of the hook's activation is passed on untouched.
The modes and their options are one table, :data:`~skillneuron_lens.intervene.modes.MODE_TABLE`:

* ``"zero"`` — set to 0.
* ``"mean"`` — set to a fixed per-neuron value ``mean[layer, neuron]`` (a baseline, e.g. from
  :func:`neuron_means` or a predictivity result's train-split baseline).
* ``"gaussian"`` — add ``N(0, std²)`` noise (the paper, ``std=0.1``). By default one draw per example
  and neuron, broadcast over all positions (the paper); ``per_position=True`` draws independently at
  every position.
* ``"resample"`` — replace with another example's activation. Without ``pool``, each example takes
  the values, at the same token positions, of another example of the same forward batch: a random
  cyclic derangement of the batch, drawn anew for every forward pass (so a batch of one cannot be
  resampled and raises). With ``pool`` (``[sample, layer, neuron]``, e.g. from :func:`neuron_pool`),
  each example takes one uniformly drawn pool row, broadcast over positions (or one row per
  position with ``per_position=True``); this works for any batch size and does not depend on how
  examples are batched.
* ``"scale"`` — multiply by ``factor``.
* ``"clamp"`` — set to ``value`` (a number, or a tensor ``[layer, neuron]``).

Randomness (``"gaussian"``, ``"resample"``) comes from a ``torch.Generator`` on the model's device,
seeded with ``seed`` when the hooks are built (at context entry). Each hook call draws from it in
turn, so the same seed, the same device type and the same sequence of forward passes give the same
numbers; different batches get different draws. A forward pass that calls a hook several times
(e.g. generation with a KV cache) draws anew at each call.

Positions can be restricted with ``where``: a callable that receives the hook's activation
``[batch, pos, ...]`` and returns a bool mask ``[batch, pos]``; only positions where it is ``True``
change. Layers can be restricted with ``layers`` (model layer numbers, a subset of the set's layers).
Hooks whose activation has more than three axes (e.g. attention ``z``: ``[batch, pos, head, d_head]``)
are addressed with the trailing axes flattened into one neuron axis.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, TypeVar

import torch
from jaxtyping import Bool, Float, Int
from tqdm.auto import tqdm

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.intervene.modes import (
    DEFAULT_STD,
    MODES,
    Mode,
    ModeSettings,
    PerturbationMode,
    prepare_mode,
)
from skillneuron_lens.models.adapter import DEFAULT_HOOK, HookFn, ModelAdapter, PaddingSide
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.record.accumulators import _check_finite
from skillneuron_lens.record.positions import PositionsLike
from skillneuron_lens.record.recorder import Recorder, RecordingConfig

__all__ = [
    "Mode",  # defined in skillneuron_lens.intervene.modes, kept here for old imports
    "MODES",  # idem
    "DEFAULT_STD",  # idem
    "PositionFilter",
    "perturbation_hooks",
    "perturb",
    "neuron_means",
    "neuron_pool",
]

PositionFilter = Callable[[torch.Tensor], Bool[torch.Tensor, "batch pos"]]


def _chosen_rows(neurons: NeuronSet, layers: Iterable[int] | None) -> list[int]:
    """Rows of the set to perturb, in the set's order."""
    if layers is None:
        return list(range(len(neurons.layers)))
    wanted = [int(layer) for layer in layers]
    missing = [layer for layer in wanted if layer not in neurons.layers]
    if missing:
        raise SkillNeuronError(
            f"layers={wanted} names layer(s) {missing} that the neuron set does not cover; it has layers "
            f"{list(neurons.layers)}. Restrict to a subset of those."
        )
    if not wanted:
        raise SkillNeuronError("layers is empty: give at least one layer, or None for all.")
    return [row for row, layer in enumerate(neurons.layers) if layer in wanted]


def _position_mask(where: PositionFilter, activations: torch.Tensor, hook_name: str) -> torch.Tensor:
    mask = where(activations)
    expected = tuple(activations.shape[:2])
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != expected:
        got = (
            f"{mask.dtype} tensor of shape {tuple(mask.shape)}"
            if isinstance(mask, torch.Tensor)
            else type(mask).__name__
        )
        raise SkillNeuronError(
            f"where= must return a bool tensor [batch, pos] = {expected} for the activation at "
            f"{hook_name}; it returned a {got}."
        )
    return mask.to(activations.device)


def _layer_hook(
    mode: PerturbationMode,
    settings: ModeSettings,
    chosen: Bool[torch.Tensor, " neuron"],
    row: int,
    hook_name: str,
    generator: torch.Generator,
    where: PositionFilter | None,
) -> HookFn:
    """The hook of one layer: the mode's new values for the chosen neurons, the rest passed on."""
    width = int(chosen.numel())
    index = chosen.nonzero().flatten().to(generator.device)
    context = settings.at_hook(row, index, generator, hook_name)

    def hook(activations: torch.Tensor, hook: Any) -> torch.Tensor:
        name = hook_name  # as the caller spelled it (bridges fire it under a canonical alias)
        if activations.ndim < 3:
            raise SkillNeuronError(
                f"The activation at {name} has shape {tuple(activations.shape)}; perturbation needs "
                "[batch, pos, neuron] (or more trailing axes, which are flattened)."
            )
        flat = activations.reshape(activations.shape[0], activations.shape[1], -1)
        if flat.shape[-1] != width:
            raise SkillNeuronError(
                f"The neuron set has {width} neurons per layer but the activation at {name} has "
                f"{flat.shape[-1]}: the set comes from another hook or model. Select neurons on this "
                "model's hook (NeuronSet.top on a result computed with it)."
            )
        old = flat[..., index]
        new = mode.new_values(old, context)
        if where is not None:
            new = torch.where(_position_mask(where, activations, name)[..., None], new, old)
        out = flat.clone()
        out[..., index] = new.to(out.dtype)
        return out.reshape(activations.shape)

    return hook


def perturbation_hooks(
    model: Any,
    neurons: NeuronSet,
    mode: Mode | str = "gaussian",
    *,
    where: PositionFilter | None = None,
    layers: Iterable[int] | None = None,
    seed: int = 0,
    **options: Any,
) -> list[tuple[str, HookFn]]:
    """Forward hooks that perturb ``neurons``, for ``model.run_with_hooks`` or ``model.hooks``.

    Building the hooks runs no forward pass. Random modes seed their generator here, so each call
    starts the same stream of draws for the same ``seed``.

    Args:
        model: A ``TransformerBridge``, ``HookedTransformer``, ``HookedEncoder`` or other
            ``HookedRootModule``.
        neurons: The neurons to change (their ``hook`` template names the hook points).
        mode: ``"zero"``, ``"mean"``, ``"gaussian"``, ``"resample"``, ``"scale"`` or ``"clamp"``
            (see the module docstring and :data:`~skillneuron_lens.intervene.modes.MODE_TABLE`).
        where: Positions to change: a callable from the hook's activation ``[batch, pos, ...]`` to
            a bool mask ``[batch, pos]``; ``None`` for all positions.
        layers: Model layers to perturb (a subset of ``neurons.layers``); ``None`` for all of them.
        seed: Seed of the random draws.
        **options: The mode's options (:data:`~skillneuron_lens.intervene.modes.OPTIONS`); ``None``
            (and ``per_position=False``) means not given:

            * ``std``: noise standard deviation for ``"gaussian"`` (default 0.1, the paper's);
            * ``mean``: replacement values ``[layer, neuron]`` for ``"mean"``, rows in
              ``neurons.layers`` order;
            * ``value``: for ``"clamp"``, a number or a tensor ``[layer, neuron]`` like ``mean``;
            * ``factor``: for ``"scale"``, the multiplier;
            * ``pool``: for ``"resample"``, stored activations ``[sample, layer, neuron]`` to draw
              from (rows in ``neurons.layers`` order); without it, resampling is within each batch;
            * ``per_position``: ``"gaussian"`` / pooled ``"resample"``: draw at every position
              instead of once per example and neuron (broadcast over positions).

    Returns:
        ``(hook_name, hook_fn)`` pairs, one per layer that has at least one chosen neuron.

    Raises:
        SkillNeuronError: For an unknown mode or option, an option the mode does not use or lacks, a
            negative ``std``, a tensor of the wrong shape, a layer outside the set, or a hook the model
            does not have. A hook whose activation width differs from the set's raises when it fires.
    """
    if not isinstance(neurons, NeuronSet):
        raise SkillNeuronError(f"neurons must be a NeuronSet, got {type(neurons).__name__}.")
    table_row, settings = prepare_mode(mode, options, neurons)
    try:
        seed = operator.index(seed)
    except TypeError:
        raise SkillNeuronError(f"seed must be an int, got {seed!r}.") from None
    if where is not None and not callable(where):
        raise SkillNeuronError(
            "where must be None or a callable taking the activation [batch, pos, ...] and returning a "
            "bool mask [batch, pos]."
        )
    adapter = ModelAdapter(model)
    rows = _chosen_rows(neurons, layers)
    hook_names = adapter.resolve_hooks(neurons.hook, [neurons.layers[row] for row in rows])
    generator = torch.Generator(device=adapter.device).manual_seed(seed)
    return [
        (name, _layer_hook(table_row, settings, neurons.mask[row], row, name, generator, where))
        for row, name in zip(rows, hook_names, strict=True)
        if bool(neurons.mask[row].any())
    ]


@contextlib.contextmanager
def perturb(
    model: Any,
    neurons: NeuronSet,
    mode: Mode | str = "gaussian",
    *,
    where: PositionFilter | None = None,
    layers: Iterable[int] | None = None,
    seed: int = 0,
    **options: Any,
) -> Iterator[None]:
    """Perturb ``neurons`` for the body of a ``with`` block.

    Example::

        skill = snl.NeuronSet.top(result, fraction=0.05)
        with snl.perturb(model, skill, "gaussian", std=0.1, seed=0):
            logits = model(tokens)

    The hooks are attached with ``model.hooks(...)`` and removed on exit, also when the body raises.
    Blocks nest. Arguments are those of :func:`perturbation_hooks`; errors in them are raised at
    entry, before any hook is attached.

    Args:
        model: The model.
        neurons: The neurons to change.
        mode: The perturbation mode.
        where: See :func:`perturbation_hooks`.
        layers: See :func:`perturbation_hooks`.
        seed: See :func:`perturbation_hooks`.
        **options: The mode's options (``std``, ``mean``, ``value``, ``factor``, ``pool``,
            ``per_position``); see :func:`perturbation_hooks`.

    Yields:
        Nothing; run the model inside the block.
    """
    hooks = perturbation_hooks(model, neurons, mode, where=where, layers=layers, seed=seed, **options)
    with ModelAdapter(model).hooks(hooks):
        yield


# ---- baselines and pools ----------------------------------------------------------------------
class _WeightedMean:
    """Float64 sums of per-example mean activations, each weighted by the example's target[0]."""

    def __init__(self, n_layers: int) -> None:
        self.sums: list[torch.Tensor | None] = [None] * n_layers
        self.weight = 0

    def add_examples(self, targets: Int[torch.Tensor, "batch subtask"]) -> None:
        self.weight += int(targets[:, 0].sum())

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        _check_finite(values, where)
        weights = targets[:, 0].to(device=values.device, dtype=values.dtype)
        added = torch.einsum("b,bn->n", weights, values.mean(dim=1)).cpu()
        current = self.sums[layer_slot]
        self.sums[layer_slot] = added if current is None else current + added


class _Collect:
    """Keeps every example's reduced activations (for a resampling pool)."""

    def __init__(self, n_layers: int) -> None:
        self.values: list[list[torch.Tensor]] = [[] for _ in range(n_layers)]

    def add_examples(self, targets: Int[torch.Tensor, "batch subtask"]) -> None:
        pass

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        _check_finite(values, where)
        self.values[layer_slot].append(values.reshape(-1, values.shape[-1]).float().cpu())


def _check_texts(texts: Sequence[str], text_pairs: Sequence[str] | None) -> None:
    if isinstance(texts, str) or len(texts) == 0:
        raise SkillNeuronError("texts must be a non-empty list of strings.")
    if text_pairs is not None and len(text_pairs) != len(texts):
        raise SkillNeuronError(f"{len(text_pairs)} text pairs were given for {len(texts)} texts.")


_Streamed = TypeVar("_Streamed", _WeightedMean, _Collect)


def _stream(
    model: Any,
    config: RecordingConfig,
    new_accumulator: Callable[[int], _Streamed],
    texts: Sequence[str],
    text_pairs: Sequence[str] | None,
    weigh_by_tokens: bool,
    description: str,
) -> tuple[Recorder, _Streamed]:
    """Check the texts, then record them into a fresh accumulator (one slot per recorded layer)."""
    _check_texts(texts, text_pairs)
    recorder = Recorder(model, config)
    accumulator = new_accumulator(len(recorder.layers))
    size = config.batch_size
    starts = range(0, len(texts), size)
    for start in tqdm(starts, desc=description, disable=not config.progress, unit="batch"):
        pairs = None if text_pairs is None else list(text_pairs[start : start + size])
        batch = recorder.encode(list(texts[start : start + size]), pairs)
        weights = (
            batch.attention_mask.sum(dim=1) if weigh_by_tokens else torch.ones_like(batch.input_ids[:, 0])
        )
        recorder.accumulate_batch(accumulator, batch, weights[:, None].long())
    return recorder, accumulator


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
    hook: str = DEFAULT_HOOK,
    layers: Sequence[int] | None = None,
    per: Literal["token", "example"] = "token",
    batch_size: int = 32,
    max_length: int = 128,
    padding_side: PaddingSide = "right",
    prepend_bos: bool = False,
    progress: bool = False,
) -> Float[torch.Tensor, "layer neuron"]:
    """Each neuron's mean activation over texts: the replacement values for ``mode="mean"``.

    With ``per="token"`` (default) every non-padding token of every text weighs the same: the mean
    activation at a random token, which is what a perturbation applied at every position replaces.
    With ``per="example"`` each text's mean over its non-padding tokens is averaged with equal weight
    per text (long texts count no more than short ones). Either way padding never changes the answer,
    values are accumulated in float64 and streamed (nothing is kept per example), and each forward
    pass stops after the last requested layer.

    Args:
        model: The model.
        texts: The texts (e.g. the train split).
        text_pairs: Second texts for pair tasks, or ``None``.
        hook: Hook-name template with ``{layer}`` (use the neuron set's ``hook``).
        layers: Model layers, in the order of the returned rows (use the set's ``layers``); ``None``
            for all layers in order.
        per: ``"token"`` or ``"example"`` weighting, as above.
        batch_size: Examples per forward pass.
        max_length: Truncate encodings to this many tokens.
        padding_side: ``"right"`` or ``"left"``; the result does not depend on it.
        prepend_bos: Prepend BOS when the tokenizer does not.
        progress: Show a progress bar.

    Returns:
        Float64 means on the CPU, ``[layer, neuron]`` with rows in the order of ``layers``.

    Raises:
        SkillNeuronError: For empty texts, an unknown ``per``, or a hook or layer the model lacks.
    """
    if per not in ("token", "example"):
        raise SkillNeuronError(f"per must be 'token' or 'example', got {per!r}.")
    config = RecordingConfig(
        hook=hook,
        layers=None if layers is None else tuple(layers),
        positions="mean",
        batch_size=batch_size,
        max_length=max_length,
        padding_side=padding_side,
        prepend_bos=prepend_bos,
        progress=progress,
    )
    recorder, accumulator = _stream(
        model, config, _WeightedMean, texts, text_pairs, per == "token", "neuron means"
    )
    sums = [s for s in accumulator.sums if s is not None]
    if len(sums) != len(recorder.layers):
        raise SkillNeuronError(f"Hook {hook!r} did not fire for every layer.")
    means = torch.stack(sums) / accumulator.weight
    return means[_in_given_order(recorder, layers)]


def neuron_pool(
    model: Any,
    texts: Sequence[str],
    *,
    text_pairs: Sequence[str] | None = None,
    hook: str = DEFAULT_HOOK,
    layers: Sequence[int] | None = None,
    positions: PositionsLike = "mean",
    batch_size: int = 32,
    max_length: int = 128,
    padding_side: PaddingSide = "right",
    prepend_bos: bool = False,
    progress: bool = False,
) -> Float[torch.Tensor, "sample layer neuron"]:
    """Stored activations of other examples, to resample from (``mode="resample", pool=...``).

    Unlike the rest of the package this keeps one value per example, slot, layer and neuron
    (float32, on the CPU): size the texts accordingly.

    Args:
        model: The model.
        texts: The texts whose activations fill the pool.
        text_pairs: Second texts for pair tasks, or ``None``.
        hook: Hook-name template with ``{layer}`` (use the neuron set's ``hook``).
        layers: Model layers, in the order of the returned layer axis (use the set's ``layers``).
        positions: What each example contributes (see :mod:`skillneuron_lens.record.positions`):
            ``"mean"`` (default, its mean over non-padding tokens), ``"last"``, ``"max"``, or fixed
            positions (one sample per position).
        batch_size: Examples per forward pass.
        max_length: Truncate encodings to this many tokens.
        padding_side: ``"right"`` or ``"left"``; the result does not depend on it.
        prepend_bos: Prepend BOS when the tokenizer does not.
        progress: Show a progress bar.

    Returns:
        ``[sample, layer, neuron]`` with samples ordered by example, then slot.
    """
    config = RecordingConfig(
        hook=hook,
        layers=None if layers is None else tuple(layers),
        positions=positions,
        batch_size=batch_size,
        max_length=max_length,
        padding_side=padding_side,
        prepend_bos=prepend_bos,
        progress=progress,
    )
    recorder, accumulator = _stream(model, config, _Collect, texts, text_pairs, False, "neuron pool")
    stacked = torch.stack([torch.cat(parts) for parts in accumulator.values], dim=1)
    return stacked[:, _in_given_order(recorder, layers)]
