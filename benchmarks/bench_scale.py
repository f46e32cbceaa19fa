"""Benchmark: skill-neuron search on a bigger decoder, and in several processes.

Model: a Llama-architecture checkpoint generated from a config with random weights (no download) and
saved to a local folder in Hugging Face layout, then loaded by folder like any user checkpoint
(``skillneuron_lens.load_model(folder)``, a ``TransformerBridge``). Sizes: ``--size cpu`` about 155M
parameters (768 wide, 12 layers, 2,816 MLP neurons per layer, 32,000 words); ``--size gpu`` about
0.94B (2,048 wide, 18 layers, 5,632 MLP neurons, grouped-query attention); ``--quick`` a tiny one.
Texts: random words of the checkpoint's whole-word vocabulary, every one ``--max-length`` tokens.

Two measurements (``--measure``):

* ``recording``: tokens per second of the recording pass against the bare Hugging Face forward on the
  same batches. The bare forward is the model body, ``bridge.original_model.model(...)`` (no LM head)
  under ``torch.inference_mode``; the recording pass is the project's per-batch step,
  ``Recorder.accumulate_batch`` into a ``MeanAccumulator`` at the last position of every layer's
  ``blocks.{l}.mlp.hook_post`` (forward until the last hook, position reduction, float64 sums). Each
  batch goes through both back to back (order alternating), after one untimed warm-up batch; the
  ratio of the summed times (recording / bare) is reported with the median per-batch ratio. Target:
  at most 1.05.
* ``processes``: ``skillneuron-lens find`` on the checkpoint with one thread per process, as one
  process and under ``torchrun --nproc-per-node 2``. The recording passes' time is the run's own
  ``timings.predictivity_passes`` (``summary.json``; model loading is ``timings.model_load``, left
  out); the whole command's wall time is reported too. Target: a speed-up of at least 1.8x on two
  cores.

Usage (``--quick`` checks the plumbing in about a minute; the figures come from the full runs)::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_scale.py --measure recording --size cpu --threads 2
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_scale.py --measure processes --size cpu
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_scale.py --measure recording --size gpu \\
        --device cuda --dtype bfloat16
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_scale.py --measure recording --quick
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import csv
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import command_line, finish, load_average, machine, timed

import skillneuron_lens as snl
from skillneuron_lens.models.adapter import ModelAdapter, TokenBatch
from skillneuron_lens.record.accumulators import MeanAccumulator
from skillneuron_lens.record.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]
SIZES: dict[str, dict[str, Any]] = {
    "quick": {
        "hidden_size": 64,
        "intermediate_size": 176,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "words": 1000,
    },
    "cpu": {
        "hidden_size": 768,
        "intermediate_size": 2816,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "num_key_value_heads": 12,
        "words": 31996,
    },
    "gpu": {
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 18,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "words": 31996,
    },
}
"""Llama configs by ``--size`` (``words``: vocabulary besides the 4 special tokens)."""


def write_checkpoint(directory: Path, size: str, dtype: str) -> None:
    """Save the random Llama of ``size`` in ``dtype`` to ``directory``, with its whole-word tokenizer."""
    sys.path.insert(0, str(ROOT))  # the repository's checkpoint writer, which the tests use too
    from tests.helpers.checkpoints import write_llama

    fields = dict(SIZES[size])
    words = [f"w{index}" for index in range(fields.pop("words"))]
    write_llama(
        directory, words, max_position_embeddings=4096, initializer_range=0.02, torch_dtype=dtype, **fields
    )


def parameter_count(directory: Path) -> int:
    """The number of weights saved in a checkpoint folder (read from the file headers)."""
    from safetensors import safe_open

    count = 0
    for path in directory.glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as weights:
            names = weights.keys()  # a safetensors file handle, not a dict: it is not iterable
            count += sum(math.prod(weights.get_slice(name).get_shape()) for name in names)
    return count


def random_texts(count: int, n_words: int, length: int, seed: int) -> list[str]:
    """``count`` texts of ``length`` random words ``w0 .. w{n_words-1}``."""
    rng = random.Random(seed)
    return [" ".join(f"w{rng.randrange(n_words)}" for _ in range(length)) for _ in range(count)]


# ---- recording pass vs bare forward ------------------------------------------------------------
def bare_forward(model: Any, batch: TokenBatch) -> None:
    """The Hugging Face model body on one batch: no hooks, no LM head."""
    with torch.inference_mode():
        model.original_model.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)


def synchronize(device: str) -> None:
    """Wait for the GPU, so that times are the work's and not the launch's."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_recording(args: argparse.Namespace, directory: Path, results: dict[str, Any]) -> None:
    """Per-batch paired timing of the recording step against the bare forward (see the docstring)."""
    model, results["model_load_s"] = timed(
        lambda: snl.load_model(directory, device=args.device, dtype=args.dtype)
    )
    adapter = ModelAdapter(model)
    layers = model.cfg.n_layers
    config = snl.RecordingConfig(
        positions="last", batch_size=args.batch_size, max_length=args.max_length, progress=False
    )
    recorder = Recorder(model, config)
    means = MeanAccumulator(
        n_subtasks=1, n_slots=1, n_layers=layers, n_neurons=model.cfg.d_mlp, device=adapter.device
    )
    words = SIZES[args.size]["words"]
    texts = random_texts((args.batches + 1) * args.batch_size, words, args.max_length, args.seed)
    batches = [
        adapter.tokenize(texts[start : start + args.batch_size], max_length=args.max_length).to(
            adapter.device
        )
        for start in range(0, len(texts), args.batch_size)
    ]
    targets = torch.zeros(args.batch_size, 1, dtype=torch.int64, device=adapter.device)
    steps = {
        "bare": lambda batch: bare_forward(model, batch),
        "recording": lambda batch: recorder.accumulate_batch(means, batch, targets),
    }
    for step in steps.values():  # warm-up
        step(batches[0])
    synchronize(args.device)
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for index, batch in enumerate(batches[1:]):
        order = list(steps) if index % 2 == 0 else list(reversed(steps))
        for name in order:
            start = time.perf_counter()
            steps[name](batch)
            synchronize(args.device)
            seconds[name].append(time.perf_counter() - start)
    tokens = sum(int(batch.attention_mask.sum()) for batch in batches[1:])
    totals = {name: sum(values) for name, values in seconds.items()}
    results["tokens"] = tokens
    results["seconds"] = totals
    results["tokens_per_second"] = {name: tokens / total for name, total in totals.items()}
    results["ratio"] = totals["recording"] / totals["bare"]
    results["median_batch_ratio"] = statistics.median(
        r / b for r, b in zip(seconds["recording"], seconds["bare"], strict=True)
    )
    results["target"] = 1.05


