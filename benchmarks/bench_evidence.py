"""Benchmark: what the evidence recorded in the dev pass costs (issue 15, "Performance").

Model and data as in ``bench_predictivity.py`` (whose helpers this script imports): the packaged
all-MiniLM-L6-v2 as a TransformerLens 4.x ``TransformerBridge`` on CPU, the packaged Rotten Tomatoes
snippets, [CLS] (``positions=0``), ``blocks.{l}.mlp.hook_post`` of all 6 layers, batches of 32, at
most 64 tokens. ``--n`` examples are split into test (``--test-share``), then dev (``--dev-share`` of
the rest) and train.

1. Predictivity pass, per example processed. The train pass (``Recorder.accumulate_batch`` into a
   ``MeanAccumulator``, the same code for every variant) is timed once per batch; then every dev
   batch goes through the three dev variants back to back, the order rotating per batch:

   ``accuracy``:   :class:`CorrectCountAccumulator`, only the correct counts (what the project
                   recorded before the evidence);
   ``evidence``:   the default of ``compute_predictivity``: ``ThresholdAccuracyAccumulator``
                   (correct, firing and near-baseline counts) and a ``PermutationNullAccumulator``
                   with ``--permutations`` (default 100) label permutations, through ``ColumnFanOut``;
   ``histograms``: ``evidence`` plus ``ClassHistogramAccumulator`` (``histograms=True``).

   Reported: the dev-step ratios to ``accuracy`` (ratio of sums, median per-batch ratio) and the
   whole-pass ratio ``(train + dev[variant]) / (train + dev[accuracy])``; the issue's target is
   ``histograms`` <= 1.10. The correct counts of the three variants must agree (checked).
   ``--breakdown`` also times each accumulator's ``add_layer`` alone on the recorded dev activations.
2. Held-out pass: every test batch through ``Recorder.accumulate_batch`` into the held-out
   ``ThresholdAccuracyAccumulator`` and through the bare bridged encoder forward
   (``bench_predictivity``'s floor), back to back, order alternating; target ratio <= 1.10.
3. Memory: ``compute_predictivity`` with its defaults and a test split, in a fresh subprocess per size
   (``--memory-sizes``), peak-RSS growth as in ``bench_predictivity`` (``VmHWM`` after a reset);
   flat = the same growth at every size.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_evidence.py --n 1500 --memory-sizes 1000,8000 \
        --breakdown --out bench_evidence.json
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import gc
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_predictivity as base
import torch
from jaxtyping import Float, Int

from skillneuron_lens import Recorder, RecordingConfig, compute_predictivity
from skillneuron_lens.models.adapter import TokenBatch
from skillneuron_lens.predictivity.compute import (
    DEFAULT_PERMUTATIONS,
    FRAGILE_TOLERANCE,
    _dev_accumulator,
    _hook_width,
)
from skillneuron_lens.record.accumulators import (
    ColumnFanOut,
    MeanAccumulator,
    ThresholdAccuracyAccumulator,
    _Accumulator,
    check_finite,
)
from skillneuron_lens.record.histograms import DEFAULT_BINS, ClassHistogramAccumulator
from skillneuron_lens.record.permutation_null import PermutationNullAccumulator, permuted_targets

VARIANTS = ("accuracy", "evidence", "histograms")
HELD_OUT_WAYS = ("floor", "held_out")


# ---- data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Splits:
    """Train, dev and test texts with their labels."""

    train: base.Data
    test_texts: list[str]
    test_labels: list[int]

    @property
    def n(self) -> int:
        """Total number of examples."""
        return self.train.n + len(self.test_texts)


def split_examples(texts: list[str], labels: list[int], dev_share: float, test_share: float) -> Splits:
    """The last ``test_share`` of the examples is test; of the rest, the last ``dev_share`` is dev."""
    n_test = int(round(test_share * len(texts)))
    n_fit = len(texts) - n_test
    cut = n_fit - int(round(dev_share * n_fit))
    data = base.Data(texts[:cut], labels[:cut], texts[cut:n_fit], labels[cut:n_fit])
    return Splits(data, texts[n_fit:], labels[n_fit:])


def load_splits(n: int, dev_share: float, test_share: float) -> Splits:
    """``n`` packaged Rotten Tomatoes examples, split into train, dev and test."""
    data = base.load_data(n)
    texts, labels = data.train_texts + data.dev_texts, data.train_labels + data.dev_labels
    return split_examples(texts, labels, dev_share, test_share)


def encode(recorder: Recorder, texts: Sequence[str], batch_size: int) -> list[TokenBatch]:
    """The recorder's own batches of ``texts`` (tokenized once, before any timing)."""
    return [
        recorder.encode(texts[start : start + batch_size], None) for start in range(0, len(texts), batch_size)
    ]


