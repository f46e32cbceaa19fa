"""A run directory as a library object: :class:`Run` opens, checks and writes what ``find`` saves.

A run directory holds ``predictivity.safetensors`` and ``cfg.json`` (the
:class:`~skillneuron_lens.predictivity.PredictivityResult`), ``summary.json`` (what ``find`` measured,
with its arguments), ``find_config.json`` (the :class:`~skillneuron_lens.runs.FindConfig`; runs saved
before it have the arguments in the summary only), ``report.html``, one ``tuned-run{i}`` directory per
tuning run of a tuned run, and the marker that says this tool finished writing it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import (
    CFG_FILE,
    FIND_CONFIG,
    MARKER_FILE,
    PREDICTIVITY_TENSORS,
    REPORT_FILE,
    SUMMARY_FILE,
    TUNED_RUN_PREFIX,
)
from skillneuron_lens.io import (
    dumps_strict,
    read_marker,
    recover_interrupted_write,
    staged_directory,
    written_kind,
)
from skillneuron_lens.models.fingerprint import model_fingerprint, same_model
from skillneuron_lens.models.load import load_model
from skillneuron_lens.neurons.majority import warn_about_constant_neurons
from skillneuron_lens.notebook import format_number, html_repr, significance_text, text_repr, top_neuron_table
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.report import write_report
from skillneuron_lens.runs.config import FindConfig
from skillneuron_lens.tasks.provenance import FILE_ROLES, check_data
from skillneuron_lens.tasks.task import Split, Task
from skillneuron_lens.tuning.classifier import TunedClassifier

__all__ = [
    "RUN_FILES",
    "RUN_KIND",
    "Run",
    "check_finished",
    "read_summary",
    "warn_about_saved_majority",
]

RUN_KIND = "predictivity"
"""The kind a run directory's marker records (that of its :class:`PredictivityResult`)."""
RUN_FILES = (PREDICTIVITY_TENSORS, CFG_FILE, SUMMARY_FILE, REPORT_FILE, MARKER_FILE, FIND_CONFIG)
"""The files of a run directory's own contract (never a ``perturb --output``)."""
_DATA_ARGUMENTS = ("task", "train_file", "dev_file", "test_file", "n", "seed")
"""The ``find`` arguments that name a run's data (``summary.json``'s ``arguments``)."""


