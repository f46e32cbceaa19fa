"""The ``skillneuron-lens`` command line.

``skillneuron-lens find --model minilm --task rotten_tomatoes --out runs/rt`` runs the frozen-model
pipeline offline: load the model and the task, fit a read-out, compute every neuron's predictivity,
select skill neurons (with layer-matched random controls), and save the run directory.

``torchrun --nproc-per-node 2 -m skillneuron_lens find ... --n-examples 1000 --out runs/rt`` shares the
predictivity passes among two processes (gloo on CPU, nccl with --device cuda); rank 0 writes the run
and prints. Spell the example count --n-examples there: torchrun reads --n as its own option.

A killed run continues where it stopped with the same command and --resume: the passes are
checkpointed every --checkpoint-every batches into .<out name>.snl-partial beside --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from skillneuron_lens.cli.options import (
    EXAMPLES,
    add_verbosity,
    label_list,
    layer_list,
    non_negative_int,
    positions,
    probability,
)
from skillneuron_lens.models.adapter import DEFAULT_HOOK
from skillneuron_lens.models.backends import DEVICE_MAPS, DTYPES
from skillneuron_lens.models.offline import KNOWN_MODELS
from skillneuron_lens.neurons.evidence import evidence_line
from skillneuron_lens.predictivity.compute import DEFAULT_PERMUTATIONS
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.checkpoints import DEFAULT_CHECKPOINT_EVERY
from skillneuron_lens.runs.config import (
    BALANCE_CHOICES,
    DEFAULT_FROZEN_EXAMPLES,
    HEAD_CHOICES,
    POOLING_CHOICES,
    READOUT_CHOICES,
    TUNE_CHOICES,
    FindConfig,
)
from skillneuron_lens.runs.finding import find, torchrun_process_group
from skillneuron_lens.stats.significance import FDR_METHODS, FdrMethod
from skillneuron_lens.tasks.catalog import TASKS

__all__ = ["add_find_command", "config_from_arguments", "print_table", "run_find"]


def config_from_arguments(args: argparse.Namespace) -> FindConfig:
    """The :class:`FindConfig` of parsed ``find`` arguments."""
    return FindConfig(**{key: value for key, value in vars(args).items() if key not in ("command", "func")})


def run_find(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``find``, print its table unless ``--quiet``, and return its summary.

    Under ``torchrun`` the processes share the work (see :func:`torchrun_process_group`); rank 0 writes,
    prints and returns the summary, the other processes return ``{}`` once the run is written.
    """
    config = config_from_arguments(args)
    with torchrun_process_group(config.device):
        run = find(config)
    if run is None:
        return {}
    if not args.quiet:
        summary = run.summary
        print_table(run.result, method=run.config.fdr_method)  # type: ignore[arg-type]
        accuracy = "n/a" if summary["test_accuracy"] is None else f"{summary['test_accuracy']:.3f}"
        best = summary["top_neurons"][0]["predictivity"]
        print(f"read-out test accuracy {accuracy}; best neuron {best:.3f}")
        print(evidence_line(summary, args.fraction))
        print(f"saved {Path(args.out)}")
    return run.summary


def print_table(result: PredictivityResult, *, method: FdrMethod, per_layer: int = 3) -> None:
    """Print the best neurons of each layer (fragile ones left out), with their evidence."""
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


