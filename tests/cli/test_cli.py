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
import skillneuron_lens.cli.app as cli
import skillneuron_lens.runs.finding as runs_find
from skillneuron_lens.neurons.majority import skill_neurons_at_share


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
        "layer", "neuron", "predictivity", "polarity", "p_value", "q_value", "held_out", "held_out_ci95",
        "fragile",
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

    import skillneuron_lens.cli.cross_perturb as cli_specificity

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
        (["--fraction", "0.0001"], "--fraction 0.0001 selects no neuron of 1536"),
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
    from tests.models.test_models import WORDS, _write_bert

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
    # Many of the tiny BERT's skill neurons score exactly 0.8 (16 of 20), but their firing counts show
    # that none fires on every dev example or on none: they are not constant, so find does not warn.
    at_share = (result.predictivity - 0.8).abs() < 1e-9
    assert int((at_share & snl.NeuronSet.top(result, fraction=0.3).mask).sum()) > 0
    assert expected == 0 and "skill neurons score exactly" not in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="skillneuron_lens"):
        assert cli.main([*base, "--balance", "on", "--out", str(tmp_path / "on")]) == 0
    assert "one class" not in caplog.text
    assert json.loads((tmp_path / "on" / "cfg.json").read_text())["config"]["balance"] is True
    skill = json.loads((tmp_path / "on" / "summary.json").read_text())["skill_neurons"]
    assert skill["dev_majority_share"] is None and skill["at_majority_share"] is None


# ---- bad input on the command line, on a tiny model ------------------------------------------------


def _strict(constant):
    raise AssertionError(f"non-strict JSON constant {constant}")


@pytest.fixture(scope="module")
def tiny_cli():
    """The command line with every model name loading the tiny GPT-2 (no download, seconds per run)."""
    import skillneuron_lens.runs.run as runs_run
    from tests.helpers.tiny_models import tiny_gpt2

    model = tiny_gpt2()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runs_find, "load_model", lambda *args, **kwargs: model)
        patch.setattr(runs_run, "load_model", lambda *args, **kwargs: model)
        yield model


def _toy_csv(path, names=("negative", "positive"), n=60, extra=()):
    from tests.helpers.tiny_models import toy_texts

    texts, labels = toy_texts(n, 3)
    write_csv(path, [*((text, names[label]) for text, label in zip(texts, labels, strict=True)), *extra])
    return path


TINY_MODEL = ["--model", "tiny", "--n", "0"]
TINY_FIND = [*TINY_MODEL, "--fraction", "0.05", "--max-length", "16", "--quiet", "--no-report"]
TINY_TUNE = ["--tune", "none", "--head", "linear", "--steps", "2", "--eval-every", "1"]


@pytest.fixture(scope="module")
def tiny_run(tiny_cli, tmp_path_factory):
    """A tuned (head only, two steps) run of the tiny model on a toy CSV."""
    folder = tmp_path_factory.mktemp("tiny-run")
    train = _toy_csv(folder / "train.csv")
    out = ["--out", str(folder / "run")]
    assert cli.main(["find", "--train-file", str(train), *TINY_FIND, *TINY_TUNE, *out]) == 0
    return folder / "run"


def _error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("skillneuron-lens: error:"), err
    return err


def test_stray_and_near_duplicate_labels_fail_before_the_model_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runs_find, "load_model", lambda *args, **kwargs: pytest.fail("the model was loaded"))
    stray = _toy_csv(tmp_path / "stray.csv", extra=[("w1 w2", "nan"), ("w3 w4", "nan")])
    assert cli.main(["find", "--train-file", str(stray), "--out", str(tmp_path / "a")]) == 2
    assert "'nan' (2 rows, first at" in _error(capsys)
    cased = _toy_csv(tmp_path / "cased.csv", extra=[("w1 w2", "Positive")])
    assert cli.main(["find", "--train-file", str(cased), "--out", str(tmp_path / "b")]) == 2
    err = _error(capsys)
    assert "'Positive' (1 row, first at" in err and "'positive' (" in err and "--labels" in err
    outside = ["--labels", "negative,positive", "--out", str(tmp_path / "c")]
    assert cli.main(["find", "--train-file", str(cased), *outside]) == 2
    assert "outside the label names ['negative', 'positive']: 'Positive' (1 row" in _error(capsys)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_label_order_guessed_with_a_warning_or_given_with_labels(tiny_cli, tmp_path, caplog):
    train = _toy_csv(tmp_path / "three.csv", names=("bad", "good", "neutral"), n=90)
    three = [(f"w{k} w{k + 1} w{k + 2}", ("bad", "good", "neutral")[k % 3]) for k in range(30)]
    write_csv(train, [*csv.reader(train.open())][1:] + three)
    with caplog.at_level("WARNING"):
        assert cli.main(["find", "--train-file", str(train), *TINY_FIND, "--out", str(tmp_path / "a")]) == 0
    assert "labels mapped bad=0, good=1, neutral=2 (alphabetical); pass --labels" in caplog.text
    assert "pn = neutral vs bad (good left out); neu = good vs bad+neutral" in caplog.text
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["label_names"] == ["bad", "good", "neutral"]
    caplog.clear()
    given = ["--labels", "bad,neutral,good", "--out", str(tmp_path / "b")]
    with caplog.at_level("WARNING"):
        assert cli.main(["find", "--train-file", str(train), *TINY_FIND, *given]) == 0
    assert "labels mapped" not in caplog.text
    assert "pn = good vs bad (neutral left out); neu = neutral vs bad+good" in caplog.text
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["label_names"] == ["bad", "neutral", "good"]


