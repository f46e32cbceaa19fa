"""Shared set-up of the tuning, perturbation and pruning benchmarks.

Each benchmark script sets ``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE`` and ``TOKENIZERS_PARALLELISM``
itself before its imports (this module imports torch), then uses: :func:`add_shared_options` for the
options they all take, :func:`begin` to print the command and the machine, apply ``--threads`` and
``--seed`` and load the packaged MiniLM with the Rotten Tomatoes task, and :func:`finish` to print the
summary and write ``--json``. Run the scripts as files (``python benchmarks/bench_*.py``), so that this
directory is on ``sys.path``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import skillneuron_lens as snl


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
    """``"0.02,0.05"`` -> ``[0.02, 0.05]``."""
    return [float(part) for part in text.split(",") if part.strip()]


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    """Call and time."""
    start = time.perf_counter()
    out = function()
    return out, time.perf_counter() - start


def add_shared_options(parser: argparse.ArgumentParser) -> None:
    """``--max-length``, ``--prompt-length``, ``--seed`` and ``--threads``, in that order."""
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )


def begin(args: argparse.Namespace, target: float | None = None) -> tuple[dict[str, Any], Any, Any]:
    """Print the command, apply ``--threads`` and ``--seed``, record the machine, load model and task.

    Returns:
        The results so far (``command``, ``config`` with ``target`` where given, ``machine``,
        ``load_average_start``), the packaged MiniLM and ``load_task("rotten_tomatoes", seed=0,
        n=args.n)``.
    """
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
    if target is not None:
        results["config"]["target"] = target
    print(json.dumps(results["machine"]), flush=True)
    model = snl.load_model("minilm")
    task = snl.load_task("rotten_tomatoes", seed=0, n=args.n)
    return results, model, task


def finish(
    results: dict[str, Any], args: argparse.Namespace, print_results: Callable[[dict[str, Any]], None]
) -> None:
    """Record the final load average, print the summary and write the results to ``--json``."""
    results["load_average_end"] = load_average()
    print_results(results)
    print(f"load average start {results['load_average_start']}, end {results['load_average_end']}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")


def prompt_config(args: argparse.Namespace, n_classes: int) -> snl.ClassifierConfig:
    """The benchmarks' prompt-tuning setup: a linear head, ``--prompt-length``, ``--max-length``,
    ``--batch-size`` and ``--seed``."""
    return snl.ClassifierConfig(
        method="prompt",
        head="linear",
        n_classes=n_classes,
        prompt_length=args.prompt_length,
        max_length=args.max_length,
        batch_size=args.batch_size,
        seed=args.seed,
    )


def get_classifier(
    model: Any, task: Any, args: argparse.Namespace, untrained: str = "untrained"
) -> tuple[snl.TunedClassifier, dict[str, Any]]:
    """Load the classifier from ``--classifier`` or build one and train it for ``--steps`` steps.

    A prompt-tuned classifier (linear head) with ``--prompt-length``, ``--max-length``,
    ``--batch-size`` and ``--seed``; saved to ``--save-classifier`` when trained. ``untrained`` is
    the source noted for ``--steps 0``.
    """
    if args.classifier is not None:
        classifier = snl.TunedClassifier.load(args.classifier, model)
        return classifier, {"source": f"loaded from {args.classifier}", "history": classifier.history}
    classifier = snl.TunedClassifier(model, prompt_config(args, task.n_classes))
    if args.steps <= 0:
        return classifier, {"source": untrained, "history": []}
    training = snl.TrainConfig(
        steps=args.steps,
        eval_every=max(1, min(50, args.steps)),
        patience=None,
        seed=args.seed,
        progress=False,
    )
    _, seconds = timed(lambda: snl.train_classifier(classifier, task.train, task.dev, training))
    if args.save_classifier is not None:
        classifier.save(args.save_classifier, overwrite=True)
    return classifier, {
        "source": f"trained {args.steps} steps ({seconds:.0f} s)",
        "history": classifier.history,
        "train_s": seconds,
    }


def classifier_and_predictivity(
    model: Any, task: Any, args: argparse.Namespace, results: dict[str, Any], untrained: str = "untrained"
) -> tuple[snl.TunedClassifier, Any]:
    """:func:`get_classifier`, then predictivity at the prompt slots (timed), noted in ``results``."""
    classifier, results["classifier"] = get_classifier(model, task, args, untrained)
    print(f"classifier: {results['classifier']['source']}", flush=True)
    result, results["predictivity_s"] = timed(
        lambda: classifier.predictivity(task.train, task.dev, recording=snl.RecordingConfig(progress=False))
    )
    return classifier, result
