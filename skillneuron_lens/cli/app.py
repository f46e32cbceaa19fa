"""The ``skillneuron-lens`` command line.

``skillneuron-lens find --model minilm --task rotten_tomatoes --out runs/rt`` runs the frozen-model
pipeline offline: load the model and the task, fit a read-out, compute every neuron's predictivity,
select skill neurons (with layer-matched random controls), and save the run directory.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from skillneuron_lens import __version__
from skillneuron_lens.cli.cross_perturb import add_cross_perturb_command
from skillneuron_lens.cli.steps import (
    RUN_KIND,
    SUMMARY_FILE,
    add_step_commands,
    check_fractions,
    label_list,
    layer_list,
    load_data,
    resolve_dev_share,
    run_inputs,
)
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import TUNED_RUN_PREFIX
from skillneuron_lens.io import check_destination, dumps_strict, staged_directory
from skillneuron_lens.models.adapter import DEFAULT_HOOK, ModelAdapter
from skillneuron_lens.models.load import KNOWN_MODELS, load_model
from skillneuron_lens.neurons.evidence import (
    evidence_line,
    held_out_summary,
    significance_summary,
    warn_if_dev_too_small,
)
from skillneuron_lens.neurons.majority import WARN_SHARE, scored_majority_share, warn_about_constant_neurons
from skillneuron_lens.neurons.sets import NeuronSet, fraction_to_count
from skillneuron_lens.predictivity.compute import DEFAULT_PERMUTATIONS, compute_predictivity, hook_width
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.recorder import RecordingConfig
from skillneuron_lens.report import write_report
from skillneuron_lens.stats.significance import FDR_METHODS, FdrMethod
from skillneuron_lens.tasks.catalog import TASKS
from skillneuron_lens.tasks.provenance import data_record
from skillneuron_lens.tasks.subtasks import describe_subtasks
from skillneuron_lens.tasks.task import Task
from skillneuron_lens.tuning.classifier import ClassifierConfig
from skillneuron_lens.tuning.pipeline import TunedRuns, tune_runs
from skillneuron_lens.tuning.readouts import LinearReadout, VerbalizerReadout
from skillneuron_lens.tuning.training import TrainConfig

__all__ = [
    "EXAMPLES",
    "build_parser",
    "run_find",
    "main",
]

EXAMPLES = """examples:
  skillneuron-lens find --model minilm --task rotten_tomatoes --out runs/rt
  skillneuron-lens find --model smollm2 --task rotten_tomatoes --positions last --n 1000 --out runs/rt-smol
  skillneuron-lens find --model minilm --train-file train.csv --dev-file dev.csv --test-file test.csv \\
      --out runs/mine
  skillneuron-lens find --model minilm --tune prompt --runs 3 --out runs/rt-prompt
  skillneuron-lens perturb --run runs/rt-prompt --mode gaussian --std 0.1
  skillneuron-lens prune --run runs/rt-prompt --keep 0.02 --layers 2-5 --out runs/rt-pruned
  skillneuron-lens compare runs/rt-prompt runs/tweets-prompt --out runs/compare
  skillneuron-lens cross-perturb runs/rt-prompt runs/tweets-prompt --mode zero --out runs/cross
  skillneuron-lens report runs/rt-prompt
