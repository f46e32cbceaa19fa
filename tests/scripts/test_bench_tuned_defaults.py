"""Smoke test of benchmarks/bench_tuned_defaults.py at its quick size (checks the script, not the bar)."""

from __future__ import annotations

import json

from tests.helpers.scripts import import_benchmark

bench_tuned_defaults = import_benchmark("bench_tuned_defaults")


def test_the_quick_run_reads_accuracy_and_training_time_from_the_summary(tmp_path):
    figures_file = tmp_path / "figures.json"
    runs = tmp_path / "runs"
    bench_tuned_defaults.main(
        ["--quick", "--seeds", "3", "--threads", "1", "--out", str(runs), "--json", str(figures_file)]
    )
    figures = json.loads(figures_file.read_text())
    (run,) = figures["runs"]
    summary = json.loads((runs / "seed-3" / "summary.json").read_text())
    accuracy = summary["tuning"]["run_test_accuracies"][0]
    assert run["test_accuracy"] == accuracy == figures["mean_test_accuracy"]
    assert summary["arguments"]["seed"] == 3 and summary["arguments"]["tune"] == "prompt"
    assert run["steps"] == 3 and 0 < run["train_seconds"] < run["command_seconds"]
    assert run["sizes"] == {"train": summary["n_train"], "dev": summary["n_dev"], "test": summary["n_test"]}
    assert figures["quick"] and figures["meets_the_bar"] == (
        run["test_accuracy"] >= 0.77 and run["train_seconds"] <= 300
    )
