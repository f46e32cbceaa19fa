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
import json
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

import skillneuron_lens as snl
from skillneuron_lens.perturbation import DEFAULT_FRACTIONS

TARGET = 1.10


def command_line() -> str:
    """The command that started this process (``HF_HUB_OFFLINE`` as this script sees it)."""
    argv = getattr(sys, "orig_argv", [sys.executable, *sys.argv])
    return f"HF_HUB_OFFLINE={os.environ['HF_HUB_OFFLINE']} {shlex.join(argv)}"


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where unavailable)."""
    try:
        return list(os.getloadavg())
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    from importlib.metadata import version

    import transformers

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "transformer_lens": version("transformer-lens"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def fraction_list(text: str) -> list[float]:
    """``"0.01,0.05"`` -> ``[0.01, 0.05]``."""
    return [float(part) for part in text.split(",") if part.strip()]


def get_classifier(
    model: Any, task: Any, args: argparse.Namespace
) -> tuple[snl.TunedClassifier, dict[str, Any]]:
    """Load the classifier from ``--classifier`` or build one and train it for ``--steps`` steps."""
    if args.classifier is not None:
        classifier = snl.TunedClassifier.load(args.classifier, model)
        return classifier, {"source": f"loaded from {args.classifier}", "history": classifier.history}
    config = snl.ClassifierConfig(
        method="prompt",
        head="linear",
        n_classes=task.n_classes,
        prompt_length=args.prompt_length,
        max_length=args.max_length,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    classifier = snl.TunedClassifier(model, config)
    if args.steps <= 0:
        return classifier, {"source": "untrained (timing does not depend on accuracy)", "history": []}
    training = snl.TrainConfig(
        steps=args.steps,
        eval_every=max(1, min(50, args.steps)),
        patience=None,
        seed=args.seed,
        progress=False,
    )
    start = time.perf_counter()
    snl.train_classifier(classifier, task.train, task.dev, training)
    seconds = time.perf_counter() - start
    if args.save_classifier is not None:
        classifier.save(args.save_classifier, overwrite=True)
    return classifier, {
        "source": f"trained {args.steps} steps ({seconds:.0f} s)",
        "history": classifier.history,
        "train_s": seconds,
    }


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    """Call and time."""
    start = time.perf_counter()
    out = function()
    return out, time.perf_counter() - start


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
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark."""
    args = parse_args(argv)
    print(f"command: {command_line()}", flush=True)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    results: dict[str, Any] = {
        "command": command_line(),
        "config": {key: str(v) if isinstance(v, Path) else v for key, v in vars(args).items()},
        "machine": machine(),
        "load_average_start": load_average(),
    }
    results["config"]["target"] = TARGET
    print(json.dumps(results["machine"]), flush=True)
    model = snl.load_model("minilm")
    task = snl.load_task("rotten_tomatoes", seed=0, n=args.n)
    classifier, results["classifier"] = get_classifier(model, task, args)
    print(f"classifier: {results['classifier']['source']}", flush=True)
    result, results["predictivity_s"] = timed(
        lambda: classifier.predictivity(task.train, task.dev, progress=False)
    )
    split = task.splits[args.split]
    results["timing"] = measure(model, classifier, result, split, args)
    results["load_average_end"] = load_average()
    print_results(results)
    print(f"load average start {results['load_average_start']}, end {results['load_average_end']}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
