"""Results save and load identically, atomically, and refuse damaged files or other models."""

from __future__ import annotations

import errno
import json

import pytest
import torch
from safetensors.torch import load_file

import skillneuron_lens as snl
from skillneuron_lens.errors import ResultFileError
from skillneuron_lens.io import MARKER_FILE
from skillneuron_lens.models.fingerprint import model_fingerprint
from tests.helpers.recording import QUIET
from tests.helpers.tiny_models import tiny_gpt2, toy_texts


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


@pytest.fixture(scope="module")
def result(model):
    return snl.compute_predictivity(
        model, toy_texts(20, 1), toy_texts(20, 2), positions=[0, -1], recording=QUIET
    )


def test_round_trip_is_identical(tmp_path, result, model):
    result.save(tmp_path / "run")
    stored = load_file(str(tmp_path / "run" / "predictivity.safetensors"))
    assert stored["predictivity"].dtype == torch.float32
    assert stored["predictivity"].shape == (3, 48)
    loaded = snl.PredictivityResult.load(tmp_path / "run", model=model)
    for name in ("accuracy", "baseline", "n_train", "n_dev"):
        assert torch.equal(getattr(loaded, name), getattr(result, name))
    for name in ("layers", "hook", "slot_names", "subtask_names", "config", "fingerprint"):
        assert getattr(loaded, name) == getattr(result, name)
    assert torch.equal(loaded.predictivity, result.predictivity)
    assert torch.equal(loaded.polarity, result.polarity)


def test_existing_directory_is_never_overwritten_silently(tmp_path, result):
    target = tmp_path / "run"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        result.save(target)
    with pytest.raises(snl.SkillNeuronError, match="not a directory written by skillneuron-lens"):
        result.save(target, overwrite=True)  # a folder of the user's own files is never replaced
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "mine"
    result.save(tmp_path / "ours")
    result.save(tmp_path / "ours", overwrite=True)  # a result this tool wrote is replaced
    marker = json.loads((tmp_path / "ours" / MARKER_FILE).read_text())
    assert marker["tool"] == "skillneuron-lens" and marker["kind"] == "predictivity"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours", "run"]  # no staging leftovers


def test_failed_write_leaves_nothing_behind(tmp_path, result, monkeypatch):
    import skillneuron_lens.io as io

    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io, "save_file", boom)
    with pytest.raises(ResultFileError, match="No space left on device.*free some disk space"):
        result.save(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_is_detected(tmp_path, result):
    result.save(tmp_path / "run")
    path = tmp_path / "run" / "predictivity.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ResultFileError, match="damaged or truncated"):
        snl.PredictivityResult.load(tmp_path / "run")


def test_flipped_byte_is_detected(tmp_path, result):
    result.save(tmp_path / "run")
    path = tmp_path / "run" / "predictivity.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ResultFileError, match="damaged or truncated"):
        snl.PredictivityResult.load(tmp_path / "run")


def test_damaged_or_missing_cfg(tmp_path, result):
    result.save(tmp_path / "run")
    (tmp_path / "run" / "cfg.json").write_text("{not json")
    with pytest.raises(ResultFileError, match="not valid JSON"):
        snl.PredictivityResult.load(tmp_path / "run")
    (tmp_path / "run" / "cfg.json").unlink()
    with pytest.raises(ResultFileError, match="cfg.json is missing"):
        snl.PredictivityResult.load(tmp_path / "run")


def test_inconsistent_cfg(tmp_path, result):
    result.save(tmp_path / "run")
    cfg_path = tmp_path / "run" / "cfg.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["layers"] = [0, 1]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(ResultFileError, match="does not match its tensors"):
        snl.PredictivityResult.load(tmp_path / "run")


def test_loading_against_another_model_fails(tmp_path, result):
    result.save(tmp_path / "run")
    other = tiny_gpt2(seed=1)
    with pytest.raises(ResultFileError, match="computed on another model"):
        snl.PredictivityResult.load(tmp_path / "run", model=other)


def test_fingerprint_is_stable_and_weight_sensitive(model):
    assert model_fingerprint(model) == model_fingerprint(model)
    assert model_fingerprint(model) != model_fingerprint(tiny_gpt2(seed=1))


def test_saved_directory_follows_the_umask(tmp_path, result):
    import os

    previous = os.umask(0o022)
    try:
        result.save(tmp_path / "run")
    finally:
        os.umask(previous)
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "run" / "predictivity.safetensors").stat().st_mode & 0o777 == 0o644


def test_atomic_text_files_follow_the_umask_and_leave_nothing_behind(tmp_path, monkeypatch):
    import os

    from skillneuron_lens.io import atomic_write_text

    previous = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "page.html", "first")  # staged through mkstemp, which makes 0600
        atomic_write_text(tmp_path / "page.html", "second")
    finally:
        os.umask(previous)
    assert (tmp_path / "page.html").read_text() == "second"
    assert (tmp_path / "page.html").stat().st_mode & 0o777 == 0o640
    monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(tmp_path / "page.html", "third")
    assert (tmp_path / "page.html").read_text() == "second"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["page.html"]  # no staging file left
