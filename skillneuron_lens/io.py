"""Saving and loading result directories: ``*.safetensors`` + ``cfg.json``, atomically and safely.

Every directory this tool writes is built in a staging sibling, gets a small marker file
(:data:`MARKER_FILE`) as its last file, and is renamed into place while a lock on the parent
directory is held, so a crash never leaves a half-written result and two writers never replace each
other silently. An existing directory is replaced only with ``overwrite=True``, and only if
:func:`check_destination` finds it is a directory this tool wrote (never a folder of the user's own
files, nor one that holds an input of the command). ``cfg.json`` records the SHA-256 of the tensor
file, so a damaged or truncated file is detected on load.

Results held in one JSON file (perturbation curves, cross-task matrices) are written with
:func:`write_json` and read with :func:`read_json`, :func:`json_tensor` and :func:`check_tensor_shape`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from skillneuron_lens.errors import ResultFileError, SkillNeuronError
from skillneuron_lens.files import CFG_FILE, MARKER_FILE, PARTIAL_RUN_SUFFIX

__all__ = [
    "CFG_FILE",
    "MARKER_FILE",
    "TOOL_NAME",
    "FORMAT_VERSION",
    "dumps_strict",
    "path_sha256",
    "read_marker",
    "written_kind",
    "check_destination",
    "recover_interrupted_write",
    "locked_result",
    "staged_directory",
    "write_result_files",
    "save_result_dir",
    "load_result_dir",
    "atomic_write_text",
    "atomic_write_tensors",
    "partial_directory",
    "discard_partial",
    "json_safe",
    "write_json",
    "read_json",
    "json_tensor",
    "check_tensor_shape",
]

try:  # POSIX only; elsewhere writers are serialised by the exclusive ``mkdir`` claim alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

TOOL_NAME = "skillneuron-lens"
FORMAT_VERSION = 1
_STAGING, _BACKUP, _TRASH = "snl-staging", "snl-old", "snl-trash"
_LOGGER = logging.getLogger("skillneuron_lens")


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
# ---- markers and the replace decision ---------------------------------------------------------
def read_marker(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of a directory this tool wrote, or None where it has none (or an unreadable one)."""
    try:
        marker = json.loads((Path(directory) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("tool") == TOOL_NAME else None


def written_kind(directory: str | os.PathLike[str], legacy_file: str = CFG_FILE) -> str | None:
    """The kind of result a directory holds if this tool wrote it, else None.

    The marker decides; a directory saved by an earlier version (no marker) counts by the ``kind``
    recorded in its ``legacy_file`` (``cfg.json``, or ``cross_task.json`` for cross-perturb output).
    """
    marker = read_marker(directory)
    if marker is not None:
        return str(marker.get("kind"))
    if _is_scratch_name(Path(directory).name):
        return None
    try:
        legacy = json.loads((Path(directory) / legacy_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kind = legacy.get("kind") if isinstance(legacy, dict) else None
    return kind if isinstance(kind, str) else None


def _write_marker(directory: Path, kind: str) -> None:
    marker = {"tool": TOOL_NAME, "kind": kind, "format_version": FORMAT_VERSION, "id": uuid.uuid4().hex}
    (directory / MARKER_FILE).write_text(json.dumps(marker, indent=2, sort_keys=True))


def _holds(directory: Path, path: Path) -> bool:
    """Whether ``path`` is ``directory`` or lies inside it (both already resolved)."""
    return path == directory or directory in path.parents


def check_destination(
    path: str | os.PathLike[str],
    kind: str,
    *,
    overwrite: bool,
    inputs: Iterable[str | os.PathLike[str]] = (),
    legacy_file: str = CFG_FILE,
    option: str = "--out",
) -> Path:
    """Decide whether a result of ``kind`` may be written at ``path``; the resolved destination.

    A new path may always be written. An existing one may be replaced only with ``overwrite`` and
    only if it is a directory this tool wrote for the same kind of result (see :func:`written_kind`;
    an empty directory counts too: nothing can be lost). Never replaced, whatever ``overwrite``
    says: a directory that is, or holds, one of ``inputs`` (data files, the runs the command reads, a
    local model folder), all compared after resolving symbolic links. The parent directory must be
    writable: a probe file is created and removed there, so a bad destination fails before any
    computation. An interrupted earlier replacement of ``path`` is repaired first (see
    :func:`recover_interrupted_write`).

    Args:
        path: The destination directory.
        kind: The kind of result to be written (``predictivity``, ``pruning``, ``compare``, ...).
        overwrite: Whether the user asked to replace an existing destination.
        inputs: Paths the command reads.
        legacy_file: The file whose ``kind`` identifies results of earlier versions.
        option: How the user named the destination, for the messages.

    Returns:
        ``path`` with symbolic links resolved (where the result will be written).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        SkillNeuronError: ``path`` may not be replaced, or cannot be written; the message says why
            and what to do.
    """
    target = Path(path).expanduser().resolve()
    shown = f"{option} {os.fspath(path)}" + ("" if str(target) == os.fspath(path) else f" (= {target})")
    for item in inputs:
        source = Path(item).expanduser().resolve()
        if _holds(target, source):
            what = "is an input" if source == target else f"holds {source}, an input"
            raise SkillNeuronError(
                f"{shown} {what} of this command, so it is never replaced (not even with "
                f"--overwrite). Choose another {option}."
            )
    recover_interrupted_write(target)
    _decide(target, kind, overwrite, legacy_file, shown, option)
    _probe_writable(target, option)
    return target


def _decide(target: Path, kind: str, overwrite: bool, legacy_file: str, shown: str, option: str) -> None:
    """The existence and ownership part of :func:`check_destination`."""
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise FileExistsError(
                f"{target} already exists; nothing was written. Choose another {option} or pass "
                "--overwrite (overwrite=True in Python) to replace it."
            )
        _check_replaceable(target, kind, legacy_file, shown, option)


def _check_replaceable(target: Path, kind: str, legacy_file: str, shown: str, option: str) -> None:
    if not target.is_dir():
        raise SkillNeuronError(
            f"{shown} is a file, not a result directory of skillneuron-lens; --overwrite replaces "
            f"only those. Choose another {option}."
        )
    found = written_kind(target, legacy_file)
    if found is None and not any(target.iterdir()):
        return
    if found is None:
        raise SkillNeuronError(
            f"{shown} is not a directory written by skillneuron-lens (it has no {MARKER_FILE} and no "
            f"{legacy_file} of this tool), so --overwrite will not replace it: its files may be "
            f"yours. Choose another {option}, or delete the folder yourself."
        )
    if found != kind:
        raise SkillNeuronError(
            f"{shown} holds a {found!r} result, not a {kind!r} one; --overwrite replaces only a "
            f"result of the same kind. Choose another {option}."
        )


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor)


def _probe_writable(target: Path, option: str) -> None:
    """Create and remove a probe file where ``target`` will be made, so a bad path fails early."""
    ancestor = _existing_ancestor(target.parent)
    problem = None
    if not ancestor.is_dir():
        problem = f"{ancestor} is a file, so no directory can be made below it"
    else:
        try:
            handle, probe = tempfile.mkstemp(prefix=".snl-probe-", dir=ancestor)
            os.close(handle)
            os.unlink(probe)
        except OSError as error:
            problem = f"{ancestor} is not writable ({error.strerror or error})"
    if problem:
        raise SkillNeuronError(f"Cannot write {target}: {problem}. Choose another {option}.")


# ---- staging, locking, swapping ---------------------------------------------------------------
def _scratch(target: Path, role: str) -> str:
    return f".{target.name}.{role}-{os.getpid()}-"


def _is_scratch_name(name: str) -> bool:
    return re.search(rf"\.({_STAGING}|{_BACKUP}|{_TRASH})-\d+-", name) is not None and name.startswith(".")


@contextlib.contextmanager
def _parent_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target``'s parent directory (released when the process dies)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    handle = os.open(target.parent, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _scratch_dirs(target: Path, role: str) -> list[Path]:
    """Leftovers of ``role`` next to ``target``; for backups, also those of earlier versions."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.{role}-(\d+)-\w+")
    legacy = re.compile(rf"\.{re.escape(target.name)}\.old\.\w{{8}}") if role == _BACKUP else None
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    return sorted(
        (e for e in entries if pattern.fullmatch(e.name) or (legacy and legacy.fullmatch(e.name))),
        key=lambda e: e.stat().st_mtime if e.exists() else 0.0,
        reverse=True,
    )


def _owner_pid(directory: Path) -> int | None:
    found = re.search(r"-(\d+)-\w+$", directory.name)
    return int(found.group(1)) if found else None


def _discard(directory: Path) -> None:
    """Rename a leftover to a trash name first, so a half-deleted one is never taken for a result."""
    trash = Path(tempfile.mkdtemp(prefix=_scratch(directory, _TRASH), dir=directory.parent))
    trash.rmdir()
    try:
        os.replace(directory, trash)
    except OSError:
        trash = directory
    shutil.rmtree(trash, ignore_errors=True)


def _has_leftovers(target: Path) -> bool:
    return any(_scratch_dirs(target, role) for role in (_BACKUP, _STAGING, _TRASH))


def recover_interrupted_write(path: str | os.PathLike[str]) -> Path | None:
    """Repair what a killed writer left next to ``path``; the restored directory, if any.

    If a replacement was interrupted between its two renames (the previous result moved aside, the
    new one not yet in place), the previous result is moved back to ``path``. Backups, and staging
    directories of processes that are no longer running, are removed.

    Raises:
        SkillNeuronError: If a previous result must be restored but cannot be (the message gives the
            command that restores it by hand).
    """
    target = Path(path).expanduser().resolve()
    if not target.parent.is_dir() or not _has_leftovers(target):
        return None
    try:
        with _parent_lock(target):
            return _recover_locked(target)
    except OSError as error:
        backups = _scratch_dirs(target, _BACKUP)
        if backups and not target.exists():
            raise SkillNeuronError(
                f"{target} was being replaced when a process was killed, and restoring the previous "
                f"result failed ({error.strerror or error}). Restore it by hand: mv {backups[0]} {target}"
            ) from error
        return None


def _recover_locked(target: Path) -> Path | None:
    """:func:`recover_interrupted_write` with the parent lock held (no writer is mid-swap)."""
    restored = None
    backups = _scratch_dirs(target, _BACKUP)
    if backups and not (target.exists() or target.is_symlink()):
        os.replace(backups[0], target)
        restored = target
        _LOGGER.warning(
            "%s: a replacement was interrupted (the process was killed); the previous result was "
            "restored from %s.", target, backups[0].name,
        )
        backups = backups[1:]
    for leftover in backups + _scratch_dirs(target, _TRASH):
        _discard(leftover)
    for staging in _scratch_dirs(target, _STAGING):
        owner = _owner_pid(staging)
        if owner is not None and owner != os.getpid() and not _pid_alive(owner):
            _discard(staging)
    return restored


@contextlib.contextmanager
def locked_result(path: str | os.PathLike[str], expected_id: str | None) -> Iterator[Path]:
    """Hold the lock that swaps take on ``path`` while adding files to an existing result directory.

    Commands that add a file to a result they read (``perturb`` writes its curve and report into a
    run) use this around the writing, so a ``find --overwrite`` cannot swap the directory in between;
    and they check that it is still the result they read (the marker's ``id``), so a result replaced
    while they computed never receives numbers that belong to its predecessor.

    Args:
        path: The result directory.
        expected_id: The marker ``id`` the command saw when it opened the result (``None`` for results
            of earlier versions, which have no marker).

    Yields:
        The directory.

    Raises:
        SkillNeuronError: If the directory is gone or holds another result now.
    """
    target = Path(path).expanduser().resolve()
    with _parent_lock(target):
        marker = read_marker(target) if target.is_dir() else None
        current = None if marker is None else marker.get("id")
        if not target.is_dir() or current != expected_id:
            raise SkillNeuronError(
                f"{target} was replaced or removed while this command ran, so nothing was written into "
                "it (its numbers would belong to the earlier result). Run the command again."
            )
        yield target


@contextlib.contextmanager
def staged_directory(
    path: str | os.PathLike[str],
    kind: str,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
    legacy_file: str = CFG_FILE,
) -> Iterator[Path]:
    """Build a result directory in a staging sibling and swap it into place when the block ends.

    The destination is checked by :func:`check_destination` before the block and again, under a
    lock on the parent directory, just before the swap; the marker is written last inside the
    staging directory. If the block raises, the staging directory is removed and ``path`` is left
    as it was.

    Args:
        path: The result directory to create (or replace, with ``overwrite``).
        kind: The kind of result, stored in the marker.
        overwrite: Replace an existing result of the same kind.
        inputs: Paths the command reads (never replaced).
        legacy_file: See :func:`check_destination`.

    Yields:
        The staging directory to write the files into.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        SkillNeuronError: ``path`` may not be replaced, or writing failed (disk full, permissions).
    """
    inputs = tuple(inputs)
    target = check_destination(path, kind, overwrite=overwrite, inputs=inputs, legacy_file=legacy_file)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=_scratch(target, _STAGING), dir=target.parent))
    except OSError as error:
        raise _write_error(target, error) from error
    try:
        yield staging
        _write_marker(staging, kind)
        _apply_umask(staging)
        with _parent_lock(target):
            _recover_locked(target)
            _decide(target, kind, overwrite, legacy_file, str(target), "--out")
            _swap_into_place(staging, target)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError) and not isinstance(error, FileExistsError):
            raise _write_error(target, error) from error
        raise


def _write_error(target: Path, error: OSError) -> SkillNeuronError:
    hint = {
        errno.ENOSPC: "free some disk space",
        errno.EDQUOT: "free some disk space (quota exceeded)",
        errno.EACCES: "check the folder's permissions",
        errno.EPERM: "check the folder's permissions",
        errno.EROFS: "the file system is read-only",
    }.get(error.errno or 0, "check the disk and the folder's permissions")
    return ResultFileError(
        f"Writing {target} failed ({error.strerror or error}); nothing was changed at {target}. "
        f"Fix: {hint}, or choose another --out."
    )


def _swap_into_place(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``, replacing it (through a backup) if it exists; caller holds the lock."""
    if not (target.exists() or target.is_symlink()):
        target.mkdir()  # exclusive claim: a directory created meanwhile makes this fail, never replaced
        os.replace(staging, target)
        return
    backup = Path(tempfile.mkdtemp(prefix=_scratch(target, _BACKUP), dir=target.parent))
    backup.rmdir()
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(backup, target)
        raise
    _discard(backup)


def write_result_files(
    directory: Path,
    tensor_file: str,
    tensors: dict[str, torch.Tensor],
    cfg: dict[str, Any],
    extra_files: dict[str, str] | None = None,
) -> None:
    """Write ``tensor_file``, ``cfg.json`` (with the tensor checksum) and ``extra_files`` into ``directory``.

    Not atomic by itself: call it on a staging directory (see :func:`staged_directory`).
    """
    tensor_path = directory / tensor_file
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tensor_path))
    meta = {"format_version": FORMAT_VERSION, "tensor_file": tensor_file, **cfg}
    meta["tensor_sha256"] = _sha256(tensor_path)
    (directory / CFG_FILE).write_text(dumps_strict(meta, sort_keys=True))
    for name, content in (extra_files or {}).items():
        (directory / name).write_text(content)


def save_result_dir(
    path: str | os.PathLike[str],
    tensor_file: str,
    tensors: dict[str, torch.Tensor],
    cfg: dict[str, Any],
    *,
    overwrite: bool = False,
    extra_files: dict[str, str] | None = None,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``tensor_file`` and ``cfg.json`` into a new directory, atomically.

    Args:
        path: The result directory to create.
        tensor_file: Name of the safetensors file, e.g. ``predictivity.safetensors``.
        tensors: Tensors to store (made contiguous and moved to CPU).
        cfg: JSON-serialisable metadata, with the result's ``kind``.
        overwrite: Replace an existing result directory of the same kind (never other folders).
        extra_files: More text files to write, name -> content.
        inputs: Paths the caller read, which must never be replaced.

    Returns:
        The directory (symbolic links resolved).

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is false.
        SkillNeuronError: If ``path`` may not be replaced (see :func:`check_destination`) or
            writing failed.
    """
    with staged_directory(path, str(cfg["kind"]), overwrite=overwrite, inputs=inputs) as staging:
        write_result_files(staging, tensor_file, tensors, cfg, extra_files)
    return Path(path).expanduser().resolve()


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


def _replace_atomically(target: Path, write: Callable[[Path], object]) -> Path:
    """Have ``write`` fill a unique temporary sibling of ``target``, flush it, and rename it over ``target``.

    The temporary file is removed if anything fails, and given the permissions a plain ``open`` would
    give (not ``mkstemp``'s private 0600).
    """
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    try:
        write(Path(staging))
        with open(staging, "rb") as stream:
            os.fsync(stream.fileno())
        _follow_umask(staging)
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file through a temporary file and a rename, so readers never see half a file.

    The temporary file is unique (two writers never share it), flushed to disk before the rename,
    removed if anything fails, and given the permissions a plain ``open`` would give (not ``mkstemp``'s
    private 0600).
    """
    return _replace_atomically(Path(path), lambda staging: staging.write_text(text, encoding="utf-8"))


def atomic_write_tensors(
    path: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]
) -> Path:
    """Write a safetensors file through a temporary file and a rename (as :func:`atomic_write_text`).

    A process killed while writing leaves the previous file at ``path`` whole (and a ``.tmp`` sibling,
    which the next write does not read).

    Args:
        path: The file to write.
        tensors: Tensors to store (made contiguous and moved to the CPU).
        metadata: Text entries kept in the file's header.

    Raises:
        ResultFileError: If the file cannot be written (a full disk, no permission), naming the fix.
    """
    stored = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    try:
        return _replace_atomically(
            Path(path), lambda staging: save_file(stored, str(staging), metadata=dict(metadata))
        )
    except OSError as error:
        raise _write_error(Path(path), error) from error


# ---- partial runs ------------------------------------------------------------------------------
def partial_directory(path: str | os.PathLike[str]) -> Path:
    """Where an unfinished result for ``path`` keeps its checkpoints: the sibling ``.<name>.snl-partial``.

    It is no result directory (it never gets a :data:`MARKER_FILE`, so :func:`written_kind` never takes
    it for one), and the clean-up of interrupted writes (:func:`recover_interrupted_write`) leaves it
    alone: only the command that finishes the result, ``--overwrite`` (:func:`discard_partial`) or the
    user remove it.

    Args:
        path: The result directory the checkpoints are for.

    Returns:
        The folder (symbolic links of ``path`` resolved); it may not exist.
    """
    target = Path(path).expanduser().resolve()
    return target.parent / f".{target.name}{PARTIAL_RUN_SUFFIX}"


def discard_partial(path: str | os.PathLike[str]) -> bool:
    """Remove the checkpoints of an unfinished result for ``path`` (renamed away first, then deleted).

    Returns:
        Whether there were any.
    """
    partial = partial_directory(path)
    if not (partial.exists() or partial.is_symlink()):
        return False
    _discard(partial)
    return True


# ---- single JSON result files ------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """Settings as JSON: tensors by shape and dtype, callables by name, the rest as is or by ``repr``."""
    if isinstance(value, torch.Tensor):
        return {"tensor": {"shape": list(value.shape), "dtype": str(value.dtype)}}
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if callable(value):
        return {"callable": getattr(value, "__qualname__", repr(value))}
    return repr(value)


def write_json(path: str | os.PathLike[str], payload: Mapping[str, Any], *, overwrite: bool = False) -> Path:
    """Write ``payload`` as strict JSON with sorted keys, atomically (:func:`atomic_write_text`).

    Raises:
        FileExistsError: If the file exists and ``overwrite`` is false (nothing is written).
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists; nothing was written. Choose another file name or pass "
            "overwrite=True to replace it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(target, dumps_strict(payload, sort_keys=True))


def read_json(path: str | os.PathLike[str], kind: str | None = None) -> Any:
    """Read a JSON file; with ``kind``, require an object whose ``"kind"`` entry is ``kind``.

    Raises:
        ResultFileError: If the file is missing, unreadable, not valid JSON, or of another kind.
    """
    source = Path(path)
    if not source.is_file():
        raise ResultFileError(f"{source} does not exist or is not a file.")
    try:
        payload = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultFileError(
            f"{source} is not valid JSON or cannot be read ({error}); it may be damaged."
        ) from error
    if kind is not None and (not isinstance(payload, dict) or payload.get("kind") != kind):
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise ResultFileError(f"{source} holds a {found!r} result, not a {kind!r}.")
    return payload


def json_tensor(payload: Mapping[str, Any], name: str) -> torch.Tensor:
    """Entry ``name`` of a JSON object (a number or a rectangular list of numbers) as a float64 tensor.

    Raises:
        SkillNeuronError: If the entry is missing or not a rectangular list of numbers.
    """
    try:
        return torch.tensor(payload[name], dtype=torch.float64)
    except KeyError as error:
        raise SkillNeuronError(f"The dict has no {name!r} entry.") from error
    except (TypeError, ValueError, RuntimeError) as error:
        raise SkillNeuronError(f"{name!r} is not a rectangular list of numbers: {error}") from error


def check_tensor_shape(name: str, tensor: Any, shape: tuple[int, ...]) -> None:
    """Raise a clear error unless ``tensor`` is a tensor of exactly ``shape`` (e.g. when a result is read).

    Raises:
        SkillNeuronError: Naming ``name``, the shape found and the shape expected.
    """
    if not isinstance(tensor, torch.Tensor):
        raise SkillNeuronError(f"{name} must be a tensor, got {type(tensor).__name__}.")
    if tuple(tensor.shape) != shape:
        raise SkillNeuronError(f"{name} has shape {tuple(tensor.shape)}, expected {shape}.")