# ---- two processes vs one ----------------------------------------------------------------------
def write_splits(folder: Path, words: int, length: int, counts: dict[str, int], seed: int) -> None:
    """``train.csv``, ``dev.csv`` and ``test.csv`` of random texts with alternating labels."""
    for offset, (name, count) in enumerate(counts.items()):
        with (folder / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            for index, text in enumerate(random_texts(count, words, length, seed + offset)):
                writer.writerow([text, index % 2])


def run_find(
    prefix: list[str], directory: Path, data: Path, out: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One ``find`` command (one thread per process); its wall time and the run's own timings."""
    command = [
        sys.executable,
        *prefix,
        "-m",
        "skillneuron_lens",
        "find",
        "--model",
        str(directory),
        "--train-file",
        str(data / "train.csv"),
        "--dev-file",
        str(data / "dev.csv"),
        "--test-file",
        str(data / "test.csv"),
        "--n-examples",
        "0",
        "--batch-size",
        str(args.batch_size),
        "--max-length",
        str(args.max_length + 2),
        "--readout",
        "none",
        "--quiet",
        "--out",
        str(out),
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    environment.pop("WORLD_SIZE", None)
    start = time.perf_counter()
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {
        "command": " ".join(command),
        "wall_s": wall,
        "timings": summary["timings"],
        "distributed": summary.get("distributed"),
    }


def measure_processes(args: argparse.Namespace, directory: Path, results: dict[str, Any]) -> None:
    """``find`` as 1 process x 1 thread and as 2 processes x 1 thread (torchrun)."""
    work = Path(tempfile.mkdtemp(prefix="bench-scale-runs-"))
    per_split = args.batches * args.batch_size
    write_splits(
        work,
        SIZES[args.size]["words"],
        args.max_length,
        {"train": per_split, "dev": per_split, "test": per_split},
        args.seed,
    )
    one = run_find([], directory, work, work / "one", args)
    two = run_find(
        ["-m", "torch.distributed.run", "--nproc-per-node", "2"], directory, work, work / "two", args
    )
    results["one_process"], results["two_processes"] = one, two
    passes = (one["timings"]["predictivity_passes"], two["timings"]["predictivity_passes"])
    results["passes_speedup"] = passes[0] / passes[1]
    results["command_speedup"] = one["wall_s"] / two["wall_s"]
    results["target"] = 1.8


def print_results(results: dict[str, Any]) -> None:
    """The headline figures."""
    print(
        f"checkpoint: {results['parameters'] / 1e6:.1f}M parameters ({results['config']['size']}), "
        f"{results['config']['dtype']} on {results['config']['device']}"
    )
    if results["config"]["measure"] == "recording":
        per_second = results["tokens_per_second"]
        print(
            f"tokens/s: bare forward {per_second['bare']:.0f}, recording pass {per_second['recording']:.0f}"
        )
        print(
            f"ratio recording/bare {results['ratio']:.3f} (median per batch "
            f"{results['median_batch_ratio']:.3f}; target <= {results['target']})"
        )
    else:
        one, two = results["one_process"], results["two_processes"]
        print(
            f"recording passes: 1 process {one['timings']['predictivity_passes']:.1f} s, 2 processes "
            f"{two['timings']['predictivity_passes']:.1f} s: speed-up {results['passes_speedup']:.2f}x "
            f"(target >= {results['target']})"
        )
        speedup = results["command_speedup"]
        print(f"whole command: {one['wall_s']:.1f} s vs {two['wall_s']:.1f} s: {speedup:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--measure", choices=["recording", "processes"], default="recording")
    parser.add_argument("--size", choices=["cpu", "gpu"], default="cpu", help="the checkpoint (see above)")
    parser.add_argument(
        "--quick", action="store_true", help="a tiny checkpoint and few batches: plumbing only"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=list(snl.models.DTYPES), default="float32")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batches", type=int, default=12, help="timed batches (per split for processes)")
    parser.add_argument("--checkpoint", type=Path, help="reuse (or write once into) this folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (recording)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    if args.quick:
        args.size, args.batches, args.max_length, args.batch_size = "quick", 3, 16, 4
    print(f"command: {command_line()}", flush=True)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "command": command_line(),
        "machine": machine(),
        "load_average_start": load_average(),
        "config": {
            key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()
        },
    }
    directory = args.checkpoint or Path(tempfile.mkdtemp(prefix="bench-scale-llama-"))
    if not (directory / "config.json").is_file():
        directory.mkdir(parents=True, exist_ok=True)
        _, results["write_s"] = timed(lambda: write_checkpoint(directory, args.size, args.dtype))
    results["parameters"] = parameter_count(directory)
    if args.measure == "recording":
        measure_recording(args, directory, results)
    else:
        measure_processes(args, directory, results)
    finish(results, args, print_results)


if __name__ == "__main__":
    main()