def binary_targets(labels: Sequence[int]) -> Int[torch.Tensor, "example 1"]:
    """The one-subtask targets of a binary task (what ``compute_predictivity`` builds for it)."""
    return torch.tensor(labels, dtype=torch.int64)[:, None]


# ---- the dev variants -------------------------------------------------------------------------
@dataclass
class CorrectCountAccumulator(_Accumulator):
    """Only the dev examples where ``1[a > baseline] == y``: the project's dev pass before the evidence."""

    baselines: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    correct: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        """Allocate zeroed counts; the baselines become float64."""
        self.correct = self._zeros(torch.int64)
        self.counts = self._new_counts()
        self.baselines = self.baselines.to(device=self.device, dtype=torch.float64)

    def _tensors(self) -> list[torch.Tensor]:
        return [self.correct, self.counts]

    def add_layer(
        self,
        layer_slot: int,
        values: Float[torch.Tensor, "batch slot neuron"],
        targets: Int[torch.Tensor, "batch subtask"],
        where: str,
    ) -> None:
        """Count, per subtask, the included examples whose thresholded activation matches the label."""
        check_finite(values, where)
        for subtask in range(self.n_subtasks):
            keep = targets[:, subtask] >= 0
            above = values[keep] > self.baselines[subtask, :, layer_slot, :]
            agrees = above == targets[keep, subtask].bool()[:, None, None]
            self.correct[subtask, :, layer_slot, :] += agrees.sum(dim=0)


@dataclass(frozen=True)
class DevVariant:
    """One way of recording the dev pass.

    Attributes:
        fed: What ``Recorder.accumulate_batch`` feeds (an accumulator or a ``ColumnFanOut``).
        hits: The accumulator holding the real labels' correct counts.
        targets: The whole dev split's target columns for ``fed`` (real labels, then permutations).
    """

    fed: Any
    hits: CorrectCountAccumulator | ThresholdAccuracyAccumulator
    targets: Int[torch.Tensor, "example column"]


def dev_variants(
    means: MeanAccumulator,
    shape: dict[str, Any],
    dev_targets: Int[torch.Tensor, "example subtask"],
    n_permutations: int = DEFAULT_PERMUTATIONS,
    histogram_bins: int = DEFAULT_BINS,
) -> dict[str, DevVariant]:
    """The three dev variants, set up from the train pass the way ``compute_predictivity`` sets up its own.

    Args:
        means: The finished train pass.
        shape: ``n_subtasks``, ``n_slots``, ``n_layers``, ``n_neurons`` and ``device``.
        dev_targets: The dev split's targets.
        n_permutations: Label permutations of the null (``K``).
        histogram_bins: Bins per neuron of the histograms.

    Returns:
        ``{"accuracy", "evidence", "histograms"}`` -> :class:`DevVariant`.
    """
    n_subtasks = dev_targets.shape[1]
    real = slice(0, n_subtasks)
    with_null = torch.cat([dev_targets, permuted_targets(dev_targets, n_permutations)], dim=1)

    def evidence_parts() -> tuple[ThresholdAccuracyAccumulator, list[tuple[Any, slice]]]:
        hits = _dev_accumulator(means, shape, FRAGILE_TOLERANCE)
        null = PermutationNullAccumulator(**shape, n_permutations=n_permutations, baselines=means.means())
        return hits, [(hits, real), (null, slice(n_subtasks, None))]

    counts = CorrectCountAccumulator(**shape, baselines=means.means())
    evidence_hits, evidence = evidence_parts()
    histogram_hits, with_histograms = evidence_parts()
    histograms = ClassHistogramAccumulator(
        **shape,
        minimum=means.minimum,
        maximum=means.maximum,
        baseline=means.means(),
        n_bins=histogram_bins,
    )
    with_histograms.append((histograms, real))
    return {
        "accuracy": DevVariant(counts, counts, dev_targets),
        "evidence": DevVariant(ColumnFanOut(evidence), evidence_hits, with_null),
        "histograms": DevVariant(ColumnFanOut(with_histograms), histogram_hits, with_null),
    }


