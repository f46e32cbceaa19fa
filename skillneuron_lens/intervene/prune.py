"""Structural pruning with skill neurons: a physically smaller model (the paper's application 6a).

In the chosen layers only the kept MLP neurons stay. Every removed neuron is replaced by a
constant (its mean activation), and that constant is folded into the MLP output bias::

    b_out' = b_out + mean[removed] @ W_out[removed]        (W_out is [neuron, d_model])

Only the *removed* neurons are folded (the paper's reference code also folded the kept ones, which
double-counts them). The input projection (and the gate of a gated MLP) loses the removed output
columns, the output projection loses the removed input rows, so the pruned model computes exactly
what the original computes with the removed neurons clamped to their means at
``blocks.{layer}.mlp.hook_post`` (up to float round-off).

Works on ``TransformerBridge`` (the Hugging Face ``nn.Linear`` / GPT-2 ``Conv1D`` projections the
bridge wraps are shrunk in place: BERT, GPT-2, Llama and other models with the same MLP
components) and on ``HookedTransformer`` / ``HookedEncoder`` (``W_in``, ``b_in``, ``W_gate``,
``W_out``, ``b_out``). Layers can keep different numbers of neurons.

After pruning:

* forward passes and hooks work as before; ``blocks.{layer}.mlp.hook_post`` has the layer's new width;
* ``model.cfg.d_mlp`` still gives the ORIGINAL width (there is no single width any more): read the
  widths from :func:`pruning_info` instead;
* stacked-weight helpers that assume one width for all layers (e.g. ``HookedTransformer.W_in``)
  fail when layers have different widths; per-block weights work. Record the neurons of a pruned
  model with different widths one layer at a time;
* each pruned layer keeps at least one neuron;
* a gated MLP's ``down_proj`` (no bias in Llama) gets a bias, so the Hugging Face config no longer
  describes the model and ``save_pretrained`` output would not reload as the pruned model.

Saving: :func:`save_pruned` writes only what pruning needs (kept neurons, means, fingerprints of the
original and the pruned model), a few kB; :func:`load_pruned` re-applies it to the original model
and refuses another model.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from torch import nn

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.files import PRUNING_TENSORS
from skillneuron_lens.io import load_result_dir, save_result_dir
from skillneuron_lens.models.adapter import DEFAULT_HOOK, ModelAdapter
from skillneuron_lens.models.fingerprint import model_fingerprint, same_model
from skillneuron_lens.neurons.sets import NeuronSet

__all__ = [
    "PRUNING_ATTR",
    "TENSOR_FILE",
    "PruningInfo",
    "pruning_info",
    "pruned_neuron_indices",
    "count_parameters",
    "prune_model",
    "save_pruned",
    "load_pruned",
]

PRUNING_ATTR = "_skillneuron_pruning"
TENSOR_FILE = PRUNING_TENSORS


# ---- metadata ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PruningInfo:
    """What was pruned: enough to map the smaller model back to the original neurons.

    Attributes:
        layers: The pruned model layers, ascending.
        kept: For each pruned layer, the original index of every kept neuron, in the order of the
            pruned model's columns (``hook_post[..., j]`` is original neuron ``kept[layer][j]``).
        original_widths: Neurons per pruned layer before pruning.
        keep_mask: ``[layer, neuron]`` over ``layers``: ``True`` for kept neurons.
        means: ``[layer, neuron]`` over ``layers``: the constants removed neurons were replaced by
            (float64; the entries of kept neurons are unused).
        hook: The hook the neurons live at (always ``blocks.{layer}.mlp.hook_post``).
        base_fingerprint: :func:`~skillneuron_lens.models.model_fingerprint` of the original model.
        n_params_before: Parameters of the original model.
        n_params_after: Parameters of the pruned model.
    """

    layers: tuple[int, ...]
    kept: dict[int, Int[torch.Tensor, " kept"]]
    original_widths: dict[int, int]
    keep_mask: Bool[torch.Tensor, "layer neuron"]
    means: Float[torch.Tensor, "layer neuron"]
    hook: str = DEFAULT_HOOK
    base_fingerprint: dict[str, Any] = field(default_factory=dict)
    n_params_before: int = 0
    n_params_after: int = 0

    @property
    def widths(self) -> dict[int, int]:
        """Neurons per pruned layer after pruning."""
        return {layer: int(indices.numel()) for layer, indices in self.kept.items()}

    @property
    def parameter_ratio(self) -> float:
        """Share of the original parameters that remain (the paper reports about 0.66)."""
        return self.n_params_after / self.n_params_before if self.n_params_before else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (kept indices as lists)."""
        return {
            "layers": list(self.layers),
            "hook": self.hook,
            "original_widths": {str(k): v for k, v in self.original_widths.items()},
            "widths": {str(k): v for k, v in self.widths.items()},
            "kept": {str(k): v.tolist() for k, v in self.kept.items()},
            "n_params_before": self.n_params_before,
            "n_params_after": self.n_params_after,
            "parameter_ratio": self.parameter_ratio,
            "base_fingerprint": self.base_fingerprint,
        }


