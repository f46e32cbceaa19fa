"""The perturbation modes: one table of small named functions, each with the options it reads.

Every mode is a :class:`PerturbationMode` in :data:`MODE_TABLE`: a name, a one-line help, the options it
reads, a ``prepare`` function that checks those options once (when the hooks are built) and turns them
into :class:`ModeSettings`, and a ``new_values`` function that computes the chosen neurons' new values
at one hook call. :func:`~skillneuron_lens.intervene.hooks.perturbation_hooks` is the one generic
function they specialise: it selects the neurons, narrows the settings to each hook's neurons
(:class:`HookContext`), calls ``new_values`` and writes the result back.

The options (:data:`OPTIONS`) are ``std``, ``mean``, ``value``, ``factor``, ``pool`` and ``per_position``.
A mode refuses an option it does not read (it would be silently ignored) and asks for one it needs.
To add a mode, write its ``new_values`` (and ``prepare`` if it reads options) and add a row to the
table (and its name to :data:`Mode`).

For a command line: :data:`MODES` are the choices, :attr:`PerturbationMode.help` and
:attr:`ModeOption.help` the help texts, :attr:`ModeOption.number` marks the options given as one number,
and :func:`options_for` picks from parsed values the options a mode reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.neurons.sets import NeuronSet

__all__ = [
    "Mode",
    "MODES",
    "DEFAULT_STD",
    "ModeOption",
    "OPTIONS",
    "ModeSettings",
    "HookContext",
    "PerturbationMode",
    "MODE_TABLE",
    "check_options",
    "options_for",
    "prepare_mode",
    "zero_values",
    "fixed_values",
    "scaled_values",
    "gaussian_values",
    "resampled_values",
]

Mode = Literal["zero", "mean", "gaussian", "resample", "scale", "clamp"]
DEFAULT_STD = 0.1

NewValues = Callable[[Float[torch.Tensor, "batch pos neuron"], "HookContext"], torch.Tensor]
Prepare = Callable[[Mapping[str, Any], NeuronSet], "ModeSettings"]


@dataclass(frozen=True)
class ModeOption:
    """An option a mode may read.

    Attributes:
        help: One line for help texts.
        number: Whether one number can give it (so a command line can offer it as a flag).
        flag: A flag counts as given only when true (``per_position=False`` is the same as leaving it out);
            any other option counts as given when it is not ``None``.
    """

    help: str
    number: bool = False
    flag: bool = False


OPTIONS: dict[str, ModeOption] = {
    "std": ModeOption(f"gaussian noise standard deviation (default {DEFAULT_STD}, the paper's)", number=True),
    "mean": ModeOption("replacement values [layer, neuron], rows in the set's layer order"),
    "value": ModeOption("clamp to this: a number or a tensor [layer, neuron]", number=True),
    "factor": ModeOption("scale: multiply by this", number=True),
    "pool": ModeOption(
        "stored activations [sample, layer, neuron] to resample from (snl.record.neuron_pool)"
    ),
    "per_position": ModeOption(
        "draw at every position instead of once per example and neuron", flag=True
    ),
}


@dataclass(frozen=True)
class ModeSettings:
    """A mode's options once checked.

    Attributes:
        number: The mode's number (``std`` for ``"gaussian"``, ``factor`` for ``"scale"``), else 0.
        values: Per-neuron data with layer and neuron as the last two axes, float32: ``[layer, neuron]``
            replacement values (``"mean"``, ``"clamp"``) or a ``[sample, layer, neuron]`` pool
            (``"resample"``); ``None`` when the mode has none.
        per_position: Draw at every position instead of once per example and neuron.
    """

    number: float = 0.0
    values: Float[torch.Tensor, "*sample layer neuron"] | None = None
    per_position: bool = False

    def at_hook(
        self,
        row: int,
        index: Int[torch.Tensor, " chosen"],
        generator: torch.Generator,
        hook_name: str,
    ) -> HookContext:
        """The settings narrowed to one hook: row ``row`` of the set, neurons ``index``.

        Per-neuron values move to the generator's device (the model's).
        """
        values = None
        if self.values is not None:
            values = self.values[..., row, index.cpu()].to(generator.device)
        return HookContext(self.number, values, self.per_position, generator, hook_name)


@dataclass(frozen=True)
class HookContext:
    """What a mode's ``new_values`` sees at one hook.

    Attributes:
        number: :attr:`ModeSettings.number`.
        values: :attr:`ModeSettings.values` for this hook's chosen neurons: ``[chosen]`` or
            ``[sample, chosen]``; ``None`` when the mode has none.
        per_position: :attr:`ModeSettings.per_position`.
        generator: The source of random draws (seeded once per set of hooks).
        hook_name: The hook's name, for error messages.
    """

    number: float
    values: torch.Tensor | None
    per_position: bool
    generator: torch.Generator
    hook_name: str


# ---- checking the options ---------------------------------------------------------------------
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


def _is_given(name: str, value: Any) -> bool:
    return bool(value) if OPTIONS[name].flag else value is not None


def _no_options(options: Mapping[str, Any], neurons: NeuronSet) -> ModeSettings:
    return ModeSettings()


def _prepare_mean(options: Mapping[str, Any], neurons: NeuronSet) -> ModeSettings:
    hint = "Compute it with snl.neuron_means(model, texts, hook=neurons.hook, layers=neurons.layers)."
    if options.get("mean") is None:
        raise SkillNeuronError(
            "mode='mean' needs mean=, a tensor [layer, neuron] of baseline activations for the set's "
            "layers. Compute one with snl.neuron_means(model, texts, hook=neurons.hook, "
            "layers=neurons.layers)."
        )
    return ModeSettings(values=_per_neuron("mean", options["mean"], neurons, hint))


def _prepare_clamp(options: Mapping[str, Any], neurons: NeuronSet) -> ModeSettings:
    value = options.get("value")
    if value is None:
        raise SkillNeuronError(
            "mode='clamp' needs value=, a number or a tensor [layer, neuron] to set the neurons to."
        )
    if isinstance(value, torch.Tensor):
        return ModeSettings(values=_per_neuron("value", value, neurons, "Or pass a single number."))
    return ModeSettings(values=torch.full(tuple(neurons.mask.shape), _number("value", value)))


def _prepare_scale(options: Mapping[str, Any], neurons: NeuronSet) -> ModeSettings:
    if options.get("factor") is None:
        raise SkillNeuronError("mode='scale' needs factor=, the number to multiply the neurons by.")
    return ModeSettings(number=_number("factor", options["factor"]))


def _prepare_gaussian(options: Mapping[str, Any], neurons: NeuronSet) -> ModeSettings:
    std = options.get("std")
    noise_std = DEFAULT_STD if std is None else _number("std", std)
    if noise_std < 0:
        raise SkillNeuronError(f"std must be zero or positive, got {std!r}.")
    return ModeSettings(number=noise_std, per_position=bool(options.get("per_position")))


def _prepare_resample(options: Mapping[str, Any], neurons: NeuronSet) -> ModeSettings:
    pool, per_position = options.get("pool"), bool(options.get("per_position"))
    if pool is None:
        if per_position:
            raise SkillNeuronError(
                "per_position=True with mode='resample' needs pool=; resampling within the batch already "
                "takes another example's value at every position."
            )
        return ModeSettings()
    if not isinstance(pool, torch.Tensor) or pool.ndim != 3 or pool.shape[0] < 1:
        raise SkillNeuronError(
            "pool must be a tensor [sample, layer, neuron] with at least one sample, e.g. from "
            "snl.record.neuron_pool(model, texts, hook=neurons.hook, layers=neurons.layers)."
        )
    _per_neuron("pool[0]", pool[0], neurons, "Build it for the set's layers (neurons.layers).")
    return ModeSettings(values=pool.detach().to(torch.float32), per_position=per_position)


# ---- the modes' functions ---------------------------------------------------------------------
def zero_values(old: Float[torch.Tensor, "batch pos neuron"], context: HookContext) -> torch.Tensor:
    """``"zero"``: every chosen neuron set to 0."""
    return torch.zeros_like(old)


def fixed_values(old: Float[torch.Tensor, "batch pos neuron"], context: HookContext) -> torch.Tensor:
    """``"mean"`` and ``"clamp"``: each chosen neuron set to its fixed value (``context.values``)."""
    if context.values is None:
        raise SkillNeuronError("fixed_values needs context.values, one value per chosen neuron.")
    return context.values.to(old.device, old.dtype).expand(old.shape)


def scaled_values(old: Float[torch.Tensor, "batch pos neuron"], context: HookContext) -> torch.Tensor:
    """``"scale"``: each chosen neuron multiplied by ``context.number``."""
    return old * context.number


def gaussian_values(old: Float[torch.Tensor, "batch pos neuron"], context: HookContext) -> torch.Tensor:
    """``"gaussian"``: ``N(0, number²)`` noise added, one draw per example and neuron (or per position)."""
    batch, pos, count = old.shape
    shape = (batch, pos if context.per_position else 1, count)
    noise = torch.randn(shape, generator=context.generator, device=context.generator.device)
    return (old.float() + noise.to(old.device) * context.number).to(old.dtype)


def _cyclic_derangement(batch: int, generator: torch.Generator) -> Int[torch.Tensor, " batch"]:
    """``source[b]``: a random example other than ``b`` (one random cycle through the batch)."""
    order = torch.randperm(batch, generator=generator, device=generator.device)
    source = torch.empty_like(order)
    source[order] = order.roll(-1)
    return source


def resampled_values(old: Float[torch.Tensor, "batch pos neuron"], context: HookContext) -> torch.Tensor:
    """``"resample"``: another example's values.

    With a pool (``context.values``, ``[sample, neuron]``) each example takes one uniformly drawn pool
    row, broadcast over positions (one row per position with ``per_position``). Without one, each
    example takes the values of another example of the batch at the same positions (a random cyclic
    derangement), so the batch needs two examples or more.
    """
    batch, pos, count = old.shape
    generator = context.generator
    if context.values is not None:
        pool = context.values
        shape = (batch, pos if context.per_position else 1)
        draws = torch.randint(pool.shape[0], shape, generator=generator, device=generator.device)
        return pool[draws.to(pool.device)].to(old.device, old.dtype).expand(batch, pos, count)
    if batch < 2:
        raise SkillNeuronError(
            f"mode='resample' without pool= takes values from another example of the same batch, "
            f"but the batch at {context.hook_name} holds one example. Use batches of 2 or more, or pass "
            "pool= (snl.record.neuron_pool(...)) to draw from stored activations."
        )
    return old[_cyclic_derangement(batch, generator).to(old.device)]


# ---- the table --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerturbationMode:
    """One perturbation mode.

    Attributes:
        name: What ``mode=`` is set to.
        help: One line for help texts.
        options: The options it reads (keys of :data:`OPTIONS`).
        new_values: ``(old, context) -> new``: the chosen neurons' values ``[batch, pos, neuron]`` at one
            hook call, perturbed.
        prepare: Checks the options (only those in ``options`` can be set) and makes the
            :class:`ModeSettings`; raises :class:`SkillNeuronError` for a missing or bad one.
    """

    name: str
    help: str
    options: tuple[str, ...]
    new_values: NewValues
    prepare: Prepare = _no_options


MODE_TABLE: dict[str, PerturbationMode] = {
    mode.name: mode
    for mode in (
        PerturbationMode("zero", "set to 0", (), zero_values),
        PerturbationMode(
            "mean", "set to a baseline value per neuron (mean=)", ("mean",), fixed_values, _prepare_mean
        ),
        PerturbationMode(
            "gaussian",
            "add N(0, std^2) noise (the paper)",
            ("std", "per_position"),
            gaussian_values,
            _prepare_gaussian,
        ),
        PerturbationMode(
            "resample",
            "take another example's value (from the batch, or from pool=)",
            ("pool", "per_position"),
            resampled_values,
            _prepare_resample,
        ),
        PerturbationMode("scale", "multiply by factor=", ("factor",), scaled_values, _prepare_scale),
        PerturbationMode(
            "clamp", "set to value= (a number or one per neuron)", ("value",), fixed_values, _prepare_clamp
        ),
    )
}
MODES: tuple[str, ...] = tuple(MODE_TABLE)


def check_options(mode: str, options: Mapping[str, Any]) -> PerturbationMode:
    """The mode's table row, after refusing unknown options and options the mode does not read.

    Args:
        mode: A mode name.
        options: Option name -> value, as passed by the caller (``None`` and a false flag count as not
            given).

    Returns:
        The :class:`PerturbationMode`.

    Raises:
        SkillNeuronError: For an unknown mode, an unknown option, or one the mode does not read.
    """
    if not isinstance(mode, str) or mode not in MODE_TABLE:
        raise SkillNeuronError(f"Unknown perturbation mode {mode!r}. Use one of {list(MODES)}.")
    unknown = [name for name in options if name not in OPTIONS]
    if unknown:
        raise SkillNeuronError(
            f"Unknown perturbation option(s) {', '.join(f'{n}=' for n in unknown)}; the options are "
            f"{', '.join(OPTIONS)} (besides where=, layers= and seed=)."
        )
    row = MODE_TABLE[mode]
    given = [name for name, value in options.items() if _is_given(name, value)]
    unused = sorted(name for name in given if name not in row.options)
    if unused:
        uses = sorted(row.options) or ["no options"]
        raise SkillNeuronError(
            f"mode={mode!r} does not use {', '.join(f'{n}=' for n in unused)}; it takes "
            f"{', '.join(uses)}. Remove the option or choose the mode that uses it."
        )
    return row


def prepare_mode(
    mode: str, options: Mapping[str, Any], neurons: NeuronSet
) -> tuple[PerturbationMode, ModeSettings]:
    """Check ``options`` for ``mode`` (:func:`check_options`) and prepare its settings for ``neurons``.

    Raises:
        SkillNeuronError: As :func:`check_options`, or for a missing or bad option value.
    """
    row = check_options(mode, options)
    return row, row.prepare(options, neurons)


def options_for(mode: str, available: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``available`` that ``mode`` reads (e.g. from parsed command-line flags).

    Example: ``options_for("gaussian", {"std": 0.1, "factor": 0.0, "value": 0.0}) == {"std": 0.1}``.

    Raises:
        SkillNeuronError: For an unknown mode.
    """
    row = check_options(mode, {})
    return {name: value for name, value in available.items() if name in row.options}