def read_summary(directory: str | Path) -> dict[str, Any]:
    """A directory's ``summary.json``, or ``{}`` where it has none (results saved from Python)."""
    try:
        summary = json.loads((Path(directory) / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def warn_about_saved_majority(
    name: str, summary: dict[str, Any], result: PredictivityResult, fraction: float
) -> None:
    """Warn when a run's skill set holds neurons at its dev split's majority share.

    Uses the share ``find`` saved in the run's summary; runs without it (older, or made in Python) are
    not checked.
    """
    skill = summary.get("skill_neurons")
    share = skill.get("dev_majority_share") if isinstance(skill, dict) else None
    if isinstance(share, int | float):
        warn_about_constant_neurons(name, result, float(share), fraction)


def check_finished(path: Path, summary: dict[str, Any] | None = None) -> None:
    """Refuse a directory that is not a finished result of this tool (e.g. left by a killed command).

    A directory is finished when it carries the marker (written last, inside the staging directory);
    a run saved by an earlier version (no marker) counts if its ``cfg.json`` names its kind and every
    tuned classifier its ``summary`` lists is present. An interrupted replacement of ``path`` is
    repaired first.

    Raises:
        SkillNeuronError: If the directory is partial or not made by this tool.
    """
    recover_interrupted_write(path)
    if read_marker(path) is not None:
        return
    if written_kind(path) is None:
        raise SkillNeuronError(
            f"{path} is not a finished skillneuron-lens result: it has no {MARKER_FILE} and no "
            f"{CFG_FILE} (a directory left by a killed command, or not made by this tool). Make it "
            "again with `skillneuron-lens find`."
        )
    tuning = summary.get("tuning") if isinstance(summary, dict) else None
    listed = tuning.get("classifiers", []) if isinstance(tuning, dict) else []
    missing = [name for name in listed if not (path / str(name) / CFG_FILE).is_file()]
    if missing:
        raise SkillNeuronError(
            f"{path} is a partial run: its summary lists the tuned classifiers {missing}, which are "
            "missing (the find that wrote it was killed). Run find again with --overwrite."
        )


class Run:
    """A ``find`` run directory, opened: its result, summary and config, and (on demand) model and task.

    Args:
        path: The run directory.

    Attributes:
        path: The run directory.
        summary: ``summary.json``.
        arguments: The ``find`` arguments as the summary records them.
        config: The :class:`FindConfig` the run was made with (read from ``find_config.json``, or rebuilt
            from ``arguments`` for runs saved before that file).
        result: The :class:`PredictivityResult`.
        marker_id: The id of the directory's marker (None for runs of earlier versions).

    Raises:
        SkillNeuronError: If the directory is not a complete run.
    """

    def __init__(self, path: str | Path) -> None:
        """Open and check the run directory."""
        self.path = Path(path)
        recover_interrupted_write(self.path)
        marker = read_marker(self.path)
        self.marker_id: str | None = None if marker is None else marker.get("id")
        summary_path = self.path / SUMMARY_FILE
        if not summary_path.is_file():
            raise SkillNeuronError(
                f"{self.path} is not a run directory (no summary.json): make one with "
                "`skillneuron-lens find`."
            )
        try:
            self.summary: dict[str, Any] = json.loads(summary_path.read_text())
        except ValueError as error:
            raise SkillNeuronError(f"{summary_path} is damaged ({error}): re-run find.") from None
        arguments = self.summary.get("arguments") if isinstance(self.summary, dict) else None
        if not isinstance(arguments, dict) or "model" not in arguments:
            raise SkillNeuronError(
                f"{summary_path} does not hold the find arguments (model, data), so the run's "
                "model and data cannot be loaded again: make the run with `skillneuron-lens find`."
            )
        check_finished(self.path, self.summary)
        self.arguments: dict[str, Any] = arguments
        self.config = self._read_config()
        self.result = PredictivityResult.load(self.path)

    def _read_config(self) -> FindConfig:
        """``find_config.json``, or the config rebuilt from the summary's arguments for older runs."""
        saved = self.path / FIND_CONFIG
        if saved.is_file():
            try:
                data = json.loads(saved.read_text())
            except ValueError as error:
                raise SkillNeuronError(f"{saved} is damaged ({error}): re-run find.") from None
            return FindConfig.from_dict(data)
        try:
            return FindConfig.from_arguments(self.arguments)
        except (SkillNeuronError, TypeError) as error:
            raise SkillNeuronError(
                f"{self.path} was saved by an earlier version without {FIND_CONFIG}, and the find "
                f"arguments in its {SUMMARY_FILE} are not valid options today ({error}). Convert it by "
                f"writing {FIND_CONFIG} yourself (FindConfig(...).to_dict() as JSON, with the options "
                "the run was made with), or re-run find."
            ) from None

    @classmethod
    def write(
        cls,
        config: FindConfig,
        result: PredictivityResult,
        summary: dict[str, Any],
        *,
        classifiers: Sequence[TunedClassifier] = (),
    ) -> Run:
        """Write a run directory at ``config.out`` in one atomic step, and open it.

        Everything (result, summary, config, tuned classifiers, report) goes into one staging directory
        that is swapped into place at the end, so a kill never leaves a partial run behind. An existing
        ``config.out`` is replaced only with ``config.overwrite`` and only if it is a run directory (see
        :func:`skillneuron_lens.io.check_destination`); one of the run's inputs never is.

        Args:
            config: The options the run was made with (``out``, ``overwrite`` and ``no_report`` apply).
            result: The neurons' predictivity.
            summary: ``summary.json``'s content.
            classifiers: The tuned classifiers, saved as ``tuned-run0``, ``tuned-run1``, ...

        Raises:
            FileExistsError: ``config.out`` exists and ``config.overwrite`` is false.
            SkillNeuronError: ``config.out`` may not be replaced, or writing failed.
        """
        extra = {SUMMARY_FILE: dumps_strict(summary), FIND_CONFIG: dumps_strict(config.to_dict())}
        destination = staged_directory(
            config.out, RUN_KIND, overwrite=config.overwrite, inputs=config.input_paths()
        )
        with destination as staging:
            result.write_into(staging, extra_files=extra)
            for index, classifier in enumerate(classifiers):
                classifier.save(staging / f"{TUNED_RUN_PREFIX}{index}")
            if not config.no_report:
                write_report(staging)
        return cls(config.out)

    def model(self, device: str | None = None) -> Any:
        """Load the run's model again (checked against the saved fingerprint).

        Raises:
            SkillNeuronError: If the model's name now loads other weights, or for a ``device`` other than
                the run's when the run splits its model with a device map.
        """
        config = self.config
        if device not in (None, config.device) and config.device_map is not None:
            raise SkillNeuronError(
                f"The run {self.path} places its model with device_map={config.device_map!r}; --device "
                f"{device} cannot be given as well: leave it out (the run's device map is used)."
            )
        model = load_model(
            config.model, device=device or config.device, dtype=config.dtype, device_map=config.device_map
        )
        if not same_model(self.result.fingerprint, model_fingerprint(model)):
            raise SkillNeuronError(
                f"{self.config.model!r} now loads other weights than the run {self.path} was made with."
            )
        return model

    def task(self, allow_changed_data: bool = False) -> Task:
        """Load the run's data again (same seed, same split), checked against its fingerprint.

        Args:
            allow_changed_data: Load data that changed since ``find`` (with a warning) instead of
                refusing it.

        Raises:
            SkillNeuronError: If the data changed, moved or disappeared and that is not allowed.
        """
        missing = [name for name in _DATA_ARGUMENTS if name not in self.arguments]
        if missing:
            raise SkillNeuronError(
                f"{self.path / SUMMARY_FILE} lacks the find arguments {missing} that name the run's "
                "data, so it cannot be loaded again: make the run with `skillneuron-lens find`."
            )
        saved = self.summary.get("data")
        checked = check_data(saved, self.config.namespace(), self.path, allow_changed=allow_changed_data)
        config = dataclasses.replace(self.config, **{role: getattr(checked, role) for role in FILE_ROLES})
        names = self.summary.get("label_names")
        if config.train_file and config.labels is None and isinstance(names, list):
            config = dataclasses.replace(config, labels=names)  # the mapping find used, not a new guess
        return config.load_task()

    def classifier(self, model: Any, index: int = 0) -> TunedClassifier:
        """The ``index``-th tuned classifier of the run.

        Raises:
            SkillNeuronError: For a run without tuned classifiers.
        """
        directory = self.path / f"{TUNED_RUN_PREFIX}{index}"
        if not directory.is_dir():
            raise SkillNeuronError(
                f"{self.path} has no tuned classifier {directory.name}: perturbation and pruning measure a "
                "classifier's accuracy, so run find with --tune prompt (or bitfit, adapter, none)."
            )
        return TunedClassifier.load(directory, model)

    def split(self, task: Task, name: str) -> Split:
        """A named split of the task, with a clear error when missing."""
        if name not in task.splits:
            raise SkillNeuronError(f"The task has no {name!r} split (it has {', '.join(task.splits)}).")
        return task.splits[name]

    def _headline(self) -> dict[str, str]:
        """The summary's headline numbers as text: test accuracy, best neuron, skill set, significance.

        Entries a run's summary lacks (older runs, runs without a test split) are left out.
        """
        summary = self.summary
        headline: dict[str, str] = {}
        if summary.get("test_accuracy") is not None:
            headline["test accuracy"] = format_number(summary["test_accuracy"])
        top = summary.get("top_neurons")
        if isinstance(top, list) and top and isinstance(top[0], dict):
            best = top[0]
            where = f"layer {best.get('layer')}, neuron {best.get('neuron')}"
            headline["best"] = f"{format_number(best.get('predictivity'))} ({where})"
        skill = summary.get("skill_neurons")
        if isinstance(skill, dict) and isinstance(skill.get("count_per_layer"), list):
            fraction = skill.get("fraction_per_layer")
            headline["skill neurons"] = f"{sum(skill['count_per_layer'])} (top {fraction}/layer)"
        significance = summary.get("significance")
        if isinstance(significance, dict):
            counts = (significance["n_significant"], significance["n_tested"])
            headline["significance"] = significance_text(*counts, significance["q"], significance["method"])
        else:
            headline["significance"] = "no significance recorded"
        return headline

    def __repr__(self) -> str:
        """``Run('path', model=..., task=..., tune=...)`` and the summary's headline numbers."""
        parts: list[str | tuple[str, object]] = [repr(str(self.path)), ("model", self.config.model)]
        parts += [("task", self.summary.get("task", self.config.task)), ("tune", self.config.tune)]
        for name, text in self._headline().items():
            parts.append(text if name == "significance" else f"{name.replace(' ', '_')}={text}")
        return text_repr(type(self).__name__, parts)

    def _repr_html_(self) -> str:
        """A notebook table: path, model, data and headline numbers, then the run's top 5 neurons."""
        summary = self.summary
        facts: list[tuple[str, object]] = [
            ("path", str(self.path)),
            ("model", self.config.model),
            ("task", summary.get("task", self.config.task)),
            ("labels", summary.get("label_names")),
            ("examples", {split: summary.get(f"n_{split}") for split in ("train", "dev", "test")}),
            ("hook", summary.get("hook", self.config.hook)),
            ("positions", summary.get("positions")),
            ("tune", self.config.tune),
            *self._headline().items(),
            ("seconds", summary.get("seconds")),
        ]
        top = summary.get("top_neurons")
        tables = [top_neuron_table(top[:5])] if isinstance(top, list) and top else []
        return html_repr(type(self).__name__, facts, tables)
