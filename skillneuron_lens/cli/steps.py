"""The ``perturb``, ``prune``, ``compare`` and ``report`` sub-commands, which work on run directories.

A run directory made by ``find`` holds ``predictivity.safetensors``, ``cfg.json``, ``summary.json``
(with the ``find`` arguments, so the model and data can be loaded again) and, for tuned runs, one
``tuned-run{i}`` directory per tuning run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from skillneuron_lens.analysis.compare import compare_runs
from skillneuron_lens.analysis.curves import DEFAULT_FRACTIONS, perturbation_curve
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import (
    COMPARE_PAGE,
    PERTURBATION_FILE,
    PRUNE_SUMMARY,
    SUMMARY_FILE,
    TUNED_RUN_PREFIX,
)
from skillneuron_lens.intervene.hooks import MODES
from skillneuron_lens.intervene.prune import (
    count_parameters,
    prune_model,
    save_pruned,
)
from skillneuron_lens.io import (
    CFG_FILE,
    MARKER_FILE,
    check_destination,
    dumps_strict,
    locked_result,
    read_marker,
    recover_interrupted_write,
    written_kind,
)
from skillneuron_lens.models.fingerprint import model_fingerprint, same_model
from skillneuron_lens.models.load import load_model
from skillneuron_lens.neurons.majority import warn_about_constant_neurons
from skillneuron_lens.neurons.sets import NeuronSet, checked_count
from skillneuron_lens.plot.figures import similarity_matrix
from skillneuron_lens.predictivity.result import TENSOR_FILE, PredictivityResult
from skillneuron_lens.record.activations import neuron_means
from skillneuron_lens.report import REPORT_FILE, write_report
from skillneuron_lens.tasks.catalog import load_task
from skillneuron_lens.tasks.provenance import check_data
from skillneuron_lens.tasks.task import Task, task_from_files
from skillneuron_lens.tuning.classifier import TunedClassifier

__all__ = [
    "DEFAULT_DEV_SHARE",
    "RUN_KIND",
    "SUMMARY_FILE",
    "RUN_FILES",
    "layer_list",
    "check_fractions",
    "label_list",
    "load_data",
    "resolve_dev_share",
    "run_inputs",
    "check_finished",
    "Run",
    "multi_run_names",
    "mode_options",
    "add_runs_arguments",
    "add_mode_options",
    "run_perturb",
    "perturb_output",
    "run_prune",
    "run_compare",
    "run_report",
    "add_step_commands",
    "add_run_options",
]

_DATA_ARGUMENTS = ("task", "train_file", "dev_file", "test_file", "n", "seed")
"""The ``find`` arguments that name a run's data (``summary.json``'s ``arguments``)."""
DEFAULT_DEV_SHARE = 0.5
"""``find``'s share of train + dev that becomes dev: enough dev examples for significant skill neurons."""

RUN_KIND = "predictivity"
RUN_FILES = (TENSOR_FILE, CFG_FILE, SUMMARY_FILE, REPORT_FILE, MARKER_FILE)
"""The files of a run directory's own contract (never a ``perturb --output``)."""


# ---- shared helpers -------------------------------------------------------------------------------
def _fractions(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma list of fractions, e.g. 0.01,0.05"
        ) from None
    if not all(0 < value <= 1 for value in values):
        raise argparse.ArgumentTypeError(f"fractions must be in (0, 1], got {text!r}")
    return values


def layer_list(text: str) -> list[int]:
    """Parse a layer list: ``2-5`` or ``0,3,5``."""
    try:
        if "-" in text.strip("-"):
            first, last = text.split("-", 1)
            return list(range(int(first), int(last) + 1))
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a layer list (e.g. 2-5 or 0,3,5)") from None


def check_fractions(fractions: Sequence[float], n_neurons: int, option: str) -> None:
    """Refuse, before any work, fractions that select no neuron of an ``n_neurons``-wide layer."""
    for fraction in fractions:
        checked_count(fraction, n_neurons, option)


