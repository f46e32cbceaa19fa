"""``LinearReadout.from_result``: a read-out fitted on the activations the predictivity pass kept."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.record.recorder import RecordingConfig
from skillneuron_lens.tuning.readouts import LinearReadout
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

HOOK = "blocks.{layer}.mlp.hook_post"


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


@pytest.fixture(scope="module")
def splits():
    (train_texts, train_labels), (dev_texts, dev_labels) = toy_texts(48, 21), toy_texts(32, 22)
    names = ["neg", "pos"]
    return (train_texts, [names[y] for y in train_labels]), (dev_texts, [names[y] for y in dev_labels])


@pytest.fixture(scope="module")
def result(model, splits):
    train, dev = splits
    return snl.compute_predictivity(
        model, train, dev, hook=HOOK, layers=(1, 2), positions=[0, -1], n_permutations=0,
        recording=RecordingConfig(batch_size=8, progress=False), keep_features=True,
    )


def test_the_pass_keeps_every_example_with_its_label(result, splits):
    train, dev = splits
    kept = result.features
    assert kept.train.shape == (48, 2, 2, 48) and kept.dev.shape == (32, 2, 2, 48)
    assert kept.label_names == ("neg", "pos")
    assert list(kept.train_labels) == [("neg", "pos").index(y) for y in train[1]]
    # the kept train activations average to the pass's baselines
    torch.testing.assert_close(kept.train.double().mean(dim=0), result.baseline[0, 0], rtol=1e-6, atol=1e-6)


def test_fitting_from_the_result_equals_fitting_by_running_the_model_again(model, result, splits):
    train, dev = splits
    calls = []
    handle = model.register_forward_pre_hook(lambda *args: calls.append(1))
    try:
        from_pass = LinearReadout.from_result(model, result, layers=[2])
    finally:
        handle.remove()
    assert calls == []  # no forward pass
    recording = RecordingConfig(batch_size=8, progress=False)
    again = LinearReadout(model, pooling=[0, -1], hook=HOOK, layers=(2,), recording=recording).fit(train, dev)
    assert from_pass.dev_accuracy == again.dev_accuracy
    torch.testing.assert_close(from_pass.head.weight, again.head.weight, rtol=1e-6, atol=1e-8)
    assert from_pass.label_names == again.label_names == ["neg", "pos"]
    assert from_pass.accuracy(dev) == again.accuracy(dev)


def test_a_saved_result_keeps_no_features_and_says_how_to_get_them(model, result, tmp_path):
    result.save(tmp_path / "run")
    loaded = snl.PredictivityResult.load(tmp_path / "run")
    assert loaded.features is None
    with pytest.raises(snl.SkillNeuronError, match=r"keep_features=True"):
        LinearReadout.from_result(model, loaded)
    with pytest.raises(snl.SkillNeuronError, match=r"layers \[0\] are not among"):
        LinearReadout.from_result(model, result, layers=[0])
