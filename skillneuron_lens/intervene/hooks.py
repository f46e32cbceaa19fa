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
  :func:`~skillneuron_lens.record.activations.neuron_means` or a predictivity result's
  :meth:`~skillneuron_lens.predictivity.result.PredictivityResult.mean_baselines`).
* ``"gaussian"`` — add ``N(0, std²)`` noise (the paper, ``std=0.1``). By default one draw per example
  and neuron, broadcast over all positions (the paper); ``per_position=True`` draws independently at
  every position.
* ``"resample"`` — replace with another example's activation. Without ``pool``, each example takes
  the values, at the same token positions, of another example of the same forward batch: a random
  cyclic derangement of the batch, drawn anew for every forward pass (so a batch of one cannot be
  resampled and raises). With ``pool`` (``[sample, layer, neuron]``, e.g. from
  :func:`~skillneuron_lens.record.activations.neuron_pool`),
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
change. A ``where`` that takes a second argument also receives ``positions`` ``[pos]``: the absolute
position of each of the activation's positions in the whole sequence. Under :func:`perturb` these count
the prefix a KV cache holds, so during cached generation
(``model.generate(..., use_past_kv_cache=True)``, where each forward pass sees only the new token) a
filter such as ``lambda act, positions: positions < prompt_length`` keeps its meaning. A one-argument
``where`` cannot tell the cached pass's positions apart,
so :func:`perturb` refuses it there with an error (it stays fine without a cache). Layers can be
restricted with ``layers`` (model layer numbers, a subset of the set's layers).
Hooks whose activation has more than three axes (e.g. attention ``z``: ``[batch, pos, head, d_head]``)
are addressed with the trailing axes flattened into one neuron axis, or one head of them when the
set's hook ends in ``[head=H]`` (:mod:`skillneuron_lens.models.sites`); the new values are written
back in the hook's own shape.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from jaxtyping import Bool, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.intervene.modes import (
    DEFAULT_STD,
    MODES,
    Mode,
    ModeSettings,
    PerturbationMode,
    prepare_mode,
)
from skillneuron_lens.models.adapter import HookFn, ModelAdapter
from skillneuron_lens.models.sites import NeuronSite
from skillneuron_lens.neurons.sets import NeuronSet

__all__ = [
    "Mode",  # defined in skillneuron_lens.intervene.modes, kept here for old imports
    "MODES",  # idem
    "DEFAULT_STD",  # idem
    "PositionFilter",
    "CachedPrefix",
    "perturbation_hooks",
    "perturb",
    "skip_forward_pass",
]

PositionFilter = (
    Callable[[torch.Tensor], Bool[torch.Tensor, "batch pos"]]
    | Callable[[torch.Tensor, Int[torch.Tensor, " pos"]], Bool[torch.Tensor, "batch pos"]]
)
"""``where(activations)`` or ``where(activations, positions)`` -> bool mask ``[batch, pos]``."""


class CachedPrefix:
    """How many positions precede the current forward pass (the KV cache's prefix).

    :func:`perturb` keeps it up to date through
    :meth:`~skillneuron_lens.models.adapter.ModelAdapter.watching_cached_prefix`.

    Attributes:
        length: Positions before the current pass's first position (0 without a cache).
    """

    def __init__(self) -> None:
        """Start with no prefix."""
        self.length = 0

    def report(self, length: int) -> None:
        """Record the prefix of the pass that starts now."""
        self.length = int(length)

    def positions(self, n_positions: int, device: torch.device) -> Int[torch.Tensor, " pos"]:
        """The absolute positions of a pass's ``n_positions`` positions."""
        return torch.arange(self.length, self.length + n_positions, device=device)


