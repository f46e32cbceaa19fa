"""Resumable ``find`` (issue 18, item 4): a killed run continued with ``--resume`` ends with the same numbers.

``find`` runs on a tiny random BERT folder with batches of 4 (8 train, 5 dev and 4 test batches, after
the read-out's passes), permutations and histograms on, and a checkpoint every 2 batches. Real kills
(``os._exit``, no clean-up) come from tests/helpers/killed_find.py; the refusals use a partial run made
by an error raised inside a pass.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import skillneuron_lens as snl
import skillneuron_lens.cli.app as cli
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import CHECKPOINT_TENSORS, PARTIAL_MARKER, PREDICTIVITY_TENSORS, SUMMARY_FILE
from skillneuron_lens.io import partial_directory, recover_interrupted_write, written_kind
from skillneuron_lens.record.recorder import Recorder
from skillneuron_lens.runs.config import FindConfig
from skillneuron_lens.runs.resume import open_checkpoints
from skillneuron_lens.runs.run import Run

KILLED_FIND = Path(__file__).resolve().parents[1] / "helpers" / "killed_find.py"
TRAIN_BATCHES = 8  # 30 train examples in batches of 4
N_RANDOM_KILLS = 2
METADATA = ("seconds", "timings", "arguments")
"""Summary entries that may differ between a resumed and an uninterrupted run."""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny random BERT folder and train/dev/test CSVs."""
    from tests.helpers.checkpoints import word_rows, write_bert, write_split

    root = tmp_path_factory.mktemp("resume")
    write_bert(root / "bert")
    (root / "data").mkdir()
    for seed, (name, count) in enumerate((("train", 30), ("dev", 20), ("test", 16))):
        write_split(root / "data" / f"{name}.csv", word_rows(count, seed))
    return root


def find_args(data: Path, out: Path, *extra: str) -> list[str]:
    files = [f"--{name}-file={data / 'data' / f'{name}.csv'}" for name in ("train", "dev", "test")]
    return ["find", "--model", str(data / "bert"), *files, "--n", "0", "--fraction", "0.25",
            "--max-length", "32", "--batch-size", "4", "--histograms", "--null-permutations", "20",
            "--checkpoint-every", "2", "--no-report", "--quiet", *extra, "--out", str(out)]


def _run_counting(argv: list[str], fail_at: int | None = None) -> tuple[int, int]:
    """Run the command line, counting the batches every recorder runs; raise at batch ``fail_at`` if set."""
    real = Recorder.accumulate_batch
    calls = [0]

    def counted(recorder: Recorder, *args: Any, **kwargs: Any) -> None:
        calls[0] += 1
        if calls[0] == fail_at:
            raise RuntimeError("stopped on purpose")
        real(recorder, *args, **kwargs)

    Recorder.accumulate_batch = counted  # type: ignore[method-assign]
    try:
        return cli.main(argv), calls[0]
    finally:
        Recorder.accumulate_batch = real  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def uninterrupted(data):
    """The run made in one go, and the number of batches its recorders ran (read-out included)."""
    out = data / "uninterrupted"
    code, batches = _run_counting(find_args(data, out))
    assert code == 0
    return out, batches


def assert_same_run(resumed: Path, reference: Path) -> None:
    """Tensor for tensor the same result, and the same summary but for its metadata."""
    mine, theirs = load_file(resumed / PREDICTIVITY_TENSORS), load_file(reference / PREDICTIVITY_TENSORS)
    assert sorted(mine) == sorted(theirs)
    for name, tensor in theirs.items():
        assert mine[name].dtype == tensor.dtype and torch.equal(mine[name], tensor), name
    summaries = [json.loads((path / SUMMARY_FILE).read_text()) for path in (resumed, reference)]
    for summary in summaries:
        for key in METADATA:
            summary.pop(key)
    assert summaries[0] == summaries[1]
    assert not partial_directory(resumed).exists()