def add_find_command(commands: Any) -> None:
    """Register ``find`` on the sub-command parser (options in the order ``summary.json`` lists them)."""
    find_parser = commands.add_parser(
        "find",
        help="compute every neuron's predictivity and select skill neurons",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = find_parser.add_argument_group("model and data")
    source.add_argument("--model", default="minilm",
                        help=f"offline name ({', '.join(KNOWN_MODELS)}), a local checkpoint directory "
                             "or a Hugging Face name (default: minilm)")
    source.add_argument("--task", default="rotten_tomatoes",
                        help=f"named task ({', '.join(TASKS)}); default rotten_tomatoes (offline)")
    source.add_argument("--train-file",
                        help="CSV/TSV/JSONL with text,label (or text_a,text_b,label; see --text-column)")
    source.add_argument("--dev-file", help="dev split file (default: 20%% of the train file)")
    source.add_argument("--test-file", help="test split file")
    source.add_argument("--stream", action="store_true",
                        help="read the data files (.jsonl, .ndjson, .csv, .tsv) a line at a time instead of "
                             "loading them: memory does not grow with the files; missing dev/test splits are "
                             "drawn by a seeded hash of each text (docs/method.md). Use it with "
                             "--n-examples 0 to read every example, and --readout none to keep no per-example"
                             " features")
    source.add_argument("--text-column", default=None,
                        help="column of the texts in the data files (default: text, or text_a,text_b "
                             "as pairs), e.g. sentence")
    source.add_argument("--label-column", default="label",
                        help="column of the labels in the data files (default: label)")
    source.add_argument("--labels", type=label_list,
                        help="label names in id order, e.g. negative,positive (string labels in the files "
                             "are mapped by it; default: int ids as they are, else alphabetical, with a "
                             "warning)")
    source.add_argument("--n-examples", "--n", dest="n", type=int, default=None,
                        help=f"use at most N examples in all, stratified (0 = all; default "
                             f"{DEFAULT_FROZEN_EXAMPLES} on the frozen model, all for --tune runs); spell it "
                             "--n-examples under torchrun, which takes --n for its own options")
    source.add_argument("--dev-share", type=float, default=None,
                        help="share of train + dev re-split into dev (default 0.5 unless --dev-file is "
                             "given): the significance tests need a large dev split, the baselines little "
                             "train data")
    source.add_argument("--seed", type=int, default=0, help="seed for splits, sampling, controls")
    source.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    source.add_argument("--dtype", choices=list(DTYPES), default="float32",
                        help="weights and activations: float32 (default), bfloat16 or float16; the "
                             "statistics accumulate in float64 whatever the model's dtype")
    source.add_argument("--device-map", choices=list(DEVICE_MAPS), default=None,
                        help="split one model that does not fit one device over the visible GPUs (Hugging "
                             "Face placement, through TransformerLens >= 3's bridge; leave --device at cpu). "
                             "Not with torchrun")
    neurons = find_parser.add_argument_group("neurons")
    neurons.add_argument(
        "--hook",
        default=DEFAULT_HOOK,
        help=f"neuron site: a hook template with {{layer}}, a concrete hook name, or either with [head=H] "
        f"(docs/sites.md; default {DEFAULT_HOOK})",
    )
    neurons.add_argument("--layers", type=layer_list, help="layers to record, e.g. 2-5 (default all)")
    neurons.add_argument("--positions", type=positions, default="auto",
                         help="0 ([CLS]/first token), a list like 0,1,-1, last, mean, max; auto = 0 for "
                              "encoders, last for decoders")
    neurons.add_argument("--fraction", type=float, default=0.02,
                         help="share of each layer's neurons selected as skill neurons (default 0.02)")
    neurons.add_argument("--top", type=int, default=20, help="top neurons listed in summary.json")
    neurons.add_argument("--q", type=probability, default=0.05,
                         help="false discovery rate for the significant neurons (default 0.05)")
    neurons.add_argument("--fdr-method", choices=list(FDR_METHODS), default="bh",
                         help="multiple-testing control: bh (Benjamini-Hochberg, default), by "
                              "(Benjamini-Yekutieli, any dependence) or holm (family-wise)")
    neurons.add_argument("--histograms", action="store_true",
                         help="also save per-class dev activation histograms of every neuron (AUROC next to "
                              "predictivity, distribution figures without re-running; about 72 MiB for "
                              "MiniLM at one position)")
    neurons.add_argument("--null-permutations", type=non_negative_int, default=DEFAULT_PERMUTATIONS,
                         help="shuffled dev-label copies scored in the dev pass for the per-layer chance "
                              f"band (default {DEFAULT_PERMUTATIONS}; 0 = none)")
    neurons.add_argument("--balance", choices=list(BALANCE_CHOICES), default="auto",
                         help="class-balance the splits predictivity is measured on (auto: on for "
                              "multi-class subtasks, off for binary; turn it on for a binary task with a "
                              "large majority class)")
    tuning = find_parser.add_argument_group("tuning (the paper's setting: a soft prompt on the frozen model)")
    tuning.add_argument("--tune", choices=list(TUNE_CHOICES), default="frozen",
                        help="frozen: fit the read-out on frozen features (no tuning); prompt: train a soft "
                             "prompt + read-out; bitfit: bias deltas; adapter: bottleneck adapters; none: "
                             "train the read-out head only by gradient. Neurons are read at the prompt slots "
                             "(prompt) or the label slot (others); --positions then counts inside them")
    tuning.add_argument("--prompt-length", type=int, default=16, help="soft-prompt slots (default 16)")
    tuning.add_argument("--head", choices=list(HEAD_CHOICES), default="auto",
                        help="tuned read-out: linear head, or verbalizer over the LM head (auto: verbalizer "
                             "for decoders with a trained head)")
    tuning.add_argument("--pooling", choices=list(POOLING_CHOICES), default="auto",
                        help="what a tuned linear head reads: read (the hidden state at the label slot), "
                             "mean (all tokens) or auto (mean for encoders, the label slot for decoders)")
    tuning.add_argument("--steps", type=int, default=450, help="training steps per run (default 450)")
    tuning.add_argument("--epochs", type=float, help="train for this many epochs instead of --steps")
    tuning.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
    tuning.add_argument("--train-batch-size", type=int, default=16, help="examples per step (default 16)")
    tuning.add_argument("--eval-every", type=int, default=None,
                        help="dev evaluation interval in steps (default: once, at the end, keeping the "
                             "final parameters)")
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
    run = find_parser.add_argument_group("read-out and run")
    run.add_argument("--readout", choices=list(READOUT_CHOICES), default="linear",
                     help="linear: logistic head on pooled last-layer features; verbalizer: label words "
                          "from the LM head (needs --template and --label-words)")
    run.add_argument("--readout-pooling", type=positions, default="auto",
                     help="features of the linear read-out: 0 ([CLS]), mean or last; auto = mean for "
                          "encoders, last for decoders")
    run.add_argument("--template", default="Review: {text}\nSentiment:",
                     help="verbalizer template with {text} (encoders also {mask})")
    run.add_argument("--label-words", default="negative,positive",
                     help="comma-separated label words, in label order")
    run.add_argument("--batch-size", type=int, default=32, help="examples per forward pass")
    run.add_argument("--max-length", type=int, default=64, help="truncate texts to this many tokens")
    run.add_argument("--out", required=True, help="run directory to create")
    run.add_argument("--overwrite", action="store_true",
                     help="replace an existing --out directory (and discard a partial run of it)")
    run.add_argument("--resume", action="store_true",
                     help="continue a killed run from its last checkpoint (same options and data; the "
                          "numbers equal an uninterrupted run's); starts from the beginning when there is "
                          "no checkpoint. Frozen-model runs in one process")
    run.add_argument("--checkpoint-every", type=non_negative_int, default=DEFAULT_CHECKPOINT_EVERY,
                     metavar="BATCHES",
                     help="save the passes' sums every BATCHES batches (and after each pass) beside --out, "
                          f"for --resume (default {DEFAULT_CHECKPOINT_EVERY}; 0 = no checkpoints)")
    run.add_argument("--no-report", action="store_true", help="do not write report.html")
    add_verbosity(run)
    find_parser.set_defaults(func=run_find)
