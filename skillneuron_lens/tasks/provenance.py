"""Data fingerprints: which data a run was made from, and whether reopening it reads the same data.

``find`` records, in ``summary.json`` under ``"data"``, each input file's path as given, its resolved
absolute path, size and SHA-256; for a packaged task, the package name and version and the SHA-256
of its data file (or folder). Commands that load a run's data again (``perturb``, ``prune``,
``cross-perturb``) read the files at their resolved paths, so the working directory does not matter,
and refuse data that changed, moved or disappeared unless told otherwise (``--allow-changed-data``,
which logs a warning and reads the data as it is now).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.io import path_sha256
from skillneuron_lens.tasks.catalog import packaged_data_record
from skillneuron_lens.tasks.task import Task

__all__ = ["FILE_ROLES", "check_data", "data_record", "file_record", "task_fingerprint"]

logger = logging.getLogger(__name__)

FILE_ROLES = ("train_file", "dev_file", "test_file")
"""The ``find`` arguments that name input files."""

_OVERRIDE = "--allow-changed-data"


def file_record(path: str | Path) -> dict[str, Any]:
    """The fingerprint of one input file: path as given, resolved path, size and SHA-256."""
    resolved = Path(path).resolve()
    sha256, size = path_sha256(resolved)
    return {"path": str(path), "resolved": str(resolved), "size": size, "sha256": sha256}


def data_record(args: argparse.Namespace) -> dict[str, Any]:
    """The fingerprint of the data ``find``-style arguments name (files, or a named task).

    Returns:
        ``{"files": {role: file_record}}`` for ``--train-file`` data, ``{"task": name, "packaged":
        {...}}`` for a packaged task, or ``{"task": name}`` for a Hugging Face task (not checked).
    """
    if getattr(args, "train_file", None):
        files = {role: getattr(args, role, None) for role in FILE_ROLES}
        return {"files": {role: file_record(path) for role, path in files.items() if path}}
    packaged = packaged_data_record(args.task)
    return {"task": args.task} if packaged is None else {"task": args.task, "packaged": packaged}


def task_fingerprint(task: Task) -> dict[str, Any]:
    """What a task's loaded examples are: its labels and, per split, the count and a SHA-256 of the rows.

    Two loads of the same data with the same options (seed, sample size, dev share) give the same
    fingerprint; any change of a text, a label, the order or the split gives another. The rows are held
    in memory, so hashing every one costs about a second per million short examples.

    Args:
        task: The task as a run uses it (after sampling and re-splitting).

    Returns:
        ``{"label_names": [...], "splits": {name: {"examples": n, "sha256": hex}}}``.
    """
    splits: dict[str, Any] = {}
    for name, split in sorted(task.splits.items()):
        digest = hashlib.sha256()
        pairs = split.text_pairs if split.text_pairs is not None else [None] * len(split.texts)
        for text, pair, label in zip(split.texts, pairs, split.labels, strict=True):
            digest.update(json.dumps([text, pair, int(label)]).encode())
            digest.update(b"\n")
        splits[name] = {"examples": len(split.texts), "sha256": digest.hexdigest()}
    return {"label_names": list(task.label_names), "splits": splits}


def check_data(
    saved: Any, args: argparse.Namespace, run: str | Path, *, allow_changed: bool = False
) -> argparse.Namespace:
    """Check that a run's data is still what ``find`` read; return the arguments to load it with.

    Args:
        saved: ``summary["data"]`` of the run (``None`` for runs saved before fingerprints).
        args: The run's ``find`` arguments.
        run: The run directory, for messages.
        allow_changed: Load changed, moved or missing-at-its-path data anyway, with a warning.

    Returns:
        A copy of ``args`` whose file paths are the resolved paths ``find`` read (where such a
        file is gone and ``allow_changed`` is true, the path as given, read from here).

    Raises:
        SkillNeuronError: If a file changed, moved or is missing, or the packaged data changed,
            and ``allow_changed`` is false; the message names the override.
    """
    reopened = argparse.Namespace(**vars(args))
    if not isinstance(saved, dict):
        logger.warning(
            "%s records no data fingerprint (made by an earlier version): its data cannot be checked "
            "and is loaded as it is now.", run,
        )
        return reopened
    problems: list[str] = []
    for role, entry in (saved.get("files") or {}).items():
        problem = _file_problem(entry)
        if problem is not None:
            problems.append(f"--{role.replace('_', '-')} {problem}")
        if Path(entry["resolved"]).is_file():  # else (allowed) the path as given, read from here
            setattr(reopened, role, entry["resolved"])
    if "packaged" in saved:
        now = packaged_data_record(saved.get("task", args.task))
        if _content(now) != _content(saved["packaged"]):
            change = _packaged_change(saved["packaged"], now)
            problems.append(f"the packaged data of task {saved.get('task')!r} changed ({change})")
    if problems and not allow_changed:
        raise SkillNeuronError(
            f"The data of run {run} is not what find read: {'; '.join(problems)}. Restore the data "
            f"(or re-run find), or pass {_OVERRIDE} to use the data as it is now."
        )
    if problems:
        logger.warning(
            "%s: the data of run %s changed (%s); using it as it is now.",
            _OVERRIDE, run, "; ".join(problems),
        )
    return reopened


def _file_problem(entry: dict[str, Any]) -> str | None:
    """Why a recorded file no longer matches, or ``None`` when it does."""
    resolved = Path(entry["resolved"])
    if not resolved.is_file():
        given = Path(entry["path"])
        moved = given.is_file() and given.resolve() != resolved
        where = f"; {given} (relative to here) is another file" if moved else ""
        return f"{resolved} was moved or deleted{where}"
    sha256, size = path_sha256(resolved)
    if (sha256, size) != (entry["sha256"], entry["size"]):
        return f"{resolved} changed (size {entry['size']} -> {size} bytes, SHA-256 differs)"
    return None


def _content(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A packaged-data record without its install location (another environment may hold it)."""
    return None if record is None else {key: value for key, value in record.items() if key != "path"}


def _packaged_change(saved: dict[str, Any], now: dict[str, Any] | None) -> str:
    if now is None:
        return "it is no longer installed"
    if saved.get("version") != now.get("version"):
        return f"{saved.get('package')} {saved.get('version')} -> {now.get('version')}"
    return f"{now.get('path')}: SHA-256 differs"
