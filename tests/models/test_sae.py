"""SAELens SAE latents as neurons, on a HookedSAETransformer with a small randomly initialised SAE.

SAELens 6.x requires TransformerLens < 4, so these tests run in the TransformerLens 3.9 environment
(``.venv-tl3``, CI's third line); elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.models.adapter import ModelAdapter
from tests.helpers.sites import (
    assert_predictivity_matches_reference,
    assert_recording_matches_cache,
    run_capturing,
    single_neuron_set,
)
from tests.helpers.tiny_models import hooked_gpt2, make_hf_gpt2, make_tokenizer, toy_texts

sae_lens = pytest.importorskip(
    "sae_lens", reason="sae-lens is not installed (SAELens 6.x needs TransformerLens < 4: use .venv-tl3)"
)
pytestmark = [pytest.mark.models, pytest.mark.sae]

D_SAE = 24
LATENTS = "blocks.{layer}.hook_resid_pre.hook_sae_acts_post"
BRIDGE_LATENTS = "blocks.{layer}.hook_in.hook_sae_acts_post"


def random_sae(hook_name: str, seed: int) -> object:
    """A standard SAE on the residual stream (d_in 32), weights drawn from a seeded generator."""
    config = sae_lens.StandardSAEConfig(
        d_in=32, d_sae=D_SAE, metadata=sae_lens.saes.sae.SAEMetadata(hook_name=hook_name)
    )
    sae = sae_lens.StandardSAE(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, parameter in sorted(sae.named_parameters(), key=lambda item: item[0]):
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return sae.eval()


@pytest.fixture(scope="module")
def model():
    model = hooked_gpt2(sae_lens.HookedSAETransformer, make_hf_gpt2(0), make_tokenizer())
    for layer in (1, 2):
        model.add_sae(random_sae(f"blocks.{layer}.hook_resid_pre", seed=layer))
    return model


@pytest.fixture(scope="module")
def bridge():
    """SAELens' beta SAETransformerBridge: the latents sit under the resolved name ``blocks.N.hook_in``."""
    model = sae_lens.SAETransformerBridge.boot_transformers(
        "tiny-gpt2", hf_model=make_hf_gpt2(0), tokenizer=make_tokenizer()
    )
    sae = random_sae("blocks.1.hook_resid_pre", seed=1)
    model.add_sae(sae)
    assert model.get_sae_hook_name(sae) == BRIDGE_LATENTS.format(layer=1)
    return model


def test_latent_hooks_are_sites(model):
    names = ModelAdapter(model).resolve_hooks(LATENTS, [1, 2])
    assert names == [LATENTS.format(layer=1), LATENTS.format(layer=2)]
    assert snl.predictivity.hook_width(model, LATENTS, [1, 2]) == D_SAE


def test_recorded_latents_equal_run_with_cache(model):
    assert_recording_matches_cache(model, toy_texts(6, seed=5)[0], LATENTS, [1, 2])


@pytest.mark.parametrize("positions", [[0, -1], "mean"])
def test_predictivity_on_latents_equals_the_reference(model, positions):
    result = assert_predictivity_matches_reference(
        model, toy_texts(40, seed=1), toy_texts(30, seed=2), LATENTS, [1, 2], positions
    )
    assert result.predictivity.shape == (2, D_SAE) and result.hook == LATENTS


def test_latents_on_the_bridge_equal_run_with_cache(bridge):
    assert_recording_matches_cache(bridge, toy_texts(6, seed=5)[0], BRIDGE_LATENTS, [1])


@pytest.mark.parametrize("kind", ["hooked", "bridge"])
def test_perturbing_a_latent_changes_the_reconstruction_by_its_decoder_row(request, kind):
    model = request.getfixturevalue("model" if kind == "hooked" else "bridge")
    site = LATENTS if kind == "hooked" else BRIDGE_LATENTS
    ids = ModelAdapter(model).tokenize(["w1 w5 w9 w30", "w2 w4 w6 w8"]).input_ids
    latents, recons = site.format(layer=1), site.format(layer=1).replace("acts_post", "recons")
    _, clean_latents = run_capturing(model, ids, [], latents)
    clean_logits, clean_recons = run_capturing(model, ids, [], recons)
    neuron = int(clean_latents.abs().sum(dim=(0, 1)).argmax())  # a latent that is active somewhere
    hooks = snl.intervene.perturbation_hooks(
        model, single_neuron_set(site, 1, neuron, D_SAE), "clamp", value=3.0
    )
    logits, new_recons = run_capturing(model, ids, hooks, recons)
    (sae,) = (
        model.acts_to_saes.values() if kind == "bridge" else [model.acts_to_saes["blocks.1.hook_resid_pre"]]
    )
    decoder_row = sae.W_dec[neuron].detach()
    expected = clean_recons + (3.0 - clean_latents[..., neuron])[..., None] * decoder_row
    torch.testing.assert_close(new_recons, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(logits, clean_logits)


def test_skill_latents_draw_and_perturb(model):
    train, dev = toy_texts(30, seed=1), toy_texts(20, seed=2)
    result = snl.compute_predictivity(
        model,
        train,
        dev,
        hook=LATENTS,
        layers=[1, 2],
        recording=snl.RecordingConfig(progress=False),
        histograms=True,
    )
    assert snl.plot.predictivity_heatmap(result).data[0].z.shape == (2, D_SAE)
    best = result.top_neurons(1)[0]
    assert snl.plot.neuron_histogram_figure(result, best["layer"], best["neuron"]).data
    skill = snl.NeuronSet.top(result, k=2)
    ids = ModelAdapter(model).tokenize(["w1 w5 w9"]).input_ids
    with torch.no_grad():
        clean = model(ids)
        with snl.perturb(model, skill, "zero"):
            assert not torch.allclose(model(ids), clean)
