"""Bad input gets a clear error that names the problem and the fix."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.errors import HookNotFoundError
from skillneuron_lens.tuning.readouts import LinearReadout, VerbalizerReadout
from tests.helpers.recording import QUIET
from tests.helpers.tiny_models import tiny_gpt2, toy_texts


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


TRAIN, DEV = toy_texts(12, 1), toy_texts(12, 2)


@pytest.mark.models
@pytest.mark.parametrize(
    ("train", "dev", "message"),
    [
        (([], []), DEV, "train split is empty"),
        (TRAIN, ([], []), "dev split is empty"),
        ((TRAIN[0], [1] * 12), DEV, "train split has a single class"),
        (TRAIN, (DEV[0], [0] * 12), "dev split has a single class"),
        ((TRAIN[0][:5], TRAIN[1]), DEV, "5 texts but 12 labels"),
        (TRAIN, (DEV[0], [0, 1, 2] * 4), r"outside the label set 0\.\.1"),
        (TRAIN, (DEV[0], [0.5] * 12), "integer class ids"),
        ("not a split", DEV, "must be a \\(texts, labels\\) tuple"),
    ],
)
def test_bad_splits(model, train, dev, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        snl.compute_predictivity(model, train, dev, n_classes=2, recording=QUIET)


@pytest.mark.models
def test_unknown_hook_lists_the_hooks_the_model_has(model):
    with pytest.raises(HookNotFoundError) as error:
        snl.compute_predictivity(model, TRAIN, DEV, hook="blocks.{layer}.mlp.hook_nope", recording=QUIET)
    text = str(error.value)
    assert "no hook 'blocks.0.mlp.hook_nope'" in text
    assert "blocks.{layer}.mlp.hook_post" in text and "blocks.{layer}.mlp.hook_pre" in text


@pytest.mark.models
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": [7]}, r"Layer\(s\) \[7\] do not exist: the model has layers 0\.\.2"),
        ({"layers": []}, "layers is empty"),
        ({"hook": "blocks.0.mlp.hook_post", "layers": [1]}, "names one site, read as layer 0"),
        ({"positions": "middle"}, "Unknown position mode"),
        ({"positions": []}, "empty list"),
        ({"positions": 30}, "Position 30 does not exist"),
        ({"recording": {"batch_size": 0}}, "batch_size must be at least 1"),
        ({"recording": {"padding_side": "top"}}, "padding_side must be"),
        ({"scheme": "paper"}, "paper's scheme is defined for 3 or 4 classes"),
    ],
)
def test_bad_settings(model, kwargs, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        settings = dict(kwargs)
        recording = replace(QUIET, **settings.pop("recording", {}))  # a bad field fails here or in the call
        snl.compute_predictivity(model, TRAIN, DEV, recording=recording, **settings)


def test_nan_or_inf_activations_are_refused():
    bad = torch.zeros(4, 1, 3)
    bad[1, 0, 2] = float("nan")
    with pytest.raises(snl.SkillNeuronError, match="NaN or infinite"):
        snl.predictivity_from_activations(bad, [0, 1, 0, 1], torch.zeros(4, 1, 3), [0, 1, 0, 1])
    bad[1, 0, 2] = float("inf")
    with pytest.raises(snl.SkillNeuronError, match="NaN or infinite"):
        snl.predictivity_from_activations(torch.zeros(4, 1, 3), [0, 1, 0, 1], bad, [0, 1, 0, 1])


def test_activation_shapes_must_match():
    with pytest.raises(snl.SkillNeuronError, match="differ in shape"):
        snl.predictivity_from_activations(
            torch.zeros(4, 1, 3), [0, 1, 0, 1], torch.zeros(4, 1, 5), [0, 1, 0, 1]
        )
    with pytest.raises(snl.SkillNeuronError, match="3 activation rows but 4 labels"):
        snl.predictivity_from_activations(
            torch.zeros(4, 1, 3), [0, 1, 0, 1], torch.zeros(3, 1, 3), [0, 1, 0, 1]
        )


def test_not_a_model():
    with pytest.raises(snl.SkillNeuronError, match="not a TransformerLens model"):
        snl.compute_predictivity(torch.nn.Linear(2, 2), TRAIN, DEV, recording=QUIET)


# ---- Python API: string labels in tuples, max_length --------------------------------------------


def test_class_names_in_one_split_beside_int_ids_in_another_name_the_fix(model):
    names = ["neg", "pos"] * 6
    fix = r"train split\(s\) have string labels.*dev split\(s\) have int class ids.*label_names="
    with pytest.raises(snl.SkillNeuronError, match=fix):
        snl.compute_predictivity(model, (TRAIN[0], names), DEV, recording=QUIET)
    readout = LinearReadout(model, pooling="last", recording=QUIET)
    with pytest.raises(snl.SkillNeuronError, match=fix):
        readout.fit((TRAIN[0], names), DEV, n_classes=2)
    # with the order given, the names and the ids agree: the same numbers as int labels
    named = snl.compute_predictivity(
        model, (TRAIN[0], names), DEV, recording=QUIET, label_names=["neg", "pos"]
    )
    numbered = snl.compute_predictivity(model, (TRAIN[0], [0, 1] * 6), DEV, recording=QUIET)
    assert torch.equal(named.accuracy, numbered.accuracy)


def test_int_ids_written_as_text_are_ids(model):
    as_text = snl.compute_predictivity(model, (TRAIN[0], ["0", "1"] * 6), DEV, recording=QUIET)
    numbered = snl.compute_predictivity(model, (TRAIN[0], [0, 1] * 6), DEV, recording=QUIET)
    assert torch.equal(as_text.accuracy, numbered.accuracy)


def test_nan_label_in_a_tuple_split_names_the_fix(model):
    with pytest.raises(snl.SkillNeuronError, match=r"has nan \(float\)\. Drop or fix unlabelled rows"):
        snl.compute_predictivity(model, (TRAIN[0], [0, 1] * 5 + [1, float("nan")]), DEV, recording=QUIET)


def _with_bos_post_processor(model):
    """The tiny model with a tokenizer that adds one special token ([BOS]) to every text, as BERT's."""
    from tokenizers.processors import TemplateProcessing

    tokenizer = model.tokenizer
    tokenizer._tokenizer.post_processor = TemplateProcessing(
        single="[BOS] $A", pair="[BOS] $A $B", special_tokens=[("[BOS]", 2)]
    )
    return model


