"""Any activation is a neuron site: per-head hooks, one head, embeddings and concrete hook names."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.errors import HookNotFoundError
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.models.sites import NeuronSite, head_coordinates, neuron_coordinates, neuron_label
from tests.helpers.sites import (
    assert_predictivity_matches_reference,
    assert_recording_matches_cache,
    run_capturing,
    single_neuron_set,
)
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

N_HEADS, D_HEAD = 4, 8  # the tiny GPT-2's attention


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


# ---- the site string, without a model ---------------------------------------------------------
def test_site_strings_round_trip_and_name_their_layers():
    site = NeuronSite.parse("blocks.{layer}.attn.hook_z[head=3]")
    assert (site.hook, site.head, site.name) == (
        "blocks.{layer}.attn.hook_z",
        3,
        "blocks.{layer}.attn.hook_z[head=3]",
    )
    assert NeuronSite.parse("blocks.{layer}.attn.hook_z", head=3) == site
    assert site.hook_names([2, 0], n_layers=3) == ((2, 0), ["blocks.2.attn.hook_z", "blocks.0.attn.hook_z"])
    assert NeuronSite.parse("blocks.5.attn.hook_z").hook_names(None, n_layers=6) == (
        (5,),
        ["blocks.5.attn.hook_z"],
    )
    assert NeuronSite.parse("hook_embed").hook_names([0], n_layers=6) == ((0,), ["hook_embed"])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: NeuronSite.parse("blocks.{layer}.attn.hook_z[head=1]", head=2), "give the head once"),
        (lambda: NeuronSite.parse("blocks.{layer}.attn.hook_z", head=-1), "head must be 0 or more"),
        (
            lambda: NeuronSite.parse("blocks.{layer}.attn.hook_z[1]"),
            r"only suffix understood is '\[head=H\]'",
        ),
        (lambda: NeuronSite.parse(""), "non-empty hook name"),
        (lambda: NeuronSite.parse("blocks.2.mlp.hook_post").hook_names([1], 3), "read as layer 2"),
    ],
)
def test_bad_sites_are_named(call, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        call()


def test_flattened_neurons_map_back_to_head_and_component():
    # C order over (head, d_head): neuron 21 of 4 x 8 is head 2, component 5
    assert neuron_coordinates(21, (N_HEADS, D_HEAD)) == (2, 5)
    assert neuron_coordinates(7, (48,)) == (7,)
    assert neuron_label(1, 21, (N_HEADS, D_HEAD)) == "L1 H2:5"
    assert neuron_label(1, 5, (D_HEAD,), head=2) == "L1 H2:5"
    assert neuron_label(0, 7, (48,)) == "L0 N7"
    assert head_coordinates("blocks.{layer}.attn.hook_z", (N_HEADS, D_HEAD), 21) == {
        "head": 2,
        "head_neuron": 5,
    }
    assert head_coordinates("blocks.{layer}.attn.hook_z[head=2]", (D_HEAD,), 5) == {
        "head": 2,
        "head_neuron": 5,
    }
    assert head_coordinates("blocks.{layer}.mlp.hook_post", (48,), 5) == {}
    with pytest.raises(snl.SkillNeuronError, match="does not exist"):
        neuron_coordinates(32, (N_HEADS, D_HEAD))


def test_write_back_puts_values_in_the_hook_shape():
    activations = torch.arange(2 * 3 * N_HEADS * D_HEAD, dtype=torch.float32).reshape(2, 3, N_HEADS, D_HEAD)
    whole, one_head = NeuronSite("h"), NeuronSite("h", head=1)
    assert torch.equal(whole.neurons(activations), activations.reshape(2, 3, -1))
    assert torch.equal(one_head.neurons(activations), activations[:, :, 1])
    written = one_head.write_back(activations, -one_head.neurons(activations))
    assert torch.equal(written[:, :, 1], -activations[:, :, 1])
    assert torch.equal(written[:, :, [0, 2, 3]], activations[:, :, [0, 2, 3]])


# ---- recording: the same numbers as run_with_cache -------------------------------------------------
@pytest.mark.models
@pytest.mark.parametrize(
    ("site", "layers"),
    [
        ("blocks.{layer}.attn.hook_z", [0, 2]),
        ("blocks.{layer}.attn.hook_q", [1]),
        ("blocks.{layer}.attn.hook_k", [1]),
        ("blocks.{layer}.attn.hook_v", [2]),
        ("blocks.{layer}.attn.hook_z[head=2]", [1]),
        ("blocks.1.attn.hook_z", [1]),
        ("hook_embed", [0]),
        ("hook_pos_embed", [0]),
    ],
)
def test_recorded_site_equals_run_with_cache(model, site, layers):
    texts, _ = toy_texts(6, seed=5)
    assert_recording_matches_cache(model, texts, site, layers)


@pytest.mark.models
@pytest.mark.parametrize(
    ("site", "layers", "positions"),
    [
        ("blocks.{layer}.attn.hook_z", None, [0, -1]),
        ("blocks.{layer}.attn.hook_z[head=1]", [0, 2], "mean"),
        ("hook_embed", None, "last"),
    ],
)
def test_predictivity_at_a_site_equals_the_reference(model, site, layers, positions):
    result = assert_predictivity_matches_reference(
        model, toy_texts(40, seed=1), toy_texts(30, seed=2), site, layers, positions
    )
    assert result.hook == site
    per_head = NeuronSite.parse(site).head is not None
    assert result.n_neurons == (D_HEAD if per_head else N_HEADS * D_HEAD if "attn" in site else 32)


@pytest.mark.models
def test_head_option_and_neuron_shape(model):
    train, dev = toy_texts(30, seed=1), toy_texts(20, seed=2)
    quiet = snl.RecordingConfig(progress=False)
    result = snl.compute_predictivity(
        model, train, dev, hook="blocks.{layer}.attn.hook_z", head=3, layers=[1], recording=quiet
    )
    assert result.hook == "blocks.{layer}.attn.hook_z[head=3]"
    assert result.config["neuron_shape"] == [D_HEAD]
    assert all(row["head"] == 3 for row in result.top_neurons(3))
    every_head = snl.compute_predictivity(
        model, train, dev, hook="blocks.{layer}.attn.hook_z", recording=quiet
    )
    assert every_head.config["neuron_shape"] == [N_HEADS, D_HEAD]
    # head 3 of the whole-site result is the one-head result's columns
    torch.testing.assert_close(
        every_head.predictivity[1].reshape(N_HEADS, D_HEAD)[3], result.predictivity[0], rtol=0, atol=0
    )
    row = every_head.top_neurons(1)[0]
    assert (row["head"], row["head_neuron"]) == divmod(row["neuron"], D_HEAD)
    assert snl.predictivity.hook_width(model, "blocks.{layer}.attn.hook_z[head=0]") == D_HEAD


@pytest.mark.models
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hook": "blocks.{layer}.mlp.hook_post", "head": 0}, r"head=0 needs a per-head hook"),
        ({"hook": "blocks.{layer}.attn.hook_z", "head": 4}, r"head=4 does not exist .* 4 heads"),
        ({"hook": "blocks.{layer}.attn.hook_pattern"}, "second axis must be the token position"),
        ({"hook": "hook_embed", "layers": [1]}, "read as layer 0"),
    ],
)
def test_sites_that_cannot_hold_neurons_are_refused(model, kwargs, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        snl.compute_predictivity(
            model,
            toy_texts(8, seed=1),
            toy_texts(8, seed=2),
            recording=snl.RecordingConfig(progress=False),
            **kwargs,
        )


@pytest.mark.models
def test_unknown_concrete_hook_lists_the_hooks(model):
    with pytest.raises(HookNotFoundError, match="no hook 'blocks.1.attn.hook_nope'"):
        ModelAdapter(model).resolve_site("blocks.1.attn.hook_nope")


# ---- interventions: exactly the chosen slice changes ---------------------------------------------
@pytest.mark.models
@pytest.mark.parametrize(
    ("site", "neuron", "width"),
    [
        ("blocks.{layer}.attn.hook_z", 2 * D_HEAD + 5, N_HEADS * D_HEAD),
        ("blocks.{layer}.attn.hook_z[head=2]", 5, D_HEAD),
    ],
)
def test_perturbing_one_head_neuron_changes_exactly_that_slice(model, site, neuron, width):
    ids = ModelAdapter(model).tokenize(["w1 w5 w9 w30", "w2 w4 w6 w8"]).input_ids
    name = "blocks.1.attn.hook_z"
    clean_logits, clean = run_capturing(model, ids, [], name)
    hooks = snl.intervene.perturbation_hooks(
        model, single_neuron_set(site, 1, neuron, width), "clamp", value=7.0
    )
    logits, perturbed = run_capturing(model, ids, hooks, name)
    assert perturbed.shape == clean.shape == (2, ids.shape[1], N_HEADS, D_HEAD)
    assert torch.all(perturbed[:, :, 2, 5] == 7.0)
    changed = perturbed != clean
    changed[:, :, 2, 5] = False
    assert not changed.any()
    assert not torch.allclose(logits, clean_logits)  # the new value reaches the output


@pytest.mark.models
def test_perturbing_the_embedding_site(model):
    ids = ModelAdapter(model).tokenize(["w1 w5 w9"]).input_ids
    _, clean = run_capturing(model, ids, [], "hook_embed")
    hooks = snl.intervene.perturbation_hooks(model, single_neuron_set("hook_embed", 0, 4, 32), "zero")
    _, perturbed = run_capturing(model, ids, hooks, "hook_embed")
    expected = clean.clone()
    expected[..., 4] = 0
    assert torch.equal(perturbed, expected)


@pytest.mark.models
def test_in_memory_activations_name_their_site_so_the_result_can_be_perturbed(model):
    train, dev = toy_texts(24, seed=1), toy_texts(16, seed=2)
    site, recording = "blocks.{layer}.attn.hook_z", snl.RecordingConfig(positions="mean", progress=False)
    train_acts = snl.record.neuron_pool(model, train[0], hook=site, layers=[2], recording=recording)
    dev_acts = snl.record.neuron_pool(model, dev[0], hook=site, layers=[2], recording=recording)
    result = snl.predictivity_from_activations(train_acts, train[1], dev_acts, dev[1], hook=site, layers=[2])
    streamed = snl.compute_predictivity(model, train, dev, hook=site, layers=[2], recording=recording)
    assert (result.hook, result.layers) == (site, (2,))
    assert torch.equal(result.predictivity, streamed.predictivity)
    skill = snl.NeuronSet.top(result, k=3)
    ids = ModelAdapter(model).tokenize(["w1 w5 w9"]).input_ids
    clean_logits, _ = run_capturing(model, ids, [], "blocks.2.attn.hook_z")
    with snl.perturb(model, skill, "zero"), torch.no_grad():
        assert not torch.allclose(model(ids), clean_logits)
    with pytest.raises(snl.SkillNeuronError, match="must name 1 different model layer"):
        snl.predictivity_from_activations(train_acts, train[1], dev_acts, dev[1], hook=site, layers=[1, 2])
    with pytest.raises(snl.SkillNeuronError, match="read as layer 3"):
        snl.predictivity_from_activations(
            train_acts, train[1], dev_acts, dev[1], hook="blocks.3.attn.hook_z", layers=[2]
        )


@pytest.mark.models
def test_figures_draw_on_head_neurons(model):
    result = snl.compute_predictivity(
        model,
        toy_texts(30, seed=1),
        toy_texts(20, seed=2),
        hook="blocks.{layer}.attn.hook_z",
        recording=snl.RecordingConfig(progress=False),
        histograms=True,
    )
    heatmap = snl.plot.predictivity_heatmap(result)
    assert heatmap.data[0].z.shape == (3, N_HEADS * D_HEAD)
    assert "blocks.{layer}.attn.hook_z" in heatmap.layout.title.subtitle.text
    assert len(snl.plot.layer_distribution(result).data) >= 3
    best = result.top_neurons(1)[0]
    histogram = snl.plot.neuron_histogram_figure(result, best["layer"], best["neuron"])
    assert sum(sum(trace.y) for trace in histogram.data if trace.type == "bar") > 0
    skill = snl.NeuronSet.top(result, k=2)
    assert snl.plot.skill_counts(skill, result=result).data
