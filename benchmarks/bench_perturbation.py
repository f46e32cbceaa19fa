"""Benchmark: a perturbation curve of C conditions costs about C plain evaluation passes.

Model: the packaged MiniLM (``load_model("minilm")``) on CPU; data: ``load_task("rotten_tomatoes", seed=0,
n=N)``. A prompt-tuned ``TunedClassifier`` (16 soft-prompt slots, linear head, mean pooling,
``max_length`` 64) is trained for ``--steps`` steps (``--steps 0``: left untrained) or loaded with
``--classifier DIR``; the timing does not depend on its accuracy (every condition runs the same
forward passes whatever the weights), so a quick or untrained classifier measures the same cost.
Predictivity is recorded at the prompt slots (``classifier.predictivity(train, dev)``, timed for
reference). The evaluator is ``classifier.correct(split)`` on the ``--split`` split (default test).
Timed, in the same process: (a) ``perturbation_curve(model, evaluate, result, fractions=...,
draws=...)`` end to end (neuron sets, hooks, the evaluations, bootstrap intervals and sign-flip
tests), which runs C = 1 + len(fractions) * (2 + draws) evaluations (clean, then per fraction the
skill set, ``draws`` random sets and the bottom set); (b) C plain evaluation passes
``classifier.correct(split)`` with no hooks. The plain passes are split around each sweep (half
before, half after, the larger half alternating between repeats), so slow drifts in background load
hit both alike. Reported per repeat: sweep seconds / (sum of the C plain passes), against the target
of 1.10x, and the breakdown of the sweep into its evaluator calls (each timed) and the rest
(statistics, set building, hook set-up). The clean accuracy of the curve must equal the plain
pass's accuracy.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_perturbation.py --steps 100 --repeats 2 \
        --threads 2 --json bench_perturbation.json
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from _common import (
    add_shared_options,
    begin,
    classifier_and_predictivity,
    finish,
    fraction_list,
    load_average,
    timed,
)

import skillneuron_lens as snl
from skillneuron_lens.analysis.curves import DEFAULT_FRACTIONS

TARGET = 1.10
UNTRAINED = "untrained (timing does not depend on accuracy)"


def measure(
    model: Any,
    classifier: snl.TunedClassifier,
    result: Any,
    split: Any,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Sweeps and plain passes, interleaved: half the plain passes before each sweep, half after."""
    n_conditions = 1 + len(args.fractions) * (2 + args.draws)
    where = None if args.where == "all" else classifier.position_mask(args.where)

    def plain() -> torch.Tensor:
        return classifier.correct(split, progress=False)

    calls: list[float] = []

    def evaluate() -> torch.Tensor:
        out, seconds = timed(plain)
        calls.append(seconds)
        return out

    reference, warm_s = timed(plain)  # warm-up
    repeats: list[dict[str, Any]] = []
    curve = None
    for repeat in range(args.repeats):
        before = n_conditions // 2 if repeat % 2 == 0 else n_conditions - n_conditions // 2
        plain_s = [timed(plain)[1] for _ in range(before)]
        calls.clear()
        curve, sweep_s = timed(
            lambda: snl.perturbation_curve(
                model,
                evaluate,
                result,
                fractions=args.fractions,
                draws=args.draws,
                mode=args.mode,
                seed=args.seed,
                progress=False,
                where=where,
            )
        )
        sweep_calls = list(calls)
        plain_s += [timed(plain)[1] for _ in range(n_conditions - before)]
        row = {
            "sweep_s": sweep_s,
            "plain_total_s": sum(plain_s),
            "plain_pass_s": plain_s,
            "median_plain_pass_s": statistics.median(plain_s),
            "ratio": sweep_s / sum(plain_s),
            "evaluator_calls": len(sweep_calls),
            "evaluator_calls_s": sum(sweep_calls),
            "mean_perturbed_call_over_mean_plain_pass": (
                statistics.fmean(sweep_calls[1:]) / statistics.fmean(plain_s)
                if len(sweep_calls) > 1
                else float("nan")
            ),
            "sweep_outside_evaluator_s": sweep_s - sum(sweep_calls),
            "load_average": load_average(),
        }
        repeats.append(row)
        print(
            f"  repeat {repeat + 1}/{args.repeats}: sweep {sweep_s:.2f} s ({len(sweep_calls)} evaluator "
            f"calls), {n_conditions} plain passes {sum(plain_s):.2f} s "
            f"(median {row['median_plain_pass_s']:.3f} s) -> ratio {row['ratio']:.3f}; "
            f"load {row['load_average'][:1]}",
            flush=True,
        )
    assert curve is not None
    plain_accuracy = float(reference.double().mean())
    return {
        "n_conditions": n_conditions,
        "n_examples": int(reference.numel()),
        "warmup_pass_s": warm_s,
        "repeats": repeats,
        "median_ratio": statistics.median(row["ratio"] for row in repeats),
        "plain_accuracy": plain_accuracy,
        "curve_clean_accuracy": curve.clean_accuracy,
        "clean_matches_plain": abs(curve.clean_accuracy - plain_accuracy) < 1e-12,
        "curve": curve.table(),
    }