def held_out_accumulator(means: MeanAccumulator, shape: dict[str, Any]) -> ThresholdAccuracyAccumulator:
    """The held-out (test) accumulator of ``compute_predictivity(..., test=...)``."""
    return _dev_accumulator(means, shape, FRAGILE_TOLERANCE)


def recording_shape(recorder: Recorder, texts: Sequence[str], n_subtasks: int = 1) -> dict[str, Any]:
    """Accumulator shape for the recorder's layers and slots (hook width read as the library does)."""
    return dict(
        n_subtasks=n_subtasks,
        n_slots=recorder.config.position_spec.n_slots,
        n_layers=len(recorder.layers),
        n_neurons=_hook_width(recorder, texts, None),
        device=recorder.adapter.device,
    )


def train_pass(
    recorder: Recorder, batches: list[TokenBatch], targets: torch.Tensor, shape: dict[str, Any]
) -> tuple[MeanAccumulator, list[float]]:
    """The train pass (baselines), timed per batch."""
    means = MeanAccumulator(**shape)
    times = []
    offsets = batch_offsets(batches)
    for index, batch in enumerate(batches):
        start = time.perf_counter()
        recorder.accumulate_batch(means, batch, targets[offsets[index] : offsets[index + 1]])
        times.append(time.perf_counter() - start)
    return means, times


def batch_offsets(batches: list[TokenBatch]) -> list[int]:
    """Index of each batch's first example, then the total."""
    return list(itertools.accumulate((len(batch.input_ids) for batch in batches), initial=0))


def paired_steps(
    steps: dict[str, Callable[[int, TokenBatch], Any]], batches: list[TokenBatch]
) -> dict[str, list[float]]:
    """Every batch through every step back to back, the order rotating per batch; seconds per batch.

    Each step is called as ``step(batch_index, batch)``.
    """
    permutations = list(itertools.permutations(steps))
    times: dict[str, list[float]] = {name: [] for name in steps}
    for index, batch in enumerate(batches):
        for name in permutations[index % len(permutations)]:
            start = time.perf_counter()
            steps[name](index, batch)
            times[name].append(time.perf_counter() - start)
    return times


def variant_step(
    recorder: Recorder, variant: DevVariant, offsets: list[int]
) -> Callable[[int, TokenBatch], None]:
    """One dev batch of ``variant`` through ``Recorder.accumulate_batch``."""

    def step(index: int, batch: TokenBatch) -> None:
        recorder.accumulate_batch(variant.fed, batch, variant.targets[offsets[index] : offsets[index + 1]])

    return step


def ratio_summary(times: dict[str, list[float]], reference: str) -> dict[str, dict[str, float]]:
    """Per way: total seconds, ratio of totals and median per-batch ratio to ``reference``."""
    summary = {}
    for name, values in times.items():
        summary[name] = {
            "total_s": sum(values),
            "ratio_of_totals": sum(values) / sum(times[reference]),
            "median_batch_ratio": statistics.median(
                t / r for t, r in zip(values, times[reference], strict=True)
            ),
            "min_batch_s": min(values),
        }
    return summary


