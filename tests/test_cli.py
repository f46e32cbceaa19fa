"""The command line: `find` end to end on a small CSV, options, and one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import skillneuron_lens as snl
from skillneuron_lens import cli
from skillneuron_lens.majority import skill_neurons_at_share


def write_csv(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


@pytest.fixture
def small_files(tmp_path, rotten_sample):
    (train_texts, train_labels), (dev_texts, dev_labels) = rotten_sample
    write_csv(tmp_path / "train.csv", list(zip(train_texts[:64], train_labels[:64], strict=True)))
    write_csv(tmp_path / "dev.csv", list(zip(dev_texts[:32], dev_labels[:32], strict=True)))
    write_csv(tmp_path / "test.csv", list(zip(dev_texts[32:64], dev_labels[32:64], strict=True)))
    return tmp_path


@pytest.mark.slow
def test_find_writes_a_complete_run_directory(small_files, capsys):
    out = small_files / "run"
    args = [
        "find", "--model", "minilm", "--train-file", str(small_files / "train.csv"),
        "--dev-file", str(small_files / "dev.csv"), "--test-file", str(small_files / "test.csv"),
        "--n", "0", "--layers", "4-5", "--positions", "0", "--out", str(out), "--quiet",
    ]
    assert cli.main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["n_train"], summary["n_dev"], summary["n_test"]) == (64, 32, 32)
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    top = summary["top_neurons"][0]
    assert set(top) == {
        "layer", "neuron", "predictivity", "polarity", "p_value", "q_value", "held_out", "fragile",
    } and top["layer"] in (4, 5)
    assert summary["skill_neurons"]["count_per_layer"] == [30, 30]  # floor(0.02 * 1536)
    tensors = load_file(str(out / "predictivity.safetensors"))
    assert tensors["predictivity"].shape == (2, 1536)
    assert tensors["p_value"].shape == (2, 1536) and tensors["p_value"].dtype == torch.float64
    significance = summary["significance"]
    assert {"method", "q", "n_tested", "n_significant", "n_significant_in_skill_set"} <= set(significance)
    assert (significance["method"], significance["q"], significance["n_tested"]) == ("bh", 0.05, 3072)
    assert 0 <= significance["n_significant_in_skill_set"] <= min(60, significance["n_significant"])
    held_out = summary["held_out"]
    assert held_out["split"] == "test" and held_out["n"] == 32
    assert 0.0 <= held_out["random"] <= 1.0 and 0.0 <= held_out["skill"] <= 1.0
    assert len(summary["null"]["layer_maxima"]) == 2
    # 32 balanced dev examples let a perfect neuron reach p = 2 / C(32, 16) < 0.05 / 3,072: no warning
    assert summary["dev_too_small"] is None
    assert cli.main(args) == 2  # the run directory exists: never overwritten silently
    assert "already exists" in capsys.readouterr().err
    assert cli.main([*args, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["find", "--model", "no-such-model", "--out", "x"], "no-such-model"),
        (["find", "--task", "no_such_task", "--model", "minilm", "--out", "x"], "no_such_task"),
        (["find", "--dev-file", "d.csv", "--out", "x"], "need --train-file"),
    ],
)
def test_bad_input_exits_with_a_one_line_message(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("skillneuron-lens: error:") and message in err
    assert not (tmp_path / "x").exists()


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["find", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in ("--train-file", "--positions", "--hook", "--seed", "--device", "--dtype",
                   "--batch-size", "--n", "--readout", "--overwrite", "--quiet"):
        assert option in text
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert "skillneuron-lens 0.1.0" in capsys.readouterr().out


def test_python_dash_m_runs_the_same_command_line():
    done = subprocess.run([sys.executable, "-m", "skillneuron_lens", "--version"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "skillneuron-lens 0.1.0" in done.stdout
    done = subprocess.run([sys.executable, "-m", "skillneuron_lens", "perturb", "--run", "no-such-run"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "not a run directory" in done.stderr


def test_bad_positions_are_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["find", "--positions", "middle", "--out", "x"])
    assert stop.value.code == 2
    assert "is not a position" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory, rotten_sample):
    """A tiny prompt-tuned MiniLM run (a few steps: checks plumbing, not accuracy)."""
    directory = tmp_path_factory.mktemp("tuned")
    (train_texts, train_labels), (dev_texts, dev_labels) = rotten_sample
    write_csv(directory / "train.csv", list(zip(train_texts[:48], train_labels[:48], strict=True)))
    write_csv(directory / "dev.csv", list(zip(dev_texts[:24], dev_labels[:24], strict=True)))
    write_csv(directory / "test.csv", list(zip(dev_texts[24:48], dev_labels[24:48], strict=True)))
    out = directory / "run"
    args = [
        "find", "--model", "minilm", "--train-file", str(directory / "train.csv"),
        "--dev-file", str(directory / "dev.csv"), "--test-file", str(directory / "test.csv"), "--n", "0",
        "--tune", "prompt", "--prompt-length", "4", "--steps", "4", "--eval-every", "2",
        "--train-batch-size", "8", "--max-length", "32", "--runs", "2", "--input-control",
        "--pooling", "read", "--out", str(out), "--quiet",
    ]
    assert cli.main(args) == 0
    return out


@pytest.mark.slow
def test_find_with_prompt_tuning_saves_runs_and_prompt_slot_predictivity(tuned_run):
    summary = json.loads((tuned_run / "summary.json").read_text())
    tuning = summary["tuning"]
    assert tuning["method"] == "prompt" and tuning["runs"] == 2
    assert len(tuning["run_test_accuracies"]) == 2
    assert summary["test_accuracy"] == pytest.approx(sum(tuning["run_test_accuracies"]) / 2)
    assert len(tuning["run_best_predictivity"]) == 2
    control = tuning["input_control"]
    assert set(control) == {"prompt_slots", "input_mean", "input_max"}
    assert all(0.5 <= part["best"] <= 1.0 for part in control.values())
    assert (tuned_run / "tuned-run0" / "tuned.safetensors").is_file()
    assert (tuned_run / "tuned-run1" / "cfg.json").is_file()
    saved = json.loads((tuned_run / "tuned-run0" / "cfg.json").read_text())
    assert saved["classifier"]["pooling"] == "read"  # --pooling reaches the tuned head
    assert (tuned_run / "report.html").is_file()
    tensors = load_file(str(tuned_run / "predictivity.safetensors"))
    assert tensors["accuracy"].shape == (2, 1, 4, 6, 1536)  # runs, subtask, prompt slots, layers, neurons


@pytest.mark.slow
def test_perturb_prune_compare_and_report_on_a_tuned_run(tuned_run, tmp_path, capsys):
    perturb = ["perturb", "--run", str(tuned_run), "--fractions", "0.02,0.1", "--draws", "2",
               "--permutations", "200", "--quiet"]
    assert cli.main(perturb) == 0
    curve = json.loads((tuned_run / "perturbation.json").read_text())
    assert curve["fractions"] == [0.02, 0.1] and len(curve["random"]) == 2
    assert cli.main(perturb) == 2 and "already exists" in capsys.readouterr().err
    assert cli.main([*perturb, "--overwrite", "--mode", "zero"]) == 0
    assert cli.main([*perturb, "--mode", "zero", "--output", "perturbation-zero.json"]) == 0
    assert json.loads((tuned_run / "perturbation-zero.json").read_text())["mode"] == "zero"

    pruned = tmp_path / "pruned"
    assert cli.main(["prune", "--run", str(tuned_run), "--keep", "0.02", "--layers", "2-5",
                     "--out", str(pruned), "--quiet"]) == 0
    facts = json.loads((pruned / "prune.json").read_text())
    assert facts["parameters_after"] < facts["parameters_before"]
    assert 0.0 <= facts["accuracy_after"] <= 1.0

    compared = tmp_path / "compare"
    assert cli.main(["compare", str(tuned_run), str(tuned_run), "--names", "a,b", "--draws", "50",
                     "--out", str(compared), "--quiet"]) == 0
    matrix = json.loads((compared / "compare.json").read_text())
    assert matrix["names"] == ["a", "b"]
    assert matrix["spearman"][0][1] == pytest.approx(1.0)
    assert (compared / "compare.html").is_file()

    assert cli.main(["report", str(tuned_run), "--quiet"]) == 0
    assert "Perturbation" in (tuned_run / "report.html").read_text()


@pytest.mark.slow
def test_cross_perturb_measures_every_run_under_every_set(tuned_run, tmp_path, capsys):
    out = tmp_path / "cross"
    args = ["cross-perturb", str(tuned_run), str(tuned_run), "--names", "a,b", "--mode", "mean",
            "--fraction", "0.1", "--draws", "2", "--out", str(out)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "accuracy drop" in printed and "a vs random" in printed and "a vs b" in printed
    saved = json.loads((out / "cross_task.json").read_text())
    assert saved["perturbed_tasks"] == ["a", "b", "random 1", "random 2"]
    assert saved["controls"] == ["random 1", "random 2"] and saved["evaluated_tasks"] == ["a", "b"]
    accuracy = torch.tensor(saved["accuracy"])
    assert accuracy.shape == (4, 2)
    assert torch.equal(accuracy[0], accuracy[1])  # the same run twice: the same set, the same classifier
    assert torch.equal(accuracy[:, 0], accuracy[:, 1])
    assert saved["config"]["target_options"]["a"]["mean"]["tensor"]["shape"] == [6, 1536]
    tests = {(t["task"], t["against"]): t for t in saved["tests"]}
    assert tests[("a", "b")]["difference"] == 0.0 and tests[("a", "b")]["p_value"] == 1.0
    assert (out / "cross_task.html").is_file()
    assert cli.main(args) == 2 and "already exists" in capsys.readouterr().err
    assert cli.main(["cross-perturb", str(tuned_run), "--out", str(tmp_path / "one")]) == 2
    assert "at least two" in capsys.readouterr().err


@pytest.mark.slow
def test_cross_perturb_measures_each_task_with_its_own_baseline(tuned_run, tmp_path, monkeypatch):
    """Two runs with different baselines: each task's mean-mode options carry its own."""
    import dataclasses

    from skillneuron_lens import cli_specificity

    made = []

    class ShiftedRun(cli_specificity.Run):
        def __init__(self, path):
            super().__init__(path)
            if made:  # the second run: same neurons, another baseline
                self.result = dataclasses.replace(self.result, baseline=self.result.baseline + 1.0)
            made.append(self)

    seen = {}
    original = cli_specificity.cross_task_matrix

    def spy(*args, **kwargs):
        seen.update(kwargs["target_options"])
        return original(*args, **kwargs)

    monkeypatch.setattr(cli_specificity, "Run", ShiftedRun)
    monkeypatch.setattr(cli_specificity, "cross_task_matrix", spy)
    args = ["cross-perturb", str(tuned_run), str(tuned_run), "--names", "a,b", "--mode", "mean",
            "--fraction", "0.02", "--draws", "0", "--out", str(tmp_path / "cross"), "--quiet"]
    assert cli.main(args) == 0
    for name, run in zip("ab", made, strict=True):
        assert torch.equal(seen[name]["mean"], run.result.baseline.mean(dim=(0, 1, 2)).float())
    assert not torch.equal(seen["a"]["mean"], seen["b"]["mean"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fraction", "0.0001"], "keeps no neuron of a 1536-neuron layer"),
        (["--names", "random 1,b"], "are the names of random control sets"),
        (["--draws", "-1"], "--draws must be 0 or more"),
    ],
)
def test_cross_perturb_rejects_bad_settings(tuned_run, tmp_path, capsys, extra, message):
    args = ["cross-perturb", str(tuned_run), str(tuned_run), "--out", str(tmp_path / "cross"), *extra]
    if "--names" not in extra:
        args += ["--names", "a,b"]
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_perturb_needs_a_run_directory(tmp_path, capsys):
    assert cli.main(["perturb", "--run", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


@pytest.mark.models
def test_balance_option_and_the_imbalance_warning(tmp_path, caplog):
    from test_models import WORDS, _write_bert

    _write_bert(tmp_path / "bert")
    sentences = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + i % 5)) for i in range(60)]
    rows = [(text, int(i % 5 == 0)) for i, text in enumerate(sentences)]  # 80% label 0
    for name, part in (("train", rows[:30]), ("dev", rows[30:50]), ("test", rows[50:])):
        write_csv(tmp_path / f"{name}.csv", part)
    base = ["find", "--model", str(tmp_path / "bert"), "--train-file", str(tmp_path / "train.csv"),
            "--dev-file", str(tmp_path / "dev.csv"), "--test-file", str(tmp_path / "test.csv"), "--n", "0",
            "--fraction", "0.3", "--quiet", "--no-report"]
    with caplog.at_level("WARNING", logger="skillneuron_lens"):
        assert cli.main([*base, "--out", str(tmp_path / "auto")]) == 0
    assert "80% of the dev examples are one class" in caplog.text and "--balance on" in caplog.text
    assert json.loads((tmp_path / "auto" / "cfg.json").read_text())["config"]["balance"] is None
    skill = json.loads((tmp_path / "auto" / "summary.json").read_text())["skill_neurons"]
    assert skill["dev_majority_share"] == 0.8
    result = snl.PredictivityResult.load(tmp_path / "auto")
    expected = len(skill_neurons_at_share(result, 0.8, fraction=0.3))
    assert skill["at_majority_share"] == expected
    assert expected > 0  # the random tiny BERT has always-on neurons, which score exactly 0.8 here
    assert f"find: {expected} of the" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="skillneuron_lens"):
        assert cli.main([*base, "--balance", "on", "--out", str(tmp_path / "on")]) == 0
    assert "one class" not in caplog.text
    assert json.loads((tmp_path / "on" / "cfg.json").read_text())["config"]["balance"] is True
    skill = json.loads((tmp_path / "on" / "summary.json").read_text())["skill_neurons"]
    assert skill["dev_majority_share"] is None and skill["at_majority_share"] is None
