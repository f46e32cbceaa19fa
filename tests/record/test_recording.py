"""The recorder: early stop, no gradients, hooks always removed, float64 accumulation."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.record.accumulators import MeanAccumulator
from tests.helpers.recording import QUIET
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


def count_live_hooks(model) -> int:
    total = 0
    for hook_point in model.hook_dict.values():
        total += len(hook_point._forward_hooks) + len(hook_point._forward_pre_hooks)
    return total


def test_stops_after_the_last_recorded_layer(model):
    later = []
    recorder = snl.Recorder(model, snl.RecordingConfig(layers=(0,), progress=False))
    batch = recorder.encode(["w1 w2 w3"], None)
    spy = ("blocks.2.mlp.hook_post", lambda act, hook: later.append(1))
    with model.hooks(fwd_hooks=[spy]):
        recorder.accumulate_batch(MeanAccumulator(1, 1, 1, 48), batch, torch.ones(1, 1).long())
    assert later == []  # layer 2 never ran


def test_no_hooks_left_behind_even_after_an_error(model):
    before = count_live_hooks(model)
    recorder = snl.Recorder(model, snl.RecordingConfig(positions=40, progress=False))
    batch = recorder.encode(["w1 w2"], None)
    with pytest.raises(snl.SkillNeuronError, match="does not exist"):
        recorder.accumulate_batch(MeanAccumulator(1, 1, 3, 48), batch, torch.ones(1, 1).long())
    assert count_live_hooks(model) == before
    snl.compute_predictivity(model, toy_texts(10, 1), toy_texts(10, 2), recording=QUIET)
    assert count_live_hooks(model) == before


def test_runs_without_gradients(model):
    grads = []
    recorder = snl.Recorder(model, snl.RecordingConfig(progress=False))
    batch = recorder.encode(["w1 w2"], None)
    spy = ("blocks.0.mlp.hook_post", lambda act, hook: grads.append(act.requires_grad))
    with model.hooks(fwd_hooks=[spy]):
        recorder.accumulate_batch(MeanAccumulator(1, 1, 3, 48), batch, torch.ones(1, 1).long())
    assert grads == [False]


def test_bfloat16_model_accumulates_in_float64():
    model = tiny_gpt2().to(torch.bfloat16)
    result = snl.compute_predictivity(model, toy_texts(20, 1), toy_texts(20, 2), recording=QUIET)
    assert result.baseline.dtype == torch.float64 and result.accuracy.dtype == torch.float64
    reference = snl.compute_predictivity(
        tiny_gpt2(), toy_texts(20, 1), toy_texts(20, 2), recording=QUIET
    )
    torch.testing.assert_close(result.baseline, reference.baseline, atol=0.05, rtol=0.05)


def test_other_hooks_can_be_the_neurons(model):
    for hook, width in [("blocks.{layer}.mlp.hook_pre", 48), ("blocks.{layer}.hook_resid_post", 32)]:
        result = snl.compute_predictivity(
            model, toy_texts(12, 1), toy_texts(12, 2), hook=hook, layers=[1, 2], recording=QUIET
        )
        assert result.layers == (1, 2) and result.n_neurons == width and result.hook == hook


def test_accumulators_merge_to_the_single_pass_answer(model):
    texts, labels = toy_texts(30, 3)
    targets = torch.tensor(labels)[:, None]
    recorder = snl.Recorder(model, snl.RecordingConfig(progress=False))
    whole, first, second = (MeanAccumulator(1, 1, 3, 48) for _ in range(3))
    recorder.accumulate(whole, texts, None, targets)
    recorder.accumulate(first, texts[:13], None, targets[:13])
    recorder.accumulate(second, texts[13:], None, targets[13:])
    first.merge(second)
    torch.testing.assert_close(first.means(), whole.means(), rtol=1e-12, atol=1e-12)
    assert torch.equal(first.counts, whole.counts)


def test_memory_does_not_grow_with_examples(model):
    small = MeanAccumulator(1, 1, 3, 48)
    recorder = snl.Recorder(model, snl.RecordingConfig(progress=False))
    texts, labels = toy_texts(64, 4)
    recorder.accumulate(small, texts, None, torch.tensor(labels)[:, None])
    assert small.sums.shape == (1, 1, 3, 48)  # state is per neuron, never per example
