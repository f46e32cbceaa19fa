"""The ``cross-perturb`` sub-command: perturb each task's skill neurons, measure every task.

Takes two or more tuned run directories of one model (made by ``find --tune ...``). Each run's top-``p``
skill neurons are perturbed in turn, and so are ``--draws`` layer-matched random sets; every run's own
tuned classifier is measured on its own split under each. Writes ``cross_task.json`` (the matrix, the
per-example correctness and the specificity tests) and ``cross_task.html`` (the accuracy-drop matrix).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from skillneuron_lens.analysis.specificity import KIND, CrossTaskMatrix, cross_task_matrix
from skillneuron_lens.cli.options import (
    add_mode_options,
    add_run_options,
    add_runs_arguments,
    add_verbosity,
    mode_options,
    multi_run_names,
    progress,
)
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import CROSS_TASK_PAGE, CROSS_TASK_SUMMARY
from skillneuron_lens.io import check_destination, staged_directory
from skillneuron_lens.models.fingerprint import same_model
from skillneuron_lens.neurons.sets import NeuronSet, checked_count
from skillneuron_lens.plot.comparison import similarity_matrix
from skillneuron_lens.runs.run import Run, warn_about_saved_majority

__all__ = [
    "MATRIX_FILE",
    "run_cross_perturb",
    "print_matrix",
    "add_cross_perturb_command",
]

MATRIX_FILE = CROSS_TASK_SUMMARY


def _check_same_model(runs: dict[str, Run]) -> None:
    """All runs must come from one model, recorded at the same hook and layers."""
    (first_name, first), *others = runs.items()
    for name, run in others:
        if not same_model(first.result.fingerprint, run.result.fingerprint):
            raise SkillNeuronError(
                f"Runs {first_name!r} and {name!r} were made with different model weights; cross-task "
                "perturbation runs every classifier on one model."
            )
        if run.result.hook != first.result.hook or tuple(run.result.layers) != tuple(first.result.layers):
            raise SkillNeuronError(
                f"Runs {first_name!r} and {name!r} recorded different hooks or layers "
                f"({first.result.hook} {list(first.result.layers)} vs {run.result.hook} "
                f"{list(run.result.layers)}); re-run find with the same --hook and --layers."
            )


def run_cross_perturb(args: argparse.Namespace) -> dict[str, Any]:
    """Perturb each run's skill neurons and measure every run's classifier; write ``cross_task.json``."""
    out = Path(args.out)
    names = multi_run_names(args, "tuned run directories", KIND, legacy_file=MATRIX_FILE)
    if args.draws < 0:
        raise SkillNeuronError(f"--draws must be 0 or more, got {args.draws}.")
    control_names = [f"random {draw + 1}" for draw in range(args.draws)]
    clash = sorted(set(names) & set(control_names))
    if clash:
        raise SkillNeuronError(f"--names {clash} are the names of random control sets; choose other names.")
    runs = {name: Run(path) for name, path in zip(names, args.runs, strict=True)}
    inputs = [*args.runs, *(item for run in runs.values() for item in run.config.input_paths())]
    check_destination(out, KIND, overwrite=args.overwrite, inputs=inputs, legacy_file=MATRIX_FILE)
    _check_same_model(runs)
    width = int(runs[names[0]].result.accuracy.shape[-1])
    checked_count(args.fraction, width, "--fraction")
    for name, run in runs.items():
        warn_about_saved_majority(name, run.summary, run.result, args.fraction)
    splits = {name: run.split(run.task(args.allow_changed_data), args.split) for name, run in runs.items()}
    model = runs[names[0]].model(args.device)  # after the data checks
    evaluators = {}
    for name, run in runs.items():
        classifier = run.classifier(model, args.classifier_run)
        split = splits[name]
        evaluators[name] = lambda classifier=classifier, split=split: classifier.correct(
            split, progress=False
        )
    sets = {name: NeuronSet.top(run.result, fraction=args.fraction) for name, run in runs.items()}
    drawn = sets[names[0]].random_controls(args.draws, args.seed) if args.draws else []
    controls = dict(zip(control_names, drawn, strict=True))
    # Every set keeps floor(fraction * width) neurons of each layer, so one draw matches them all.
    assert all(torch.equal(s.counts_per_layer(), sets[names[0]].counts_per_layer()) for s in sets.values())
    target_options = (
        {name: {"mean": run.result.mean_baselines().float()} for name, run in runs.items()}
        if args.mode == "mean"
        else None
    )
    matrix = cross_task_matrix(
        model,
        {**sets, **controls},
        evaluators,
        mode=args.mode,
        seed=args.seed,
        progress=progress(args),
        controls=tuple(controls),
        target_options=target_options,
        **mode_options(args),
    )
    matrix.config.update(fraction=args.fraction, split=args.split, runs=[str(path) for path in args.runs])
    if target_options is not None:
        matrix.config["mean_source"] = (
            "the measured run's baseline (train-split mean at its prompt slots), averaged over its tuning "
            "runs, subtasks and slots, as perturb uses"
        )
    payload = matrix.to_dict()
    figure = similarity_matrix(
        matrix.drop,
        list(matrix.perturbed_tasks),
        column_tasks=list(matrix.evaluated_tasks),
        title=f"Accuracy lost with each set's top-{args.fraction:g} neurons perturbed ({args.mode})",
        zmid=0.0,
        colorbar_title="accuracy drop",
        row_label="neurons perturbed",
        column_label="task measured",
        value_format=".3f",
    )
    destination = staged_directory(
        out, KIND, overwrite=args.overwrite, inputs=inputs, legacy_file=MATRIX_FILE
    )
    with destination as staging:
        matrix.save(staging / MATRIX_FILE)
        (staging / CROSS_TASK_PAGE).write_text(figure.to_html(include_plotlyjs=True))
    if progress(args):
        print_matrix(matrix, payload["tests"])
        print(f"saved {out}")
    return payload


def print_matrix(matrix: CrossTaskMatrix, tests: list[dict[str, Any]]) -> None:
    """Print the accuracy-drop matrix and the specificity tests."""
    width = max(len(name) for name in matrix.perturbed_tasks)
    print("accuracy drop (rows: neurons perturbed; columns: task measured)")
    print(" " * width + "  " + "  ".join(f"{name[:8]:>8}" for name in matrix.evaluated_tasks))
    print(f"{'clean':>{width}}  " + "  ".join(f"{float(v):>8.3f}" for v in matrix.clean_accuracy))
    for row, name in enumerate(matrix.perturbed_tasks):
        print(f"{name:>{width}}  " + "  ".join(f"{float(v):>8.3f}" for v in matrix.drop[row]))
    print("own set vs another set: extra accuracy lost, one-sided paired p-value (Holm-adjusted)")
    for test in tests:
        print(
            f"  {test['task']} vs {test['against']}: {test['difference']:+.3f}  p {test['p_value']:.2g} "
            f"({test['p_holm']:.2g})"
        )


def add_cross_perturb_command(commands: Any) -> None:
    """Register ``cross-perturb`` on the sub-command parser."""
    parser = commands.add_parser(
        "cross-perturb",
        help="perturb each task's skill neurons, measure every task (task specificity)",
        description=run_cross_perturb.__doc__,
    )
    add_runs_arguments(parser, "tuned run directories of one model")
    parser.add_argument(
        "--fraction", type=float, default=0.05, help="per-layer share of neurons perturbed (default 0.05)"
    )
    parser.add_argument(
        "--draws", type=int, default=3, help="layer-matched random control sets (default 3; 0 for none)"
    )
    add_mode_options(parser)
    add_run_options(parser)
    parser.add_argument("--out", required=True, help="directory for cross_task.json and cross_task.html")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out made by cross-perturb"
    )
    add_verbosity(parser)
    parser.set_defaults(func=run_cross_perturb)
