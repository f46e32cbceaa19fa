"""Memory of a streamed task: flat while 50,000 examples go through the model.

Writes ``--examples`` tiny examples (4-12 words of the tiny model's vocabulary, two balanced labels)
to a JSON Lines file, builds a streamed task from it (``stream_task_from_files``: one counting pass,
the hash split rule carves about 64% train, 16% dev, 20% test) and runs ``compute_predictivity`` on
the tiny GPT-2 of ``tests/helpers/tiny_models.py`` over train, dev and test, so that every example
goes through the model once. The kernel's peak-RSS mark is reset before the passes; the current RSS
(``VmRSS``) and the peak since the reset (``VmHWM``) are sampled when 10%, 20%, 50% and 100% of the
examples have gone through the model (5k, 10k, 25k, 50k at the default size). Memory is flat when
the later samples are no higher than the first. The dev pass's label permutations cost
``8 x (permutations + 1)`` bytes per dev example, allocated once before that pass (``--permutations``,
default 0).

Run: ``nice -n 19 python benchmarks/bench_streaming.py --quick`` (2,000 examples) or without
``--quick`` for 50,000.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tiny model of the tests

from bench_predictivity import peak_rss_mib, reset_peak_rss  # noqa: E402

from skillneuron_lens.predictivity.compute import compute_predictivity  # noqa: E402
from skillneuron_lens.record.recorder import Recorder, RecordingConfig  # noqa: E402
from skillneuron_lens.tasks.streaming import stream_task_from_files  # noqa: E402
from tests.helpers.tiny_models import WORDS, tiny_gpt2  # noqa: E402

CHECKPOINTS = (0.1, 0.2, 0.5, 1.0)


def rss_mib() -> float:
    """The current RSS of this process, MiB (``VmRSS``)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_examples(path: Path, n: int, seed: int) -> None:
    """``n`` JSON Lines examples whose label depends on which half of the vocabulary they use."""
    rng = random.Random(seed)
    half = len(WORDS) // 2
    with path.open("w", encoding="utf-8") as handle:
        for k in range(n):
            label = k % 2
            pool = WORDS[:half] if label else WORDS[half:]
            words = [rng.choice(pool if rng.random() < 0.7 else WORDS) for _ in range(rng.randint(4, 12))]
            handle.write(json.dumps({"text": " ".join(words), "label": label}) + "\n")


class Sampler:
    """Counts the examples that go through the model and samples memory at the checkpoints."""

    def __init__(self, total: int) -> None:
        self.marks = [max(1, round(total * share)) for share in CHECKPOINTS]
        self.seen = 0
        self.samples: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def wrap(self, accumulate_batch: Any) -> Any:
        def counted(recorder: Any, accumulator: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
            out = accumulate_batch(recorder, accumulator, batch, *args, **kwargs)
            self.seen += int(batch.input_ids.shape[0])
            while self.marks and self.seen >= self.marks[0]:
                self.samples.append({
                    "examples": self.seen,
                    "rss_mib": round(rss_mib(), 1),
                    "peak_rss_mib": round(peak_rss_mib(), 1),
                    "seconds": round(time.perf_counter() - self.started, 1),
                })
                self.marks.pop(0)
            return out

        return counted


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=50_000, help="examples in the file (default 50,000)")
    parser.add_argument("--quick", action="store_true", help="2,000 examples: a check that the script runs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--permutations", type=int, default=0, help="dev label permutations (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    n = 2_000 if args.quick else args.examples
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = tiny_gpt2()
    with tempfile.TemporaryDirectory(prefix="snl-stream-") as directory:
        path = Path(directory) / "examples.jsonl"
        write_examples(path, n, args.seed)
        file_bytes = path.stat().st_size
        before_task = rss_mib()
        started = time.perf_counter()
        task = stream_task_from_files(path, seed=args.seed)
        counting = time.perf_counter() - started
        after_task = rss_mib()
        sizes = {name: len(split) for name, split in task.splits.items()}
        sampler = Sampler(sum(sizes.values()))
        original = Recorder.accumulate_batch
        Recorder.accumulate_batch = sampler.wrap(original)  # type: ignore[method-assign]
        try:
            reset_peak_rss()
            compute_predictivity(
                model, task.train, task.dev, test=task.test, positions="last", n_classes=2,
                recording=RecordingConfig(batch_size=args.batch_size, max_length=16, progress=False),
                n_permutations=args.permutations,
            )
        finally:
            Recorder.accumulate_batch = original  # type: ignore[method-assign]
        restarts = sum(split.texts.restarts for split in task.splits.values())  # type: ignore[attr-defined]
    first = sampler.samples[0]
    report = {
        "examples": n,
        "splits": sizes,
        "file_mib": round(file_bytes / 2**20, 2),
        "counting_pass_seconds": round(counting, 2),
        "rss_growth_of_building_the_task_mib": round(after_task - before_task, 1),
        "samples": sampler.samples,
        "rss_growth_after_first_sample_mib": round(
            max(sample["rss_mib"] for sample in sampler.samples) - first["rss_mib"], 1
        ),
        "peak_growth_after_first_sample_mib": round(
            sampler.samples[-1]["peak_rss_mib"] - first["peak_rss_mib"], 1
        ),
        "source_restarts": restarts,
        "batch_size": args.batch_size,
        "permutations": args.permutations,
        "threads": args.threads,
        "command": " ".join(sys.argv),
    }
    print(f"{n} examples; splits {sizes}; counting pass {counting:.1f} s; "
          f"building the task grew RSS by {report['rss_growth_of_building_the_task_mib']} MiB")
    print("examples  rss MiB  peak MiB  seconds")
    for sample in sampler.samples:
        columns = (sample["examples"], sample["rss_mib"], sample["peak_rss_mib"], sample["seconds"])
        print("{:>8}  {:>7}  {:>8}  {:>7}".format(*columns))
    print(f"growth after the first sample: RSS {report['rss_growth_after_first_sample_mib']} MiB, "
          f"peak {report['peak_growth_after_first_sample_mib']} MiB; source restarts {restarts}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
