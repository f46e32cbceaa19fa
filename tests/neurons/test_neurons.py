"""Neuron sets: top-k / top-fraction per layer or global, controls, set algebra."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.neurons.sets import checked_count, fraction_to_count, smallest_fraction


def result_with_scores(scores: torch.Tensor, subtasks=("binary",)) -> snl.PredictivityResult:
    """A result whose predictivity equals ``scores`` ([subtask, layer, neuron], values >= 0.5)."""
    accuracy = scores[None, :, None]  # [run, subtask, slot, layer, neuron]
    n_sub, n_layer = scores.shape[0], scores.shape[1]
    return snl.PredictivityResult(
        accuracy=accuracy.double(),
        baseline=torch.zeros_like(accuracy).double(),
        n_train=torch.ones(1, n_sub, dtype=torch.long),
        n_dev=torch.ones(1, n_sub, dtype=torch.long),
        layers=tuple(range(n_layer)),
        hook="blocks.{layer}.mlp.hook_post",
        slot_names=("pos 0",),
        subtask_names=subtasks,
    )


SCORES = torch.tensor([[[0.9, 0.5, 0.7, 0.6, 0.8], [0.55, 0.95, 0.6, 0.6, 0.5]]])


def test_top_fraction_per_layer():
    chosen = snl.NeuronSet.top(result_with_scores(SCORES), fraction=0.4)
    assert chosen.to_list() == [(0, 0), (0, 4), (1, 1), (1, 2)]  # tie 0.6/0.6 -> lower index
    assert chosen.counts_per_layer().tolist() == [2, 2]


def test_top_k_global_and_bottom():
    result = result_with_scores(SCORES)
    assert snl.NeuronSet.top(result, k=3, per_layer=False).to_list() == [(0, 0), (0, 4), (1, 1)]
    assert snl.NeuronSet.top(result, k=1, lowest=True).to_list() == [(0, 1), (1, 4)]


def test_paper_merge_for_two_subtasks():
    pn = torch.tensor([[1.0, 0.875, 0.75, 0.625]])
    neu = torch.tensor([[0.5, 0.625, 0.75, 1.0]])
    result = result_with_scores(torch.stack([pn, neu]), subtasks=("pn", "neu"))
    chosen = snl.NeuronSet.top(result, k=3)
    # half of 3 (=1) by pn: neuron 0; then fill by neu: 3, then 2
    assert chosen.to_list() == [(0, 0), (0, 2), (0, 3)]
    plain = snl.NeuronSet.top(result, k=3, merge_subtasks=False)  # by the subtask mean
    assert plain.to_list() == [(0, 0), (0, 1), (0, 3)]  # means 0.75, 0.75, 0.75, 0.8125


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraction": 0.0}, r"fraction must be in \(0, 1\]"),
        ({"fraction": 1.5}, r"fraction must be in \(0, 1\]"),
        ({"k": 6}, "more than the 5 neurons per layer"),
        ({"k": 11, "per_layer": False}, "more than the 10 neurons in all"),
        ({}, "exactly one of"),
        ({"k": 1, "fraction": 0.2}, "exactly one of"),
        ({"fraction": 0.19}, r"0.19 selects no neuron of 5 .* smallest fraction .* is 0.2\b"),
        ({"fraction": 0.09, "per_layer": False}, r"0.09 selects no neuron of 10 .* is 0.1\b"),
    ],
)
def test_bad_selection(kwargs, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        snl.NeuronSet.top(result_with_scores(SCORES), **kwargs)


def test_fraction_to_count_is_robust_to_float_error():
    assert fraction_to_count(0.29, 100) == 29
    assert fraction_to_count(0.02, 3072) == 61  # int(0.02 * 3072) as the reference code


@pytest.mark.parametrize("width", [1, 3, 7, 20, 40, 48, 384, 1536, 3072, 8192, 14336])
def test_the_smallest_fraction_named_in_the_error_selects_one_neuron(width):
    smallest = smallest_fraction(width)
    assert checked_count(smallest, width) == 1
    assert smallest <= 1.01 / width  # three significant digits, rounded up
    below = smallest * 0.98
    with pytest.raises(snl.SkillNeuronError, match=f"--keep {below:g} selects no neuron of {width}"):
        checked_count(below, width, "--keep")


def test_jaccard_of_two_empty_sets_is_refused_not_one():
    empty = snl.NeuronSet.from_list([], layers=[0, 1], n_neurons=4)
    with pytest.raises(snl.SkillNeuronError, match="Both neuron sets are empty"):
        empty.jaccard(empty)
    one = snl.NeuronSet.from_list([(1, 2)], layers=[0, 1], n_neurons=4)
    assert empty.jaccard(one) == 0.0 and one.jaccard(one) == 1.0


def test_random_controls_are_layer_matched_seeded_and_distinct():
    skill = snl.NeuronSet.top(result_with_scores(torch.rand(1, 4, 200)), fraction=0.1)
    draws = skill.random_controls(n_draws=5, seed=3)
    for draw in draws:
        assert torch.equal(draw.counts_per_layer(), skill.counts_per_layer())
    assert len({tuple(d.to_list()) for d in draws}) == 5
    assert skill.random_like(3).to_list() == draws[0].to_list()
    outside = skill.random_like(0, exclude_self=True)
    assert len(outside & skill) == 0


def test_set_algebra_and_lists():
    a = snl.NeuronSet.from_list([(0, 1), (1, 2)], layers=[0, 1], n_neurons=4)
    b = snl.NeuronSet.from_list([(1, 2), (1, 3)], layers=[0, 1], n_neurons=4)
    assert (a | b).to_list() == [(0, 1), (1, 2), (1, 3)]
    assert (a & b).to_list() == [(1, 2)]
    assert (a - b).to_list() == [(0, 1)]
    assert (a ^ b).to_list() == [(0, 1), (1, 3)]
    assert a.jaccard(b) == pytest.approx(1 / 3)
    assert (0, 1) in a and (0, 2) not in a and len(a) == 2 and list(a) == a.to_list()
    with pytest.raises(snl.SkillNeuronError, match="not among the set's layers"):
        snl.NeuronSet.from_list([(5, 0)], layers=[0, 1], n_neurons=4)
    other = snl.NeuronSet.from_list([(0, 0)], layers=[0], n_neurons=4)
    with pytest.raises(snl.SkillNeuronError, match="differ in layers"):
        a | other