def test_max_length_is_checked_before_any_work(tiny_cli, tmp_path, capsys):
    train = _toy_csv(tmp_path / "train.csv")
    base = ["find", "--train-file", str(train), *TINY_MODEL, "--fraction", "0.05", "--quiet"]
    assert cli.main([*base, "--max-length", "500", "--out", str(tmp_path / "a")]) == 2
    err = _error(capsys)
    assert "--max-length 500" in err and "context of 64 tokens" in err
    bos = int(snl.ModelAdapter(tiny_cli).bos_added_here())
    assert f"use --max-length {64 - bos} or less" in err
    prompt = [*TINY_TUNE[:1], "prompt", *TINY_TUNE[2:], "--prompt-length", "16"]
    assert cli.main([*base, *prompt, "--max-length", "60", "--out", str(tmp_path / "b")]) == 2
    assert "soft-prompt slots (16)" in _error(capsys)
    assert cli.main([*base, "--max-length", "0", "--out", str(tmp_path / "c")]) == 2
    assert "--max-length must be a positive int" in _error(capsys)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_fractions_that_select_no_neuron_are_refused(tiny_run, tmp_path, capsys):
    train = tiny_run.parent / "train.csv"
    find = ["find", "--train-file", str(train), *TINY_MODEL, "--quiet", "--out", str(tmp_path / "a")]
    assert cli.main([*find, "--fraction", "0.01"]) == 2  # d_mlp 48: floor(0.48) = 0
    assert "--fraction 0.01 selects no neuron of 48" in _error(capsys)
    assert not (tmp_path / "a").exists()
    perturb = ["perturb", "--run", str(tiny_run), "--fractions", "0.01,0.1", "--quiet", "--no-report"]
    assert cli.main(perturb) == 2
    err = _error(capsys)
    assert "--fractions 0.01 selects no neuron of 48" in err
    assert "selects one neuron per layer is 0.0209" in err
    assert not (tiny_run / "perturbation.json").exists()
    assert cli.main(["prune", "--run", str(tiny_run), "--keep", "0.02", "--out", str(tmp_path / "p")]) == 2
    assert "--keep 0.02 selects no neuron" in _error(capsys)
    compare = ["compare", str(tiny_run), str(tiny_run), "--names", "a,b", "--fraction", "0.001"]
    assert cli.main([*compare, "--out", str(tmp_path / "c")]) == 2
    assert "--fraction 0.001 selects no neuron" in _error(capsys) and not (tmp_path / "c").exists()
    assert cli.main([*compare[:-1], "0.05", "--draws", "20", "--out", str(tmp_path / "c"), "--quiet"]) == 0
    compared = json.loads((tmp_path / "c" / "compare.json").read_text(), parse_constant=_strict)
    assert compared["jaccard"][0][1] == 1.0  # the same run twice: the same non-empty sets


def test_every_json_file_of_a_find_run_is_strict(tiny_run, tmp_path):
    for path in [*tiny_run.rglob("*.json")]:
        json.loads(path.read_text(), parse_constant=_strict)
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["data"]["files"]["train_file"]["sha256"]
    # a summary with NaN in it (a constant run: no skill neuron varies) is still written strictly
    from skillneuron_lens.io import dumps_strict

    assert json.loads(dumps_strict({**summary, "test_accuracy": float("nan")}), parse_constant=_strict)[
        "test_accuracy"
    ] is None


def test_changed_data_is_refused_unless_allowed(tiny_run, tmp_path, capsys, caplog, monkeypatch):
    train = tiny_run.parent / "train.csv"
    original = train.read_bytes()
    saved = json.loads((tiny_run / "summary.json").read_text())["data"]["files"]["train_file"]
    assert saved["resolved"] == str(train.resolve()) and saved["size"] == len(original)
    prune = ["prune", "--run", str(tiny_run), "--keep", "0.05", "--quiet", "--overwrite"]
    perturb = ["perturb", "--run", str(tiny_run), "--fractions", "0.1", "--draws", "1",
               "--permutations", "10", "--quiet", "--no-report", "--overwrite", "--output", "p.json"]
    try:
        train.write_bytes(original.replace(b"negative", b"positive", 1))
        assert cli.main([*prune, "--out", str(tmp_path / "pruned")]) == 2
        err = _error(capsys)
        assert f"--train-file {train.resolve()} changed" in err and "--allow-changed-data" in err
        assert cli.main(perturb) == 2 and "changed" in _error(capsys)
        assert not (tmp_path / "pruned").exists() and not (tiny_run / "p.json").exists()
        with caplog.at_level("WARNING"):
            assert cli.main([*prune, "--out", str(tmp_path / "pruned"), "--allow-changed-data"]) == 0
        assert "--allow-changed-data: the data of run" in caplog.text
        train.unlink()
        assert cli.main([*prune, "--out", str(tmp_path / "pruned")]) == 2
        assert "was moved or deleted" in _error(capsys)
    finally:
        train.write_bytes(original)
    monkeypatch.chdir(tmp_path)  # the run stores the resolved path: another working directory is fine
    assert cli.main([*perturb]) == 0


def test_runs_without_a_data_fingerprint_load_with_a_warning(tiny_run, tmp_path, caplog):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny_run, old)
    summary = json.loads((old / "summary.json").read_text())
    del summary["data"]
    (old / "summary.json").write_text(json.dumps(summary))
    with caplog.at_level("WARNING"):
        prune = ["prune", "--run", str(old), "--keep", "0.05", "--out", str(tmp_path / "p"), "--quiet"]
        assert cli.main(prune) == 0
    assert "records no data fingerprint" in caplog.text