def pruning_info(model: Any) -> PruningInfo | None:
    """The :class:`PruningInfo` of a model made by :func:`prune_model`, or ``None`` if not pruned."""
    info = getattr(model, PRUNING_ATTR, None)
    return info if isinstance(info, PruningInfo) else None


def pruned_neuron_indices(model: Any) -> dict[int, Int[torch.Tensor, " kept"]]:
    """For each pruned layer, the original index of each remaining neuron (column order).

    Raises:
        SkillNeuronError: If the model was not made by :func:`prune_model`.
    """
    info = pruning_info(model)
    if info is None:
        raise SkillNeuronError(
            "This model was not pruned by skillneuron_lens.prune_model (it carries no pruning "
            "metadata), so its neurons are the original ones."
        )
    return {layer: indices.clone() for layer, indices in info.kept.items()}


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(parameter.numel() for parameter in model.parameters())


# ---- means ------------------------------------------------------------------------------------
# ---- the projections of one MLP ---------------------------------------------------------------
def _is_conv1d(module: nn.Module) -> bool:
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf") and hasattr(module, "nx")


def _new_parameter(old: nn.Parameter, value: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(value.to(old.dtype).contiguous(), requires_grad=old.requires_grad)


class _BridgeMLP:
    """The Hugging Face projections inside a bridge MLP (``nn.Linear`` or GPT-2 ``Conv1D``)."""

    def __init__(self, layer: int, mlp: Any) -> None:
        self.layer = layer
        self.mlp = mlp
        self.projections: dict[str, nn.Module] = {}
        for role in ("gate", "in", "out"):
            wrapper = mlp._modules.get(role)
            if wrapper is None and role == "in":
                wrapper = mlp._modules.get("input")  # the other name some adapters give it
            if wrapper is None:
                continue
            module = wrapper._modules.get("_original_component")
            if not isinstance(module, nn.Linear) and not (module is not None and _is_conv1d(module)):
                raise SkillNeuronError(
                    f"Layer {layer}'s MLP projection {role!r} is a {type(module).__name__}, not an "
                    "nn.Linear or Conv1D: pruning supports plain dense MLPs only (no quantized, fused "
                    "or mixture-of-experts layers)."
                )
            self.projections[role] = module
        if "in" not in self.projections or "out" not in self.projections:
            raise SkillNeuronError(
                f"Layer {layer}'s MLP ({type(mlp).__name__}) has no separate input and output "
                "projections, so it cannot be pruned (fused or unusual MLPs are not supported)."
            )
        self._refuse_other_neuron_parameters()

    def _refuse_other_neuron_parameters(self) -> None:
        """A named MLP container with parameters over the neurons (e.g. a SoLU LayerNorm) cannot fold."""
        if getattr(self.mlp, "name", None) is None:
            return  # containerless (BERT): the parent layer holds only d_model-sized extras
        container = self.mlp._modules.get("_original_component")
        if container is None:
            return
        own = {id(p) for module in self.projections.values() for p in module.parameters()}
        width = self.width
        for name, parameter in container.named_parameters():
            if id(parameter) not in own and width in parameter.shape:
                raise SkillNeuronError(
                    f"Layer {self.layer}'s MLP has a parameter {name!r} of shape "
                    f"{tuple(parameter.shape)} over its neurons (e.g. a LayerNorm inside the MLP); "
                    "removing neurons would change it, so this MLP cannot be pruned exactly."
                )

    @property
    def width(self) -> int:
        module = self.projections["out"]
        return int(module.nx) if _is_conv1d(module) else int(module.in_features)  # type: ignore[arg-type]

    def module_ids(self) -> set[int]:
        return {id(module) for module in self.projections.values()}

    def w_out(self) -> torch.Tensor:
        """The output weight as ``[neuron, d_model]``."""
        module = self.projections["out"]
        weight: torch.Tensor = module.weight  # type: ignore[assignment]
        return weight if _is_conv1d(module) else weight.T

    def prune(self, keep: torch.Tensor, delta: torch.Tensor) -> None:
        for role in ("gate", "in"):
            module = self.projections.get(role)
            if module is None:
                continue
            weight: nn.Parameter = module.weight  # type: ignore[assignment]
            if _is_conv1d(module):
                module.weight = _new_parameter(weight, weight[:, keep.to(weight.device)])
                module.nf = len(keep)  # type: ignore[assignment]
            else:
                module.weight = _new_parameter(weight, weight[keep.to(weight.device)])
                module.out_features = len(keep)  # type: ignore[assignment]
            bias = module.bias
            if isinstance(bias, nn.Parameter):
                module.bias = _new_parameter(bias, bias[keep.to(bias.device)])
        out = self.projections["out"]
        weight = out.weight  # type: ignore[assignment]
        if _is_conv1d(out):
            out.weight = _new_parameter(weight, weight[keep.to(weight.device)])
            out.nx = len(keep)  # type: ignore[assignment]
        else:
            out.weight = _new_parameter(weight, weight[:, keep.to(weight.device)])
            out.in_features = len(keep)  # type: ignore[assignment]
        bias = out.bias
        if isinstance(bias, nn.Parameter):
            out.bias = _new_parameter(bias, bias.to(torch.float64) + delta.to(bias.device))
        else:  # Llama's down_proj has no bias: give it one holding the folded constant
            out.bias = nn.Parameter(delta.to(weight.device, weight.dtype), requires_grad=weight.requires_grad)
        container = self.mlp._modules.get("_original_component")
        if getattr(self.mlp, "name", None) is not None and hasattr(container, "intermediate_size"):
            container.intermediate_size = len(keep)  # keep HF's bookkeeping honest (Llama)


class _HookedMLP:
    """A HookedTransformer / HookedEncoder MLP: ``W_in``, ``b_in``, ``W_gate``, ``W_out``, ``b_out``."""

    def __init__(self, layer: int, mlp: Any) -> None:
        self.layer = layer
        self.mlp = mlp
        kind = type(mlp).__name__
        if kind not in ("MLP", "GatedMLP"):
            raise SkillNeuronError(
                f"Layer {layer}'s MLP is a {kind}: pruning supports the dense MLP and GatedMLP of "
                "HookedTransformer only (no mixture-of-experts or 4-bit layers)."
            )
        cfg = getattr(mlp, "cfg", None)
        is_ln_act = getattr(cfg, "is_layer_norm_activation", None)
        if callable(is_ln_act) and is_ln_act():
            raise SkillNeuronError(
                f"Layer {layer}'s MLP uses a LayerNorm over its neurons ({cfg.act_fn!r}); removing "  # type: ignore[union-attr]
                "neurons would change that norm, so it cannot be pruned exactly."
            )

    @property
    def width(self) -> int:
        return int(self.mlp.W_out.shape[0])

    def module_ids(self) -> set[int]:
        return {id(self.mlp)}

    def w_out(self) -> torch.Tensor:
        weight: torch.Tensor = self.mlp.W_out
        return weight

    def prune(self, keep: torch.Tensor, delta: torch.Tensor) -> None:
        mlp = self.mlp
        device = mlp.W_in.device
        index = keep.to(device)
        mlp.W_in = _new_parameter(mlp.W_in, mlp.W_in[:, index])
        mlp.b_in = _new_parameter(mlp.b_in, mlp.b_in[index])
        if isinstance(getattr(mlp, "W_gate", None), nn.Parameter):
            mlp.W_gate = _new_parameter(mlp.W_gate, mlp.W_gate[:, index])
        mlp.W_out = _new_parameter(mlp.W_out, mlp.W_out[index])
        mlp.b_out = _new_parameter(mlp.b_out, mlp.b_out.to(torch.float64) + delta.to(mlp.b_out.device))
        mlp.d_mlp = len(keep)


def _layer_mlp(model: Any, kind: str, layer: int) -> _BridgeMLP | _HookedMLP:
    mlp = model.blocks[layer].mlp
    return _BridgeMLP(layer, mlp) if kind == "bridge" else _HookedMLP(layer, mlp)


# ---- pruning ----------------------------------------------------------------------------------
def _check_inputs(
    model: Any, keep: NeuronSet, means: torch.Tensor, layers: Sequence[int] | None
) -> tuple[ModelAdapter, list[int]]:
    if not isinstance(keep, NeuronSet):
        raise SkillNeuronError(
            f"keep must be a NeuronSet (e.g. NeuronSet.top(result, fraction=0.02)), got "
            f"{type(keep).__name__}."
        )
    if keep.hook != DEFAULT_HOOK:
        raise SkillNeuronError(
            f"keep holds neurons at {keep.hook!r}, but pruning folds neurons at {DEFAULT_HOOK!r} (the "
            "input of the MLP output projection): only there is a removed neuron a constant times a "
            "row of W_out. Select the neurons from a result recorded at hook_post."
        )
    if not isinstance(means, torch.Tensor):
        raise SkillNeuronError(f"means must be a tensor [layer, neuron], got {type(means).__name__}.")
    if tuple(means.shape) != tuple(keep.mask.shape):
        raise SkillNeuronError(
            f"means has shape {tuple(means.shape)} but keep covers {len(keep.layers)} layers x "
            f"{keep.mask.shape[1]} neurons; pass one mean per neuron of keep's layers "
            "(e.g. result.mean_baselines(subtask=0) for the same result)."
        )
    if not means.is_floating_point() or not bool(torch.isfinite(means).all()):
        raise SkillNeuronError("means must be finite floating-point values (no NaN or inf).")
    adapter = ModelAdapter(model)
    if adapter.kind == "hooked_root":
        raise SkillNeuronError(
            f"{type(model).__name__} is not a TransformerBridge, HookedTransformer or HookedEncoder; "
            "pruning needs one of those."
        )
    bad = [layer for layer in keep.layers if not 0 <= layer < adapter.n_layers]
    if bad:
        raise SkillNeuronError(
            f"keep names layer(s) {bad} but the model has layers 0..{adapter.n_layers - 1}: was the set "
            "made on another model?"
        )
    if layers is None:
        chosen = sorted(keep.layers)
    else:
        chosen = sorted(int(layer) for layer in layers)
        missing = [layer for layer in chosen if layer not in keep.layers]
        if missing or len(set(chosen)) != len(chosen):
            raise SkillNeuronError(
                f"layers={list(layers)} must be distinct layers of keep ({list(keep.layers)}); "
                f"{missing} are not among them."
            )
    if not chosen:
        raise SkillNeuronError("Nothing to prune: choose at least one layer.")
    if pruning_info(model) is not None:
        raise SkillNeuronError(
            "This model is already pruned. Prune the original model once, with every layer you want "
            "pruned in the same call."
        )
    return adapter, chosen


def prune_model(
    model: Any,
    keep: NeuronSet,
    means: Float[torch.Tensor, "layer neuron"],
    *,
    layers: Sequence[int] | None = None,
    inplace: bool = False,
) -> Any:
    """Remove every MLP neuron outside ``keep`` in ``keep``'s layers, folding its mean into the bias.

    In each pruned layer, neuron ``n`` stays if ``keep`` holds it; a removed neuron is replaced by the
    constant ``means[row, n]``, folded into the output bias. Layers not pruned are untouched; layers
    may keep different numbers of neurons (also none). The pruned model equals the original with the
    removed neurons clamped to their means at ``blocks.{layer}.mlp.hook_post``.

    Args:
        model: A ``TransformerBridge``, ``HookedTransformer`` or ``HookedEncoder``.
        keep: Neurons to keep, at ``blocks.{layer}.mlp.hook_post`` (e.g.
            ``NeuronSet.top(result, fraction=0.02)``).
        means: ``[layer, neuron]`` constants over ``keep.layers`` (e.g.
            :meth:`~skillneuron_lens.predictivity.result.PredictivityResult.mean_baselines` or
            :func:`~skillneuron_lens.record.activations.neuron_means`).
        layers: Prune only these of ``keep``'s layers (the paper prunes the top 9 of 12); default: all
            of ``keep.layers``.
        inplace: Change ``model`` itself. By default a deep copy is pruned and ``model`` is untouched
            (this needs memory for a second model).

    Returns:
        The pruned model; :func:`pruning_info` tells which original neuron each column is.

    Raises:
        SkillNeuronError: For a set at another hook, means of the wrong shape or not finite, a layer the
            model lacks, a width that does not match the model, an MLP that cannot be folded
            exactly (e.g. a LayerNorm inside the MLP, mixture of experts), or an already pruned model.

    Example:
        >>> keep = NeuronSet.top(result, fraction=0.02)  # doctest: +SKIP
        >>> small = prune_model(model, keep, result.mean_baselines(subtask=0))  # doctest: +SKIP
    """
    adapter, chosen = _check_inputs(model, keep, means, layers)
    mlps = {layer: _layer_mlp(model, adapter.kind, layer) for layer in chosen}
    for layer, mlp in mlps.items():
        if mlp.width != keep.mask.shape[1]:
            raise SkillNeuronError(
                f"Layer {layer}'s MLP has {mlp.width} neurons but keep has {keep.mask.shape[1]} per layer: "
                "the set was made on another model."
            )
    rows = _rows_of(keep, chosen)
    empty = [layer for layer, row in zip(chosen, rows, strict=True) if not keep.mask[row].any()]
    if empty:
        raise SkillNeuronError(
            f"keep holds no neuron in layer(s) {empty}: a pruned layer must keep at least one neuron "
            "(an MLP of width 0 does not run everywhere, e.g. GPT-2's Conv1D). Keep more neurons "
            "(a larger fraction) or leave those layers out with layers=[...]."
        )
    shared = _shared_modules(model, adapter, mlps)
    if shared:
        raise SkillNeuronError(
            f"Layer(s) {shared} share MLP weights with other layers (tied layers); pruning one would "
            "change the others, so such models cannot be pruned layer by layer."
        )
    n_before = count_parameters(model)
    base_fingerprint = model_fingerprint(model)
    if not inplace:
        try:
            model = copy.deepcopy(model)
        except Exception as error:  # deepcopy failures come in many types
            raise SkillNeuronError(
                f"Could not copy the model ({type(error).__name__}: {error}). Pass inplace=True to prune "
                "it in place."
            ) from error
        adapter = ModelAdapter(model)
        mlps = {layer: _layer_mlp(model, adapter.kind, layer) for layer in chosen}
    kept: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for layer, row in zip(chosen, rows, strict=True):
            mask = keep.mask[row].cpu()
            removed = (~mask).nonzero().flatten()
            w_out = mlps[layer].w_out().detach().to("cpu", torch.float64)
            delta = means[row].detach().to("cpu", torch.float64)[removed] @ w_out[removed]
            indices = mask.nonzero().flatten()
            mlps[layer].prune(indices, delta)
            kept[layer] = indices
    info = PruningInfo(
        layers=tuple(chosen),
        kept=kept,
        original_widths={layer: int(keep.mask.shape[1]) for layer in chosen},
        keep_mask=keep.mask[rows].clone().cpu(),
        means=means[rows].detach().to("cpu", torch.float64).clone(),
        base_fingerprint=base_fingerprint,
        n_params_before=n_before,
        n_params_after=count_parameters(model),
    )
    object.__setattr__(model, PRUNING_ATTR, info)
    return model


def _rows_of(keep: NeuronSet, layers: Sequence[int]) -> list[int]:
    """The rows of ``keep``'s mask for some of its layers."""
    return [keep.layers.index(layer) for layer in layers]


def _shared_modules(model: Any, adapter: ModelAdapter, mlps: dict[int, Any]) -> list[int]:
    """Pruned layers whose projection modules also appear in another layer."""
    owners: dict[int, list[int]] = {}
    for layer in range(adapter.n_layers):
        mlp = mlps.get(layer)
        if mlp is None:
            try:
                mlp = _layer_mlp(model, adapter.kind, layer)
            except SkillNeuronError:
                continue
        for module_id in mlp.module_ids():
            owners.setdefault(module_id, []).append(layer)
    return sorted({layer for ids in owners.values() if len(ids) > 1 for layer in ids if layer in mlps})


# ---- saving -----------------------------------------------------------------------------------
def save_pruned(
    model: Any,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    extra_files: dict[str, str] | None = None,
) -> None:
    """Save how a model was pruned (not its weights): a small directory.

    Writes ``pruning.safetensors`` (keep mask and means) and ``cfg.json`` (layers, parameter counts,
    the fingerprint of the original model and of the pruned one), atomically. Rebuild the model
    with :func:`load_pruned` and the original model.

    Args:
        model: A model returned by :func:`prune_model`.
        path: The directory to create.
        overwrite: Replace an existing pruning directory (never another folder).
        extra_files: More text files written in the same atomic step (e.g. ``prune.json``).

    Raises:
        SkillNeuronError: If the model was not made by :func:`prune_model`, or ``path`` exists but
            is not a pruning directory this tool wrote.
        FileExistsError: If ``path`` exists and ``overwrite`` is false.
    """
    info = pruning_info(model)
    if info is None:
        raise SkillNeuronError(
            "save_pruned needs a model returned by prune_model (this one carries no pruning metadata)."
        )
    cfg = {
        "kind": "pruning",
        **info.to_dict(),
        "pruned_fingerprint": model_fingerprint(model),
    }
    tensors = {"keep_mask": info.keep_mask, "means": info.means}
    save_result_dir(path, TENSOR_FILE, tensors, cfg, overwrite=overwrite, extra_files=extra_files)


def load_pruned(path: str | os.PathLike[str], base: Any | Callable[[], Any], *, inplace: bool = False) -> Any:
    """Rebuild a pruned model from :func:`save_pruned`'s directory and the original model.

    Args:
        path: The directory written by :func:`save_pruned`.
        base: The original (unpruned) model, or a function with no arguments that loads it (e.g.
            ``lambda: load_model("minilm")``); the model made by a loader is pruned in place.
        inplace: Prune a given model object itself instead of a copy.

    Returns:
        The pruned model, identical to the one saved.

    Raises:
        ResultFileError: If the directory is damaged, or ``base`` is not the model that was pruned.
    """
    tensors, cfg = load_result_dir(path, TENSOR_FILE, ("keep_mask", "means"))
    if cfg.get("kind") != "pruning":
        raise ResultFileError(f"{path} holds a {cfg.get('kind')!r} result, not a pruning.")
    if callable(base) and not isinstance(base, nn.Module):
        base, inplace = base(), True
    saved = cfg.get("base_fingerprint", {})
    current = model_fingerprint(base)
    if not same_model(saved, current):
        raise ResultFileError(
            f"{path} prunes another model ({saved.get('class')} {saved.get('model_name')!r}, weights "
            f"{str(saved.get('weights_sha256'))[:12]}…) than the one given ({current['class']} "
            f"{current['model_name']!r}, weights {current['weights_sha256'][:12]}…). Pass the original, "
            "unpruned model it was made from."
        )
    try:
        keep = NeuronSet(tensors["keep_mask"].bool(), tuple(cfg["layers"]), cfg.get("hook", DEFAULT_HOOK))
    except (KeyError, SkillNeuronError) as error:
        raise ResultFileError(f"{path}/cfg.json does not match its tensors: {error}") from error
    pruned = prune_model(base, keep, tensors["means"], inplace=inplace)
    if not same_model(cfg.get("pruned_fingerprint", {}), model_fingerprint(pruned)):
        warnings.warn(
            f"The model rebuilt from {path} differs in the last bits from the one saved (the folded "
            "biases were computed on another machine or library version); outputs agree to round-off.",
            stacklevel=2,
        )
    return pruned