# ---- parts 1 and 2 ----------------------------------------------------------------------------
def measure_passes(
    model: Any,
    splits: Splits,
    batch_size: int,
    max_length: int,
    n_permutations: int,
    histogram_bins: int,
    breakdown: bool,
) -> dict[str, Any]:
    """Parts 1 and 2: the dev variants side by side, then the held-out pass against the floor."""
    data = splits.train
    config = RecordingConfig(positions=0, batch_size=batch_size, max_length=max_length, progress=False)
    recorder = Recorder(model, config)
    shape = recording_shape(recorder, data.train_texts)
    train_batches = encode(recorder, data.train_texts, batch_size)
    dev_batches = encode(recorder, data.dev_texts, batch_size)
    test_batches = encode(recorder, splits.test_texts, batch_size)
    train_targets, dev_targets = binary_targets(data.train_labels), binary_targets(data.dev_labels)
    test_targets = binary_targets(splits.test_labels)

    # warm-up: one train batch into a throw-away accumulator, one dev batch per variant and floor
    warm_means, _ = train_pass(recorder, train_batches[:1], train_targets, shape)
    for variant in dev_variants(
        warm_means, shape, dev_targets[:batch_size], n_permutations, histogram_bins
    ).values():
        variant_step(recorder, variant, batch_offsets(dev_batches[:1]))(0, dev_batches[0])
    base.floor_forward(model, test_batches[0])

    loads = [base.load_average()]
    means, train_times = train_pass(recorder, train_batches, train_targets, shape)
    loads.append(base.load_average())
    print(f"  train pass: {len(train_batches)} batches, {sum(train_times):.2f} s", flush=True)
    start = time.perf_counter()
    variants = dev_variants(means, shape, dev_targets, n_permutations, histogram_bins)
    setup_s = time.perf_counter() - start
    dev_offsets = batch_offsets(dev_batches)
    dev_times = paired_steps(
        {name: variant_step(recorder, variant, dev_offsets) for name, variant in variants.items()},
        dev_batches,
    )
    loads.append(base.load_average())
    dev = ratio_summary(dev_times, "accuracy")
    train_s = sum(train_times)
    for name in VARIANTS:
        dev[name]["whole_pass_ratio"] = (train_s + dev[name]["total_s"]) / (
            train_s + dev["accuracy"]["total_s"]
        )
        dev[name]["ms_per_dev_example"] = 1000 * dev[name]["total_s"] / len(data.dev_texts)
    reference = variants["accuracy"].hits.correct
    same_counts = {
        name: bool(torch.equal(variant.hits.correct, reference)) for name, variant in variants.items()
    }
    print(
        f"  dev variants: {len(dev_batches)} batches paired; same correct counts: {same_counts}", flush=True
    )

    held_out = held_out_accumulator(means, shape)
    test_offsets = batch_offsets(test_batches)

    def held_out_step(index: int, batch: TokenBatch) -> None:
        recorder.accumulate_batch(
            held_out, batch, test_targets[test_offsets[index] : test_offsets[index + 1]]
        )

    test_times = paired_steps(
        {"floor": lambda index, batch: base.floor_forward(model, batch), "held_out": held_out_step},
        test_batches,
    )
    loads.append(base.load_average())
    print(f"  held-out pass: {len(test_batches)} batches paired with the floor", flush=True)
    result: dict[str, Any] = {
        "n_train": len(data.train_texts),
        "n_dev": len(data.dev_texts),
        "n_test": len(splits.test_texts),
        "n_batches": {"train": len(train_batches), "dev": len(dev_batches), "test": len(test_batches)},
        "train_pass_s": train_s,
        "dev_variant_setup_s": setup_s,
        "dev": dev,
        "dev_times_s": dev_times,
        "same_correct_counts": same_counts,
        "held_out": ratio_summary(test_times, "floor"),
        "held_out_times_s": test_times,
        "held_out_n": int(held_out.counts.sum()),
        "load_average_at_phases": loads,
    }
    if breakdown:
        result["breakdown"] = measure_breakdown(
            recorder, means, shape, dev_batches, dev_targets, n_permutations, histogram_bins
        )
    return result


