"""Tuned classifiers: soft prompt, BitFit, adapters and heads on frozen tiny models."""

from __future__ import annotations

import warnings

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.errors import ResultFileError
from skillneuron_lens.tuning.classifier import ClassifierConfig, TunedClassifier
from skillneuron_lens.tuning.training import TrainConfig, train_classifier
from tests.helpers.recording import QUIET
from tests.helpers.reference import reference_accuracy
from tests.helpers.tiny_models import has_bridge, tiny_encoder, tiny_gpt2, toy_texts

pytestmark = pytest.mark.models

METHODS = ("prompt", "bitfit", "adapter", "none")
QUICK = TrainConfig(steps=12, eval_every=6, batch_size=8, progress=False, patience=None, lr=3e-2)


@pytest.fixture(scope="module")
def decoder():
    return tiny_gpt2()


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder()


@pytest.fixture(scope="module")
def data():
    texts, labels = toy_texts(48, seed=3)
    return (texts[:32], labels[:32]), (texts[32:], labels[32:])


def _classifier(model, **settings):
    settings.setdefault("prompt_length", 4)
    settings.setdefault("max_length", 16)
    return TunedClassifier(model, ClassifierConfig(**settings))


@pytest.mark.parametrize("kind", ["decoder", "encoder"])
@pytest.mark.parametrize("method", METHODS)
def test_pretrained_weights_stay_bit_identical(request, kind, method, data):
    model = request.getfixturevalue(kind)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    classifier = _classifier(model, method=method)
    start = {k: v.clone() for k, v in classifier.parts.state_dict().items()}
    history = train_classifier(classifier, *data, QUICK)
    assert [entry["step"] for entry in history] == [6, 12]
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert flags == {name: p.requires_grad for name, p in model.named_parameters()}
    changed = [k for k, v in classifier.parts.state_dict().items() if not torch.equal(start[k], v)]
    assert changed, "training changed none of the tunable parts"


def test_trainable_parts_per_method(decoder):
    counts = {m: _classifier(decoder, method=m).parts.n_trainable() for m in METHODS}
    head = 32 * 2 + 2
    assert counts["none"] == head
    assert counts["prompt"] == head + 4 * 32
    assert counts["adapter"] == head + 3 * (32 * 16 + 16 + 16 * 32 + 32)  # 3 layers, bottleneck 16
    assert counts["bitfit"] > head


def test_adapters_and_deltas_start_as_the_frozen_model(decoder, data):
    """Zero-initialised deltas / adapters change nothing before training."""
    texts = data[0][0][:6]
    plain = _classifier(decoder, method="none")
    for method in ("bitfit", "adapter"):
        tuned = _classifier(decoder, method=method)
        tuned.parts.head.load_state_dict(plain.parts.head.state_dict())
        with torch.inference_mode():
            expected = plain.logits(plain.encode(texts))
            got = tuned.logits(tuned.encode(texts))
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["decoder", "encoder"])
def test_prompt_layout(request, kind):
    model = request.getfixturevalue(kind)
    classifier = _classifier(model, method="prompt", prompt_length=3)
    batch = classifier.encode(["w1 w2 w3", "w4"])
    mask = batch.tokens.attention_mask
    lengths = mask.sum(dim=1).tolist()
    slots = batch.prompt_slot
    for row, length in enumerate(lengths):
        prompt_positions = (slots[row] >= 0).nonzero().flatten().tolist()
        assert slots[row, prompt_positions].tolist() == [0, 1, 2]
        if kind == "decoder":  # prompt after the input, label read at the very end
            assert prompt_positions == list(range(length - 3, length))
            assert int(batch.read_at[row]) == length - 1
        else:  # [CLS] p p p text [SEP], label at [CLS] (linear head)
            assert prompt_positions == [1, 2, 3]
            assert int(batch.read_at[row]) == 0
    inputs = batch.region("input")
    assert (inputs.bool() & (slots >= 0)).sum() == 0
    assert inputs[0].sum() == 3 and inputs[1].sum() == 1


