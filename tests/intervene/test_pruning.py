"""Structural pruning: the pruned model equals the original with removed neurons clamped to their means.

Runs on TransformerLens 4.x (bridges: GPT-2, BERT, Llama) and 2.x (HookedTransformer, HookedEncoder,
gated HookedTransformer): ``.venv-tl2/bin/python -m pytest tests/intervene/test_pruning.py``.
"""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.errors import ResultFileError
from skillneuron_lens.intervene.prune import (
    count_parameters,
    load_pruned,
    prune_model,
    pruned_neuron_indices,
    pruning_info,
    save_pruned,
)
from skillneuron_lens.models.adapter import ModelAdapter
from tests.helpers.pruning import (
    BUILDERS,
    HOOK,
    assert_roundoff,
    clamp_hooks,
    layer_counts,
    max_diff,
    n_layers,
    random_keep,
    random_means,
    run,
    width,
)
from tests.helpers.tiny_llama import tiny_llama
from tests.helpers.tiny_models import has_bridge, tiny_gpt2

pytestmark = pytest.mark.models


@pytest.fixture(params=sorted(BUILDERS))
def kind_and_model(request):
    return request.param, BUILDERS[request.param]()


# ---- exactness --------------------------------------------------------------------------------
def test_pruned_equals_clamped_original(kind_and_model):
    kind, model = kind_and_model
    keep = random_keep(model, layer_counts(model))
    means = random_means(keep)
    pruned = prune_model(model, keep, means)

    hook_names = [HOOK.format(layer=layer) for layer in keep.layers]
    logits_ref, resid_ref, _ = run(model, clamp_hooks(keep, means))
    logits, resid, captured = run(pruned, capture=hook_names)
    assert_roundoff(logits, logits_ref)
    assert_roundoff(resid, resid_ref)
    # the hooks still fire, with each layer's new width
    for row, name in enumerate(hook_names):
        assert captured[name].shape[-1] == int(keep.mask[row].sum())
    # and pruning did change the model (the test is not vacuous)
    logits_plain, _, _ = run(model)
    assert max_diff(logits, logits_plain) > 1e-3


def test_kept_columns_are_the_original_neurons(kind_and_model):
    _, model = kind_and_model
    keep = random_keep(model, layer_counts(model))
    pruned = prune_model(model, keep, random_means(keep))
    indices = pruned_neuron_indices(pruned)
    assert sorted(indices) == list(keep.layers)
    for row, layer in enumerate(keep.layers):
        assert indices[layer].tolist() == keep.mask[row].nonzero().flatten().tolist()
    name = HOOK.format(layer=0)  # layer 0 sees unchanged inputs, so kept neurons are identical
    _, _, original = run(model, capture=[name])
    _, _, small = run(pruned, capture=[name])
    # equal up to round-off (a narrower matmul may sum in another order)
    assert torch.allclose(small[name], original[name][..., indices[0]], rtol=1e-5, atol=1e-6)
    info = pruning_info(pruned)
    assert info is not None and info.widths == {
        layer: int(keep.mask[row].sum()) for row, layer in enumerate(keep.layers)
    }
    assert pruning_info(model) is None


def test_only_chosen_layers_are_pruned(kind_and_model):
    _, model = kind_and_model
    keep = random_keep(model, [5] * n_layers(model))
    means = random_means(keep)
    last = n_layers(model) - 1
    pruned = prune_model(model, keep, means, layers=[last])
    _, _, captured = run(pruned, capture=[HOOK.format(layer=0), HOOK.format(layer=last)])
    assert captured[HOOK.format(layer=0)].shape[-1] == width(model)
    assert captured[HOOK.format(layer=last)].shape[-1] == 5
    logits_ref, _, _ = run(model, clamp_hooks(keep, means, layers=[last]))
    logits, _, _ = run(pruned)
    assert_roundoff(logits, logits_ref)


# ---- parameters and copies --------------------------------------------------------------------
def per_neuron_parameters(kind: str, model) -> tuple[int, int]:
    """(parameters per removed neuron, parameters added per pruned layer)."""
    d_model = int(model.cfg.d_model)
    if kind != "llama":
        return 2 * d_model + 1, 0  # W_in column, b_in entry, W_out row
    if has_bridge():
        return 3 * d_model, d_model  # gate/up/down, no biases; down_proj gets a bias
    return 3 * d_model + 1, 0  # HookedTransformer's GatedMLP has b_in


def test_parameter_count_drops_as_expected(kind_and_model):
    kind, model = kind_and_model
    counts = layer_counts(model)
    keep = random_keep(model, counts)
    before = count_parameters(model)
    pruned = prune_model(model, keep, random_means(keep))
    per_neuron, added = per_neuron_parameters(kind, model)
    removed = sum(width(model) - count for count in counts)
    expected = before - removed * per_neuron + added * len(counts)
    assert count_parameters(pruned) == expected
    info = pruning_info(pruned)
    assert info is not None
    assert (info.n_params_before, info.n_params_after) == (before, expected)
    assert info.parameter_ratio == pytest.approx(expected / before)


