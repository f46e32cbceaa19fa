"""Do ``find --tune prompt``'s defaults reach the best-known accuracy within the time budget?

Runs the command with no tuning flags (``skillneuron-lens find --model minilm --task rotten_tomatoes
--tune prompt``) once per seed, one after the other, and reads each run's ``summary.json``: the test
accuracy of the tuned classifier, the seconds its training loop took (``train_seconds`` of the last
evaluation: optimisation steps only, the dev check left out) and the whole command's wall time.

The bar (issue 17, written in docs/tuning.md before the measurement): mean test accuracy over seeds 0, 1
and 2 at least 0.77, and every run's training at most 300 seconds on the 2-core CPU.

    python benchmarks/bench_tuned_defaults.py --out runs/tuned-defaults --json runs/tuned-defaults.json

``--quick`` shrinks the data and steps to check that the script works (not a result).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import command_line, load_average, machine  # noqa: E402

MIN_MEAN_ACCURACY = 0.77
MAX_TRAIN_SECONDS = 300.0
QUICK_ARGUMENTS = ("--n-examples", "120", "--steps", "3", "--max-length", "16", "--null-permutations", "0")


def run_one(seed: int, out: Path, extra: list[str], threads: int) -> dict[str, Any]:
    """Run the default tuned ``find`` for one seed; its accuracy, training seconds and wall time."""
    directory = out / f"seed-{seed}"
    command = [
        sys.executable, "-m", "skillneuron_lens", "find", "--model", "minilm", "--task", "rotten_tomatoes",
        "--tune", "prompt", "--seed", str(seed), "--out", str(directory), "--no-report", "--quiet", *extra,
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment)
    wall_seconds = time.perf_counter() - started
    summary = json.loads((directory / "summary.json").read_text())
    tuning = summary["tuning"]
    return {
        "seed": seed,
        "command": command[1:],
        "test_accuracy": tuning["run_test_accuracies"][0],
        "dev_accuracy": tuning["run_best_dev_accuracies"][0],
        "train_seconds": tuning["history"][0][-1]["train_seconds"],
        "steps": tuning["history"][0][-1]["step"],
        "sizes": {split: summary[f"n_{split}"] for split in ("train", "dev", "test")},
        "find_seconds": summary["seconds"],
        "command_seconds": wall_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run every seed and print and save the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="run directories go here (one per seed)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of each run (default 2)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, not a result")
    options = parser.parse_args(argv)
    extra = list(QUICK_ARGUMENTS) if options.quick else []
    seeds = [int(seed) for seed in options.seeds.split(",")]
    runs = [run_one(seed, options.out, extra, options.threads) for seed in seeds]
    mean_accuracy = sum(run["test_accuracy"] for run in runs) / len(runs)
    longest_training = max(run["train_seconds"] for run in runs)
    figures = {
        "command": command_line(),
        "machine": machine(),
        "load_average_after": load_average(),
        "quick": options.quick,
        "runs": runs,
        "mean_test_accuracy": mean_accuracy,
        "longest_train_seconds": longest_training,
        "meets_the_bar": mean_accuracy >= MIN_MEAN_ACCURACY and longest_training <= MAX_TRAIN_SECONDS,
    }
    for run in runs:
        print(
            f"seed {run['seed']}: test {run['test_accuracy']:.3f}, training {run['train_seconds']:.0f} s, "
            f"whole command {run['command_seconds']:.0f} s"
        )
    print(
        f"mean test accuracy {mean_accuracy:.3f} (bar {MIN_MEAN_ACCURACY}), longest training "
        f"{longest_training:.0f} s (bar {MAX_TRAIN_SECONDS:.0f}): "
        f"{'meets' if figures['meets_the_bar'] else 'misses'} the bar"
    )
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