def _takes_positions(where: Callable[..., Any]) -> bool:
    """Whether a ``where`` callable accepts a second positional argument (the absolute positions)."""
    try:
        parameters = list(inspect.signature(where).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: the one-argument form
        return False
    if any(parameter.kind is inspect.Parameter.VAR_POSITIONAL for parameter in parameters):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(parameter.kind in positional for parameter in parameters) >= 2


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


def _position_mask(
    where: PositionFilter, activations: torch.Tensor, hook_name: str, prefix: CachedPrefix
) -> torch.Tensor:
    if _takes_positions(where):
        positions = prefix.positions(activations.shape[1], activations.device)
        mask = where(activations, positions)  # type: ignore[call-arg]
    elif prefix.length:
        raise SkillNeuronError(
            f"where= was called on a cached forward pass at {hook_name}: the activation holds positions "
            f"{prefix.length}..{prefix.length + activations.shape[1] - 1} of the sequence (the KV cache "
            f"holds the first {prefix.length}), and a one-argument where= cannot tell. Take the absolute "
            "positions as a second argument, e.g. where=lambda act, positions: positions < prompt_length "
            "(a bool mask [batch, pos]), or generate without the KV cache."
        )
    else:
        mask = where(activations)  # type: ignore[call-arg]
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


class _LayerHook:
    """The hook of one layer: the mode's new values for the chosen neurons, the rest passed on."""

    def __init__(
        self,
        mode: PerturbationMode,
        settings: ModeSettings,
        chosen: Bool[torch.Tensor, " neuron"],
        row: int,
        site: NeuronSite,
        hook_name: str,
        generator: torch.Generator,
        where: PositionFilter | None,
        prefix: CachedPrefix,
    ) -> None:
        self.mode = mode
        self.width = int(chosen.numel())
        self.index = chosen.nonzero().flatten().to(generator.device)
        self.context = settings.at_hook(row, self.index, generator, hook_name)
        self.site = site
        self.hook_name = hook_name  # as the caller spelled it (bridges fire it under a canonical alias)
        self.where = where
        self.prefix = prefix

    def __call__(self, activations: torch.Tensor, hook: Any) -> torch.Tensor:
        """The activation with the chosen neurons' values replaced (written back in the hook's shape)."""
        name = self.hook_name
        flat = self.site.neurons(activations, name)
        if flat.shape[-1] != self.width:
            raise SkillNeuronError(
                f"The neuron set has {self.width} neurons per layer but the activation at {name} has "
                f"{flat.shape[-1]}: the set comes from another hook or model. Select neurons on this "
                "model's hook (NeuronSet.top on a result computed with it)."
            )
        old = flat[..., self.index]
        new = self.mode.new_values(old, self.context)
        if self.where is not None:
            mask = _position_mask(self.where, activations, name, self.prefix)
            new = torch.where(mask[..., None], new, old)
        values = flat.clone()
        values[..., self.index] = new.to(values.dtype)
        return self.site.write_back(activations, values)

    def skip(self, batch_size: int, n_positions: int) -> None:
        """Draw what one call on a ``[batch_size, n_positions, ...]`` activation draws, and drop it."""
        zeros = torch.zeros(batch_size, n_positions, len(self.index), device=self.context.generator.device)
        self.mode.new_values(zeros, self.context)


_ACTIVE_HOOKS: contextvars.ContextVar[tuple[tuple[int, _LayerHook], ...]] = contextvars.ContextVar(
    "skillneuron_lens_active_perturbation_hooks", default=()
)
"""The hooks of the open :func:`perturb` blocks, with their model layer, for :func:`skip_forward_pass`."""


def skip_forward_pass(batch_size: int, n_positions: int) -> None:
    """Advance the random draws of every open :func:`perturb` block as one forward pass would.

    The noise of the random modes comes from one generator per block, drawn from in turn by each
    forward pass (see the module docstring). A process that shares an evaluation with others (under
    ``torchrun``) runs only some of the batches; for each batch it leaves to another process it calls
    this instead, so that the batches it does run get the draws they get in one process, and the
    accuracies are those of one process exactly. The draws are made on a zero activation of the
    batch's shape, in the order the model's layers fire; no forward pass is run.

    Args:
        batch_size: Examples in the skipped batch.
        n_positions: Positions of its (padded) input, as the model would see it.
    """
    for _, layer_hook in sorted(_ACTIVE_HOOKS.get(), key=lambda entry: entry[0]):
        layer_hook.skip(batch_size, n_positions)


def _layer_hooks(
    model: Any,
    neurons: NeuronSet,
    mode: Mode | str,
    where: PositionFilter | None,
    layers: Iterable[int] | None,
    seed: int,
    options: dict[str, Any],
    cached_prefix: CachedPrefix | None = None,
) -> list[tuple[int, str, _LayerHook]]:
    """``(model layer, hook name, hook)`` per layer with a chosen neuron (see :func:`perturbation_hooks`)."""
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
    site = NeuronSite.parse(neurons.hook)
    hook_names = adapter.resolve_hooks(site.name, [neurons.layers[row] for row in rows])
    generator = torch.Generator(device=adapter.device).manual_seed(seed)
    prefix = CachedPrefix() if cached_prefix is None else cached_prefix
    return [
        (
            int(neurons.layers[row]),
            name,
            _LayerHook(table_row, settings, neurons.mask[row], row, site, name, generator, where, prefix),
        )
        for row, name in zip(rows, hook_names, strict=True)
        if bool(neurons.mask[row].any())
    ]


def perturbation_hooks(
    model: Any,
    neurons: NeuronSet,
    mode: Mode | str = "gaussian",
    *,
    where: PositionFilter | None = None,
    layers: Iterable[int] | None = None,
    seed: int = 0,
    cached_prefix: CachedPrefix | None = None,
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
        where: Positions to change: a callable from the hook's activation ``[batch, pos, ...]`` (and,
            if it takes a second argument, the absolute positions ``[pos]``) to a bool mask
            ``[batch, pos]``; ``None`` for all positions.
        layers: Model layers to perturb (a subset of ``neurons.layers``); ``None`` for all of them.
        seed: Seed of the random draws.
        cached_prefix: Where each forward pass starts in the whole sequence, kept up to date by the
            caller (:func:`perturb` does this for cached generation); ``None``: every pass starts at
            position 0, as in one ``model.run_with_hooks(...)`` call.
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
    built = _layer_hooks(model, neurons, mode, where, layers, seed, options, cached_prefix)
    return [(name, layer_hook) for _, name, layer_hook in built]


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
    entry, before any hook is attached. Inside the block, ``where`` sees absolute positions also
    during KV-cached generation (the block tracks the cache's prefix; see the module docstring).

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
    prefix = CachedPrefix()
    built = _layer_hooks(model, neurons, mode, where, layers, seed, options, prefix)
    token = _ACTIVE_HOOKS.set((*_ACTIVE_HOOKS.get(), *((layer, hook) for layer, _, hook in built)))
    adapter = ModelAdapter(model)
    try:
        with adapter.watching_cached_prefix(prefix.report), adapter.hooks(
            [(name, layer_hook) for _, name, layer_hook in built]
        ):
            yield
    finally:
        _ACTIVE_HOOKS.reset(token)