@pytest.mark.models
def test_max_length_below_the_special_tokens_is_refused_not_untruncated():
    adapter = snl.ModelAdapter(_with_bos_post_processor(tiny_gpt2()))
    long_text = " ".join(f"w{i}" for i in range(20))
    assert adapter.encode_rows([long_text], max_length=2, prepend_bos=True)[0] == [[2, 3]]  # [BOS] w0
    assert adapter.min_max_length() == 2 and adapter.min_max_length(pair=True) == 3
    for too_small in (1, 0):
        with pytest.raises(snl.SkillNeuronError, match=r"Use max_length 2 or more|positive int"):
            adapter.encode_rows([long_text], max_length=too_small)
    with pytest.raises(snl.SkillNeuronError, match="Use --max-length 3 or more"):
        adapter.check_max_length(2, pair=True, option="--max-length")


@pytest.mark.models
def test_a_text_longer_than_the_context_is_truncated_at_the_context(model):
    adapter = snl.ModelAdapter(model)
    assert adapter.n_ctx == 64
    long_text = " ".join(f"w{i % 90}" for i in range(150))  # 150 tokens, context 64
    batch = adapter.tokenize([long_text, "w1 w2"], max_length=500, prepend_bos=True)
    assert batch.input_ids.shape == (2, 64)  # never past the context
    texts, labels = [long_text, *TRAIN[0][1:]], TRAIN[1]
    capped = snl.compute_predictivity(model, (texts, labels), DEV, recording=replace(QUIET, max_length=500))
    exact = snl.compute_predictivity(model, (texts, labels), DEV, recording=replace(QUIET, max_length=64))
    assert torch.equal(capped.accuracy, exact.accuracy) and torch.equal(capped.baseline, exact.baseline)
    context = "exceeds the model's context of 64 tokens; use --max-length 60"
    with pytest.raises(snl.SkillNeuronError, match=context):
        adapter.check_max_length(61, reserved=4, option="--max-length")


@pytest.mark.models
def test_a_verbalizer_template_longer_than_max_length_is_refused(monkeypatch, model):
    import skillneuron_lens.tuning.readouts as readouts

    monkeypatch.setattr(readouts, "lm_head_is_pretrained", lambda model: True)
    template = "w1 w2 w3 w4 {text} w5 w6"
    size = len(model.tokenizer("w1 w2 w3 w4  w5 w6")["input_ids"])  # 6 words (+ BOS if it adds one)
    assert size in (6, 7)
    message = f"template alone is {size} tokens.*max_length {size + 1} or"
    with pytest.raises(snl.SkillNeuronError, match=message):
        VerbalizerReadout(model, template, ["w10", "w60"], max_length=size, progress=False)
    assert VerbalizerReadout(model, template, ["w10", "w60"], max_length=size + 1, progress=False)


def test_dumps_strict_writes_null_for_nan_and_infinity():
    from skillneuron_lens.io import dumps_strict

    text = dumps_strict({"a": float("nan"), "b": [1.0, float("inf"), (float("-inf"), 2)], "c": "NaN"})
    assert json.loads(text, parse_constant=_refuse) == {"a": None, "b": [1.0, None, [None, 2]], "c": "NaN"}


def _refuse(constant):
    raise AssertionError(f"non-strict JSON constant {constant}")
