"""Interventions: each mode changes exactly the chosen neurons, hooks never stay behind."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.errors import HookNotFoundError
from skillneuron_lens.intervene.hooks import perturb, perturbation_hooks, skip_forward_pass
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.record.activations import neuron_means
from tests.helpers.interventions import CHOSEN, TEXTS, WIDTH, columns, neurons, others, spies, trace
from tests.helpers.tiny_models import tiny_encoder, tiny_gpt2

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


@pytest.fixture(scope="module")
def batch(model):
    return ModelAdapter(model).tokenize(TEXTS)


def live_hooks(model) -> int:
    return sum(len(hp._forward_hooks) + len(hp.fwd_hooks) for hp in model.hook_dict.values())


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        ("zero", {}),
        ("mean", {"mean": torch.arange(3 * WIDTH, dtype=torch.float32).reshape(3, WIDTH)}),
        ("gaussian", {"std": 0.5}),
        ("gaussian", {"per_position": True}),
        ("resample", {}),
        ("resample", {"pool": torch.randn(5, 3, WIDTH)}),
        ("scale", {"factor": -2.0}),
        ("clamp", {"value": 3.0}),
        ("clamp", {"value": torch.full((3, WIDTH), -1.5)}),
    ],
)
def test_each_mode_changes_exactly_the_chosen_neurons(model, batch, mode, kwargs):
    before, after = trace(model, batch, neurons(CHOSEN), mode, **kwargs)
    for layer in range(3):
        idx, rest = columns(layer), others(layer)
        assert torch.equal(after[layer][..., rest], before[layer][..., rest])
        old, new = before[layer][..., idx], after[layer][..., idx]
        if mode == "zero":
            assert torch.equal(new, torch.zeros_like(new))
        elif mode in ("mean", "clamp"):
            table = kwargs.get("mean", kwargs.get("value"))
            expected = table[layer, idx] if isinstance(table, torch.Tensor) else torch.tensor(table)
            assert torch.equal(new, expected.expand_as(new))
        elif mode == "scale":
            assert torch.allclose(new, old * -2.0)
        elif mode == "gaussian":
            delta = new - old
            assert bool((delta != 0).all())
            same_over_positions = torch.allclose(delta, delta[:, :1].expand_as(delta), atol=1e-6)
            assert same_over_positions != kwargs.get("per_position", False)
            if "std" in kwargs:
                assert 0.1 < float(delta[:, 0].std()) < 1.5
        elif mode == "resample" and "pool" not in kwargs:
            sources = [
                [s for s in range(len(TEXTS)) if torch.equal(new[b], old[s])] for b in range(len(TEXTS))
            ]
            assert all(len(s) >= 1 and b not in s for b, s in enumerate(sources))
        else:  # resample from a pool: one pool row per example, broadcast over positions
            rows = kwargs["pool"][:, layer][:, idx]
            for b in range(len(TEXTS)):
                assert any(torch.allclose(new[b], row.expand_as(new[b])) for row in rows)


def test_works_on_an_encoder():
    encoder = tiny_encoder()
    batch = ModelAdapter(encoder).tokenize(TEXTS)
    chosen = snl.NeuronSet.from_list([(0, 3), (1, 39)], layers=(0, 1), n_neurons=40)
    before, after = trace(encoder, batch, chosen, "clamp", n_layers=2, value=7.0)
    assert torch.equal(after[0][..., [0, 1, 2, *range(4, 40)]], before[0][..., [0, 1, 2, *range(4, 40)]])
    assert bool((after[0][..., 3] == 7.0).all()) and bool((after[1][..., 39] == 7.0).all())


def test_where_restricts_positions(model, batch):
    def first_two(act):
        mask = torch.zeros(act.shape[:2], dtype=torch.bool)
        mask[:, :2] = True
        return mask

    before, after = trace(model, batch, neurons(CHOSEN), "clamp", value=9.0, where=first_two)
    idx = columns(0)
    assert bool((after[0][:, :2, idx] == 9.0).all())
    assert torch.equal(after[0][:, 2:], before[0][:, 2:])


def test_where_must_return_a_bool_mask(model, batch):
    with pytest.raises(snl.SkillNeuronError, match=r"where= must return a bool tensor \[batch, pos\]"):
        trace(model, batch, neurons(CHOSEN), "zero", where=lambda act: torch.ones(act.shape[0]))
    assert live_hooks(model) == 0


def test_layer_restriction(model, batch):
    before, after = trace(model, batch, neurons(CHOSEN), "zero", layers=[1])
    assert torch.equal(after[0], before[0])
    assert torch.equal(after[1][..., others(1)], before[1][..., others(1)])
    assert bool((after[1][..., columns(1)] == 0).all())
    assert torch.equal(after[2], before[2])  # only its input changed, not the intervention
    with pytest.raises(snl.SkillNeuronError, match=r"does not cover"):
        perturbation_hooks(model, neurons([(0, 1)], n_layers=2), "zero", layers=[2])


def test_no_hooks_remain_after_an_exception(model, batch):
    adapter = ModelAdapter(model)
    with torch.no_grad():
        clean = adapter.forward(batch)
        with pytest.raises(RuntimeError, match="boom"), perturb(model, neurons(CHOSEN), "zero"):
            assert live_hooks(model) > 0
            raise RuntimeError("boom")
        assert live_hooks(model) == 0
        assert torch.equal(adapter.forward(batch), clean)


def test_contexts_nest(model, batch):
    store: dict = {}
    adapter = ModelAdapter(model)
    with torch.no_grad(), perturb(model, neurons([(0, 1)]), "clamp", value=5.0):
        with perturb(model, neurons([(0, 2)]), "clamp", value=6.0):
            with model.hooks(fwd_hooks=spies(store)):
                adapter.forward(batch)
            assert bool((store[0][..., 1] == 5.0).all()) and bool((store[0][..., 2] == 6.0).all())
        with model.hooks(fwd_hooks=spies(store)):
            adapter.forward(batch)
        assert bool((store[0][..., 1] == 5.0).all()) and not bool((store[0][..., 2] == 6.0).any())
    assert live_hooks(model) == 0


def test_inner_context_sees_outer_result(model, batch):
    """Stacked on the same neuron, the inner hook acts on the outer hook's output."""
    store: dict = {}
    with (
        torch.no_grad(),
        perturb(model, neurons([(0, 1)]), "clamp", value=2.0),
        perturb(model, neurons([(0, 1)]), "scale", factor=3.0),
        model.hooks(fwd_hooks=spies(store)),
    ):
        ModelAdapter(model).forward(batch)
    assert bool((store[0][..., 1] == 6.0).all())


