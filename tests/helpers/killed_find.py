"""Run ``find`` and kill it (``os._exit``: no clean-up code runs) at a chosen step of saving its run.

Used by tests/cli/test_safety.py and tests/runs/test_resume.py. Each case runs in a child forked from
this fresh process (which has imported the package but computed nothing, so forking is safe), so one
import serves every case.

Usage: python tests/helpers/killed_find.py CASES_JSON, where CASES_JSON is a list of [step, out, argv];
prints a JSON object step -> the child's exit code (9 when it was killed at its step).

Steps: ``during-compute`` (before anything is written), ``before-marker`` (the staging directory holds
the whole run, tuned classifiers and report included, but not its marker), ``between-renames`` (the
previous run moved to its backup name, the new one not yet in place), ``before-backup-removed`` (the
new run in place, the backup of the previous one still there), ``at-batch:N`` (at the N-th batch any
recorder runs, read-out included: checkpoints saved before it stay), ``in-checkpoint:N`` (half-way through
writing the N-th checkpoint file: its temporary file is half written, the previous checkpoint whole).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import skillneuron_lens.cli.app as cli
import skillneuron_lens.io as io
import skillneuron_lens.runs.finding as runs_find
from skillneuron_lens.files import CHECKPOINT_TENSORS
from skillneuron_lens.record.recorder import Recorder

CHILD_SECONDS = 900
"""A child still running after this long is taken for hung and killed (SIGALRM: exit code -14); a
tiny ``find`` takes seconds, but minutes on a 2-core machine shared with other work."""


def _counted(step: str) -> None:
    """Patch the recorder (``at-batch:N``) or the checkpoint writer (``in-checkpoint:N``) to exit there."""
    kind, count = step.split(":")
    seen = [0]
    if kind == "at-batch":
        real_batch = Recorder.accumulate_batch

        def batch(self: Recorder, *args: Any, **kwargs: Any) -> None:
            seen[0] += 1
            if seen[0] == int(count):
                os._exit(9)
            real_batch(self, *args, **kwargs)

        Recorder.accumulate_batch = batch  # type: ignore[method-assign]
        return
    real_save = io.save_file

    def save(tensors: Any, filename: str, metadata: Any = None) -> None:
        real_save(tensors, filename, metadata=metadata)
        if f".{CHECKPOINT_TENSORS}." in Path(filename).name:
            seen[0] += 1
            if seen[0] == int(count):
                with open(filename, "r+b") as handle:
                    handle.truncate(Path(filename).stat().st_size // 2)
                os._exit(9)

    io.save_file = save


def _die_at(step: str, out: Path) -> None:
    """Patch the save so that the process exits at ``step``."""
    if ":" in step:
        _counted(step)
        return
    target = out.resolve()
    real_replace, real_marker, real_discard = os.replace, io._write_marker, io._discard

    def replace(source: Any, destination: Any) -> None:
        if step == "between-renames" and Path(destination) == target and not target.exists():
            os._exit(9)
        real_replace(source, destination)

    def marker(directory: Path, kind: str) -> None:
        if step == "before-marker" and kind == "predictivity":
            os._exit(9)
        real_marker(directory, kind)

    def discard(directory: Path) -> None:
        if step == "before-backup-removed" and ".snl-old-" in directory.name:
            os._exit(9)
        real_discard(directory)

    io.os.replace = replace  # type: ignore[assignment]
    io._write_marker, io._discard = marker, discard
    if step == "during-compute":
        runs_find.tune_runs = runs_find.compute_predictivity = lambda *args, **kwargs: os._exit(9)


def main(cases: list[tuple[str, str, list[str]]]) -> dict[str, int]:
    codes = {}
    for step, out, argv in cases:
        child = os.fork()
        if child == 0:
            signal.alarm(CHILD_SECONDS)  # a hung child dies instead of hanging the tests
            try:
                _die_at(step, Path(out))
                os._exit(cli.main(argv))
            finally:
                os._exit(3)
        codes[step] = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    return codes


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