"""


def _positions(text: str) -> Any:
    """Parse ``--positions``: ``0``, ``0,1,-1``, ``last``, ``mean``, ``max`` or ``auto``."""
    if text in ("auto", "last", "mean", "max"):
        return text
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a position: use an int, a comma list of ints, last, mean, max or auto"
        ) from None
    return values[0] if len(values) == 1 else values


def _probability(text: str) -> float:
    """Parse a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _non_negative_int(text: str) -> int:
    """Parse an integer that is 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per pipeline step."""
    parser = argparse.ArgumentParser(
        prog="skillneuron-lens",
        description="Find skill neurons in TransformerLens models (Wang et al., EMNLP 2022).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    find = commands.add_parser(
        "find",
        help="compute every neuron's predictivity and select skill neurons",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = find.add_argument_group("model and data")
    source.add_argument("--model", default="minilm",
                        help=f"offline name ({', '.join(KNOWN_MODELS)}), a local checkpoint directory "
                             "or a Hugging Face name (default: minilm)")
    source.add_argument("--task", default="rotten_tomatoes",
                        help=f"named task ({', '.join(TASKS)}); default rotten_tomatoes (offline)")
    source.add_argument("--train-file", help="CSV/JSONL with text,label (or text_a,text_b,label)")
    source.add_argument("--dev-file", help="dev split file (default: 20%% of the train file)")
    source.add_argument("--test-file", help="test split file")
    source.add_argument("--labels", type=label_list,
                        help="label names in id order, e.g. negative,positive (string labels in the files "
                             "are mapped by it; default: int ids as they are, else alphabetical, with a "
                             "warning)")
    source.add_argument("--n", type=int, default=4000,
                        help="use at most N examples in all, stratified (default 4000; 0 = all)")
    source.add_argument("--dev-share", type=float, default=None,
                        help="share of train + dev re-split into dev (default 0.5 unless --dev-file is "
                             "given): the significance tests need a large dev split, the baselines little "
                             "train data")
    source.add_argument("--seed", type=int, default=0, help="seed for splits, sampling, controls")
    source.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    source.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16")
    neurons = find.add_argument_group("neurons")
    neurons.add_argument("--hook", default=DEFAULT_HOOK, help=f"hook template (default {DEFAULT_HOOK})")
    neurons.add_argument("--layers", type=layer_list, help="layers to record, e.g. 2-5 (default all)")
    neurons.add_argument("--positions", type=_positions, default="auto",
                         help="0 ([CLS]/first token), a list like 0,1,-1, last, mean, max; auto = 0 for "
                              "encoders, last for decoders")
    neurons.add_argument("--fraction", type=float, default=0.02,
                         help="share of each layer's neurons selected as skill neurons (default 0.02)")
    neurons.add_argument("--top", type=int, default=20, help="top neurons listed in summary.json")
    neurons.add_argument("--q", type=_probability, default=0.05,
                         help="false discovery rate for the significant neurons (default 0.05)")
    neurons.add_argument("--fdr-method", choices=list(FDR_METHODS), default="bh",
                         help="multiple-testing control: bh (Benjamini-Hochberg, default), by "
                              "(Benjamini-Yekutieli, any dependence) or holm (family-wise)")
    neurons.add_argument("--histograms", action="store_true",
                         help="also save per-class dev activation histograms of every neuron (AUROC next to "
                              "predictivity, distribution figures without re-running; about 72 MiB for "
                              "MiniLM at one position)")
    neurons.add_argument("--null-permutations", type=_non_negative_int, default=DEFAULT_PERMUTATIONS,
                         help="shuffled dev-label copies scored in the dev pass for the per-layer chance "
                              f"band (default {DEFAULT_PERMUTATIONS}; 0 = none)")
    neurons.add_argument("--balance", choices=["auto", "on", "off"], default="auto",
                         help="class-balance the splits predictivity is measured on (auto: on for "
                              "multi-class subtasks, off for binary; turn it on for a binary task with a "
                              "large majority class)")
    tuning = find.add_argument_group("tuning (the paper's setting: a soft prompt on the frozen model)")
    tuning.add_argument("--tune", choices=["frozen", "prompt", "bitfit", "adapter", "none"], default="frozen",
                        help="frozen: fit the read-out on frozen features (no tuning); prompt: train a soft "
                             "prompt + read-out; bitfit: bias deltas; adapter: bottleneck adapters; none: "
                             "train the read-out head only by gradient. Neurons are read at the prompt slots "
                             "(prompt) or the label slot (others); --positions then counts inside them")
    tuning.add_argument("--prompt-length", type=int, default=16, help="soft-prompt slots (default 16)")
    tuning.add_argument("--head", choices=["auto", "linear", "verbalizer"], default="auto",
                        help="tuned read-out: linear head, or verbalizer over the LM head (auto: verbalizer "
                             "for decoders with a trained head)")
    tuning.add_argument("--pooling", choices=["auto", "read", "mean"], default="auto",
                        help="what a tuned linear head reads: read (the hidden state at the label slot), "
                             "mean (all tokens) or auto (mean for encoders, the label slot for decoders)")
    tuning.add_argument("--steps", type=int, default=300, help="training steps per run (default 300)")
    tuning.add_argument("--epochs", type=float, help="train for this many epochs instead of --steps")
    tuning.add_argument("--lr", type=float, default=3e-2, help="peak learning rate (default 3e-2)")
    tuning.add_argument("--train-batch-size", type=int, default=16, help="examples per step (default 16)")
    tuning.add_argument("--eval-every", type=int, default=50, help="dev evaluation interval in steps")
    tuning.add_argument("--patience", type=int, default=4,
                        help="stop after this many evaluations without dev improvement (0 = never)")
    tuning.add_argument("--bf16", action="store_true", help="train under bfloat16 autocast")
    tuning.add_argument("--head-lr", type=float, help="learning rate of the linear head (default: --lr)")
    tuning.add_argument("--input-control", action="store_true",
                        help="also score the input tokens (mean and max pooled) of the first run: the "
                             "paper's check that skill neurons are not keyword detectors")
    tuning.add_argument("--runs", type=int, default=1,
                        help="tuning runs with seeds seed, seed+1, ... (the paper: several); predictivity "
                             "is their mean")
    run = find.add_argument_group("read-out and run")
    run.add_argument("--readout", choices=["linear", "verbalizer", "none"], default="linear",
                     help="linear: logistic head on pooled last-layer features; verbalizer: label words "
                          "from the LM head (needs --template and --label-words)")
    run.add_argument("--readout-pooling", type=_positions, default="auto",
                     help="features of the linear read-out: 0 ([CLS]), mean or last; auto = mean for "
                          "encoders, last for decoders")
    run.add_argument("--template", default="Review: {text}\nSentiment:",
                     help="verbalizer template with {text} (encoders also {mask})")
    run.add_argument("--label-words", default="negative,positive",
                     help="comma-separated label words, in label order")
    run.add_argument("--batch-size", type=int, default=32, help="examples per forward pass")
    run.add_argument("--max-length", type=int, default=64, help="truncate texts to this many tokens")
    run.add_argument("--out", required=True, help="run directory to create")
    run.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    run.add_argument("--no-report", action="store_true", help="do not write report.html")
    _add_verbosity(run)
    add_step_commands(commands, _add_verbosity)
    add_cross_perturb_command(commands, _add_verbosity)
    return parser


def _add_verbosity(group: Any) -> None:
    verbosity = group.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true", help="no progress bars or tables")
    verbosity.add_argument("--verbose", action="store_true", help="log details (data sources, timings)")


def _readout(args: argparse.Namespace, model: Any, task: Task, quiet: bool) -> Any:
    if args.readout == "none":
        return None
    if args.readout == "verbalizer":
        words = [word.strip() for word in args.label_words.split(",")]
        if len(words) != task.n_classes:
            raise SkillNeuronError(
                f"--label-words gives {len(words)} words for a task with {task.n_classes} classes "
                f"({', '.join(task.label_names)})."
            )
        return VerbalizerReadout(model, args.template, words, batch_size=args.batch_size, progress=not quiet)
    pooling = args.readout_pooling
    if pooling == "auto":
        pooling = "mean" if ModelAdapter(model).is_encoder else "last"
    recording = RecordingConfig(batch_size=args.batch_size, max_length=args.max_length, progress=not quiet)
    readout = LinearReadout(model, pooling=pooling, recording=recording)
    return readout.fit(task.train, task.dev, n_classes=task.n_classes)


def _evidence(
    result: PredictivityResult, args: argparse.Namespace, *, tuned: bool
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """The skill set's summary, with its significance and held-out blocks."""
    skill = NeuronSet.top(result, fraction=args.fraction)
    controls = skill.random_controls(n_draws=5, seed=args.seed)
    random_means = [float(c.scores(result).mean()) for c in controls]
    skill_summary = {
        "fraction_per_layer": args.fraction,
        "count_per_layer": skill.counts_per_layer().tolist(),
        "mean_predictivity": float(skill.scores(result).mean()),
        "random_control_mean_predictivity": random_means,
    }
    significance = significance_summary(
        result, skill, q=args.q, method=args.fdr_method, model_selected_on_dev=tuned
    )
    held_out = held_out_summary(result, skill, controls, q=args.q, method=args.fdr_method)
    return skill_summary, significance, held_out


def _print_table(result: PredictivityResult, *, method: FdrMethod, per_layer: int = 3) -> None:
    """The best neurons of each layer (fragile ones left out), with their evidence."""
    q_values = result.q_value(method) if result.has_significance else None
    held_out = result.held_out_predictivity
    fragile = result.fragile
    print("layer  neuron  predictivity  polarity  q-value  held-out")
    for row, layer in enumerate(result.layers):
        scores = result.predictivity[row]
        if fragile is not None:
            scores = scores.masked_fill(fragile[row], -torch.inf)
        order = torch.sort(scores, descending=True, stable=True).indices[:per_layer]
        for neuron in order.tolist():
            q_text = "n/a" if q_values is None else f"{float(q_values[row, neuron]):.2g}"
            held_text = "n/a" if held_out is None else f"{float(held_out[row, neuron]):.3f}"
            print(f"{layer:>5}  {neuron:>6}  {float(result.predictivity[row, neuron]):>12.3f}  "
                  f"{int(result.polarity[row, neuron]):>+8d}  {q_text:>7}  {held_text:>8}")
    if fragile is not None and bool(fragile.any()):
        print(f"({int(fragile.sum())} numerically fragile neurons left out of the table and the skill sets)")


def _check_max_length(args: argparse.Namespace, model: Any, task: Task) -> None:
    """Refuse a ``--max-length`` the tokenizer cannot honour or the model's context cannot hold."""
    adapter = ModelAdapter(model)
    added = {
        "soft-prompt slots": args.prompt_length if args.tune == "prompt" else 0,
        "the [MASK] slot": int(adapter.is_encoder and args.tune != "frozen" and args.head == "verbalizer"),
        "the BOS token": int(not adapter.is_encoder and adapter.bos_added_here()),
    }
    adapter.check_max_length(
        args.max_length, pair=task.is_pair, reserved=sum(added.values()), option="--max-length",
        what_is_reserved=" and ".join(f"{what} ({count})" for what, count in added.items() if count),
    )


def _announce_subtasks(task: Task) -> None:
    """Log how a task with three or more classes is split into the binary subtasks that are scored."""
    if task.n_classes >= 3:
        logging.getLogger("skillneuron_lens").warning(
            "%d classes (%s): predictivity is scored on the binary subtasks %s",
            task.n_classes, ", ".join(f"{name}={k}" for k, name in enumerate(task.label_names)),
            describe_subtasks(task.label_names),
        )


def _balance(args: argparse.Namespace) -> bool | None:
    """``--balance`` as ``compute_predictivity`` takes it: None (auto), True or False."""
    return {"auto": None, "on": True, "off": False}[args.balance]


def _warn_if_imbalanced(task: Task, share: float | None) -> None:
    """Warn before scoring when a majority side makes constant neurons look predictive."""
    if share is None or share < WARN_SHARE:
        return
    where = "of the dev examples are one class" if task.n_classes == 2 else (
        "of the dev examples are on one side of each one-vs-rest subtask, on average"
    )
    logging.getLogger("skillneuron_lens").warning(
        "%.0f%% %s: a neuron that is always above (or below) its baseline scores %.3f predictivity without "
        "telling the classes apart, and can rank among the skill neurons. Pass --balance on to measure "
        "predictivity on class-balanced splits.",
        100 * share, where, share,
    )


def run_find(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``find`` and return its summary."""
    out = Path(args.out)
    inputs = run_inputs(args)
    check_destination(out, RUN_KIND, overwrite=args.overwrite, inputs=inputs)  # before any computation
    started = time.perf_counter()
    quiet = args.quiet
    resolve_dev_share(args)
    task = load_data(args)  # cheap checks first: bad data fails before the model loads
    _announce_subtasks(task)
    data = data_record(args)
    share = scored_majority_share(list(task.dev.labels), task.n_classes, _balance(args))
    _warn_if_imbalanced(task, share)
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    check_fractions([args.fraction], hook_width(model, args.hook, args.layers), "--fraction")
    _check_max_length(args, model, task)
    test_split = task.splits.get("test")
    tuned: TunedRuns | None = None
    if args.tune == "frozen":
        positions = args.positions
        if positions == "auto":
            positions = 0 if ModelAdapter(model).is_encoder else "last"
        readout = _readout(args, model, task, quiet)
        test_accuracy = None if readout is None or test_split is None else readout.accuracy(test_split)
        recording = RecordingConfig(
            batch_size=args.batch_size, max_length=args.max_length, progress=not quiet
        )
        result = compute_predictivity(
            model, task.train, task.dev, hook=args.hook, layers=args.layers, positions=positions,
            recording=recording,
            n_classes=task.n_classes, seed=args.seed, balance=_balance(args), test=test_split,
            n_permutations=args.null_permutations, histograms=args.histograms,
        )
    else:
        positions = None if args.positions == "auto" else args.positions
        tuned = _tune(args, model, task, positions, quiet)
        result, test_accuracy = tuned.combined, tuned.mean_test_accuracy
    too_small = warn_if_dev_too_small(result, q=args.q)
    skill_summary, significance, held_out = _evidence(result, args, tuned=tuned is not None)
    skill_summary["dev_majority_share"] = share
    skill_summary["at_majority_share"] = (
        None if share is None else warn_about_constant_neurons("find", result, share, args.fraction)
    )
    summary = {
        "model": args.model,
        "task": task.name,
        "task_source": task.source,
        "data": data,
        "label_names": list(task.label_names),
        "n_train": len(task.train),
        "n_dev": len(task.dev),
        "n_test": 0 if test_split is None else len(test_split),
        "readout": args.readout,
        "test_accuracy": test_accuracy,
        "positions": positions,
        "hook": args.hook,
        "top_neurons": result.top_neurons(min(args.top, result.n_layers * result.n_neurons)),
        "skill_neurons": skill_summary,
        "significance": significance,
        "held_out": held_out,
        "null": _null_summary(result),
        "dev_too_small": too_small,
        "seconds": round(time.perf_counter() - started, 1),
        "tune": args.tune,
        "arguments": {key: value for key, value in vars(args).items() if key != "func"},
    }
    if tuned is not None:
        summary["tuning"] = {
            "method": args.tune,
            "head": tuned.classifiers[0].head_kind,
            "runs": args.runs,
            "run_test_accuracies": tuned.test_accuracies,
            "run_best_dev_accuracies": tuned.dev_accuracies,
            "trainable_parameters": tuned.classifiers[0].parts.n_trainable(),
            "classifiers": [f"{TUNED_RUN_PREFIX}{index}" for index in range(args.runs)],
            "history": [classifier.history for classifier in tuned.classifiers],
            "run_best_predictivity": [float(r.predictivity.max()) for r in tuned.results],
            "run_top1pct_mean_predictivity": [_top_share_mean(r) for r in tuned.results],
        }
        if args.input_control:
            summary["tuning"]["input_control"] = _input_control(args, tuned, task, quiet)
    # Everything (tuned classifiers and report included) goes into one staging directory, which is
    # swapped into place at the end: a kill never leaves a partial run behind.
    with staged_directory(out, RUN_KIND, overwrite=args.overwrite, inputs=inputs) as staging:
        result.write_into(staging, extra_files={SUMMARY_FILE: dumps_strict(summary)})
        if tuned is not None:
            for index, classifier in enumerate(tuned.classifiers):
                classifier.save(staging / f"{TUNED_RUN_PREFIX}{index}")
        if not args.no_report:
            write_report(staging)
    if not quiet:
        _print_table(result, method=args.fdr_method)
        accuracy = "n/a" if test_accuracy is None else f"{test_accuracy:.3f}"
        best = summary["top_neurons"][0]["predictivity"]
        print(f"read-out test accuracy {accuracy}; best neuron {best:.3f}")
        print(evidence_line(summary, args.fraction))
        print(f"saved {out}")
    return summary


def _null_summary(result: PredictivityResult) -> dict[str, Any] | None:
    """The per-layer chance band: the 95% quantile of each layer's best score under shuffled labels."""
    maxima = result.null_layer_maxima(0.95)
    if maxima is None or result.null_run_predictivity is None:
        return None
    return {
        "n_permutations": int(result.null_run_predictivity.shape[0]),
        "level": 0.95,
        "layer_maxima": [float(value) for value in maxima],
    }


def _tune(args: argparse.Namespace, model: Any, task: Task, positions: Any, quiet: bool) -> TunedRuns:
    words = tuple(word.strip() for word in args.label_words.split(",")) if args.label_words else ()
    if args.head == "linear" or len(words) != task.n_classes:
        if args.head == "verbalizer":
            raise SkillNeuronError(
                f"--label-words gives {len(words)} words for a task with {task.n_classes} classes."
            )
        words = ()
    classifier = ClassifierConfig(
        method=args.tune, head=args.head, pooling=args.pooling, n_classes=task.n_classes, label_words=words,
        prompt_length=args.prompt_length, max_length=args.max_length, batch_size=args.batch_size,
        seed=args.seed,
    )
    training = TrainConfig(
        steps=None if args.epochs else args.steps, epochs=args.epochs or 4.0,
        lr=args.lr, head_lr=args.head_lr,
        batch_size=args.train_batch_size, eval_every=args.eval_every, patience=args.patience or None,
        bf16=args.bf16, seed=args.seed, progress=not quiet,
    )
    return tune_runs(
        model, task, classifier, training, runs=args.runs, positions=positions, hook=args.hook,
        layers=args.layers, balance=_balance(args), progress=not quiet,
        n_permutations=args.null_permutations,
    )


def _input_control(args: argparse.Namespace, tuned: TunedRuns, task: Task, quiet: bool) -> dict[str, Any]:
    """Predictivity over the input tokens (mean / max pooled) next to the prompt slots, first run."""
    classifier, prompt = tuned.classifiers[0], tuned.results[0]
    out: dict[str, Any] = {"prompt_slots": _headline(prompt)}
    for pooling in ("mean", "max"):
        result = classifier.predictivity(
            task.train, task.dev, region="input", positions=pooling, hook=args.hook, layers=args.layers,
            recording=RecordingConfig(batch_size=classifier.config.batch_size, progress=not quiet),
        )
        out[f"input_{pooling}"] = _headline(result)
    return out


def _headline(result: PredictivityResult) -> dict[str, float]:
    return {
        "best": float(result.predictivity.max()),
        "top1pct_mean": _top_share_mean(result),
        "mean": float(result.predictivity.mean()),
    }


def _top_share_mean(result: PredictivityResult, share: float = 0.01) -> float:
    """Mean predictivity of each layer's top ``share`` of neurons (at least one per layer)."""
    count = max(1, fraction_to_count(share, result.n_neurons))
    return float(NeuronSet.top(result, k=count).scores(result).mean())


def _silence_third_party_progress() -> None:
    """Hide the progress bars that transformers and datasets draw while loading."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        import datasets

        datasets.disable_progress_bars()
    except (ImportError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``skillneuron-lens``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if getattr(args, "quiet", False):
        _silence_third_party_progress()
    try:
        if args.command == "find":
            run_find(args)
        else:
            args.func(args)
    except (SkillNeuronError, FileExistsError) as error:
        print(f"skillneuron-lens: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skillneuron-lens: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last resort: a short message and a log, no traceback
        log = _write_error_log(argv)
        first = (str(error).strip().splitlines() or [""])[0]
        print(
            f"skillneuron-lens: unexpected error: {type(error).__name__}: {first}\n"
            f"The full traceback is in {log}; please attach it to a bug report.",
            file=sys.stderr,
        )
        return 1
    return 0


def _write_error_log(argv: Sequence[str] | None) -> Path | str:
    """Write the traceback of the exception being handled to a log file; its path."""
    folder = Path(tempfile.gettempdir()) / "skillneuron-lens"
    arguments = list(sys.argv[1:] if argv is None else argv)
    text = (
        f"skillneuron-lens {__version__}, Python {sys.version.split()[0]}, torch {torch.__version__}\n"
        f"arguments: {arguments}\n\n{traceback.format_exc()}"
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        prefix = time.strftime("error-%Y%m%d-%H%M%S-")
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".log", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError:
        return "(no log: the temporary folder is not writable)"
    return Path(name)


if __name__ == "__main__":
    sys.exit(main())