@pytest.mark.parametrize("mode", ["gaussian", "resample"])
def test_same_seed_same_numbers(model, batch, mode):
    def run(seed):
        return trace(model, batch, neurons(CHOSEN), mode, seed=seed)[1]

    first, again, other = run(3), run(3), run(4)
    assert all(torch.equal(first[layer], again[layer]) for layer in range(3))
    assert not torch.equal(first[0], other[0])


@pytest.mark.parametrize(
    ("mode", "kwargs"),
    [
        ("gaussian", {}),
        ("gaussian", {"per_position": True}),
        ("resample", {}),
        ("resample", {"pool": torch.randn(5, 3, WIDTH), "per_position": True}),
    ],
)
def test_a_skipped_forward_pass_draws_what_running_it_would(model, mode, kwargs):
    adapter = ModelAdapter(model)
    first, second = adapter.tokenize(TEXTS[:3]), adapter.tokenize(TEXTS[1:])
    chosen = neurons(CHOSEN)

    def second_pass(skip_first: bool | None) -> torch.Tensor:
        """The second batch's logits in one perturb block: after running, skipping or omitting the first."""
        with torch.no_grad(), perturb(model, chosen, mode, seed=5, **kwargs):
            if skip_first:
                skip_forward_pass(*first.input_ids.shape)
            elif skip_first is not None:
                adapter.forward(first)
            return adapter.forward(second)

    ran, skipped, omitted = second_pass(False), second_pass(True), second_pass(None)
    assert torch.equal(skipped, ran)  # the skipped pass consumed exactly the first pass's draws
    assert not torch.allclose(omitted, ran)  # and the draws matter: without them the numbers differ
    skip_forward_pass(*first.input_ids.shape)  # outside a block: nothing to advance, no error


