"""Resumable ``find`` runs: the partial run beside a run directory, and what may be done with it.

A frozen-model ``find`` checkpoints its passes (train, dev with its permutations and histograms, test)
every ``checkpoint_every`` batches into ``.<out name>.snl-partial`` beside ``out``
(:func:`skillneuron_lens.io.partial_directory`), with the read-out's accuracy once it is fitted. The
folder is removed when the run directory is written. After a kill, ``find --resume`` (``resume=True``)
with the same options and data continues from the last checkpoint and writes the same numbers as an
uninterrupted run. The rules, checked before the model loads:

* a partial run and no ``--resume``: refused (continue it with ``--resume``, or discard it with
  ``--overwrite``);
* ``--resume`` on a finished run: refused (nothing to resume; with a partial run beside it, left over
  or from an interrupted ``--overwrite``, ``--resume --overwrite`` continues it and replaces the run);
* ``--resume`` without a partial run: the run starts from the beginning (so a job script may always
  pass it);
* ``--resume`` with other options or data than the partial run's: refused, naming what differs.

Several processes (``torchrun``) keep no checkpoints and cannot resume: each process holds its own
share of the sums, which one file does not hold yet.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.io import discard_partial, partial_directory, written_kind
from skillneuron_lens.models.fingerprint import model_fingerprint
from skillneuron_lens.record.checkpoints import PassCheckpoints, describe_progress, read_partial_marker
from skillneuron_lens.runs.config import FindConfig
from skillneuron_lens.tasks.provenance import task_fingerprint
from skillneuron_lens.tasks.task import Task

__all__ = [
    "RUN_ONLY_OPTIONS",
    "check_partial_run",
    "discard_partial_run",
    "open_checkpoints",
    "run_fingerprint",
]

_LOGGER = logging.getLogger("skillneuron_lens")

RUN_ONLY_OPTIONS = ("out", "overwrite", "resume", "checkpoint_every", "no_report", "quiet", "verbose")
"""Options that do not change a run's numbers, and may differ between a killed run and its resumption."""


def check_partial_run(config: FindConfig, kind: str) -> None:
    """Refuse what ``config`` would do wrong with the partial run (or finished run) at ``config.out``.

    Called before anything is loaded. (With ``overwrite`` and no ``resume``, ``find`` then discards the
    partial run, once the destination itself has been checked.)

    Args:
        config: The run's options.
        kind: The kind a finished run directory's marker records.

    Raises:
        SkillNeuronError: For a partial run without ``resume`` or ``overwrite``, or ``resume`` without
            ``overwrite`` on a finished run.
    """
    partial = partial_directory(config.out)
    marker = read_partial_marker(partial)
    progress = describe_progress((marker or {}).get("progress") or {})
    finished = written_kind(config.out) == kind
    if config.resume and finished and not config.overwrite:
        if marker is None:
            raise SkillNeuronError(
                f"{config.out} is a finished run: there is nothing to resume. Open it with "
                "skillneuron_lens.Run, or pass --overwrite without --resume to compute it again."
            )
        raise SkillNeuronError(
            f"{config.out} is a finished run, and a partial run is beside it in {partial} ({progress}): "
            "left over after the run was written, or from a find --overwrite stopped before it replaced "
            f"the run. Pass --resume --overwrite to continue the partial run and replace {config.out}, or "
            "--overwrite alone to compute the run again."
        )
    if marker is not None and not config.resume and not config.overwrite:
        raise SkillNeuronError(
            f"An earlier find at {config.out} stopped before it finished ({progress}); its checkpoints are "
            f"in {partial}. Pass --resume (resume=True) to continue it with the same options, or "
            "--overwrite (overwrite=True) to discard it and start again."
        )


def run_fingerprint(config: FindConfig, task: Task, model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """What a run's checkpointed numbers depend on: its options, data, model and library versions.

    Args:
        config: The run's options (those in :data:`RUN_ONLY_OPTIONS` are left out).
        task: The task as loaded (sampled and re-split).
        model: The loaded model.
        data: The run's data record (:func:`skillneuron_lens.tasks.provenance.data_record`).

    Returns:
        A JSON-friendly dict.
    """
    options = {key: value for key, value in config.arguments().items() if key not in RUN_ONLY_OPTIONS}
    return {
        "options": options,
        "data": data,
        "task": task_fingerprint(task),
        "model": model_fingerprint(model),
        "torch": torch.__version__,
    }


def open_checkpoints(
    config: FindConfig, task: Task, model: Any, data: dict[str, Any], *, world_size: int
) -> PassCheckpoints | None:
    """The checkpoints of this run (None when it keeps none), continuing a partial run if asked to.

    Tuned runs, runs with ``checkpoint_every=0`` that do not resume, and runs in several processes keep
    no checkpoints.

    Raises:
        SkillNeuronError: For ``resume`` in several processes, or a partial run made with other options
            or data (see :class:`~skillneuron_lens.record.checkpoints.PassCheckpoints`).
    """
    if world_size > 1:
        if config.resume:
            raise SkillNeuronError(
                "--resume works in one process only (under torchrun each process holds its own share of "
                "the sums, which are not checkpointed yet): resume without torchrun, or start again with "
                "--overwrite."
            )
        return None
    if config.tuned or (config.checkpoint_every == 0 and not config.resume):
        return None
    checkpoints = PassCheckpoints(
        partial_directory(config.out), run_fingerprint(config, task, model, data),
        every=config.checkpoint_every or None,  # 0: resume, but save nothing more
    )
    if config.resume and checkpoints.has_checkpoint:
        progress = describe_progress(checkpoints.progress)
        _LOGGER.warning("resuming %s from its checkpoint (%s)", config.out, progress)
    elif config.resume:
        _LOGGER.warning("%s has no checkpoint yet: starting from the beginning", config.out)
    return checkpoints


def discard_partial_run(config: FindConfig) -> None:
    """Remove the partial run of ``config.out``: once its run directory is written, or for ``--overwrite``."""
    if discard_partial(config.out):
        _LOGGER.info("removed the partial run of %s", config.out)
