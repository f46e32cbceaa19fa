"""Saving and loading result directories: ``*.safetensors`` + ``cfg.json``, atomically.

A result directory is written to a temporary sibling first and renamed into place, so a crash never
leaves a half-written result. An existing directory is never replaced unless ``overwrite=True``.
``cfg.json`` records the SHA-256 of the tensor file, so a damaged or truncated file is detected
on load.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from skillneuron_lens.errors import ResultFileError

CFG_FILE = "cfg.json"
FORMAT_VERSION = 1


def _finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float (at any depth) replaced by ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    return value


def dumps_strict(data: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """Serialise ``data`` as strict JSON: NaN and infinities become ``null``, never ``NaN``.

    Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which strict readers (browsers,
    ``jq``, most other languages) reject. Every JSON file the package writes goes through here.

    Args:
        data: JSON-serialisable data (dicts, lists, tuples, str, int, float, bool, None).
        indent: Indentation, as ``json.dumps``.
        sort_keys: Sort object keys, as ``json.dumps``.

    Returns:
        The JSON text.
    """
    return json.dumps(_finite_or_none(data), indent=indent, sort_keys=sort_keys, allow_nan=False)


def _hash_file(path: Path, digest: Any) -> None:
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    _hash_file(path, digest)
    return digest.hexdigest()


def path_sha256(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 and size in bytes of a file, or of a folder's files (names and contents, sorted).

    Args:
        path: A file or a folder.

    Returns:
        ``(hex digest, total bytes)``.
    """
    path = Path(path)
    if path.is_file():
        return _sha256(path), path.stat().st_size
    digest, size = hashlib.sha256(), 0
    for file in sorted(item for item in path.rglob("*") if item.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\n".encode())
        _hash_file(file, digest)
        size += file.stat().st_size
    return digest.hexdigest(), size


def save_result_dir(
    path: str | os.PathLike[str],
    tensor_file: str,
    tensors: dict[str, torch.Tensor],
    cfg: dict[str, Any],
    *,
    overwrite: bool = False,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write ``tensor_file`` and ``cfg.json`` into a new directory, atomically.

    Args:
        path: The result directory to create.
        tensor_file: Name of the safetensors file, e.g. ``predictivity.safetensors``.
        tensors: Tensors to store (made contiguous and moved to CPU).
        cfg: JSON-serialisable metadata.
        overwrite: Replace an existing directory at ``path``.
        extra_files: More text files to write, name -> content.

    Returns:
        The directory.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is false.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists; nothing was written. Choose another directory or pass "
            "overwrite=True (--overwrite on the command line) to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tensor_path = staging / tensor_file
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tensor_path))
        meta = {"format_version": FORMAT_VERSION, "tensor_file": tensor_file, **cfg}
        meta["tensor_sha256"] = _sha256(tensor_path)
        (staging / CFG_FILE).write_text(dumps_strict(meta, sort_keys=True))
        for name, content in (extra_files or {}).items():
            (staging / name).write_text(content)
        _apply_umask(staging)
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _follow_umask(file: str | os.PathLike[str]) -> None:
    """Give a file made private by ``mkstemp`` the permissions a plain ``open`` would have given it."""
    Path(file).chmod(0o666 & ~_current_umask())


def _apply_umask(directory: Path) -> None:
    """Give a staging directory (created private by ``mkdtemp``) and its files the usual permissions."""
    directory.chmod(0o777 & ~_current_umask())
    for file in directory.iterdir():
        if file.is_file():
            _follow_umask(file)


def _swap_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    backup.rmdir()
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def load_result_dir(
    path: str | os.PathLike[str], tensor_file: str, required: tuple[str, ...]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a result directory written by :func:`save_result_dir`, checking it thoroughly.

    Args:
        path: The result directory.
        tensor_file: Expected name of the safetensors file.
        required: Tensor names that must be present.

    Returns:
        ``(tensors, cfg)``.

    Raises:
        ResultFileError: If a file is missing, unreadable, damaged, truncated or incomplete.
    """
    directory = Path(path)
    cfg_path, tensor_path = directory / CFG_FILE, directory / tensor_file
    for needed in (cfg_path, tensor_path):
        if not needed.is_file():
            raise ResultFileError(
                f"{needed} is missing: {directory} is not a complete result directory."
            )
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultFileError(f"{cfg_path} is damaged (not valid JSON: {error}).") from error
    if cfg.get("format_version") != FORMAT_VERSION:
        raise ResultFileError(
            f"{cfg_path} has format version {cfg.get('format_version')!r}; this version of "
            f"skillneuron-lens reads version {FORMAT_VERSION}."
        )
    if cfg.get("tensor_sha256") != _sha256(tensor_path):
        raise ResultFileError(
            f"{tensor_path} is damaged or truncated (its checksum does not match cfg.json). "
            "Recompute the result."
        )
    try:
        tensors = load_file(str(tensor_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ResultFileError(f"{tensor_path} cannot be read: {error}.") from error
    missing = [name for name in required if name not in tensors]
    if missing:
        raise ResultFileError(f"{tensor_path} lacks tensor(s) {missing}.")
    return tensors, cfg


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file through a temporary file and a rename, so readers never see half a file.

    The temporary file is unique (two writers never share it), flushed to disk before the rename,
    removed if anything fails, and given the permissions a plain ``open`` would give (not ``mkstemp``'s
    private 0600).
    """
    target = Path(path)
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        _follow_umask(staging)
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return target
