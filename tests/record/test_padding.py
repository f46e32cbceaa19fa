"""Padding never changes an answer: batched == one-by-one, left or right padding."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from tests.helpers.tiny_models import tiny_encoder, tiny_gpt2, toy_texts

pytestmark = pytest.mark.models

MODES = [0, [0, 1, -2], "last", "mean", "max"]


@pytest.fixture(scope="module")
def decoder():
    return tiny_gpt2()


def reduced_values(model, texts, positions, batch_size, padding_side):
    """Per-example reduced values, gathered through the recorder's own hooks."""
    recorder = snl.Recorder(
        model, snl.RecordingConfig(positions=positions, padding_side=padding_side, progress=False)
    )
    rows: list[torch.Tensor] = []

    class Keep:
        def add_examples(self, targets):
            pass

        def add_layer(self, layer_slot, values, targets, where):
            if layer_slot == 0:
                rows.append(values.clone())

    for start in range(0, len(texts), batch_size):
        batch = recorder.encode(texts[start : start + batch_size], None)
        targets = torch.zeros(len(batch.input_ids), 1, dtype=torch.long)
        recorder.accumulate_batch(Keep(), batch, targets)
    return torch.cat(rows)


@pytest.mark.parametrize("positions", MODES)
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_decoder_batched_equals_one_by_one(decoder, positions, padding_side):
    texts, _ = toy_texts(24, seed=5, min_len=3)
    alone = reduced_values(decoder, texts, positions, 1, "right")
    batched = reduced_values(decoder, texts, positions, 8, padding_side)
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("positions", MODES)
def test_predictivity_is_the_same_for_any_batching_and_padding(decoder, positions):
    train, dev = toy_texts(40, seed=6, min_len=3), toy_texts(30, seed=7, min_len=3)
    results = [
        snl.compute_predictivity(
            decoder, train, dev, positions=positions,
            recording=snl.RecordingConfig(batch_size=size, padding_side=side, progress=False),
        )
        for size, side in [(1, "right"), (7, "right"), (7, "left"), (64, "left")]
    ]
    for other in results[1:]:
        assert torch.equal(other.accuracy, results[0].accuracy)
        torch.testing.assert_close(other.baseline, results[0].baseline, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("positions", [0, "last", "mean", "max"])
def test_encoder_batched_equals_one_by_one(positions):
    model = tiny_encoder()
    texts, _ = toy_texts(16, seed=8, min_len=3)
    alone = reduced_values(model, texts, positions, 1, "right")
    batched = reduced_values(model, texts, positions, 16, "right")
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-5)
    if snl.ModelAdapter(model).kind == "hooked_encoder":
        with pytest.raises(snl.SkillNeuronError, match="padding_side='right'"):
            reduced_values(model, texts, positions, 16, "left")
    else:
        left = reduced_values(model, texts, positions, 16, "left")
        torch.testing.assert_close(left, alone, rtol=1e-5, atol=1e-5)


def test_positions_are_content_relative():
    mask_right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    mask_left = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    spec = snl.PositionSpec.parse([0, -1])
    from skillneuron_lens.record.positions import gather_indices

    assert gather_indices(spec, mask_right).tolist() == [[0, 2], [0, 3]]
    assert gather_indices(spec, mask_left).tolist() == [[1, 3], [0, 3]]
    with pytest.raises(snl.SkillNeuronError, match="does not exist in example 0"):
        gather_indices(snl.PositionSpec.parse(3), mask_right)