def label_list(text: str) -> list[str]:
    """Parse ``--labels``: comma-separated label names, in label-id order (``negative,positive``)."""
    names = [part.strip() for part in text.split(",")]
    if len(names) < 2 or not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a label order: give two or more distinct names, e.g. negative,positive"
        )
    return names


def load_data(args: argparse.Namespace) -> Task:
    """The task named by ``find``-style arguments (``--task`` or ``--train-file`` ...)."""
    labels = getattr(args, "labels", None)  # runs saved before --labels existed have none
    if args.train_file:
        task = task_from_files(
            args.train_file, args.dev_file, args.test_file, label_names=labels, seed=args.seed
        )
        task = task.subsample(args.n, seed=args.seed) if args.n else task
    elif args.dev_file or args.test_file:
        raise SkillNeuronError("--dev-file and --test-file need --train-file.")
    else:
        task = load_task(args.task, seed=args.seed, n=args.n or None)
        if labels is not None and list(labels) != task.label_names:
            raise SkillNeuronError(
                f"--labels {','.join(labels)} does not match task {task.name!r}, whose labels are "
                f"{','.join(task.label_names)} (a named task fixes its labels); drop --labels."
            )
    dev_share = getattr(args, "dev_share", None)  # absent from runs saved before --dev-share
    return task if dev_share is None else task.with_dev_share(dev_share, seed=args.seed)


def resolve_dev_share(args: argparse.Namespace) -> None:
    """``--dev-share``: the default (:data:`DEFAULT_DEV_SHARE`) applies unless a dev file is given."""
    if args.dev_share is None and not args.dev_file:
        args.dev_share = DEFAULT_DEV_SHARE
    elif args.dev_share is not None and args.dev_file:
        raise SkillNeuronError("--dev-share re-splits train and dev; it cannot be used with --dev-file.")
    if args.dev_share is not None and not 0.0 < args.dev_share < 1.0:
        raise SkillNeuronError(f"--dev-share must be between 0 and 1, got {args.dev_share}.")


