"""Nothing a user has is ever lost: --overwrite replaces only this tool's results, writes are atomic.

Covers the file-safety half of issue 19: the replace decision (user folders, inputs, source runs,
symbolic links), ``perturb --output``, writability checked before the computation, locked swaps that
never let one writer replace another, partial runs refused, interrupted swaps repaired, and no
traceback for the user. The command-line tests run ``find`` on a tiny random BERT folder.
"""

from __future__ import annotations

import csv
import errno
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import skillneuron_lens as snl
import skillneuron_lens.cli.app as cli
import skillneuron_lens.runs.finding as runs_find
from skillneuron_lens.io import (
    MARKER_FILE,
    check_destination,
    recover_interrupted_write,
    save_result_dir,
    staged_directory,
    written_kind,
)
from skillneuron_lens.models.load import load_model
from skillneuron_lens.runs.config import FindConfig
from skillneuron_lens.runs.run import Run

TINY_TUNE = ["--tune", "prompt", "--prompt-length", "2", "--steps", "2", "--eval-every", "1", "--runs", "2",
             "--train-batch-size", "8"]


KILLED_FIND = Path(__file__).resolve().parents[1] / "helpers" / "killed_find.py"


def _write_csv(path: Path, rows: list[tuple[str, int]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny random BERT folder and train/dev/test CSVs (in a folder of their own)."""
    from tests.helpers.checkpoints import word_sentences, write_bert

    root = tmp_path_factory.mktemp("safety")
    write_bert(root / "bert")
    sentences = word_sentences(60)
    rows = [(text, i % 2) for i, text in enumerate(sentences)]
    (root / "data").mkdir()
    for name, part in (("train", rows[:30]), ("dev", rows[30:45]), ("test", rows[45:])):
        _write_csv(root / "data" / f"{name}.csv", part)
    return root


def find_args(data: Path, out: Path | str, *extra: str) -> list[str]:
    return ["find", "--model", str(data / "bert"), "--train-file", str(data / "data" / "train.csv"),
            "--dev-file", str(data / "data" / "dev.csv"), "--test-file", str(data / "data" / "test.csv"),
            "--n", "0", "--fraction", "0.25", "--max-length", "32", "--quiet", *extra, "--out", str(out)]


@pytest.fixture(scope="module")
def tuned(data):
    """A finished prompt-tuned run (two tuned classifiers) on the tiny BERT."""
    out = data / "tuned"
    assert cli.main(find_args(data, out, *TINY_TUNE)) == 0
    return out


@pytest.fixture
def run_copy(tuned, tmp_path):
    """A private copy of the tuned run, free to damage."""
    copy = tmp_path / "runs" / "tuned"
    shutil.copytree(tuned, copy)
    return copy


def _tree(path: Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


def _scratch_left(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".snl-" in p.name or ".old." in p.name]


# ---- 1. --overwrite replaces only what this tool wrote ----------------------------------------------
@pytest.mark.models
def test_a_user_folder_is_never_replaced(data, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert cli.main(find_args(data, mine, "--overwrite")) == 2
    err = capsys.readouterr().err
    assert "not a directory written by skillneuron-lens" in err and "Choose another --out" in err
    assert "Traceback" not in err
    assert _tree(mine) == {"thesis.tex": b"years of work"}


@pytest.mark.models
@pytest.mark.parametrize("through_link", [False, True])
def test_the_folder_holding_the_train_file_is_never_replaced(data, tmp_path, capsys, through_link):
    before = _tree(data / "data")
    out = data / "data"
    if through_link:
        out = tmp_path / "link"
        out.symlink_to(data / "data", target_is_directory=True)
    assert cli.main(find_args(data, out, "--overwrite")) == 2
    err = capsys.readouterr().err
    assert f"holds {(data / 'data' / 'train.csv').resolve()}, an input of this command" in err
    assert _tree(data / "data") == before


@pytest.mark.models
def test_a_run_directory_that_holds_an_input_is_never_replaced(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(find_args(data, run, "--no-report")) == 0
    shutil.copytree(data / "data", run / "data")  # the user keeps their data inside an old run
    args = find_args(data, run, "--overwrite")
    args[args.index("--train-file") + 1] = str(run / "data" / "train.csv")
    assert cli.main(args) == 2
    assert "an input of this command" in capsys.readouterr().err
    assert _tree(run / "data") == _tree(data / "data")


@pytest.mark.models
def test_compare_and_prune_never_replace_their_source_run(run_copy, tmp_path, capsys):
    before = _tree(run_copy)
    other = tmp_path / "runs" / "other"
    shutil.copytree(run_copy, other)
    compare = ["compare", str(run_copy), str(other), "--draws", "10", "--fraction", "0.25", "--quiet",
               "--overwrite"]
    assert cli.main([*compare, "--out", str(run_copy)]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    prune = ["prune", "--run", str(run_copy), "--keep", "0.1", "--quiet", "--overwrite"]
    assert cli.main([*prune, "--out", str(run_copy)]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    link = tmp_path / "alias"
    link.symlink_to(run_copy, target_is_directory=True)
    assert cli.main([*prune, "--out", str(link)]) == 2
    assert f"--out {link} (= {run_copy.resolve()}) is an input" in capsys.readouterr().err
    assert _tree(run_copy) == before
    # A result of another kind is not replaced either, and a result of the same kind is.
    assert cli.main([*compare, "--out", str(tmp_path / "cmp")]) == 0
    assert cli.main([*prune, "--out", str(tmp_path / "cmp")]) == 2
    assert "holds a 'compare' result, not a 'pruning' one" in capsys.readouterr().err
    assert cli.main([*prune, "--out", str(tmp_path / "pruned")]) == 0
    assert cli.main([*prune, "--out", str(tmp_path / "pruned")]) == 0
    assert sorted(p.name for p in (tmp_path / "pruned").iterdir()) == [
        MARKER_FILE, "cfg.json", "prune.json", "pruning.safetensors"
    ]
    assert _scratch_left(tmp_path) == []


def test_the_replace_decision(tmp_path):
    tensors, cfg = {"x": torch.zeros(2)}, {"kind": "predictivity"}
    save_result_dir(tmp_path / "ours", "x.safetensors", tensors, cfg)
    legacy = tmp_path / "legacy"
    save_result_dir(legacy, "x.safetensors", tensors, cfg)
    (legacy / MARKER_FILE).unlink()  # saved by an earlier version: recognised by cfg.json's kind
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("mine")
    assert written_kind(tmp_path / "ours") == written_kind(legacy) == "predictivity"
    for name in ("ours", "legacy", "empty", "new"):
        assert check_destination(tmp_path / name, "predictivity", overwrite=True) == tmp_path / name
    with pytest.raises(snl.SkillNeuronError, match="holds a 'predictivity' result, not a 'compare' one"):
        check_destination(tmp_path / "ours", "compare", overwrite=True)
    with pytest.raises(snl.SkillNeuronError, match="is a file"):
        check_destination(tmp_path / "file.txt", "predictivity", overwrite=True)
    with pytest.raises(snl.SkillNeuronError, match="holds .*ours.*an input"):
        check_destination(tmp_path, "predictivity", overwrite=True, inputs=[tmp_path / "ours"])
    with pytest.raises(FileExistsError, match="already exists"):
        check_destination(tmp_path / "empty", "predictivity", overwrite=False)


# ---- 2. perturb --output -------------------------------------------------------------------------
@pytest.mark.models
@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("summary.json", "names a file of the run itself"),
        ("cfg.json", "names a file of the run itself"),
        ("predictivity.safetensors", "names a file of the run itself"),
        (MARKER_FILE, "names a file of the run itself"),
        ("tuned-run0", "names a file of the run itself"),
        ("sub/p.json", "no folders"),
        ("../p.json", "no folders"),
        ("", "no folders"),
        ("a-folder", "is a directory"),
    ],
)
def test_perturb_output_never_names_a_file_of_the_run(run_copy, capsys, output, message):
    (run_copy / "a-folder").mkdir()
    before = _tree(run_copy)
    assert cli.main(["perturb", "--run", str(run_copy), "--output", output, "--overwrite", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _tree(run_copy) == before


# ---- 3. writability before the computation; write errors -----------------------------------------
@pytest.mark.models
def test_an_unwritable_out_fails_before_the_computation(data, tmp_path, capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(runs_find, "load_model", no_model)
    (tmp_path / "a-file").write_text("x")
    assert cli.main(find_args(data, tmp_path / "a-file" / "run")) == 2
    assert "a-file is a file, so no directory can be made below it" in capsys.readouterr().err

    import skillneuron_lens.io as io

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(io.tempfile, "mkstemp", refuse)
    assert cli.main(find_args(data, tmp_path / "run")) == 2
    assert "is not writable (Permission denied)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.models
def test_disk_full_while_writing_keeps_the_previous_run(data, tuned, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(tuned, out)
    before = _tree(out)
    import skillneuron_lens.io as io

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io, "save_file", full)
    assert cli.main(find_args(data, out, "--overwrite")) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "free some disk space" in err and "Traceback" not in err
    # the staging and backup folders are gone; the partial-run folder beside --out stays for --resume
    # (its rules are tested in tests/runs/test_resume.py)
    left = [name for name in _scratch_left(tmp_path) if not name.endswith(".snl-partial")]
    assert _tree(out) == before and left == []


# ---- 4. atomic, locked writing; partial runs refused -------------------------------------------
def _save_in_process(target: str, value: float, barrier, results) -> None:
    barrier.wait()
    try:
        save_result_dir(target, "x.safetensors", {"x": torch.full((4,), value)}, {"kind": "predictivity"})
        results.put(("saved", value))
    except FileExistsError:
        results.put(("refused", value))


def test_two_writers_never_replace_each_other(tmp_path):
    context = multiprocessing.get_context("fork")
    for attempt in range(3):
        target = tmp_path / f"run{attempt}"
        barrier, results = context.Barrier(2), context.Queue()
        workers = [context.Process(target=_save_in_process, args=(str(target), v, barrier, results))
                   for v in (1.0, 2.0)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        outcome = sorted(results.get(timeout=5) for _ in workers)
        assert [kind for kind, _ in outcome] == ["refused", "saved"]
        winner = next(value for kind, value in outcome if kind == "saved")
        from safetensors.torch import load_file

        assert torch.equal(load_file(str(target / "x.safetensors"))["x"], torch.full((4,), winner))
    assert _scratch_left(tmp_path) == []


def test_the_swap_rechecks_the_destination(tmp_path):
    tensors, cfg = {"x": torch.zeros(2)}, {"kind": "predictivity"}
    target = tmp_path / "run"
    with pytest.raises(FileExistsError), staged_directory(target, "predictivity") as staging:
        (staging / "mine").write_text("late writer")
        save_result_dir(target, "x.safetensors", tensors, cfg)  # another writer finishes first
    assert (target / "x.safetensors").is_file() and not (target / "mine").exists()
    empty = tmp_path / "empty"
    with pytest.raises(FileExistsError), staged_directory(empty, "predictivity") as staging:
        empty.mkdir()  # an empty directory appearing meanwhile is not silently replaced either
    assert list(empty.iterdir()) == [] and _scratch_left(tmp_path) == []


@pytest.mark.models
def test_find_tune_writes_the_tuned_runs_before_the_swap(tuned):
    names = sorted(p.name for p in tuned.iterdir())
    assert names == [MARKER_FILE, "cfg.json", "find_config.json", "predictivity.safetensors", "report.html",
                     "summary.json", "tuned-run0", "tuned-run1"]
    assert json.loads((tuned / "tuned-run1" / MARKER_FILE).read_text())["kind"] == "tuned_classifier"
    assert _scratch_left(tuned.parent) == []


@pytest.mark.models
@pytest.mark.parametrize("command", ["perturb", "prune", "report", "compare"])
def test_partial_runs_are_never_accepted(run_copy, tmp_path, capsys, command):
    (run_copy / MARKER_FILE).unlink()  # an earlier version's run ...
    shutil.rmtree(run_copy / "tuned-run1")  # ... whose find was killed while saving the tuned runs
    argv = {
        "perturb": ["perturb", "--run", str(run_copy)],
        "prune": ["prune", "--run", str(run_copy), "--out", str(tmp_path / "p")],
        "report": ["report", str(run_copy)],
        "compare": ["compare", str(run_copy), str(run_copy), "--names", "a,b", "--out", str(tmp_path / "c")],
    }[command]
    assert cli.main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a partial run" in err and "['tuned-run1']" in err and "Traceback" not in err
    staging = run_copy.parent / ".tuned.snl-staging-999999999-abc"
    shutil.copytree(run_copy, staging)
    (staging / "cfg.json").unlink()
    with pytest.raises(snl.SkillNeuronError, match="not a finished skillneuron-lens result"):
        Run(staging)


@pytest.mark.models
def test_a_legacy_complete_run_is_accepted(run_copy):
    (run_copy / MARKER_FILE).unlink()
    assert Run(run_copy).summary["tuning"]["runs"] == 2
    assert cli.main(["report", str(run_copy), "--quiet"]) == 0


# ---- 4/5. fault injection: kill find at each step of the save ------------------------------------
STEPS = {"during-compute": 0, "before-marker": 0, "between-renames": 0, "before-backup-removed": 1}
"""Where ``find --overwrite`` (seed 1, on a run made with seed 0) is killed, and whose run survives."""


@pytest.fixture(scope="module")
def killed_runs(data, tuned, tmp_path_factory):
    """For each step, a copy of the tuned run that a ``find --overwrite`` was killed replacing."""
    root = tmp_path_factory.mktemp("killed")
    cases = []
    for step in STEPS:
        out = root / step / "run"
        shutil.copytree(tuned, out)
        cases.append([step, str(out), find_args(data, out, *TINY_TUNE, "--seed", "1", "--overwrite")])
    paths = [str(Path(snl.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    done = subprocess.run(
        [sys.executable, str(KILLED_FIND), json.dumps(cases)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)}, capture_output=True, text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    return {step: (code, root / step / "run", argv) for (step, _, argv), code in zip(cases, codes.values(),
                                                                                   strict=True)}


@pytest.mark.models
@pytest.mark.parametrize("step", list(STEPS))
def test_a_killed_find_leaves_the_old_run_or_the_new_one(killed_runs, tuned, step):
    code, out, argv = killed_runs[step]
    assert code == 9  # killed at its step, with no clean-up
    if step == "between-renames":
        assert not out.exists() and any(".snl-old-" in p.name for p in out.parent.iterdir())
    if step == "before-marker":
        staging = [p for p in out.parent.iterdir() if ".snl-staging-" in p.name]
        assert len(staging) == 1 and (staging[0] / "tuned-run1").is_dir()  # tuned runs are staged
        assert not (staging[0] / MARKER_FILE).exists()
    # The next command on the destination repairs it by itself and finds a complete run: the
    # previous one or the new one, never a mixture.
    run = Run(out)
    assert run.summary["arguments"]["seed"] == STEPS[step]
    if STEPS[step] == 0:
        assert _tree(out) == _tree(tuned)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in tuned.iterdir())
    model = run.model()
    for index in (0, 1):
        snl.TunedClassifier.load(out / f"tuned-run{index}", model)
    assert _scratch_left(out.parent) == []
    if step == "between-renames":
        assert cli.main(argv) == 0 and Run(out).summary["arguments"]["seed"] == 1


def test_recovery_restores_the_backup_of_an_interrupted_swap(tmp_path):
    tensors, cfg = {"x": torch.ones(3)}, {"kind": "predictivity"}
    save_result_dir(tmp_path / "run", "x.safetensors", tensors, cfg)
    (tmp_path / "run").rename(tmp_path / ".run.snl-old-999999999-abcd1234")  # the kill's state
    staging = tmp_path / ".run.snl-staging-999999999-efgh5678"  # the dead writer's new run
    staging.mkdir()
    (tmp_path / ".runs.snl-old-999999999-ijkl").mkdir()  # another destination's: left alone
    assert recover_interrupted_write(tmp_path / "run") == tmp_path / "run"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".runs.snl-old-999999999-ijkl", "run"]
    assert (tmp_path / "run" / "x.safetensors").is_file()
    assert recover_interrupted_write(tmp_path / "run") is None  # nothing left to do


# ---- 6. no tracebacks ----------------------------------------------------------------------------
def test_an_unexpected_error_prints_a_short_message_and_the_log(data, tmp_path, capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("something inside broke\nsecond line")

    monkeypatch.setattr(FindConfig, "load_task", broken)
    monkeypatch.setattr(cli.tempfile, "tempdir", str(tmp_path))
    assert cli.main(find_args(data, tmp_path / "run")) == 1
    err = capsys.readouterr().err
    assert "unexpected error: RuntimeError: something inside broke" in err and "Traceback" not in err
    assert "second line" not in err
    logs = list((tmp_path / "skillneuron-lens").glob("error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    text = logs[0].read_text()
    assert "Traceback" in text and "second line" in text and "--train-file" in text


@pytest.fixture(scope="module")
def damaged_models(data, tmp_path_factory):
    root = tmp_path_factory.mktemp("damaged")
    cases = {
        "bad-config": lambda d: (d / "config.json").write_text("{not json"),
        "no-model-type": lambda d: (d / "config.json").write_text("{}"),
        "no-weights": lambda d: (d / "model.safetensors").unlink(),
        "truncated-weights": lambda d: (d / "model.safetensors").write_bytes(
            (d / "model.safetensors").read_bytes()[:5000]
        ),
    }
    for name, damage in cases.items():
        shutil.copytree(data / "bert", root / name)
        damage(root / name)
    return root


@pytest.mark.models
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("bad-config", "config.json cannot be read"),
        ("no-model-type", "config.json cannot be read"),
        ("no-weights", "cannot be loaded"),
        ("truncated-weights", "cannot be loaded"),
    ],
)
def test_a_damaged_model_folder_is_a_clear_error(damaged_models, data, tmp_path, capsys, case, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        load_model(str(damaged_models / case))
    argv = find_args(data, tmp_path / "run")
    argv[argv.index("--model") + 1] = str(damaged_models / case)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "damaged" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_perturb_writes_only_into_the_run_it_read(run_copy):
    """A run replaced (new marker id) or removed while a command computed never receives its output."""
    from skillneuron_lens.io import MARKER_FILE, locked_result
    from skillneuron_lens.runs.run import Run

    run = Run(run_copy)
    assert run.marker_id is not None
    with locked_result(run_copy, run.marker_id) as where:   # unchanged: writing is allowed
        (where / "perturbation.json").write_text("{}")
    marker = json.loads((run_copy / MARKER_FILE).read_text())
    marker["id"] = "another-run"
    (run_copy / MARKER_FILE).write_text(json.dumps(marker))  # what a find --overwrite swap leaves
    replaced = pytest.raises(snl.SkillNeuronError, match="replaced or removed")
    with replaced, locked_result(run_copy, run.marker_id):
        pytest.fail("must not get here")
    shutil.rmtree(run_copy)
    with pytest.raises(snl.SkillNeuronError, match="replaced or removed"), locked_result(run_copy, None):
        pytest.fail("must not get here")
