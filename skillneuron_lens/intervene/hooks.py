"""Interventions on a set of neurons, as context managers over the model's own hook API.

:func:`perturb` attaches one forward hook per layer of a :class:`~skillneuron_lens.neurons.sets.NeuronSet`
for the body of a ``with`` block (through ``model.hooks(fwd_hooks=...)``) and always removes it on
exit, also when the body raises. Contexts nest: two ``perturb`` blocks stack their hooks, and the
inner one's hooks run after the outer one's. :func:`perturbation_hooks` returns the same hooks as a
list for ``model.run_with_hooks(..., fwd_hooks=hooks)`` or ``model.hooks(...)``.

Only the chosen neurons change; every other value of the hook's activation is passed on untouched.
The modes are:

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
change. Layers can be restricted with ``layers`` (model layer numbers, a subset of the set's layers).
Hooks whose activation has more than three axes (e.g. attention ``z``: ``[batch, pos, head, d_head]``)
are addressed with the trailing axes flattened into one neuron axis.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import torch
from jaxtyping import Bool, Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import HookFn, ModelAdapter
from skillneuron_lens.neurons.sets import NeuronSet

__all__ = [
    "Mode",
    "MODES",
    "PositionFilter",
    "DEFAULT_STD",
    "perturbation_hooks",
    "perturb",
]

Mode = Literal["zero", "mean", "gaussian", "resample", "scale", "clamp"]
MODES: tuple[str, ...] = ("zero", "mean", "gaussian", "resample", "scale", "clamp")
PositionFilter = Callable[[torch.Tensor], Bool[torch.Tensor, "batch pos"]]
DEFAULT_STD = 0.1

# The options each mode reads (besides neurons, layers, where and seed).
_MODE_OPTIONS: dict[str, frozenset[str]] = {
    "zero": frozenset(),
    "mean": frozenset({"mean"}),
    "gaussian": frozenset({"std", "per_position"}),
    "resample": frozenset({"pool", "per_position"}),
    "scale": frozenset({"factor"}),
    "clamp": frozenset({"value"}),
}


def _check_options(mode: str, given: dict[str, bool]) -> None:
    """Refuse options the mode does not use (they would be silently ignored) or lacks."""
    if not isinstance(mode, str) or mode not in _MODE_OPTIONS:
        raise SkillNeuronError(f"Unknown perturbation mode {mode!r}. Use one of {list(MODES)}.")
    unused = sorted(name for name, is_set in given.items() if is_set and name not in _MODE_OPTIONS[mode])
    if unused:
        uses = sorted(_MODE_OPTIONS[mode]) or ["no options"]
        raise SkillNeuronError(
            f"mode={mode!r} does not use {', '.join(f'{n}=' for n in unused)}; it takes "
            f"{', '.join(uses)}. Remove the option or choose the mode that uses it."
        )
    if mode == "mean" and not given["mean"]:
        raise SkillNeuronError(
            "mode='mean' needs mean=, a tensor [layer, neuron] of baseline activations for the set's "
            "layers. Compute one with snl.neuron_means(model, texts, hook=neurons.hook, "
            "layers=neurons.layers)."
        )
    if mode == "scale" and not given["factor"]:
        raise SkillNeuronError("mode='scale' needs factor=, the number to multiply the neurons by.")
    if mode == "clamp" and not given["value"]:
        raise SkillNeuronError(
            "mode='clamp' needs value=, a number or a tensor [layer, neuron] to set the neurons to."
        )


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SkillNeuronError(f"{name} must be a number, got {value!r}.")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise SkillNeuronError(f"{name} must be finite, got {value!r}.")
    return number


def _per_neuron(name: str, values: Any, neurons: NeuronSet, hint: str) -> Float[torch.Tensor, "layer neuron"]:
    """A ``[layer, neuron]`` tensor matching the set, float32 on CPU."""
    if not isinstance(values, torch.Tensor):
        raise SkillNeuronError(f"{name} must be a tensor [layer, neuron], got {type(values).__name__}.")
    if tuple(values.shape) != tuple(neurons.mask.shape):
        raise SkillNeuronError(
            f"{name} has shape {tuple(values.shape)} but the neuron set covers "
            f"{len(neurons.layers)} layer(s) x {neurons.mask.shape[1]} neurons (layers "
            f"{list(neurons.layers)}, rows in that order). {hint}"
        )
    if not bool(torch.isfinite(values).all()):
        raise SkillNeuronError(f"{name} holds NaN or infinite values.")
    return values.detach().to("cpu", torch.float32)


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


def _cyclic_derangement(batch: int, generator: torch.Generator) -> Int[torch.Tensor, " batch"]:
    """``source[b]``: a random example other than ``b`` (one random cycle through the batch)."""
    order = torch.randperm(batch, generator=generator, device=generator.device)
    source = torch.empty_like(order)
    source[order] = order.roll(-1)
    return source


def perturbation_hooks(
    model: Any,
    neurons: NeuronSet,
    mode: Mode | str = "gaussian",
    *,
    std: float | None = None,
    mean: Float[torch.Tensor, "layer neuron"] | None = None,
    value: float | Float[torch.Tensor, "layer neuron"] | None = None,
    factor: float | None = None,
    pool: Float[torch.Tensor, "sample layer neuron"] | None = None,
    per_position: bool = False,
    where: PositionFilter | None = None,
    layers: Iterable[int] | None = None,
    seed: int = 0,
) -> list[tuple[str, HookFn]]:
    """Forward hooks that perturb ``neurons``, for ``model.run_with_hooks`` or ``model.hooks``.

    Building the hooks runs no forward pass. Random modes seed their generator here, so each call
    starts the same stream of draws for the same ``seed``.

    Args:
        model: A ``TransformerBridge``, ``HookedTransformer``, ``HookedEncoder`` or other
            ``HookedRootModule``.
        neurons: The neurons to change (their ``hook`` template names the hook points).
        mode: ``"zero"``, ``"mean"``, ``"gaussian"``, ``"resample"``, ``"scale"`` or ``"clamp"``
            (see the module docstring).
        std: Noise standard deviation for ``"gaussian"`` (default 0.1, the paper's).
        mean: Replacement values ``[layer, neuron]`` for ``"mean"``, rows in ``neurons.layers`` order.
        value: For ``"clamp"``: a number, or a tensor ``[layer, neuron]`` like ``mean``.
        factor: For ``"scale"``: the multiplier.
        pool: For ``"resample"``: stored activations ``[sample, layer, neuron]`` to draw from
            (rows in ``neurons.layers`` order); ``None`` resamples within each forward batch.
        per_position: ``"gaussian"`` / pooled ``"resample"``: draw at every position instead of once
            per example and neuron (broadcast over positions).
        where: Positions to change: a callable from the hook's activation ``[batch, pos, ...]`` to
            a bool mask ``[batch, pos]``; ``None`` for all positions.
        layers: Model layers to perturb (a subset of ``neurons.layers``); ``None`` for all of them.
        seed: Seed of the random draws.

    Returns:
        ``(hook_name, hook_fn)`` pairs, one per layer that has at least one chosen neuron.

    Raises:
        SkillNeuronError: For an unknown mode, an option the mode does not use or lacks, a negative
            ``std``, a tensor of the wrong shape, a layer outside the set, or a hook the model does
            not have. A hook whose activation width differs from the set's raises when it fires.
    """
    if not isinstance(neurons, NeuronSet):
        raise SkillNeuronError(f"neurons must be a NeuronSet, got {type(neurons).__name__}.")
    _check_options(
        mode,
        {
            "std": std is not None,
            "mean": mean is not None,
            "value": value is not None,
            "factor": factor is not None,
            "pool": pool is not None,
            "per_position": bool(per_position),
        },
    )
    if mode == "resample" and per_position and pool is None:
        raise SkillNeuronError(
            "per_position=True with mode='resample' needs pool=; resampling within the batch already "
            "takes another example's value at every position."
        )
    noise_std = DEFAULT_STD if std is None else _number("std", std)
    if noise_std < 0:
        raise SkillNeuronError(f"std must be zero or positive, got {std!r}.")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise SkillNeuronError(f"seed must be an int, got {seed!r}.") from None

    adapter = ModelAdapter(model)
    rows = _chosen_rows(neurons, layers)
    hook_names = adapter.resolve_hooks(neurons.hook, [neurons.layers[row] for row in rows])
    device = adapter.device
    width = int(neurons.mask.shape[1])

    replacement: torch.Tensor | None = None
    if mode == "mean":
        replacement = _per_neuron(
            "mean",
            mean,
            neurons,
            "Compute it with snl.neuron_means(model, texts, hook=neurons.hook, layers=neurons.layers).",
        )
    elif mode == "clamp":
        if isinstance(value, torch.Tensor):
            replacement = _per_neuron("value", value, neurons, "Or pass a single number.")
        else:
            replacement = torch.full(tuple(neurons.mask.shape), _number("value", value))
    scale = _number("factor", factor) if mode == "scale" else 1.0
    pool_values: torch.Tensor | None = None
    if pool is not None:
        if not isinstance(pool, torch.Tensor) or pool.ndim != 3 or pool.shape[0] < 1:
            raise SkillNeuronError(
                "pool must be a tensor [sample, layer, neuron] with at least one sample, e.g. from "
                "snl.neuron_pool(model, texts, hook=neurons.hook, layers=neurons.layers)."
            )
        _per_neuron("pool[0]", pool[0], neurons, "Build it for the set's layers (neurons.layers).")
        pool_values = pool.detach().to(torch.float32)
    if where is not None and not callable(where):
        raise SkillNeuronError(
            "where must be None or a callable taking the activation [batch, pos, ...] and returning a "
            "bool mask [batch, pos]."
        )

    generator = torch.Generator(device=device).manual_seed(seed)

    def make_hook(row: int, hook_name: str) -> HookFn:
        index = neurons.mask[row].nonzero().flatten().to(device)
        fixed = None if replacement is None else replacement[row, index.cpu()].to(device)
        row_pool = None if pool_values is None else pool_values[:, row, index.cpu()].to(device)

        def new_values(old: torch.Tensor) -> torch.Tensor:
            batch, pos, count = old.shape
            if mode == "zero":
                return torch.zeros_like(old)
            if mode in ("mean", "clamp"):
                assert fixed is not None
                return fixed.to(old.device, old.dtype).expand(batch, pos, count)
            if mode == "scale":
                return old * scale
            if mode == "gaussian":
                shape = (batch, pos if per_position else 1, count)
                noise = torch.randn(shape, generator=generator, device=generator.device)
                return (old.float() + noise.to(old.device) * noise_std).to(old.dtype)
            if row_pool is not None:
                draws = torch.randint(
                    row_pool.shape[0],
                    (batch, pos if per_position else 1),
                    generator=generator,
                    device=generator.device,
                )
                return row_pool[draws.to(row_pool.device)].to(old.device, old.dtype).expand(batch, pos, count)
            if batch < 2:
                raise SkillNeuronError(
                    f"mode='resample' without pool= takes values from another example of the same batch, "
                    f"but the batch at {hook_name} holds one example. Use batches of 2 or more, or pass "
                    "pool= (snl.neuron_pool(...)) to draw from stored activations."
                )
            source = _cyclic_derangement(batch, generator).to(old.device)
            return old[source]

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
            new = new_values(old)
            if where is not None:
                new = torch.where(_position_mask(where, activations, name)[..., None], new, old)
            out = flat.clone()
            out[..., index] = new.to(out.dtype)
            return out.reshape(activations.shape)

        return hook

    return [
        (name, make_hook(row, name))
        for row, name in zip(rows, hook_names, strict=True)
        if bool(neurons.mask[row].any())
    ]


@contextlib.contextmanager
def perturb(
    model: Any,
    neurons: NeuronSet,
    mode: Mode | str = "gaussian",
    *,
    std: float | None = None,
    mean: Float[torch.Tensor, "layer neuron"] | None = None,
    value: float | Float[torch.Tensor, "layer neuron"] | None = None,
    factor: float | None = None,
    pool: Float[torch.Tensor, "sample layer neuron"] | None = None,
    per_position: bool = False,
    where: PositionFilter | None = None,
    layers: Iterable[int] | None = None,
    seed: int = 0,
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
        std: See :func:`perturbation_hooks`.
        mean: See :func:`perturbation_hooks`.
        value: See :func:`perturbation_hooks`.
        factor: See :func:`perturbation_hooks`.
        pool: See :func:`perturbation_hooks`.
        per_position: See :func:`perturbation_hooks`.
        where: See :func:`perturbation_hooks`.
        layers: See :func:`perturbation_hooks`.
        seed: See :func:`perturbation_hooks`.

    Yields:
        Nothing; run the model inside the block.
    """
    hooks = perturbation_hooks(
        model,
        neurons,
        mode,
        std=std,
        mean=mean,
        value=value,
        factor=factor,
        pool=pool,
        per_position=per_position,
        where=where,
        layers=layers,
        seed=seed,
    )
    with ModelAdapter(model).hooks(hooks):
        yield
