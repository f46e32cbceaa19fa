"""Benchmark: inference speed-up and accuracy of a model pruned to its skill neurons, against the original.

Model: the packaged MiniLM (``load_model("minilm")``, 6 layers x 1536 MLP neurons) on CPU; data:
``load_task("rotten_tomatoes", seed=0, n=N)``. A prompt-tuned ``TunedClassifier`` (16 soft-prompt
slots, linear head, mean pooling, ``max_length`` 64) is trained for ``--steps`` steps or loaded with
``--classifier DIR`` (saved by ``TunedClassifier.save``). Predictivity is recorded at the prompt slots
(``classifier.predictivity(train, dev)``, at ``blocks.{l}.mlp.hook_post``); the constant of every
removed neuron is its train-split baseline (``result.mean_baselines(subtask=0)``; ``--means tokens`` uses
``neuron_means(..., per="token")`` over the train texts instead). For each keep fraction ``p`` the top ``p``
of each pruned layer's neurons (``NeuronSet.top(result, fraction=p)``) are kept and the rest folded
into the MLP output bias by ``prune_model`` (layers ``--layers``, default all); the pruned classifier
is ``classifier.bind(pruned)``. Reported per fraction: the parameter ratio (whole model, which for
MiniLM is dominated by its 11.7M-parameter word embeddings, and the encoder layers alone), the
accuracy of the original and of the pruned classifier on the ``--split`` split (and how often their
predictions agree), and the inference speed-up: paired per-batch timing of ``classifier.logits``
against ``pruned_classifier.logits`` under ``torch.inference_mode`` on the same encoded batches,
back to back with the order alternating, ``--repeats`` passes over the split; speed-up = original
seconds / pruned seconds (ratio of the sums, and the median per-batch ratio). For reference, the paper
reports about 1.4x at comparable accuracy on RoBERTa-base, keeping 2% of the neurons in the top 9 of
its 12 layers.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_pruning.py --steps 300 --repeats 3 --threads 2 \
        --json bench_pruning.json
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import gc
import statistics
import time
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
from skillneuron_lens.tuning.soft_prompt import PromptedBatch

PAPER = "about 1.4x at comparable accuracy on RoBERTa-base (keep 2% in the top 9 of 12 layers)"


def layer_list(text: str) -> list[int]:
    """``"2-5"`` or ``"2,3,4,5"`` -> ``[2, 3, 4, 5]``."""
    layers: list[int] = []
    for part in text.split(","):
        if "-" in part.strip():
            low, high = part.split("-")
            layers.extend(range(int(low), int(high) + 1))
        elif part.strip():
            layers.append(int(part))
    return layers


def encoder_parameters(model: Any) -> int:
    """Parameters of the transformer layers alone (no embeddings, no heads)."""
    return snl.intervene.count_parameters(model.original_model.bert.encoder)


def paired_timing(
    original: snl.TunedClassifier,
    pruned: snl.TunedClassifier,
    batches: Sequence[PromptedBatch],
    repeats: int,
) -> dict[str, Any]:
    """Per batch: original and pruned ``logits`` back to back, the order alternating."""
    ways = {"original": original, "pruned": pruned}
    times: dict[str, list[float]] = {name: [] for name in ways}
    with torch.inference_mode():
        for classifier in ways.values():  # warm-up
            classifier.logits(batches[0])
        step = 0
        for _ in range(repeats):
            for batch in batches:
                order = ("original", "pruned") if step % 2 == 0 else ("pruned", "original")
                step += 1
                for name in order:
                    start = time.perf_counter()
                    ways[name].logits(batch)
                    times[name].append(time.perf_counter() - start)
    totals = {name: sum(values) for name, values in times.items()}
    ratios = [o / p for o, p in zip(times["original"], times["pruned"], strict=True)]
    return {
        "n_batches": len(times["original"]),
        "total_s": totals,
        "speedup": totals["original"] / totals["pruned"],
        "median_batch_speedup": statistics.median(ratios),
    }


def measure(
    model: Any,
    classifier: snl.TunedClassifier,
    result: Any,
    means: torch.Tensor,
    split: Any,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Prune at every keep fraction; accuracy and paired timing against the original."""
    texts = list(split.texts)
    batches = [
        classifier.encode(texts[start : start + args.batch_size])
        for start in range(0, len(texts), args.batch_size)
    ]
    original_predictions = classifier.predict(split, progress=False)
    labels = torch.tensor(list(split.labels))
    original_accuracy = float((original_predictions == labels).double().mean())
    encoder_before = encoder_parameters(model)
    rows = []
    for fraction in args.keep:
        keep = snl.NeuronSet.top(result, fraction=fraction)
        pruned, prune_s = timed(lambda keep=keep: snl.prune_model(model, keep, means, layers=args.layers))
        info = snl.intervene.pruning_info(pruned)
        assert info is not None
        bound = classifier.bind(pruned)
        predictions = bound.predict(split, progress=False)
        timing = paired_timing(classifier, bound, batches, args.repeats)
        row = {
            "keep_fraction": fraction,
            "layers": list(info.layers),
            "widths": {str(layer): width for layer, width in info.widths.items()},
            "parameter_ratio": info.parameter_ratio,
            "n_params_before": info.n_params_before,
            "n_params_after": info.n_params_after,
            "encoder_parameter_ratio": encoder_parameters(pruned) / encoder_before,
            "accuracy_original": original_accuracy,
            "accuracy_pruned": float((predictions == labels).double().mean()),
            "agreement": float((predictions == original_predictions).double().mean()),
            "prune_s": prune_s,
            "timing": timing,
            "load_average": load_average(),
        }
        rows.append(row)
        print(
            f"  keep {fraction:.3f}: params x{row['parameter_ratio']:.3f} (encoder x"
            f"{row['encoder_parameter_ratio']:.3f}), accuracy {original_accuracy:.3f} -> "
            f"{row['accuracy_pruned']:.3f}, speed-up {timing['speedup']:.3f} (median batch "
            f"{timing['median_batch_speedup']:.3f}); load {row['load_average'][:1]}",
            flush=True,
        )
        del pruned, bound
        gc.collect()
    return {
        "n_examples": len(texts),
        "n_batches_per_pass": len(batches),
        "accuracy_original": original_accuracy,
        "rows": rows,
    }


