"""Checkpoints of streaming passes, so that a killed run continues where it stopped.

A run's passes (the train baselines, the dev counts with their permutations and histograms, the
held-out counts) fill accumulators batch by batch. :class:`PassCheckpoints` saves their state every
``every`` batches, and at the end of each pass, into a partial-run folder beside the result
(:func:`skillneuron_lens.io.partial_directory`): one safetensors file, replaced atomically, whose header
says how far each pass got, next to a marker (:data:`~skillneuron_lens.files.PARTIAL_MARKER`) with the
fingerprint of the options and data. Reopened with the same fingerprint, it restores the accumulators
and the number of batches already in them; the pass then skips those batches. The sums are added in
the same order as in an uninterrupted pass, so the result is the same, bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from safetensors import SafetensorError, safe_open

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import CHECKPOINT_TENSORS, PARTIAL_MARKER
from skillneuron_lens.io import TOOL_NAME, atomic_write_tensors, atomic_write_text, dumps_strict

__all__ = [
    "CHECKPOINT_FORMAT",
    "DEFAULT_CHECKPOINT_EVERY",
    "PARTIAL_KIND",
    "Checkpointable",
    "PassCheckpoints",
    "describe_progress",
    "fingerprint_differences",
    "read_partial_marker",
]

CHECKPOINT_FORMAT = 1
"""The format version of a checkpoint file (a newer one is refused, not misread)."""
DEFAULT_CHECKPOINT_EVERY = 50
"""Batches between two checkpoints of a pass (each pass is also checkpointed when it ends)."""
PARTIAL_KIND = "partial-run"
"""The ``kind`` in a partial run's marker (never that of a finished result)."""


class Checkpointable(Protocol):
    """An accumulator whose state can be saved and restored (every accumulator of :mod:`~.accumulators`)."""

    def state(self) -> list[torch.Tensor]:
        """The tensors the examples added so far changed."""

    def load_state(self, state: list[torch.Tensor]) -> None:
        """Replace the tensors by a saved state."""


def _digest(fingerprint: Mapping[str, Any]) -> str:
    return hashlib.sha256(dumps_strict(fingerprint, indent=None, sort_keys=True).encode()).hexdigest()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested JSON value as ``{"a.b": leaf}``."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def fingerprint_differences(
    saved: Mapping[str, Any], current: Mapping[str, Any], limit: int = 6
) -> list[str]:
    """What differs between two fingerprints: ``"key: saved -> current"`` per leaf, ``limit`` lines at most.

    Args:
        saved: The fingerprint a partial run was made with.
        current: The fingerprint of this run.
        limit: Lines returned at most (a last line counts the others).

    Returns:
        The differing entries, dotted keys, in sorted order.
    """
    before, after = _flatten(json.loads(dumps_strict(saved))), _flatten(json.loads(dumps_strict(current)))
    lines = [
        f"{key}: {before.get(key, '(absent)')!r} -> {after.get(key, '(absent)')!r}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more"]
    return lines