def test_run_with_hooks_matches_the_context_manager(model):
    tokens = ModelAdapter(model).tokenize(["w1 w2 w3 w4"]).input_ids
    chosen = neurons(CHOSEN)
    with torch.no_grad():
        clean = model(tokens)
        hooked = model.run_with_hooks(tokens, fwd_hooks=perturbation_hooks(model, chosen, seed=1))
        with perturb(model, chosen, seed=1):
            in_context = model(tokens)
    assert torch.equal(hooked, in_context)
    assert not torch.allclose(hooked, clean)
    assert live_hooks(model) == 0


def test_gradients_flow_through_a_perturbation(model, batch):
    with perturb(model, neurons(CHOSEN), "scale", factor=0.5):
        out = ModelAdapter(model).forward(batch)
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(bool(torch.isfinite(g).all()) for g in grads)
    model.zero_grad(set_to_none=True)


def test_resampling_a_batch_of_one_says_what_to_do(model):
    one = ModelAdapter(model).tokenize(["w1 w2"])
    with pytest.raises(snl.SkillNeuronError, match=r"holds one example.*pool="):
        trace(model, one, neurons(CHOSEN), "resample")
    assert live_hooks(model) == 0
    trace(model, one, neurons(CHOSEN), "resample", pool=torch.zeros(2, 3, WIDTH))  # a pool works


@pytest.mark.parametrize(
    ("mode", "kwargs", "message"),
    [
        ("noise", {}, r"Unknown perturbation mode 'noise'. Use one of"),
        ("gaussian", {"std": -0.1}, r"std must be zero or positive"),
        ("mean", {}, r"mode='mean' needs mean=.*neuron_means"),
        ("mean", {"mean": torch.zeros(3, 40)}, r"mean has shape \(3, 40\) but the neuron set covers 3 layer"),
        ("mean", {"mean": [0.0] * 3}, r"mean must be a tensor"),
        ("zero", {"std": 0.2}, r"mode='zero' does not use std="),
        ("scale", {}, r"mode='scale' needs factor="),
        ("clamp", {}, r"mode='clamp' needs value="),
        ("clamp", {"value": float("nan")}, r"value must be finite"),
        ("zero", {"per_position": True}, r"does not use per_position="),
        ("resample", {"per_position": True}, r"needs pool="),
        ("resample", {"pool": torch.zeros(3, WIDTH)}, r"pool must be a tensor \[sample, layer, neuron\]"),
        ("zero", {"where": "first"}, r"where must be None or a callable"),
        ("zero", {"colour": 1}, r"Unknown perturbation option\(s\) colour=; the options are std"),
    ],
)
def test_bad_input_names_problem_and_fix(model, mode, kwargs, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        perturbation_hooks(model, neurons(CHOSEN), mode, **kwargs)
    with pytest.raises(snl.SkillNeuronError, match=message), perturb(model, neurons(CHOSEN), mode, **kwargs):
        pass
    assert live_hooks(model) == 0


def test_neurons_from_another_model_or_hook(model, batch):
    narrow = neurons([(0, 1)], width=40)
    with pytest.raises(snl.SkillNeuronError, match=r"40 neurons per layer but the activation .* has 48"):
        trace(model, batch, narrow, "zero")
    assert live_hooks(model) == 0
    deep = snl.NeuronSet.from_list([(5, 1)], layers=range(6), n_neurons=WIDTH)
    with pytest.raises(HookNotFoundError, match=r"Layer\(s\) \[3, 4, 5\] do not exist"):
        perturbation_hooks(model, deep, "zero")
    elsewhere = snl.NeuronSet(torch.ones(3, WIDTH, dtype=torch.bool), (0, 1, 2), "blocks.{layer}.nope")
    with pytest.raises(HookNotFoundError, match=r"has no hook"):
        perturbation_hooks(model, elsewhere, "zero")
    with pytest.raises(snl.SkillNeuronError, match=r"must be a NeuronSet"):
        perturbation_hooks(model, [(0, 1)], "zero")


def test_mean_mode_with_neuron_means(model, batch):
    chosen = neurons(CHOSEN)
    means = neuron_means(model, TEXTS, hook=chosen.hook, layers=chosen.layers)
    _, after = trace(model, batch, chosen, "mean", mean=means)
    changed = after[2][..., columns(2)]
    assert torch.allclose(changed, means[2, columns(2)].float().expand_as(changed))
