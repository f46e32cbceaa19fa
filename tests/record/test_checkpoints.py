"""Pass checkpoints: restored accumulators continue bit for bit; the file is replaced atomically."""

from __future__ import annotations

import json
import os

import pytest
import torch

import skillneuron_lens.io as io
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import CHECKPOINT_TENSORS, PARTIAL_MARKER
from skillneuron_lens.record.accumulators import MeanAccumulator, ThresholdAccuracyAccumulator
from skillneuron_lens.record.checkpoints import PassCheckpoints, fingerprint_differences
from skillneuron_lens.record.permutation_null import PermutationNullAccumulator

SHAPE = {"n_subtasks": 2, "n_slots": 1, "n_layers": 3, "n_neurons": 5}
FINGERPRINT = {"options": {"seed": 0, "batch_size": 4}, "data": {"sha256": "abc"}}


def _batches(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random float activations [batch, slot, neuron] per layer and targets with some -1."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        values = torch.randn(4, 3, 1, 5, generator=generator, dtype=torch.float64) * 1e3
        targets = torch.randint(-1, 2, (4, 2), generator=generator)
        out.append((values, targets))
    return out


def _feed(accumulator, batch) -> None:
    values, targets = batch
    accumulator.add_examples(targets)
    for layer in range(values.shape[1]):
        accumulator.add_layer(layer, values[:, layer], targets, where=f"layer {layer}")


def _accumulators() -> tuple[MeanAccumulator, ThresholdAccuracyAccumulator]:
    baselines = torch.linspace(-1, 1, 30, dtype=torch.float64).reshape(2, 1, 3, 5)
    return MeanAccumulator(**SHAPE), ThresholdAccuracyAccumulator(**SHAPE, baselines=baselines)


@pytest.mark.parametrize("stop", [0, 1, 3, 6, 7])
def test_a_restored_pass_ends_with_the_same_tensors(tmp_path, stop):
    batches = _batches(7, seed=stop)
    reference = _accumulators()
    for batch in batches:
        for accumulator in reference:
            _feed(accumulator, batch)
    first = PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=2)
    stopped = _accumulators()
    assert first.restore("pass", stopped, total=len(batches)) == 0
    saver = first.after_batch("pass")
    for done, batch in enumerate(batches[:stop], start=1):
        for accumulator in stopped:
            _feed(accumulator, batch)
        saver(done)
    # A new process: what it reads is the last checkpoint, i.e. every second batch (and the last one).
    again = PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=2)
    resumed = _accumulators()
    done = again.restore("pass", resumed, total=len(batches))
    expected = stop if stop == len(batches) else stop - stop % 2
    assert done == expected
    for batch in batches[done:]:
        for accumulator in resumed:
            _feed(accumulator, batch)
    for mine, theirs in zip(resumed, reference, strict=True):
        for a, b in zip(mine.state(), theirs.state(), strict=True):
            assert a.dtype == b.dtype and torch.equal(a, b)


def test_nothing_is_written_before_the_first_save(tmp_path):
    checkpoints = PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=5)
    checkpoints.restore("pass", _accumulators(), total=9)
    checkpoints.after_batch("pass")(4)
    assert not (tmp_path / "partial").exists()
    checkpoints.after_batch("pass")(5)
    marker = json.loads((tmp_path / "partial" / PARTIAL_MARKER).read_text())
    assert marker["progress"] == {"pass": [5, 9]} and marker["fingerprint"] == FINGERPRINT


def test_another_fingerprint_is_refused_naming_what_differs(tmp_path):
    PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=1).keep("accuracy", 0.5)
    changed = {"options": {"seed": 1, "batch_size": 4}, "data": {"sha256": "abd"}}
    with pytest.raises(SkillNeuronError, match="other options or data") as caught:
        PassCheckpoints(tmp_path / "partial", changed, every=1)
    assert "options.seed: 0 -> 1" in str(caught.value) and "data.sha256: 'abc' -> 'abd'" in str(caught.value)
    assert fingerprint_differences({"a": 1}, {"a": 1, "b": {"c": 2}}) == ["b.c: '(absent)' -> 2"]


def test_a_pass_of_another_length_or_shape_is_refused(tmp_path):
    checkpoints = PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=1)
    checkpoints.restore("pass", _accumulators(), total=3)
    checkpoints.after_batch("pass")(1)
    with pytest.raises(SkillNeuronError, match="counts 3 batches, this run 4"):
        PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=1).restore("pass", _accumulators(), total=4)
    wider = MeanAccumulator(**{**SHAPE, "n_neurons": 6}), _accumulators()[1]
    with pytest.raises(SkillNeuronError, match="state is torch.float64 .*expected torch.float64"):
        PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=1).restore("pass", wider, total=3)


def test_a_partial_run_that_a_live_process_writes_is_refused(tmp_path):
    PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=1).keep("accuracy", None)
    marker_path = tmp_path / "partial" / PARTIAL_MARKER
    marker = json.loads(marker_path.read_text())
    marker["pid"] = os.getppid()  # alive: the process that started this test
    marker_path.write_text(json.dumps(marker))
    with pytest.raises(SkillNeuronError, match=f"Process {os.getppid()} is still writing"):
        PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=1)


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    mean, _ = _accumulators()
    null = PermutationNullAccumulator(**SHAPE, n_permutations=3, baselines=torch.zeros(2, 1, 3, 5))
    checkpoints = PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=1)
    checkpoints.restore("pass", [mean, null], total=2)
    batch = _batches(1, seed=0)[0]
    _feed(mean, batch)
    checkpoints.after_batch("pass")(1)
    saved = (tmp_path / "partial" / CHECKPOINT_TENSORS).read_bytes()
    real_save = io.save_file

    def half_then_fail(tensors, filename, metadata=None):
        real_save(tensors, filename, metadata=metadata)
        with open(filename, "r+b") as handle:
            handle.truncate(os.path.getsize(filename) // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "save_file", half_then_fail)
    _feed(mean, batch)
    with pytest.raises(SkillNeuronError, match="No space left on device.*free some disk space"):
        checkpoints.after_batch("pass")(2)
    assert (tmp_path / "partial" / CHECKPOINT_TENSORS).read_bytes() == saved
    assert sorted(p.name for p in (tmp_path / "partial").iterdir()) == [CHECKPOINT_TENSORS, PARTIAL_MARKER]
    restored = MeanAccumulator(**SHAPE)
    again = PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=1)
    assert again.restore("pass", [restored, null], total=2) == 1
    single = MeanAccumulator(**SHAPE)
    _feed(single, batch)
    assert all(torch.equal(a, b) for a, b in zip(restored.state(), single.state(), strict=True))


def test_every_must_be_positive(tmp_path):
    with pytest.raises(SkillNeuronError, match="every >= 1"):
        PassCheckpoints(tmp_path / "partial", FINGERPRINT, every=0)