@pytest.mark.parametrize("kind", ["decoder", "encoder"])
@pytest.mark.parametrize("method", METHODS)
def test_batched_equals_one_by_one_left_and_right(request, kind, method, data):
    model = request.getfixturevalue(kind)
    classifier = _classifier(model, method=method, seed=1)
    with torch.no_grad():  # non-trivial parameters so every part matters
        for parameter in classifier.parts.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(5)) * 0.1)
    texts = data[0][0][:5]
    sides = ["right"] if (kind == "encoder" and not has_bridge()) else ["right", "left"]
    with torch.inference_mode():
        single = torch.cat([classifier.logits(classifier.encode([t])) for t in texts])
        for side in sides:
            classifier.layout = classifier.layout.__class__(
                **{**classifier.layout.__dict__, "padding_side": side}
            )
            batched = classifier.logits(classifier.encode(texts))
            torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)


def test_verbalizer_fast_path_matches_full_logits(decoder, data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        classifier = _classifier(decoder, method="prompt", head="verbalizer", label_words=("w1", "w60"))
    assert classifier.head_kind == "verbalizer"
    batch = classifier.encode(data[0][0][:4])
    with torch.inference_mode():
        fast = classifier.logits(batch)
        with decoder.hooks(fwd_hooks=classifier.tuned_hooks(batch)):
            full = decoder(batch.tokens.input_ids, attention_mask=batch.tokens.attention_mask)
    full = getattr(full, "logits", full)
    expected = full[torch.arange(4), batch.read_at][:, classifier.label_token_ids]
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)


def test_predictivity_at_prompt_slots_matches_reference(decoder, data):
    """Recording through the classifier == keeping every activation by hand and scoring it."""
    train, dev = data
    classifier = _classifier(decoder, method="prompt", prompt_length=3, seed=2)
    result = classifier.predictivity(train, dev, recording=QUIET)
    assert result.slot_names == ("pos 0", "pos 1", "pos 2")

    def slots_of(texts):
        rows = []
        for text in texts:
            batch = classifier.encode([text])
            kept = {}

            def keep(values, hook, layer, kept=kept, batch=batch):
                kept[layer] = values[0, batch.prompt_slot[0] >= 0].clone()

            hooks = [
                (f"blocks.{layer}.mlp.hook_post", lambda v, hook, layer=layer: keep(v, hook, layer))
                for layer in range(3)
            ]
            with torch.inference_mode(), decoder.hooks(fwd_hooks=[*classifier.tuned_hooks(batch), *hooks]):
                decoder(batch.tokens.input_ids, attention_mask=batch.tokens.attention_mask)
            rows.append(torch.stack([kept[layer] for layer in range(3)], dim=1))  # [slot, layer, neuron]
        return torch.stack(rows)

    train_acts, dev_acts = slots_of(train[0]).double(), slots_of(dev[0]).double()
    accuracy, baseline = reference_accuracy(train_acts, train[1], dev_acts, dev[1])
    assert torch.equal(result.accuracy[0, 0], accuracy)
    # batched float32 forward passes differ from one-by-one ones in the last bits only
    torch.testing.assert_close(result.baseline[0, 0], baseline, rtol=0, atol=1e-6)


def test_input_region_control(decoder, data):
    classifier = _classifier(decoder, method="prompt", prompt_length=3)
    result = classifier.predictivity(*data, region="input", positions="mean", recording=QUIET)
    assert result.slot_names == ("mean",)
    assert result.predictivity.shape == (3, 48)


def test_training_keeps_the_best_checkpoint_and_stops_early(decoder, data):
    classifier = _classifier(decoder, method="prompt")
    config = TrainConfig(steps=40, eval_every=2, batch_size=8, progress=False, patience=1, lr=0.3)
    history = train_classifier(classifier, *data, config)
    assert history[-1]["step"] < 40 or len(history) == 20
    best = max(entry["dev_accuracy"] for entry in history)
    assert classifier.accuracy(data[1], progress=False) == pytest.approx(best)


def test_training_lowers_the_loss(decoder, data):
    classifier = _classifier(decoder, method="prompt")
    history = train_classifier(
        classifier, *data,
        TrainConfig(steps=60, eval_every=20, batch_size=8, progress=False, patience=None, lr=3e-2),
    )
    assert history[-1]["loss"] < history[0]["loss"]


def test_by_default_dev_is_evaluated_once_at_the_end_and_its_time_is_kept_apart(decoder, data):
    classifier = _classifier(decoder, method="prompt")
    history = train_classifier(classifier, *data, TrainConfig(steps=5, batch_size=8, progress=False))
    assert [entry["step"] for entry in history] == [5]
    assert 0 < history[0]["train_seconds"] < history[0]["seconds"]
    assert classifier.accuracy(data[1], progress=False) == pytest.approx(history[0]["dev_accuracy"])