class _Keep:
    """An accumulator that keeps the reduced activations of every layer (for :func:`measure_breakdown`)."""

    def __init__(self) -> None:
        """Start empty."""
        self.values: list[tuple[int, torch.Tensor]] = []

    def add_examples(self, targets: torch.Tensor) -> None:
        """Nothing to count."""

    def add_layer(self, layer_slot: int, values: torch.Tensor, targets: torch.Tensor, where: str) -> None:
        """Keep the layer's values."""
        self.values.append((layer_slot, values.clone()))


def measure_breakdown(
    recorder: Recorder,
    means: MeanAccumulator,
    shape: dict[str, Any],
    dev_batches: list[TokenBatch],
    dev_targets: torch.Tensor,
    n_permutations: int,
    histogram_bins: int,
) -> dict[str, float]:
    """Seconds each accumulator's ``add_layer`` takes alone over the dev split (activations kept first)."""
    offsets = batch_offsets(dev_batches)
    recorded = []
    for index, batch in enumerate(dev_batches):
        keep = _Keep()
        recorder.accumulate_batch(keep, batch, dev_targets[offsets[index] : offsets[index + 1]])
        recorded.append(keep.values)
    variants = dev_variants(means, shape, dev_targets, n_permutations, histogram_bins)
    parts = variants["histograms"].fed.parts
    accumulators = {
        "correct counts only": (variants["accuracy"].fed, slice(0, 1)),
        "ThresholdAccuracyAccumulator": parts[0],
        f"PermutationNullAccumulator (K={n_permutations})": parts[1],
        "ClassHistogramAccumulator": parts[2],
    }
    targets = variants["histograms"].targets
    seconds: dict[str, float] = {}
    for name, (accumulator, columns) in accumulators.items():
        start = time.perf_counter()
        for index, layers in enumerate(recorded):
            batch_targets = targets[offsets[index] : offsets[index + 1], columns]
            accumulator.add_examples(batch_targets)
            for layer_slot, values in layers:
                accumulator.add_layer(layer_slot, values, batch_targets, where="breakdown")
        seconds[name] = time.perf_counter() - start
    return seconds


# ---- part 3: memory ---------------------------------------------------------------------------
def run_defaults(model: Any, splits: Splits, batch_size: int, max_length: int) -> Any:
    """``compute_predictivity`` with its defaults (evidence, K permutations) and the test split."""
    data = splits.train
    return compute_predictivity(
        model,
        (data.train_texts, data.train_labels),
        (data.dev_texts, data.dev_labels),
        test=(splits.test_texts, splits.test_labels),
        positions=0,
        recording=RecordingConfig(batch_size=batch_size, max_length=max_length, progress=False),
    )


def first_batches(splits: Splits, batch_size: int) -> Splits:
    """One batch of each split (for the warm-up)."""
    data = splits.train
    return Splits(
        base.one_batch(data, batch_size), splits.test_texts[:batch_size], splits.test_labels[:batch_size]
    )


def memory_child(
    n: int, batch_size: int, max_length: int, dev_share: float, test_share: float
) -> dict[str, Any]:
    """Inside a fresh process: peak-RSS growth of ``compute_predictivity`` (defaults + test) over ``n``."""
    torch.manual_seed(0)
    model = base.load_model()
    splits = load_splits(n, dev_share, test_share)
    report = base.peak_growth(
        lambda: run_defaults(model, splits, batch_size, max_length),
        lambda: run_defaults(model, first_batches(splits, batch_size), batch_size, max_length),
    )
    return {"n": splits.n, **report}


