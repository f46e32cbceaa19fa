"""`find` under torchrun: two CPU processes through the command line give the one-process run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.distributed.run import get_args_parser

import skillneuron_lens as snl
import skillneuron_lens.cli.app as cli
import skillneuron_lens.runs.finding as runs_find
from skillneuron_lens.runs.finding import torchrun_process_group

ROOT = Path(__file__).resolve().parents[2]
FLOAT_SUMS = ("baseline", "histograms.baseline")
"""Tensors summed in float64 in another order by each process: equal within 1e-12 relative."""
METADATA = ("seconds", "timings", "arguments", "distributed")
"""Summary entries that may differ between the two runs (``arguments`` holds ``--out``)."""


def _command_parser(command: str = "find"):
    commands = next(a for a in cli.build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return commands.choices[command]


def _torchrun_accepts(*arguments: str, command: str = "find") -> bool:
    """Whether torchrun's own parser lets ``arguments`` of ``command`` through to ``skillneuron_lens``."""
    try:
        parsed = get_args_parser().parse_args(
            ["--nproc-per-node", "2", "-m", "skillneuron_lens", command, *arguments]
        )
    except SystemExit:
        return False
    return parsed.training_script_args == [command, *arguments]


@pytest.mark.parametrize("command", ["find", "perturb"])
def test_every_option_has_a_spelling_torchrun_lets_through(capsys, command):
    assert not _torchrun_accepts("--n", "1000")  # the trap: --n is a prefix of --nnodes, --nproc-per-node
    assert "ambiguous option: --n" in capsys.readouterr().err
    for action in _command_parser(command)._actions:
        if action.option_strings and action.dest != "help":
            spellings = [s for s in action.option_strings if _torchrun_accepts(s, "1", command=command)]
            assert spellings, f"no spelling of {command} {action.option_strings} gets through torchrun"
    capsys.readouterr()
    parser = _command_parser()
    for spelling in ("--n", "--n-examples"):  # the short one stays an alias of the same option
        assert parser.parse_args([spelling, "600", "--out", "x"]).n == 600
    for spelling in ("--run", "--run-directory"):  # --run is a prefix of torchrun's --run-path
        assert _command_parser("perturb").parse_args([spelling, "runs/x"]).run == "runs/x"


def test_outside_torchrun_no_process_group_is_started(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with torchrun_process_group("cpu") as world_size:
        assert world_size == 1 and not torch.distributed.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "1")
    with torchrun_process_group("cuda") as world_size:
        assert world_size == 1 and not torch.distributed.is_initialized()