def run_inputs(arguments: argparse.Namespace) -> list[str]:
    """The paths ``find``-style arguments read: data files and a local model folder."""
    files = [getattr(arguments, name, None) for name in ("train_file", "dev_file", "test_file")]
    model = getattr(arguments, "model", None)
    local_model = [model] if isinstance(model, str) and model and Path(model).expanduser().exists() else []
    return [file for file in files if file] + local_model


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
    """A ``find`` run directory, reopened: its result, its arguments, and (lazily) model and task.

    Args:
        path: The run directory.

    Raises:
        SkillNeuronError: If the directory is not a complete run.
    """

    def __init__(self, path: str | Path) -> None:
        """Read the result and summary."""
        self.path = Path(path)
        recover_interrupted_write(self.path)
        marker = read_marker(self.path)
        self.marker_id: str | None = None if marker is None else marker.get("id")
        if not (self.path / SUMMARY_FILE).is_file():
            raise SkillNeuronError(
                f"{self.path} is not a run directory (no summary.json): make one with "
                "`skillneuron-lens find`."
            )
        try:
            self.summary = json.loads((self.path / SUMMARY_FILE).read_text())
        except ValueError as error:
            summary = self.path / SUMMARY_FILE
            raise SkillNeuronError(f"{summary} is damaged ({error}): re-run find.") from None
        arguments = self.summary.get("arguments") if isinstance(self.summary, dict) else None
        if not isinstance(arguments, dict) or "model" not in arguments:
            raise SkillNeuronError(
                f"{self.path / 'summary.json'} does not hold the find arguments (model, data), so the run's "
                "model and data cannot be loaded again: make the run with `skillneuron-lens find`."
            )
        check_finished(self.path, self.summary)
        self.arguments = argparse.Namespace(**arguments)
        self.result = PredictivityResult.load(self.path)

    def model(self, device: str | None = None) -> Any:
        """Load the run's model again (checked against the saved fingerprint)."""
        model = load_model(
            self.arguments.model, device=device or self.arguments.device, dtype=self.arguments.dtype
        )
        if not same_model(self.result.fingerprint, model_fingerprint(model)):
            raise SkillNeuronError(
                f"{self.arguments.model!r} now loads other weights than the run {self.path} was made with."
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
        missing = [name for name in _DATA_ARGUMENTS if not hasattr(self.arguments, name)]
        if missing:
            raise SkillNeuronError(
                f"{self.path / 'summary.json'} lacks the find arguments {missing} that name the run's "
                "data, so it cannot be loaded again: make the run with `skillneuron-lens find`."
            )
        saved = self.summary.get("data")
        arguments = check_data(saved, self.arguments, self.path, allow_changed=allow_changed_data)
        names = self.summary.get("label_names")
        if arguments.train_file and getattr(arguments, "labels", None) is None and isinstance(names, list):
            arguments.labels = names  # the mapping find used, not a new guess
        return load_data(arguments)

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

    def split(self, task: Task, name: str) -> Any:
        """A named split of the task, with a clear error when missing."""
        if name not in task.splits:
            raise SkillNeuronError(f"The task has no {name!r} split (it has {', '.join(task.splits)}).")
        return task.splits[name]


def _progress(args: argparse.Namespace) -> bool:
    return not getattr(args, "quiet", False)


def multi_run_names(args: argparse.Namespace, what: str, kind: str, legacy_file: str = CFG_FILE) -> list[str]:
    """Check a several-run command's ``--out`` and runs; the runs' names (``--names`` or directory names).

    Args:
        args: Parsed arguments with ``out``, ``overwrite``, ``runs`` and ``names``.
        what: The runs the command needs, for the error (e.g. ``"run directories to compare"``).
        kind: The kind of result the command writes to ``--out`` (see :func:`check_destination`).
        legacy_file: The file naming that kind in output of earlier versions.
    """
    check_destination(args.out, kind, overwrite=args.overwrite, inputs=args.runs, legacy_file=legacy_file)
    if len(args.runs) < 2:
        raise SkillNeuronError(f"Give at least two {what}.")
    named = args.names.split(",") if args.names else [Path(path).name for path in args.runs]
    if len(named) != len(args.runs) or len(set(named)) != len(named):
        raise SkillNeuronError(f"--names needs one distinct name per run ({len(args.runs)}), got {named}.")
    return named


def mode_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options of ``--mode`` from ``--std``, ``--factor`` and ``--value``."""
    if args.mode == "gaussian":
        return {"std": args.std}
    if args.mode == "scale":
        return {"factor": args.factor}
    if args.mode == "clamp":
        return {"value": args.value}
    return {}


def add_runs_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The positional run directories and ``--names`` of a several-run command."""
    parser.add_argument("runs", nargs="+", help=f"two or more {what}")
    parser.add_argument("--names", help="comma-separated names (default: directory names)")


def add_mode_options(parser: argparse.ArgumentParser) -> None:
    """``--mode``, ``--std``, ``--factor`` and ``--value``."""
    parser.add_argument(
        "--mode", choices=list(MODES), default="gaussian", help="intervention (default gaussian)"
    )
    parser.add_argument("--std", type=float, default=0.1, help="gaussian noise std (default 0.1, the paper)")
    parser.add_argument("--factor", type=float, default=0.0, help="scale mode: multiply by this")
    parser.add_argument("--value", type=float, default=0.0, help="clamp mode: set to this")


# ---- perturb --------------------------------------------------------------------------------------
def run_perturb(args: argparse.Namespace) -> dict[str, Any]:
    """Perturb skill, random and bottom neurons of a tuned run; write ``perturbation.json``."""
    run = Run(args.run)
    target = perturb_output(run.path, args.output)
    if target.exists() and not args.overwrite:
        raise FileExistsError(f"{target} already exists; pass --overwrite to replace it.")
    check_fractions(args.fractions, run.result.n_neurons, "--fractions")
    _warn_about_constant_neurons(run.path.name, run.summary, run.result, max(args.fractions))
    split = run.split(run.task(args.allow_changed_data), args.split)  # data checked before the model loads
    model = run.model(args.device)
    classifier = run.classifier(model, args.classifier_run)
    where = None if args.where == "all" else classifier.position_mask(args.where)
    curve = perturbation_curve(
        model,
        lambda: classifier.correct(split, progress=False),
        run.result,
        fractions=args.fractions,
        mode=args.mode,
        draws=args.draws,
        seed=args.seed,
        n_permutations=args.permutations,
        progress=_progress(args),
        where=where,
        **mode_options(args),
    )
    with locked_result(run.path, run.marker_id):
        curve.save(target, overwrite=args.overwrite)
        if not args.no_report:
            write_report(run.path)
    if _progress(args):
        print(
            f"clean accuracy {curve.clean_accuracy:.3f} ({args.split}, {len(split)} examples); "
            f"mode {args.mode}"
        )
        print("fraction  skill   random(mean)  bottom  p-value  draw p-value")
        for index, fraction in enumerate(curve.fractions):
            print(
                f"{fraction:>8.3f}  {float(curve.skill[index]):.3f}   {float(curve.random_mean[index]):.3f}"
                f"         {float(curve.bottom[index]):.3f}   {float(curve.p_values[index]):<7.2g}  "
                f"{float(curve.draw_p_values[index]):.2g}"
            )
        print(f"saved {target}")
    return curve.to_dict()


def perturb_output(run_path: Path, name: str) -> Path:
    """The file ``perturb --output`` names inside the run directory, checked.

    Raises:
        SkillNeuronError: For a name with a folder in it, one of the run's own files (see
            :data:`RUN_FILES`, ``tuned-run*``), a hidden name, or an existing directory.
    """
    separators = [sep for sep in (os.sep, os.altsep, "/") if sep]
    if not name or name in (".", "..") or any(sep in name for sep in separators):
        raise SkillNeuronError(
            f"--output is a file name inside the run directory (no folders), got {name!r}; e.g. "
            "--output perturbation-zero.json."
        )
    if name in RUN_FILES or name.startswith((TUNED_RUN_PREFIX, ".")):
        raise SkillNeuronError(
            f"--output {name} names a file of the run itself ({', '.join(RUN_FILES[:4])}, tuned-run* "
            "and hidden files are the run's own); choose another name, e.g. perturbation-zero.json."
        )
    target = run_path / name
    if target.is_dir():
        raise SkillNeuronError(f"--output {name} is a directory in {run_path}; name a file instead.")
    return target


# ---- prune ----------------------------------------------------------------------------------------
def _timed_accuracy(classifier: TunedClassifier, split: Any) -> tuple[float, float]:
    started = time.perf_counter()
    accuracy = classifier.accuracy(split, progress=False)
    return accuracy, time.perf_counter() - started


def run_prune(args: argparse.Namespace) -> dict[str, Any]:
    """Prune the run's model to its skill neurons; save it and report accuracy and size."""
    run = Run(args.run)
    out = Path(args.out)
    check_fractions([args.keep], run.result.n_neurons, "--keep")
    check_destination(out, "pruning", overwrite=args.overwrite, inputs=[run.path, *run_inputs(run.arguments)])
    task = run.task(args.allow_changed_data)  # data checked before the model loads
    model = run.model(args.device)
    keep = NeuronSet.top(run.result, fraction=args.keep)
    if args.means == "tokens":
        means = neuron_means(model, task.train.texts, per="token", layers=list(run.result.layers))
    else:
        means = run.result.mean_baselines(subtask=0)
    layers = args.layers or list(run.result.layers)
    pruned = prune_model(model, keep, means, layers=layers)
    summary: dict[str, Any] = {
        "run": str(run.path),
        "keep_fraction": args.keep,
        "layers": layers,
        "means": args.means,
        "parameters_before": count_parameters(model),
        "parameters_after": count_parameters(pruned),
    }
    summary["parameter_ratio"] = summary["parameters_after"] / summary["parameters_before"]
    if (run.path / f"{TUNED_RUN_PREFIX}0").is_dir():
        classifier = run.classifier(model, args.classifier_run)
        split = run.split(task, args.split)
        summary["accuracy_before"], seconds_before = _timed_accuracy(classifier, split)
        summary["accuracy_after"], seconds_after = _timed_accuracy(classifier.bind(pruned), split)
        summary["evaluation_speedup"] = seconds_before / seconds_after
    extra = {PRUNE_SUMMARY: dumps_strict(summary)}
    save_pruned(pruned, out, overwrite=args.overwrite, extra_files=extra)
    if _progress(args):
        for key, value in summary.items():
            print(f"{key}: {value}")
        print(f"saved {out}")
    return summary


# ---- compare --------------------------------------------------------------------------------------
def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Compare several runs' neurons; write ``compare.json`` and ``compare.html``."""
    out = Path(args.out)
    names = multi_run_names(args, "run directories to compare", "compare")
    for path in args.runs:
        check_finished(Path(path), _summary_if_any(Path(path)))
    results = {name: PredictivityResult.load(path) for name, path in zip(names, args.runs, strict=True)}
    for name, path in zip(names, args.runs, strict=True):
        check_fractions([args.fraction], results[name].n_neurons, "--fraction")
        _warn_about_constant_neurons(name, _summary_if_any(Path(path)), results[name], args.fraction)
    comparison = compare_runs(
        results,
        fraction=args.fraction,
        n_draws=args.draws,
        seed=args.seed,
        allow_different_models=args.allow_different_models,
    )
    figures = [
        similarity_matrix(comparison.spearman, names, title="Spearman correlation of neuron predictivity"),
        similarity_matrix(
            comparison.jaccard, names, title=f"Jaccard overlap of top-{args.fraction:g} skill sets"
        ),
    ]
    parts = [
        figure.to_html(full_html=False, include_plotlyjs=index == 0) for index, figure in enumerate(figures)
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>skill-neuron comparison</title></head><body>"
    )
    page += "".join(parts) + "</body></html>"
    comparison.save(out, overwrite=args.overwrite, extra_files={COMPARE_PAGE: page})
    if _progress(args):
        width = max(len(name) for name in names)
        for title, matrix in (("Spearman", comparison.spearman), ("Jaccard", comparison.jaccard)):
            print(title)
            print(" " * width + "  " + "  ".join(f"{name[:8]:>8}" for name in names))
            for row, name in enumerate(names):
                print(f"{name:>{width}}  " + "  ".join(f"{float(v):>8.3f}" for v in matrix[row]))
        print(f"saved {out}")
    return comparison.to_dict()


def _warn_about_constant_neurons(
    name: str, summary: dict[str, Any], result: PredictivityResult, fraction: float
) -> None:
    """Warn when a run's skill set holds neurons at its dev split's majority share.

    Uses the share ``find`` saved in the run's summary; runs without it (older or made in Python) are
    not checked.
    """
    skill = summary.get("skill_neurons")
    share = skill.get("dev_majority_share") if isinstance(skill, dict) else None
    if isinstance(share, int | float):
        warn_about_constant_neurons(name, result, float(share), fraction)


def _summary_if_any(run: Path) -> dict[str, Any]:
    """A directory's ``summary.json``, or ``{}`` where it has none (results saved from Python)."""
    try:
        summary = json.loads((run / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


# ---- report ---------------------------------------------------------------------------------------
def run_report(args: argparse.Namespace) -> str:
    """(Re)write a run directory's ``report.html``."""
    run_dir = Path(args.run_dir)
    check_finished(run_dir, _summary_if_any(run_dir))
    path = write_report(args.run_dir, top_k=args.top, max_columns=args.max_columns, fraction=args.fraction)
    if _progress(args):
        print(f"wrote {path}")
    return str(path)


# ---- parser -------------------------------------------------------------------------------------
def add_step_commands(commands: Any, add_verbosity: Callable[[Any], None]) -> None:
    """Register ``perturb``, ``prune``, ``compare`` and ``report`` on the sub-command parser."""
    perturb = commands.add_parser(
        "perturb",
        help="perturb skill vs random vs bottom neurons of a tuned run (perturbation.json)",
        description=run_perturb.__doc__,
    )
    perturb.add_argument("--run", required=True, help="run directory made by find --tune ...")
    add_mode_options(perturb)
    perturb.add_argument(
        "--fractions",
        type=_fractions,
        default=list(DEFAULT_FRACTIONS),
        help="comma list of per-layer fractions (default 0.01,0.02,0.05,0.1,0.15,0.2)",
    )
    perturb.add_argument("--draws", type=int, default=5, help="random control draws per fraction (default 5)")
    perturb.add_argument("--permutations", type=int, default=10000, help="sign-flip permutations")
    perturb.add_argument(
        "--where",
        choices=["all", "prompt", "input"],
        default="all",
        help="positions perturbed (default all, the paper)",
    )
    add_run_options(perturb)
    perturb.add_argument("--output", default=PERTURBATION_FILE,
                         help="file in the run directory (default perturbation.json: the report shows it)")
    perturb.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    perturb.add_argument("--no-report", action="store_true", help="do not rewrite report.html")
    add_verbosity(perturb)
    perturb.set_defaults(func=run_perturb)

    prune = commands.add_parser(
        "prune",
        help="prune the model down to its skill neurons (folded baselines)",
        description=run_prune.__doc__,
    )
    prune.add_argument("--run", required=True, help="run directory made by find")
    prune.add_argument(
        "--keep", type=float, default=0.02, help="share of each layer's neurons kept (default 0.02)"
    )
    prune.add_argument("--layers", type=layer_list, help="layers to prune, e.g. 2-5 (default all recorded)")
    prune.add_argument(
        "--means",
        choices=["baseline", "tokens"],
        default="baseline",
        help="constant for removed neurons: the run's baselines or the mean over all train tokens",
    )
    prune.add_argument("--out", required=True, help="directory for the pruned model")
    add_run_options(prune)
    prune.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    add_verbosity(prune)
    prune.set_defaults(func=run_prune)

    compare = commands.add_parser(
        "compare",
        help="compare tasks' neurons (Spearman, skill-set overlap)",
        description=run_compare.__doc__,
    )
    add_runs_arguments(compare, "run directories")
    compare.add_argument("--fraction", type=float, default=0.02, help="skill-set fraction for the overlap")
    compare.add_argument("--draws", type=int, default=1000, help="random draws of the overlap baseline")
    compare.add_argument("--seed", type=int, default=0, help="seed of the random baseline")
    compare.add_argument(
        "--allow-different-models",
        action="store_true",
        help="compare runs from different weights (same architecture)",
    )
    compare.add_argument("--out", required=True, help="directory for compare.json and compare.html")
    compare.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    add_verbosity(compare)
    compare.set_defaults(func=run_compare)

    report = commands.add_parser(
        "report", help="write report.html for a run directory", description=run_report.__doc__
    )
    report.add_argument("run_dir", help="run directory made by find")
    report.add_argument("--top", type=int, default=20, help="rows of the top-neuron table")
    report.add_argument("--max-columns", type=int, default=2000, help="bin wider layers in the heatmap")
    report.add_argument("--fraction", type=float, help="skill-set fraction shown (default: the run's)")
    add_verbosity(report)
    report.set_defaults(func=run_report)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """How a run's classifier is evaluated, and on which data.

    Adds ``--split``, ``--classifier-run``, ``--device``, ``--seed`` and ``--allow-changed-data``.
    """
    parser.add_argument("--split", default="test", help="split to evaluate on (default test)")
    parser.add_argument(
        "--classifier-run", type=int, default=0, help="which tuned-run{i} classifier (default 0)"
    )
    parser.add_argument("--device", help="device (default: the run's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of random controls and noise")
    parser.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="use the run's data files even if they changed since find (default: refuse, with a clear error)",
    )