def read_partial_marker(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of a partial-run folder, or None where there is none (or it is not this tool's)."""
    try:
        marker = json.loads((Path(directory) / PARTIAL_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(marker, dict) and marker.get("tool") == TOOL_NAME and marker.get("kind") == PARTIAL_KIND:
        return marker
    return None


def describe_progress(progress: Mapping[str, Sequence[int]]) -> str:
    """``"train 4/4 batches, dev 2/7 batches"``: how far each pass of a partial run got."""
    if not progress:
        return "no batch yet"
    return ", ".join(f"{name} {done}/{total} batches" for name, (done, total) in progress.items())


class PassCheckpoints:
    """Saves and restores the accumulators of a run's streaming passes in its partial-run folder.

    Use :meth:`restore` before each pass (it registers the pass's accumulators, loads their saved
    state and says how many batches are in it) and :meth:`after_batch` as the pass's per-batch
    callback. Every save writes the state of every pass registered so far, so a later pass never loses
    an earlier one. Nothing is written before the first save: a run that fails its checks early
    leaves no folder behind.

    Args:
        directory: The partial-run folder (created at the first save).
        fingerprint: What the saved state depends on (options, data, model, versions), JSON-friendly.
        every: Batches between two saves (each pass is saved when it ends too), at least 1; ``None``
            only restores what was saved and saves nothing more.

    Raises:
        SkillNeuronError: If ``every`` is below 1, the folder holds a checkpoint of another fingerprint
            (the message lists what differs), a damaged or newer checkpoint, or one that another
            running process is writing.
    """

    def __init__(
        self, directory: str | os.PathLike[str], fingerprint: Mapping[str, Any], *, every: int | None
    ) -> None:
        """Open the folder and read what an earlier process saved there, after checking its fingerprint."""
        if every is not None and (isinstance(every, bool) or every < 1):
            raise SkillNeuronError(f"Checkpoints need every >= 1 batch, got {every!r}.")
        self.directory = Path(directory)
        self.fingerprint = json.loads(dumps_strict(fingerprint))
        self.digest = _digest(self.fingerprint)
        self.every = every
        self.progress: dict[str, list[int]] = {}
        """Batches done and in all, by pass, as far as saved or run."""
        self.values: dict[str, Any] = {}
        """Small JSON results kept with the checkpoint (e.g. a read-out's accuracy)."""
        self._saved: dict[str, torch.Tensor] = {}
        self._passes: dict[str, list[Checkpointable]] = {}
        self._read_existing()

    # ---- reading ---------------------------------------------------------------------------------
    def _read_existing(self) -> None:
        marker = read_partial_marker(self.directory)
        if marker is None:
            return
        _refuse_if_busy(marker, self.directory)
        if marker.get("fingerprint_sha256") != self.digest:
            differences = fingerprint_differences(marker.get("fingerprint") or {}, self.fingerprint)
            raise SkillNeuronError(
                f"The partial run at {self.directory} was made with other options or data, so it cannot "
                f"be continued: {'; '.join(differences) or 'its fingerprint differs'}. Run with the same "
                "options and data to resume it, or pass --overwrite (overwrite=True) to discard it and "
                "start again."
            )
        path = self.directory / CHECKPOINT_TENSORS
        if not path.is_file():
            return
        try:
            with safe_open(str(path), framework="pt") as stream:
                header = stream.metadata() or {}
                tensors = {name: stream.get_tensor(name) for name in stream.keys()}  # noqa: SIM118
            version = int(header.get("format", "0"))
            fingerprint_sha = header["fingerprint_sha256"]
            progress, values = json.loads(header["progress"]), json.loads(header["values"])
        except (SafetensorError, OSError, ValueError, KeyError) as error:
            raise SkillNeuronError(
                f"The checkpoint {path} cannot be read ({error}); pass --overwrite (overwrite=True) to "
                "discard the partial run and start again."
            ) from error
        if version != CHECKPOINT_FORMAT:
            raise SkillNeuronError(
                f"The checkpoint {path} has format {version}; this skillneuron-lens reads format "
                f"{CHECKPOINT_FORMAT}. Pass --overwrite (overwrite=True) to start again."
            )
        if fingerprint_sha != self.digest:
            raise SkillNeuronError(
                f"The checkpoint {path} does not belong to its folder's marker (another run's?); pass "
                "--overwrite (overwrite=True) to discard the partial run and start again."
            )
        self._saved, self.progress, self.values = tensors, progress, values

    @property
    def has_checkpoint(self) -> bool:
        """Whether an earlier process saved state that this run continues from."""
        return bool(self.progress or self.values)

    # ---- the passes ------------------------------------------------------------------------------
    def restore(self, name: str, accumulators: Sequence[Checkpointable], total: int) -> int:
        """Register a pass's accumulators and load their saved state; the batches already in them.

        Args:
            name: The pass (``train``, ``dev``, ``test``, ...), unique within the run.
            accumulators: Its accumulators, in a fixed order.
            total: Batches the pass has in all (a saved pass of another length is refused).

        Returns:
            Batches already added (0 when nothing was saved for this pass).

        Raises:
            SkillNeuronError: If the saved state does not fit the accumulators or the pass's length.
        """
        self._passes[name] = list(accumulators)
        if name not in self.progress:
            self.progress[name] = [0, total]
            return 0
        done, saved_total = self.progress[name]
        if saved_total != total:
            raise SkillNeuronError(
                f"The checkpoint of pass {name!r} counts {saved_total} batches, this run {total}: the "
                "data or batch size changed. Pass --overwrite (overwrite=True) to start again."
            )
        for index, accumulator in enumerate(accumulators):
            count = len(accumulator.state())
            accumulator.load_state([self._saved[f"{name}/{index}/{part}"] for part in range(count)])
        return int(done)

    def after_batch(self, name: str) -> Callable[[int], None]:
        """The per-batch callback of pass ``name``: records the batches done and saves on schedule."""

        def record(done: int) -> None:
            self.progress[name][0] = done
            if self.every is not None and (done % self.every == 0 or done == self.progress[name][1]):
                self.save()

        return record

    def keep(self, key: str, value: Any) -> None:
        """Keep a small JSON result (a read-out's accuracy) and save, unless ``every`` is None."""
        self.values[key] = value
        if self.every is not None:
            self.save()

    # ---- writing ---------------------------------------------------------------------------------
    def save(self) -> None:
        """Write the state of every registered pass, replacing the previous checkpoint atomically.

        The tensors and how far each pass got are one file (renamed into place when complete), so a
        process killed while saving leaves the previous checkpoint whole; the marker is rewritten after.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        if read_partial_marker(self.directory) is None:
            self._write_marker()
        tensors = {
            f"{name}/{index}/{part}": tensor
            for name, accumulators in self._passes.items()
            for index, accumulator in enumerate(accumulators)
            for part, tensor in enumerate(accumulator.state())
        }
        header = {
            "format": str(CHECKPOINT_FORMAT),
            "fingerprint_sha256": self.digest,
            "progress": json.dumps(self.progress),
            "values": dumps_strict(self.values, indent=None),
        }
        atomic_write_tensors(self.directory / CHECKPOINT_TENSORS, tensors, header)
        self._write_marker()

    def _write_marker(self) -> None:
        marker = {
            "tool": TOOL_NAME,
            "kind": PARTIAL_KIND,
            "format": CHECKPOINT_FORMAT,
            "progress": self.progress,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "fingerprint_sha256": self.digest,
            "fingerprint": self.fingerprint,
        }
        atomic_write_text(self.directory / PARTIAL_MARKER, dumps_strict(marker, sort_keys=True))


def _refuse_if_busy(marker: Mapping[str, Any], directory: Path) -> None:
    """Refuse a partial run that another live process on this machine is still writing."""
    pid = marker.get("pid")
    if not isinstance(pid, int) or pid == os.getpid() or marker.get("host") != socket.gethostname():
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    except PermissionError:
        pass
    raise SkillNeuronError(
        f"Process {pid} is still writing the partial run at {directory}; wait for it to finish (or stop "
        "it) before resuming."
    )