def _kill(cases: list[list[Any]]) -> dict[str, int]:
    paths = [str(Path(snl.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    done = subprocess.run(
        [sys.executable, str(KILLED_FIND), json.dumps(cases)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
        capture_output=True, text=True, timeout=2400,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def killed(data, uninterrupted, tmp_path_factory):
    """Runs killed at random batches (a fixed seed draws them: failures repeat) and in a checkpoint write."""
    _, total = uninterrupted
    batches = sorted(random.Random(18).sample(range(1, total + 1), N_RANDOM_KILLS))
    steps = [f"at-batch:{batch}" for batch in batches] + ["in-checkpoint:3"]
    root = tmp_path_factory.mktemp("killed")
    outs = [root / str(index) / "run" for index in range(len(steps))]
    cases = [[step, str(out), find_args(data, out)] for step, out in zip(steps, outs, strict=True)]
    codes = _kill(cases)
    return {step: (codes[step], Path(out), argv) for step, out, argv in cases}


@pytest.mark.models
@pytest.mark.parametrize("case", range(N_RANDOM_KILLS))
def test_resume_after_a_kill_at_a_random_batch_equals_the_uninterrupted_run(killed, uninterrupted, case):
    step = sorted((s for s in killed if s.startswith("at-batch")), key=lambda s: int(s.split(":")[1]))[case]
    code, out, argv = killed[step]
    assert code == 9, step
    assert not out.exists()
    assert cli.main([*argv, "--resume"]) == 0, step
    assert_same_run(out, uninterrupted[0])


@pytest.mark.models
def test_a_kill_while_writing_a_checkpoint_leaves_the_previous_one_readable(killed, uninterrupted):
    code, out, argv = killed["in-checkpoint:3"]
    assert code == 9
    partial = partial_directory(out)
    # Checkpoint 1 kept the read-out's accuracy, 2 the first two train batches; 3 (four batches) was
    # half written to its temporary file when the process died.
    assert [p.name for p in partial.iterdir() if p.name.endswith(".tmp")]
    with safe_open(str(partial / CHECKPOINT_TENSORS), framework="pt") as stream:
        assert json.loads(stream.metadata()["progress"]) == {"train": [2, TRAIN_BATCHES]}
        assert all(stream.get_tensor(name).numel() for name in stream.keys())  # noqa: SIM118
    assert cli.main([*argv, "--resume"]) == 0
    assert_same_run(out, uninterrupted[0])


# ---- refusals --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stopped(data, uninterrupted):
    """A partial run stopped by an error half-way through the train pass (after the read-out)."""
    out = data / "stopped"
    reference, total = uninterrupted
    fail_at = total - 17 + 5  # the recording passes are the last 8 + 5 + 4 = 17 batches
    code, _ = _run_counting(find_args(data, out), fail_at=fail_at)
    assert code != 0 and not out.exists()
    marker = json.loads((partial_directory(out) / PARTIAL_MARKER).read_text())
    assert marker["progress"] == {"train": [4, TRAIN_BATCHES]}
    return out


@pytest.fixture
def partial_copy(stopped, tmp_path):
    """A private copy of the stopped run's partial folder, for a run at ``tmp_path / "run"``."""
    out = tmp_path / "run"
    shutil.copytree(partial_directory(stopped), partial_directory(out))
    return out


def _error(capsys) -> str:
    return capsys.readouterr().err


@pytest.mark.models
def test_plain_find_on_a_partial_run_suggests_resume_or_overwrite(data, partial_copy, capsys):
    before = (partial_directory(partial_copy) / CHECKPOINT_TENSORS).read_bytes()
    assert cli.main(find_args(data, partial_copy)) != 0
    message = _error(capsys)
    assert "stopped before it finished (train 4/8 batches)" in message
    assert "--resume" in message and "--overwrite" in message
    assert (partial_directory(partial_copy) / CHECKPOINT_TENSORS).read_bytes() == before


@pytest.mark.models
@pytest.mark.parametrize(
    ("change", "named"),
    [(["--seed", "1"], "options.seed: 0 -> 1"), (["--batch-size", "8"], "options.batch_size: 4 -> 8"),
     (["--null-permutations", "10"], "options.null_permutations: 20 -> 10")],
)
def test_resume_with_other_options_is_refused(data, partial_copy, capsys, change, named):
    assert cli.main([*find_args(data, partial_copy), *change, "--resume"]) != 0
    message = _error(capsys)
    assert "other options or data" in message and named in message
    assert not partial_copy.exists() and partial_directory(partial_copy).exists()


@pytest.mark.models
def test_resume_with_other_data_is_refused(data, partial_copy, capsys, tmp_path):
    changed = tmp_path / "train.csv"
    changed.write_text((data / "data" / "train.csv").read_text().replace("film", "plot", 1))
    argv = [f"--train-file={changed}" if item.startswith("--train-file") else item
            for item in find_args(data, partial_copy, "--resume")]
    assert cli.main(argv) != 0
    message = _error(capsys)
    assert "other options or data" in message and "data.files.train_file.sha256" in message


@pytest.mark.models
def test_overwrite_discards_the_partial_run(data, partial_copy, uninterrupted):
    assert cli.main(find_args(data, partial_copy, "--overwrite")) == 0
    assert_same_run(partial_copy, uninterrupted[0])


@pytest.mark.models
def test_resume_continues_the_stopped_run(data, partial_copy, uninterrupted):
    code, batches = _run_counting(find_args(data, partial_copy, "--resume"))
    assert code == 0
    assert batches == 17 - 4  # no read-out, and the train pass from its fifth batch
    assert_same_run(partial_copy, uninterrupted[0])


@pytest.mark.models
def test_resume_on_a_finished_run_is_refused(data, uninterrupted, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(uninterrupted[0], out)
    assert cli.main(find_args(data, out, "--resume")) != 0
    assert "is a finished run: there is nothing to resume" in _error(capsys)


@pytest.mark.models
def test_a_partial_run_beside_a_finished_one_resumes_only_with_overwrite(
    data, stopped, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "run"
    shutil.copytree(uninterrupted[0], out)
    shutil.copytree(partial_directory(stopped), partial_directory(out))
    assert cli.main(find_args(data, out, "--resume")) != 0
    assert "--resume --overwrite" in _error(capsys)
    assert cli.main(find_args(data, out, "--resume", "--overwrite")) == 0
    assert_same_run(out, uninterrupted[0])


@pytest.mark.models
def test_resume_without_a_partial_run_starts_from_the_beginning(data, uninterrupted, tmp_path):
    out = tmp_path / "run"
    assert cli.main(find_args(data, out, "--resume")) == 0
    assert_same_run(out, uninterrupted[0])


@pytest.mark.models
def test_a_partial_run_is_never_taken_for_a_finished_one(partial_copy):
    partial = partial_directory(partial_copy)
    assert partial.name == ".run.snl-partial" and partial.parent == partial_copy.parent
    assert written_kind(partial) is None
    with pytest.raises(SkillNeuronError):
        Run(partial)
    assert recover_interrupted_write(partial_copy) is None  # the clean-up of staging leaves it alone
    assert (partial / CHECKPOINT_TENSORS).is_file()


def test_no_checkpoints_are_kept_when_asked_for_none_or_for_tuned_runs(tmp_path):
    for config in (FindConfig(out=str(tmp_path / "run"), checkpoint_every=0),
                   FindConfig(out=str(tmp_path / "run"), tune="prompt")):
        assert open_checkpoints(config, None, None, {}, world_size=1) is None  # type: ignore[arg-type]


def test_resume_is_refused_where_it_cannot_work(tmp_path):
    with pytest.raises(SkillNeuronError, match="trains classifiers, which are not checkpointed"):
        FindConfig(out=str(tmp_path / "run"), tune="prompt", resume=True)
    with pytest.raises(SkillNeuronError, match="--checkpoint-every: must be 0 or more"):
        FindConfig(out=str(tmp_path / "run"), checkpoint_every=-1)
    config = FindConfig(out=str(tmp_path / "run"), resume=True)
    with pytest.raises(SkillNeuronError, match="one process only"):
        open_checkpoints(config, None, None, {}, world_size=2)  # type: ignore[arg-type]
    one_process_only = dataclasses.replace(config, resume=False)
    assert open_checkpoints(one_process_only, None, None, {}, world_size=2) is None  # type: ignore[arg-type]
