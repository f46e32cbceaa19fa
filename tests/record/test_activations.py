"""Per-neuron means, pools and one neuron's activations, against one-text-at-a-time references."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.errors import HookNotFoundError
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.record.activations import neuron_activations, neuron_means, neuron_pool
from skillneuron_lens.record.recorder import Recorder, RecordingConfig, recording_config
from tests.helpers.tiny_models import tiny_gpt2

pytestmark = pytest.mark.models

HOOK = "blocks.{layer}.mlp.hook_post"
TEXTS = ["w1 w2 w3 w4 w5", "w6 w7", "w8 w9 w10 w11", "w12 w13 w14"]
WIDTH = 48


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


def per_text_activations(model, texts, layer):
    """``[pos, neuron]`` float64 activations of each text, run alone (no padding anywhere)."""
    adapter, seen = ModelAdapter(model), []
    with torch.no_grad(), adapter.hooks([(HOOK.format(layer=layer), lambda a, hook: seen.append(a[0]))]):
        for text in texts:
            adapter.forward(adapter.tokenize([text]))
    return [values.double() for values in seen]


def test_means_weigh_tokens_or_examples_and_ignore_padding(model):
    rows = per_text_activations(model, TEXTS, 2)
    by_token = torch.cat(rows).mean(dim=0)
    by_example = torch.stack([r.mean(dim=0) for r in rows]).mean(dim=0)
    for side in ("right", "left"):
        recording = RecordingConfig(positions="mean", batch_size=3, padding_side=side, progress=False)
        means = neuron_means(model, TEXTS, layers=[2, 0], recording=recording)
        assert means.shape == (2, WIDTH) and means.dtype == torch.float64
        torch.testing.assert_close(means[0], by_token, rtol=0, atol=1e-5)
        alone = neuron_means(model, TEXTS, layers=[0], recording=recording)[0]  # the same batches
        torch.testing.assert_close(means[1], alone, rtol=0, atol=1e-12)
    example = neuron_means(model, TEXTS, layers=[2], per="example")[0]
    torch.testing.assert_close(example, by_example, rtol=0, atol=1e-5)
    assert not torch.allclose(by_token, by_example, atol=1e-4)


def test_example_means_at_fixed_positions_average_the_slots(model):
    rows = per_text_activations(model, TEXTS, 1)
    expected = torch.stack([(r[0] + r[-1]) / 2 for r in rows]).mean(dim=0)
    means = neuron_means(model, TEXTS, layers=[1], per="example", positions=[0, -1])
    torch.testing.assert_close(means[0], expected, rtol=0, atol=1e-5)


def test_token_means_need_mean_positions_and_a_known_weighting(model):
    with pytest.raises(snl.SkillNeuronError, match="per='token' averages over every token.*positions='mean'"):
        neuron_means(model, TEXTS, recording=RecordingConfig(positions=0, progress=False))
    with pytest.raises(snl.SkillNeuronError, match="per must be"):
        neuron_means(model, TEXTS, per="position")
    with pytest.raises(snl.SkillNeuronError, match="non-empty list"):
        neuron_means(model, [])
    with pytest.raises(snl.SkillNeuronError, match="2 text pairs were given for 4 texts"):
        neuron_means(model, TEXTS, text_pairs=["a", "b"])
    with pytest.raises(HookNotFoundError):
        neuron_means(model, TEXTS, hook="blocks.{layer}.mlp.hook_nope")


def test_pool_keeps_every_example_and_slot_in_the_given_layer_order(model):
    rows = {layer: per_text_activations(model, TEXTS, layer) for layer in (0, 2)}
    recording = RecordingConfig(positions="mean", batch_size=3, progress=False)
    pool = neuron_pool(model, TEXTS, layers=[2, 0], recording=recording)
    assert pool.shape == (len(TEXTS), 2, WIDTH) and pool.dtype == torch.float32
    for slot, layer in enumerate((2, 0)):
        expected = torch.stack([r.mean(dim=0) for r in rows[layer]]).float()
        torch.testing.assert_close(pool[:, slot], expected, rtol=0, atol=1e-5)
    two = neuron_pool(model, TEXTS, layers=[2], positions=[0, -1])
    assert two.shape == (2 * len(TEXTS), 1, WIDTH)
    expected = torch.stack([row[i] for row in rows[2] for i in (0, -1)]).float()  # example, then slot
    torch.testing.assert_close(two[:, 0], expected, rtol=0, atol=1e-5)


def test_one_neuron_at_its_slots(model):
    rows = per_text_activations(model, TEXTS, 1)
    values = neuron_activations(model, TEXTS, 1, 7, positions=[0, -1])
    assert values.shape == (len(TEXTS), 2) and values.dtype == torch.float64
    expected = torch.tensor([[r[0, 7], r[-1, 7]] for r in rows], dtype=torch.float64)
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-5)
    with pytest.raises(snl.SkillNeuronError, match="out of range"):
        neuron_activations(model, TEXTS[:2], 1, 999)


def test_recording_config_applies_only_the_shortcuts_given():
    base = RecordingConfig(batch_size=5, max_length=9, progress=False)
    assert recording_config(base) is base
    assert recording_config(None) == RecordingConfig()
    assert recording_config(None, default=base) is base
    changed = recording_config(base, hook="blocks.{layer}.hook_resid_post", layers=[2, 0], positions="last")
    assert changed == RecordingConfig(
        hook="blocks.{layer}.hook_resid_post", layers=(0, 2), positions="last", batch_size=5, max_length=9,
        progress=False,
    )
    assert recording_config(base, positions=0).position_spec == RecordingConfig(positions=0).position_spec
    with pytest.raises(snl.SkillNeuronError, match="recording must be a RecordingConfig, got dict"):
        recording_config({"batch_size": 3})  # type: ignore[arg-type]


def test_recorder_reductions_match_the_functions(model):
    recorder = Recorder(model, RecordingConfig(layers=(1,), positions="mean", progress=False))
    assert torch.equal(recorder.means(TEXTS, per="token"), neuron_means(model, TEXTS, layers=[1]))
    assert torch.equal(recorder.pool(TEXTS), neuron_pool(model, TEXTS, layers=[1]))
    kept = recorder.activations(TEXTS)[0]
    assert kept.shape == (len(TEXTS), 1, WIDTH)
    assert torch.equal(kept[:, 0], neuron_pool(model, TEXTS, layers=[1])[:, 0])
