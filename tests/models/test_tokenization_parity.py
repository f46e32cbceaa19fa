"""Recorded activations equal ``model.run_with_cache(text)`` at the same position, on every model class.

The recorder tokenizes as the model's own ``to_tokens`` does (BOS from ``cfg.default_prepend_bos`` for
decoders, the tokenizer's special tokens for encoders, the tokenizer's padding side) unless
``RecordingConfig(prepend_bos=..., padding_side=...)`` overrides it. These tests run on TransformerLens
4.3 (bridges) and, with ``-m models``, on 2.18 (``HookedTransformer``, ``HookedEncoder``).
"""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.record.recorder import Recorder, RecordingConfig
from tests.helpers.tiny_models import tiny_encoder, tiny_gpt2

pytestmark = pytest.mark.models

HOOK = "blocks.{layer}.mlp.hook_post"
TEXTS = ["w1 w2 w3", "w4 w5", "w6 w7 w8 w9 w10"]
POSITIONS = [0, 1, -1]


def recorded(model, config: RecordingConfig) -> torch.Tensor:
    """``[example, slot, neuron]`` at layer 1 for :data:`TEXTS` at :data:`POSITIONS`."""
    return Recorder(model, config).activations(TEXTS, dtype=torch.float64)[0]


def cached(model, text: str, **to_tokens) -> torch.Tensor:
    """``[slot, neuron]`` from the model's own ``run_with_cache`` at :data:`POSITIONS`."""
    if to_tokens:
        _, cache = model.run_with_cache(model.to_tokens(text, **to_tokens))
    else:
        _, cache = model.run_with_cache(text)
    return cache[HOOK.format(layer=1)][0, POSITIONS].double()


@pytest.fixture(scope="module")
def decoder():
    return tiny_gpt2()


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder()


@pytest.mark.parametrize("default_bos", [True, False])
def test_decoder_records_what_run_with_cache_shows(decoder, default_bos):
    """Whatever the model's ``cfg.default_prepend_bos`` says, the default recording follows it."""
    saved = decoder.cfg.default_prepend_bos
    decoder.cfg.default_prepend_bos = default_bos
    try:
        config = RecordingConfig(hook=HOOK, layers=(1,), positions=POSITIONS, progress=False)
        values = recorded(decoder, config)
        for row, text in enumerate(TEXTS):
            torch.testing.assert_close(values[row], cached(decoder, text), rtol=1e-5, atol=1e-6)
        first_tokens = ModelAdapter(decoder).tokenize(TEXTS).input_ids[:, 0]
        assert bool((first_tokens == decoder.tokenizer.bos_token_id).all()) is default_bos
    finally:
        decoder.cfg.default_prepend_bos = saved


@pytest.mark.parametrize("prepend_bos", [True, False])
def test_explicit_prepend_bos_overrides_the_model_default(decoder, prepend_bos):
    config = RecordingConfig(
        hook=HOOK, layers=(1,), positions=POSITIONS, prepend_bos=prepend_bos, progress=False
    )
    values = recorded(decoder, config)
    for row, text in enumerate(TEXTS):
        expected = cached(decoder, text, prepend_bos=prepend_bos)
        torch.testing.assert_close(values[row], expected, rtol=1e-5, atol=1e-6)


def test_encoder_records_what_run_with_cache_shows(encoder):
    """Encoders keep their tokenizer's own special tokens (HookedEncoder and the BERT bridge alike)."""
    config = RecordingConfig(hook=HOOK, layers=(1,), positions=POSITIONS, progress=False)
    values = recorded(encoder, config)
    for row, text in enumerate(TEXTS):
        torch.testing.assert_close(values[row], cached(encoder, text), rtol=1e-5, atol=1e-6)


def test_the_result_records_the_settings_used(decoder):
    texts, labels = ["w1 w2", "w50 w60", "w3 w4", "w70 w80"], [1, 0, 1, 0]
    result = snl.compute_predictivity(
        decoder, (texts, labels), (texts, labels), n_permutations=0,
        recording=RecordingConfig(progress=False),
    )
    assert result.config["prepend_bos"] is bool(decoder.cfg.default_prepend_bos)
    assert result.config["padding_side"] == decoder.tokenizer.padding_side


def test_left_padding_default_comes_from_the_tokenizer(decoder):
    saved = decoder.tokenizer.padding_side
    decoder.tokenizer.padding_side = "left"
    try:
        batch = ModelAdapter(decoder).tokenize(TEXTS)
        assert batch.is_left_padded
        left = recorded(decoder, RecordingConfig(hook=HOOK, layers=(1,), positions=POSITIONS, progress=False))
    finally:
        decoder.tokenizer.padding_side = saved
    right_config = RecordingConfig(
        hook=HOOK, layers=(1,), positions=POSITIONS, padding_side="right", progress=False
    )
    right = recorded(decoder, right_config)
    torch.testing.assert_close(left, right, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("padding_side", "middle", "padding_side must be 'left', 'right' or None"),
     ("prepend_bos", "yes", "prepend_bos must be True, False or None")],
)
def test_bad_tokenization_settings_are_refused(field, value, match):
    with pytest.raises(snl.SkillNeuronError, match=match):
        RecordingConfig(**{field: value})