def print_results(results: dict[str, Any]) -> None:
    """The summary table."""
    timing = results["timing"]
    config = results["config"]
    print(
        f"\n{timing['n_conditions']} conditions = 1 + {len(config['fractions'])} fractions x (2 + "
        f"{config['draws']} draws); split {config['split']} ({timing['n_examples']} examples, batch "
        f"{config['batch_size']}); mode {config['mode']}, where {config['where']}"
    )
    print(
        f"{'repeat':>6s} {'sweep s':>9s} {'C plain s':>10s} {'ratio':>7s} {'eval calls':>10s} "
        f"{'in evaluator s':>14s} {'outside s':>10s} {'perturbed/plain pass':>21s}"
    )
    for index, row in enumerate(timing["repeats"]):
        print(
            f"{index + 1:6d} {row['sweep_s']:9.2f} {row['plain_total_s']:10.2f} {row['ratio']:7.3f} "
            f"{row['evaluator_calls']:10d} {row['evaluator_calls_s']:14.2f} "
            f"{row['sweep_outside_evaluator_s']:10.2f} "
            f"{row['mean_perturbed_call_over_mean_plain_pass']:21.3f}"
        )
    verdict = "OK" if timing["median_ratio"] <= TARGET else "ABOVE TARGET"
    print(
        f"median sweep / (C x plain pass) = {timing['median_ratio']:.3f}   (target: within {TARGET:.2f}x) "
        f"-> {verdict}"
    )
    print(
        f"clean accuracy: curve {timing['curve_clean_accuracy']:.4f}, plain pass "
        f"{timing['plain_accuracy']:.4f} ({'equal' if timing['clean_matches_plain'] else 'DIFFERENT'}); "
        f"classifier: {results['classifier']['source']}; predictivity at the prompt slots took "
        f"{results['predictivity_s']:.1f} s"
    )
    print("curve (accuracy): fraction  skill  random  bottom  p")
    for row in timing["curve"]:
        print(
            f"                  {row['fraction']:8.3f}  {row['skill']:.3f}  {row['random']:.3f}   "
            f"{row['bottom']:.3f}  {row['p_value']:.2g}"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="examples loaded (train/dev/test splits)")
    parser.add_argument(
        "--steps", type=int, default=100, help="prompt training steps (0: untrained; timing is the same)"
    )
    parser.add_argument("--classifier", type=Path, default=None, help="load a saved TunedClassifier instead")
    parser.add_argument("--save-classifier", type=Path, default=None, help="save the trained classifier here")
    parser.add_argument(
        "--fractions",
        type=fraction_list,
        default=list(DEFAULT_FRACTIONS),
        help="comma list (default 0.01,0.02,0.05,0.1,0.15,0.2)",
    )
    parser.add_argument("--draws", type=int, default=5, help="random control sets per fraction")
    parser.add_argument("--mode", default="gaussian", choices=("gaussian", "zero", "mean"))
    parser.add_argument("--where", default="all", choices=("all", "prompt", "input"))
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"))
    parser.add_argument("--repeats", type=int, default=1, help="sweeps (each with its C plain passes)")
    parser.add_argument("--batch-size", type=int, default=32, help="evaluation batch size")
    add_shared_options(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark."""
    args = parse_args(argv)
    results, model, task = begin(args, TARGET)
    classifier, result = classifier_and_predictivity(model, task, args, results, UNTRAINED)
    split = task.splits[args.split]
    results["timing"] = measure(model, classifier, result, split, args)
    finish(results, args, print_results)


if __name__ == "__main__":
    main()