@pytest.mark.parametrize(
    ("environment", "device", "message"),
    [
        ({"WORLD_SIZE": "two"}, "cpu", "WORLD_SIZE='two' is not an integer"),
        ({"WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "cuda:0", "pass --device cuda under torchrun"),
        ({"WORLD_SIZE": "2", "LOCAL_RANK": "x"}, "cuda", "LOCAL_RANK='x' is not an integer"),
    ],
)
def test_a_bad_torchrun_setting_is_a_clear_error(monkeypatch, environment, device, message):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(snl.SkillNeuronError, match=message), torchrun_process_group(device):
        pass
    assert not torch.distributed.is_initialized()


def test_tuned_find_in_several_processes_is_refused_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setattr(runs_find, "process_rank", lambda: (0, 2))
    monkeypatch.setattr(runs_find, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    config = snl.FindConfig(model="tiny", tune="prompt", out=str(tmp_path / "run"))
    with pytest.raises(snl.SkillNeuronError, match="--tune prompt cannot run in several processes"):
        snl.find(config)
    assert not (tmp_path / "run").exists()


def test_a_device_map_in_several_processes_is_refused_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setattr(runs_find, "process_rank", lambda: (0, 2))
    monkeypatch.setattr(runs_find, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    config = snl.FindConfig(model="tiny", device_map="auto", out=str(tmp_path / "run"))
    with pytest.raises(snl.SkillNeuronError, match="--device-map auto splits one model over the devices"):
        snl.find(config)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("rank", "expected"), [(0, [0, 1, 3, 8]), (1, [4, 5, 6])])
def test_each_process_takes_whole_batches_of_the_one_process_run(monkeypatch, rank, expected):
    from skillneuron_lens.predictivity import compute

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 2)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: rank)
    targets = torch.tensor([[1, -1], [0, 0], [-1, -1], [1, 1], [0, -1], [-1, 1], [1, 0], [-1, -1], [0, 1]])
    # one process runs rows 0, 1, 3, 4, 5, 6, 8 in batches of 3: [0, 1, 3], [4, 5, 6], [8]
    shard = compute._shard(targets, batch_size=3)
    kept = (shard >= 0).any(dim=1).nonzero().flatten().tolist()
    assert kept == expected
    assert torch.equal(shard[kept], targets[kept])  # a kept row keeps all its columns


def _command(*prefix: str, out: Path, data: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable, *prefix, "-m", "skillneuron_lens", "find", "--model", str(data / "llama"),
        "--train-file", str(data / "train.csv"), "--dev-file", str(data / "dev.csv"),
        "--test-file", str(data / "test.csv"), "--n-examples", "0", "--batch-size", "8",
        "--max-length", "32", "--fraction", "0.25", "--null-permutations", "12", "--histograms",
        "--no-report", *extra, "--out", str(out),
    ]


def _llama_and_splits(data: Path) -> dict[str, str]:
    """Write the tiny Llama and its three CSV splits under ``data``; the environment of the commands."""
    from tests.helpers.checkpoints import word_rows, write_llama, write_split

    write_llama(data / "llama")
    for name, seed, count in (("train", 1, 40), ("dev", 2, 31), ("test", 3, 27)):
        write_split(data / f"{name}.csv", word_rows(count, seed))
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    environment.pop("WORLD_SIZE", None)
    return environment


def _torchrun(logs: Path) -> tuple[str, ...]:
    """torchrun with two processes; ``--redirects 3`` sends each one's stdout and stderr to ``logs``."""
    return ("-m", "torch.distributed.run", "--nproc-per-node", "2", "--log-dir", str(logs),
            "--redirects", "3")


def _printed(logs: Path) -> dict[int, str]:
    """What each torchrun process printed, by rank."""
    printed = {int(f.parent.name): f.read_text() for f in logs.rglob("stdout.log")}
    assert set(printed) == {0, 1}
    return printed


@pytest.mark.models
def test_two_torchrun_processes_equal_one_process(tmp_path):
    data = tmp_path / "data"
    environment = _llama_and_splits(data)
    one, two, logs = tmp_path / "one" / "run", tmp_path / "two" / "run", tmp_path / "logs"
    alone = subprocess.run(_command(out=one, data=data), env=environment, capture_output=True, text=True)
    assert alone.returncode == 0, alone.stderr
    command = _command(*_torchrun(logs), out=two, data=data)
    shared = subprocess.run(command, env=environment, capture_output=True, text=True)
    assert shared.returncode == 0, shared.stderr

    # only rank 0 wrote and printed: one run directory, no leftovers, nothing of find's on rank 1
    assert sorted(p.name for p in two.parent.iterdir()) == ["run"]
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    printed = _printed(logs)
    assert printed[0] == alone.stdout.replace(str(one), str(two)) and "layer  neuron" in printed[0]
    chatter = alone.stdout.split("layer  neuron")[0]  # what loading prints (TransformerLens 2.x: a line)
    assert printed[1] == chatter

    ours = load_file(str(one / "predictivity.safetensors"))
    theirs = load_file(str(two / "predictivity.safetensors"))
    assert sorted(ours) == sorted(theirs)
    assert {"p_value", "null_run_predictivity", "histograms.counts", "held_out_accuracy"} <= set(ours)
    for name, tensor in ours.items():
        if name in FLOAT_SUMS:
            torch.testing.assert_close(theirs[name], tensor, rtol=1e-12, atol=0.0, msg=name)
        else:  # counts, accuracies, predictivity, p-values, held-out scores, the permutation null: exact
            assert torch.equal(theirs[name], tensor), name
    summary_one = json.loads((one / "summary.json").read_text())
    summary_two = json.loads((two / "summary.json").read_text())
    assert "distributed" not in summary_one
    assert summary_two["distributed"] == {"world_size": 2, "backend": "gloo"}
    for key in set(summary_one) | set(summary_two):
        if key not in METADATA:  # the read-out's test accuracy, significance, held-out numbers, ...
            assert summary_two[key] == summary_one[key], key
    assert summary_one["held_out"]["n"] == 27 and summary_one["test_accuracy"] is not None
    config_one = json.loads((one / "find_config.json").read_text())
    config_two = json.loads((two / "find_config.json").read_text())
    assert config_two == {**config_one, "out": str(two)}  # world size is not an option
    assert (one / "cfg.json").read_text() == (two / "cfg.json").read_text()


@pytest.mark.models
def test_perturb_in_two_torchrun_processes_equals_one_process(tmp_path):
    data = tmp_path / "data"
    environment = _llama_and_splits(data)
    tuned = tmp_path / "tuned"
    tuning = ("--tune", "prompt", "--head", "linear", "--prompt-length", "2", "--steps", "2",
              "--eval-every", "1", "--null-permutations", "0")
    made = subprocess.run(_command(out=tuned, data=data, extra=tuning), env=environment,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    one, two, logs = tmp_path / "one", tmp_path / "two", tmp_path / "logs"
    shutil.copytree(tuned, one)
    shutil.copytree(tuned, two)

    def perturb(*prefix: str, run: Path) -> subprocess.CompletedProcess[str]:
        # gaussian noise (one draw per example and neuron, from one generator per condition): each
        # process must draw for the batches it leaves to the other, or its accuracies change
        command = [sys.executable, *prefix, "-m", "skillneuron_lens", "perturb", "--run-directory", str(run),
                   "--mode", "gaussian", "--std", "3", "--fractions", "0.25,0.5", "--draws", "3",
                   "--permutations", "200", "--no-report"]
        return subprocess.run(command, env=environment, capture_output=True, text=True)

    alone = perturb(run=one)
    assert alone.returncode == 0, alone.stderr
    shared = perturb(*_torchrun(logs), run=two)
    assert shared.returncode == 0, shared.stderr

    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    printed = _printed(logs)
    assert printed[0] == alone.stdout.replace(str(one), str(two)) and "clean accuracy" in printed[0]
    assert "clean accuracy" not in printed[1]  # rank 1 prints nothing of perturb's
    curve_one = json.loads((one / "perturbation.json").read_text())
    curve_two = json.loads((two / "perturbation.json").read_text())
    assert "distributed" not in curve_one["config"]
    assert curve_two["config"].pop("distributed") == {"world_size": 2, "backend": "gloo"}
    assert curve_two == curve_one  # accuracies, intervals and p-values exactly
    accuracies = [curve_one["clean_accuracy"], *curve_one["skill"], *curve_one["bottom"],
                  *(value for row in curve_one["random"] for value in row)]
    assert len(set(accuracies)) > 1  # the noise changed predictions: the test can tell draws apart