def test_original_untouched_unless_inplace(kind_and_model):
    _, model = kind_and_model
    state = {name: value.clone() for name, value in model.state_dict().items()}
    logits_before, _, _ = run(model)
    keep = random_keep(model, layer_counts(model))
    pruned = prune_model(model, keep, random_means(keep))
    assert pruned is not model
    assert all(torch.equal(state[name], value) for name, value in model.state_dict().items())
    assert state.keys() == model.state_dict().keys()
    assert torch.equal(run(model)[0], logits_before)
    same = prune_model(model, keep, random_means(keep), inplace=True)
    assert same is model
    assert count_parameters(model) < sum(value.numel() for value in state.values())


# ---- bad input --------------------------------------------------------------------------------
def test_bad_inputs_are_clear_errors():
    model = tiny_gpt2()
    keep = random_keep(model, [4] * n_layers(model))
    means = random_means(keep)
    with pytest.raises(snl.SkillNeuronError, match="means has shape"):
        prune_model(model, keep, means[:, :-1])
    with pytest.raises(snl.SkillNeuronError, match="finite"):
        prune_model(model, keep, torch.full_like(means, float("nan")))
    at_pre = snl.NeuronSet(keep.mask, keep.layers, "blocks.{layer}.mlp.hook_pre")
    with pytest.raises(snl.SkillNeuronError, match="hook_post"):
        prune_model(model, at_pre, means)
    too_deep = snl.NeuronSet(keep.mask[:2], (0, 7), HOOK)
    with pytest.raises(snl.SkillNeuronError, match=r"layer\(s\) \[7\]"):
        prune_model(model, too_deep, means[:2])
    narrow = snl.NeuronSet(keep.mask[:, :10], keep.layers, HOOK)
    with pytest.raises(snl.SkillNeuronError, match="another model"):
        prune_model(model, narrow, means[:, :10])
    with pytest.raises(snl.SkillNeuronError, match="layers="):
        prune_model(model, keep, means, layers=[5])
    empty = snl.NeuronSet(keep.mask & torch.tensor([[True], [False], [True]]), keep.layers, HOOK)
    with pytest.raises(snl.SkillNeuronError, match=r"no neuron in layer\(s\) \[1\]"):
        prune_model(model, empty, means)
    with pytest.raises(snl.SkillNeuronError, match="NeuronSet"):
        prune_model(model, keep.mask, means)  # type: ignore[arg-type]
    pruned = prune_model(model, keep, means)
    with pytest.raises(snl.SkillNeuronError, match="already pruned"):
        prune_model(pruned, keep, means)
    with pytest.raises(snl.SkillNeuronError, match="not pruned"):
        pruned_neuron_indices(model)


# ---- saving -----------------------------------------------------------------------------------
def test_save_and_load_rebuild_the_same_model(tmp_path):
    model = tiny_llama()
    keep = random_keep(model, layer_counts(model))
    pruned = prune_model(model, keep, random_means(keep))
    save_pruned(pruned, tmp_path / "pruned")
    assert sum(f.stat().st_size for f in (tmp_path / "pruned").iterdir()) < 100_000
    with pytest.raises(FileExistsError):
        save_pruned(pruned, tmp_path / "pruned")

    rebuilt = load_pruned(tmp_path / "pruned", model)
    assert max_diff(run(rebuilt)[0], run(pruned)[0]) == 0.0
    assert {k: v.tolist() for k, v in pruned_neuron_indices(rebuilt).items()} == {
        k: v.tolist() for k, v in pruned_neuron_indices(pruned).items()
    }
    from_loader = load_pruned(tmp_path / "pruned", lambda: tiny_llama())
    assert max_diff(run(from_loader)[0], run(pruned)[0]) == 0.0

    with pytest.raises(ResultFileError, match="another model"):
        load_pruned(tmp_path / "pruned", tiny_llama(seed=1))
    with pytest.raises(snl.SkillNeuronError, match="no pruning metadata"):
        save_pruned(model, tmp_path / "other")


# ---- the real MiniLM --------------------------------------------------------------------------
@pytest.mark.slow
def test_minilm_pruned_equals_clamped(minilm):
    keep = random_keep(minilm, [30] * 6, seed=2)
    means = random_means(keep) * 0.2
    pruned = prune_model(minilm, keep, means, layers=[1, 2, 3, 4, 5])
    adapter = ModelAdapter(minilm)
    batch = adapter.tokenize(["A gripping, beautifully acted film.", "Dull and far too long."])
    last = "blocks.5.hook_resid_post"

    def resid(model, hooks):
        seen = {}
        with torch.no_grad(), ModelAdapter(model).hooks([*hooks, (last, lambda a, hook: seen.update(r=a))]):
            ModelAdapter(model).forward(batch)
        return seen["r"][batch.attention_mask.bool()]

    reference = resid(minilm, clamp_hooks(keep, means, layers=[1, 2, 3, 4, 5]))
    assert max_diff(resid(pruned, []), reference) < 1e-4
    info = pruning_info(pruned)
    assert info is not None and info.parameter_ratio < 0.75
