"""The streaming predictivity equals a slow reference on the same activations, bit for bit."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.models.adapter import TokenBatch
from tests.helpers.reference import collect, reference_accuracy, reference_predictivity
from tests.helpers.tiny_models import tiny_encoder, tiny_gpt2, toy_texts

pytestmark = pytest.mark.models

POSITION_MODES = [0, [0, 1, -1], "last", "mean", "max"]


def batches_of(recorder: snl.Recorder, texts: list[str], size: int) -> list[TokenBatch]:
    return [recorder.encode(texts[i : i + size], None) for i in range(0, len(texts), size)]


def check_against_reference(model, train, dev, positions, batch_size=16, padding_side="right"):
    result = snl.compute_predictivity(
        model, train, dev, positions=positions,
        recording=snl.RecordingConfig(batch_size=batch_size, padding_side=padding_side, progress=False),
    )
    recorder = snl.Recorder(model, snl.RecordingConfig(positions=positions, padding_side=padding_side))
    names = recorder.hook_names
    train_acts = collect(model, batches_of(recorder, train[0], batch_size), names, positions)
    dev_acts = collect(model, batches_of(recorder, dev[0], batch_size), names, positions)
    accuracy, baseline = reference_accuracy(train_acts, train[1], dev_acts, dev[1])
    assert torch.equal(result.accuracy[0, 0], accuracy)
    assert torch.allclose(result.baseline[0, 0], baseline, rtol=1e-12, atol=1e-15)
    assert torch.equal(result.predictivity, reference_predictivity(accuracy))
    return result


@pytest.mark.parametrize("positions", POSITION_MODES)
def test_tiny_decoder_matches_reference(positions):
    model = tiny_gpt2()
    check_against_reference(model, toy_texts(70, seed=1), toy_texts(45, seed=2), positions)


@pytest.mark.parametrize("positions", [0, "mean", "max"])
def test_tiny_encoder_matches_reference(positions):
    model = tiny_encoder()
    check_against_reference(model, toy_texts(50, seed=3), toy_texts(30, seed=4), positions)


@pytest.mark.slow
@pytest.mark.parametrize("positions", [0, "mean"])
def test_minilm_matches_reference(positions, minilm, rotten_sample):
    train, dev = rotten_sample
    result = check_against_reference(minilm, train, dev, positions, batch_size=32)
    assert result.predictivity.shape == (6, 1536)
    assert result.predictivity.max() > 0.6  # real sentiment signal, well above chance
