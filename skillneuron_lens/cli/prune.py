"""The ``prune`` sub-command: prune a run's model down to its skill neurons."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from skillneuron_lens.cli.options import add_run_options, add_verbosity, layer_list, progress
from skillneuron_lens.files import PRUNE_SUMMARY, TUNED_RUN_PREFIX
from skillneuron_lens.intervene.prune import (
    count_parameters,
    prune_model,
    save_pruned,
)
from skillneuron_lens.io import check_destination, dumps_strict
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.record.activations import neuron_means
from skillneuron_lens.runs.config import check_fractions
from skillneuron_lens.runs.run import Run
from skillneuron_lens.tasks.task import Split
from skillneuron_lens.tuning.classifier import TunedClassifier

__all__ = ["add_prune_command", "run_prune"]


def _timed_accuracy(classifier: TunedClassifier, split: Split) -> tuple[float, float]:
    started = time.perf_counter()
    accuracy = classifier.accuracy(split, progress=False)
    return accuracy, time.perf_counter() - started


def run_prune(args: argparse.Namespace) -> dict[str, Any]:
    """Prune the run's model to its skill neurons; save it and report accuracy and size."""
    run = Run(args.run)
    out = Path(args.out)
    check_fractions([args.keep], run.result.n_neurons, "--keep")
    check_destination(out, "pruning", overwrite=args.overwrite, inputs=[run.path, *run.config.input_paths()])
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
    if progress(args):
        for key, value in summary.items():
            print(f"{key}: {value}")
        print(f"saved {out}")
    return summary


def add_prune_command(commands: Any) -> None:
    """Register ``prune`` on the sub-command parser."""
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