def print_results(results: dict[str, Any]) -> None:
    """The summary table."""
    timing = results["timing"]
    config = results["config"]
    layers = "all" if config["layers"] is None else ",".join(str(layer) for layer in config["layers"])
    print(
        f"\nsplit {config['split']} ({timing['n_examples']} examples, {timing['n_batches_per_pass']} batches "
        f"of {config['batch_size']}, {config['repeats']} timed pass(es)); pruned layers: {layers}; means: "
        f"{config['means']}; classifier: {results['classifier']['source']}"
    )
    print(
        f"{'keep':>6s} {'params':>7s} {'encoder':>8s} {'acc orig':>9s} {'acc pruned':>11s} {'agree':>6s} "
        f"{'orig s':>8s} {'pruned s':>9s} {'speed-up':>9s} {'median':>7s}"
    )
    for row in timing["rows"]:
        paired = row["timing"]
        print(
            f"{row['keep_fraction']:6.3f} {row['parameter_ratio']:7.3f} "
            f"{row['encoder_parameter_ratio']:8.3f} {row['accuracy_original']:9.3f} "
            f"{row['accuracy_pruned']:11.3f} {row['agreement']:6.3f} {paired['total_s']['original']:8.2f} "
            f"{paired['total_s']['pruned']:9.2f} {paired['speedup']:9.3f} "
            f"{paired['median_batch_speedup']:7.3f}"
        )
    print("params / encoder: share of the whole model's / of the encoder layers' parameters left")
    print(f"paper: {PAPER}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="examples loaded (train/dev/test splits)")
    parser.add_argument("--steps", type=int, default=300, help="prompt training steps (0: untrained)")
    parser.add_argument("--classifier", type=Path, default=None, help="load a saved TunedClassifier instead")
    parser.add_argument("--save-classifier", type=Path, default=None, help="save the trained classifier here")
    parser.add_argument(
        "--keep", type=fraction_list, default=[0.02, 0.05, 0.1, 0.2, 0.5], help="comma list of keep fractions"
    )
    parser.add_argument(
        "--layers", type=layer_list, default=None, help="layers to prune, e.g. 2-5 (default all)"
    )
    parser.add_argument("--means", choices=("baseline", "tokens"), default="baseline")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"))
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over the split per fraction")
    parser.add_argument("--batch-size", type=int, default=32, help="evaluation batch size")
    add_shared_options(parser)
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark."""
    args = parse_args(argv)
    results, model, task = begin(args)
    classifier, result = classifier_and_predictivity(model, task, args, results)
    if args.means == "tokens":
        recording = snl.RecordingConfig(positions="mean", max_length=args.max_length, progress=False)
        layers = list(result.layers)
        means = snl.neuron_means(model, task.train.texts, per="token", layers=layers, recording=recording)
    else:
        means = result.mean_baselines(subtask=0)
    results["timing"] = measure(model, classifier, result, means, task.splits[args.split], args)
    finish(results, args, print_results)


if __name__ == "__main__":
    main()