def test_bf16_autocast_runs(decoder, data):
    classifier = _classifier(decoder, method="prompt")
    history = train_classifier(
        classifier, *data, TrainConfig(steps=2, eval_every=2, progress=False, bf16=True)
    )
    assert len(history) == 1


def test_save_load_roundtrip_and_model_check(decoder, tmp_path, data):
    classifier = _classifier(decoder, method="adapter")
    train_classifier(classifier, *data, QUICK)
    classifier.save(tmp_path / "clf")
    with pytest.raises(FileExistsError):
        classifier.save(tmp_path / "clf")
    loaded = TunedClassifier.load(tmp_path / "clf", decoder)
    assert loaded.config == classifier.config
    assert torch.equal(loaded.predict(data[1], progress=False), classifier.predict(data[1], progress=False))
    assert loaded.history == classifier.history
    other = tiny_gpt2(seed=7)
    with pytest.raises(ResultFileError, match="another model"):
        TunedClassifier.load(tmp_path / "clf", other)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prompt_length": 0}, "prompt_length must be at least 1"),
        ({"prompt_length": 63}, "does not fit the model's context"),
        ({"method": "lora"}, "Unknown tuning method"),
        ({"head": "verbalizer"}, "needs label_words"),
        ({"label_words": ("w1",)}, "1 label words for 2 classes"),
        ({"prompt_init": "text"}, "needs prompt_init_text"),
        ({"pooling": "cls"}, "pooling must be"),
    ],
)
def test_bad_settings(decoder, settings, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        TunedClassifier(decoder, ClassifierConfig(**{"max_length": 16, **settings}))


def test_too_long_input_is_a_clear_error(decoder):
    classifier = _classifier(decoder, method="prompt", prompt_length=40, max_length=60)
    with pytest.raises(snl.SkillNeuronError, match="longer than the model's context"):
        classifier.encode([" ".join(["w1"] * 40)])


def test_multi_token_label_word_warns(encoder):
    if not has_bridge():
        pytest.skip("the verbalizer on a tiny encoder needs the bridge's MLM head")
    with pytest.warns(UserWarning, match="first token"):
        classifier = _classifier(encoder, method="prompt", head="verbalizer", label_words=("w1 w2", "w3"))
    assert classifier.layout.mask_slot is False or classifier.layout.mask_slot is True


@pytest.mark.parametrize("kind", ["decoder", "encoder"])
def test_prompt_replaces_word_embeddings_before_positions_are_added(request, kind):
    """The splice hook must be the word-embedding output (not the embedding block's LayerNorm output)."""
    from skillneuron_lens.tuning.soft_prompt import token_embeddings

    model = request.getfixturevalue(kind)
    classifier = _classifier(model, method="prompt")
    ids = [5, 7, 9]
    if classifier.adapter.kind == "bridge":
        table = model.original_model.get_input_embeddings().weight
    elif classifier.adapter.kind == "hooked_encoder":
        table = model.embed.embed.W_E
    else:
        table = model.W_E
    torch.testing.assert_close(token_embeddings(classifier.adapter, ids), table[ids].float(), rtol=0, atol=0)


def test_text_initialisation_uses_token_embeddings(decoder):
    classifier = _classifier(
        decoder, method="prompt", prompt_length=5, prompt_init="text", prompt_init_text="w1 w2"
    )
    embeddings = decoder.original_model.get_input_embeddings().weight if has_bridge() else decoder.W_E
    ids = decoder.tokenizer("w1 w2", add_special_tokens=False)["input_ids"]
    expected = embeddings[[*ids, *ids, ids[0]]].float()
    torch.testing.assert_close(classifier.parts.prompt.detach(), expected)


def test_nothing_to_train_is_a_clear_error(decoder, data):
    classifier = _classifier(decoder, method="none", head="verbalizer", label_words=("w1", "w60"))
    with pytest.raises(snl.SkillNeuronError, match="Nothing to train"):
        train_classifier(classifier, *data, QUICK)


def test_verbalizer_refused_without_trained_head(minilm):
    with pytest.raises(snl.SkillNeuronError, match="no trained LM/MLM head"):
        TunedClassifier(minilm, ClassifierConfig(head="verbalizer", label_words=("bad", "good")))
