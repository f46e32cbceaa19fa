"""Read-outs for a frozen model: linear head on pooled features, verbalizer over the LM head."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.tuning.readouts import LinearReadout, LogisticHead, VerbalizerReadout, pooled_features
from tests.helpers.recording import QUIET
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


def test_logistic_head_separates_separable_data():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(200, 5, generator=generator)
    labels = (features[:, 0] + 0.5 * features[:, 3] > 0).long().tolist()
    head = LogisticHead(l2=1e-4).fit(features, labels, 2)
    accuracy = (head.logits(features).argmax(dim=1) == torch.tensor(labels)).double().mean()
    assert accuracy > 0.97
    with pytest.raises(snl.SkillNeuronError, match="not fitted"):
        LogisticHead().logits(features)


def test_pooled_features_match_the_last_residual_stream(model):
    texts, labels = toy_texts(6, seed=1, min_len=3)
    features = pooled_features(model, (texts, labels), pooling="mean", recording=QUIET)
    assert features.shape == (6, 32)
    batch = snl.ModelAdapter(model).tokenize(texts[:1])
    _, cache = model.run_with_cache(batch.input_ids, attention_mask=batch.attention_mask)
    expected = cache["blocks.2.hook_resid_post"][0].mean(dim=0)
    torch.testing.assert_close(features[0], expected, rtol=1e-5, atol=1e-5)


def test_linear_readout_learns_a_learnable_task(model):
    train, dev, test = toy_texts(200, 1), toy_texts(60, 2), toy_texts(100, 3)
    readout = LinearReadout(model, pooling="mean", recording=QUIET).fit(train, dev)
    assert set(readout.dev_accuracy) == {0.01, 0.1, 1.0}
    assert readout.accuracy(test) > 0.65  # words decide the label; chance is 0.5
    assert readout.predict(test).shape == (100,)
    shuffled = (train[0], [1 - label for label in train[1][:100]] + train[1][100:])
    control = LinearReadout(model, pooling="mean", recording=QUIET).fit(shuffled, dev)
    assert control.accuracy(test) < readout.accuracy(test)


def test_verbalizer_reads_label_word_logits_at_the_last_token(model):
    texts, labels = toy_texts(5, seed=4, min_len=3)
    readout = VerbalizerReadout(model, "{text} w7", ["w10", "w60"], progress=False)
    logits = readout.label_logits((texts, labels))
    assert logits.shape == (5, 2)
    adapter = snl.ModelAdapter(model)
    batch = adapter.tokenize([texts[2] + " w7"])
    full = model(batch.input_ids, attention_mask=batch.attention_mask)
    ids = readout.label_token_ids
    torch.testing.assert_close(logits[2], full[0, -1, ids].float(), rtol=1e-4, atol=1e-4)
    assert 0.0 <= readout.accuracy((texts, labels)) <= 1.0


def test_verbalizer_bad_input(model):
    with pytest.raises(snl.SkillNeuronError, match="must contain '\\{text\\}'"):
        VerbalizerReadout(model, "no slot", ["w1", "w2"])
    with pytest.raises(snl.SkillNeuronError, match="share a first token"):
        VerbalizerReadout(model, "{text}", ["w1", "w1"])
    with pytest.warns(UserWarning, match="is 2 tokens; its first token"):
        VerbalizerReadout(model, "{text}", ["w1 w2", "w3"])


@pytest.mark.slow
def test_minilm_has_no_mlm_head_and_says_so(minilm):
    with pytest.raises(snl.SkillNeuronError, match="no trained LM/MLM head.*LinearReadout"):
        VerbalizerReadout(minilm, "{text} It was {mask}.", ["bad", "good"])