def measure_memory(args: argparse.Namespace, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """One fresh subprocess per size."""
    results = []
    for n in sizes:
        command = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(n)]
        for option in ("batch_size", "max_length", "dev_share", "test_share", "threads"):
            if getattr(args, option) is not None:
                command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
        report = base.child_report(command, f"n={n}")
        print(
            f"  memory n={report['n']:6d}: peak RSS {report['peak_rss_mib']:7.1f} MiB, growth over model "
            f"load {report['growth_over_load_mib']:6.1f} MiB, over warm-up "
            f"{report['growth_over_warmup_mib']:6.1f} MiB ({report['seconds']:.1f} s)",
            flush=True,
        )
        results.append(report)
    return results


# ---- output -----------------------------------------------------------------------------------
def print_tables(passes: dict[str, Any]) -> None:
    """The summary tables of parts 1 and 2."""
    print(
        f"\n1. predictivity pass: {passes['n_train']} train / {passes['n_dev']} dev examples "
        f"(train pass {passes['train_pass_s']:.2f} s, shared)"
    )
    print(
        f"{'dev variant':12s} {'dev s':>8s} {'ms/example':>11s} {'dev x acc':>10s} {'median':>8s} "
        f"{'pass x acc':>11s}"
    )
    for name in VARIANTS:
        row = passes["dev"][name]
        print(
            f"{name:12s} {row['total_s']:8.2f} {row['ms_per_dev_example']:11.2f} "
            f"{row['ratio_of_totals']:10.3f} {row['median_batch_ratio']:8.3f} {row['whole_pass_ratio']:11.3f}"
        )
    print(f"same correct counts in every variant: {passes['same_correct_counts']}")
    held = passes["held_out"]
    print(f"\n2. held-out pass over {passes['n_test']} test examples vs the bare bridged forward")
    print(f"{'way':12s} {'sum s':>8s} {'x floor':>8s} {'median':>8s}")
    for name in HELD_OUT_WAYS:
        print(
            f"{name:12s} {held[name]['total_s']:8.2f} {held[name]['ratio_of_totals']:8.3f} "
            f"{held[name]['median_batch_ratio']:8.3f}"
        )
    if "breakdown" in passes:
        print("\nadd_layer alone over the dev split (activations recorded first):")
        for name, seconds in passes["breakdown"].items():
            print(f"  {name:40s} {seconds:7.3f} s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1500, help="examples for the timing parts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--dev-share", type=float, default=0.5, help="dev share of the non-test examples")
    parser.add_argument("--test-share", type=float, default=0.2, help="test share of all examples")
    parser.add_argument("--permutations", type=int, default=DEFAULT_PERMUTATIONS, help="K of the null")
    parser.add_argument("--histogram-bins", type=int, default=DEFAULT_BINS)
    parser.add_argument("--breakdown", action="store_true", help="also time each accumulator alone")
    parser.add_argument("--memory-sizes", default="1000,8000", help="comma-separated sizes ('' to skip)")
    parser.add_argument("--skip-timing", action="store_true", help="only the memory part")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.memory_child is not None:
        report = memory_child(
            args.memory_child, args.batch_size, args.max_length, args.dev_share, args.test_share
        )
        print(json.dumps(report))
        return
    results: dict[str, Any] = {
        "config": {key: value for key, value in vars(args).items() if key not in ("out", "memory_child")},
        "machine": base.machine(),
        "load_average_start": base.load_average(),
    }
    print(json.dumps(results["machine"]), flush=True)
    if not args.skip_timing:
        model = base.load_model()
        splits = load_splits(args.n, args.dev_share, args.test_share)
        print(f"timing: n={splits.n}", flush=True)
        results["passes"] = measure_passes(
            model,
            splits,
            args.batch_size,
            args.max_length,
            args.permutations,
            args.histogram_bins,
            args.breakdown,
        )
        print_tables(results["passes"])
        del model
        gc.collect()
    sizes = [int(size) for size in args.memory_sizes.split(",") if size.strip()]
    if sizes:
        print("\n3. memory: compute_predictivity with defaults + test, fresh subprocess per size", flush=True)
        results["memory"] = measure_memory(args, sizes)
    results["load_average_end"] = base.load_average()
    print(f"load average start {results['load_average_start']}, end {results['load_average_end']}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
