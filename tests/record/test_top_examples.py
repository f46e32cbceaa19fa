"""Top-activating texts: the streamed top-k equals a brute-force search over every token of every text."""

from __future__ import annotations

import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.record.recorder import RecordingConfig
from skillneuron_lens.record.top_examples import TopExampleAccumulator, top_activating_examples
from tests.helpers.reference import brute_force_top_texts, every_token
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

HOOK = "blocks.{layer}.mlp.hook_post"


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


@pytest.fixture(scope="module")
def texts():
    return toy_texts(23, seed=4)[0]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_top_texts_and_their_values_equal_a_brute_force_search(model, texts, padding_side):
    neurons = [(2, 5), (0, 7), (2, 1), (1, 40)]
    recording = RecordingConfig(batch_size=4, padding_side=padding_side, progress=False)  # 6 batches to merge
    found = top_activating_examples(model, texts, neurons, k=5, recording=recording)
    tokens = {layer: every_token(model, texts, HOOK.format(layer=layer)) for layer in (0, 1, 2)}
    assert [(f.layer, f.neuron) for f in found] == neurons
    for (layer, neuron), got in zip(neurons, found, strict=True):
        expected, share = brute_force_top_texts(tokens[layer], neuron, 5)
        assert [example.example for example in got.examples] == [i for i, _, _ in expected]
        for example, (_, token_ids, values) in zip(got.examples, expected, strict=True):
            assert example.token_ids == token_ids
            torch.testing.assert_close(example.values, values, atol=1e-5, rtol=0)
            assert example.max_value == float(example.values.max())
            assert example.max_token_index == int(example.values.argmax())
        assert got.positive_share == pytest.approx(share, abs=1e-12)


def test_fewer_texts_than_k_returns_every_text_best_first(model, texts):
    found = top_activating_examples(model, texts[:3], [(1, 3)], k=10)
    maxima = [example.max_value for example in found[0].examples]
    assert sorted(example.example for example in found[0].examples) == [0, 1, 2]
    assert maxima == sorted(maxima, reverse=True)


def test_ties_go_to_the_text_given_first(model, texts):
    repeated = [texts[0], texts[1], texts[0], texts[1]]
    found = top_activating_examples(model, repeated, [(0, 2)], k=4, recording=RecordingConfig(batch_size=1))
    order = [example.example for example in found[0].examples]
    assert order.index(0) < order.index(2) and order.index(1) < order.index(3)


def test_bad_neurons_and_k_are_refused(model, texts):
    with pytest.raises(SkillNeuronError, match="out of range"):
        top_activating_examples(model, texts, [(0, 48)])
    with pytest.raises(SkillNeuronError, match="at least one"):
        top_activating_examples(model, texts, [])
    with pytest.raises(SkillNeuronError, match="at least 1"):
        top_activating_examples(model, texts, [(0, 1)], k=0)
    with pytest.raises(SkillNeuronError, match="non-negative"):
        top_activating_examples(model, texts, [(0, -1)])
    with pytest.raises(SkillNeuronError, match="start_batch"):
        TopExampleAccumulator([[0]], 2).add_layer(0, torch.zeros(1, 2, 3), torch.zeros(1, 1), "here")
