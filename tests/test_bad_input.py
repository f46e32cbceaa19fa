"""Bad input gets a clear error that names the problem and the fix."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_gpt2, toy_texts

import skillneuron_lens as snl


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
        snl.compute_predictivity(model, train, dev, n_classes=2, progress=False)


@pytest.mark.models
def test_unknown_hook_lists_the_hooks_the_model_has(model):
    with pytest.raises(snl.HookNotFoundError) as error:
        snl.compute_predictivity(model, TRAIN, DEV, hook="blocks.{layer}.mlp.hook_nope", progress=False)
    text = str(error.value)
    assert "no hook 'blocks.0.mlp.hook_nope'" in text
    assert "blocks.{layer}.mlp.hook_post" in text and "blocks.{layer}.mlp.hook_pre" in text


@pytest.mark.models
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": [7]}, r"Layer\(s\) \[7\] do not exist: the model has layers 0\.\.2"),
        ({"layers": []}, "layers is empty"),
        ({"hook": "blocks.0.mlp.hook_post"}, "has no '\\{layer\\}' field"),
        ({"positions": "middle"}, "Unknown position mode"),
        ({"positions": []}, "empty list"),
        ({"positions": 30}, "Position 30 does not exist"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"padding_side": "top"}, "padding_side must be"),
        ({"scheme": "paper"}, "paper's scheme is defined for 3 or 4 classes"),
    ],
)
def test_bad_settings(model, kwargs, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        snl.compute_predictivity(model, TRAIN, DEV, progress=False, **kwargs)


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
        snl.compute_predictivity(torch.nn.Linear(2, 2), TRAIN, DEV, progress=False)
