"""``where=`` under generation: absolute positions with and without the KV cache.

During KV-cached generation every forward pass after the first sees only the new token; ``perturb``
tracks the cached prefix so that a two-argument ``where(activations, positions)`` gets the positions
of the whole sequence, and refuses a one-argument ``where`` on a cached pass. Runs on TransformerLens
4.3 (bridge) and, with ``-m models``, on 2.18 (``HookedTransformer``).
"""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from tests.helpers.tiny_models import tiny_gpt2

pytestmark = pytest.mark.models

HOOK = "blocks.{layer}.mlp.hook_post"
NEURON = 5
NEW_TOKENS = 3
CLAMP = 123.0


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


@pytest.fixture(scope="module")
def prompt(model):
    return model.to_tokens("w1 w2 w3 w4")


def chosen() -> snl.NeuronSet:
    return snl.NeuronSet.from_list([(0, NEURON)], layers=(0,), n_neurons=48, hook=HOOK)


def generate(model, prompt, where, use_cache: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Generate under a clamp at ``where``; return what ``where`` saw and the neuron after the clamp."""
    seen: list[torch.Tensor] = []
    after: list[torch.Tensor] = []

    def spying_where(activations, positions):
        seen.append(positions.cpu())
        return where(activations, positions)

    def record(activations, hook):
        after.append(activations[0, :, NEURON].detach().cpu())

    with snl.perturb(model, chosen(), "clamp", value=CLAMP, where=spying_where), model.hooks(
        fwd_hooks=[(HOOK.format(layer=0), record)]
    ):
        model.generate(
            prompt, max_new_tokens=NEW_TOKENS, use_past_kv_cache=use_cache, do_sample=False, verbose=False
        )
    return seen, after


@pytest.mark.parametrize("use_cache", [True, False])
def test_where_receives_absolute_positions(model, prompt, use_cache):
    length = prompt.shape[1]
    everywhere = lambda act, positions: positions[None, :].expand(act.shape[:2]) >= 0  # noqa: E731
    seen, _ = generate(model, prompt, everywhere, use_cache)
    assert len(seen) == NEW_TOKENS
    assert torch.equal(seen[0], torch.arange(length))
    for step, positions in enumerate(seen[1:], start=1):
        expected = torch.tensor([length + step - 1]) if use_cache else torch.arange(length + step)
        assert torch.equal(positions, expected), (step, positions)


@pytest.mark.parametrize("use_cache", [True, False])
def test_last_prompt_position_keeps_its_meaning_during_generation(model, prompt, use_cache):
    """Clamping "the prompt's last token" changes that position only, in every pass, cached or not."""
    last = prompt.shape[1] - 1
    seen, after = generate(
        model, prompt, lambda act, positions: (positions == last)[None, :].expand(act.shape[:2]), use_cache
    )
    for positions, values in zip(seen, after, strict=True):
        clamped = (values == CLAMP).nonzero().flatten()
        assert torch.equal(positions[clamped], torch.tensor([last]) if last in positions else positions[:0])


def test_a_one_argument_where_is_refused_on_a_cached_pass(model, prompt):
    def first_position(activations):
        mask = torch.zeros(activations.shape[:2], dtype=torch.bool)
        mask[:, 0] = True
        return mask

    refused = r"cached forward pass.*where=lambda act, positions"
    with pytest.raises(snl.SkillNeuronError, match=refused):  # noqa: SIM117 - pytest.raises outermost
        with snl.perturb(model, chosen(), "zero", where=first_position):
            model.generate(prompt, max_new_tokens=2, use_past_kv_cache=True, do_sample=False, verbose=False)
    with snl.perturb(model, chosen(), "zero", where=first_position):  # fine without the cache
        model.generate(prompt, max_new_tokens=2, use_past_kv_cache=False, do_sample=False, verbose=False)
    assert not any(point.fwd_hooks for point in model.hook_dict.values())


def test_perturbation_hooks_start_every_call_at_position_zero(model, prompt):
    seen: list[torch.Tensor] = []

    def where(activations, positions):
        seen.append(positions.cpu())
        return torch.ones(activations.shape[:2], dtype=torch.bool)

    hooks = snl.intervene.perturbation_hooks(model, chosen(), "zero", where=where)
    model.run_with_hooks(prompt, fwd_hooks=hooks)
    assert torch.equal(seen[0], torch.arange(prompt.shape[1]))
