"""Hand-made activations with predictivity worked out by hand."""

from __future__ import annotations

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.tasks.subtasks import subtask_targets, subtasks_for


def acts(*columns: list[float]) -> torch.Tensor:
    """[example, layer=1, neuron] from one list per neuron."""
    return torch.tensor(columns, dtype=torch.float32).T[:, None, :]


def test_perfect_inverse_and_constant_neurons():
    train = acts([0, 0, 1, 1], [1, 1, 0, 0], [0.3, 0.3, 0.3, 0.3])
    dev = acts([0, 1, 0, 1], [1, 0, 1, 0], [0.3, 0.3, 0.3, 0.3])
    result = snl.predictivity_from_activations(train, [0, 0, 1, 1], dev, [0, 1, 0, 1])
    # neuron 0: baseline 0.5, fires exactly on label 1 -> Acc 1
    # neuron 1: fires exactly on label 0 -> Acc 0 -> predictivity 1 with polarity -1
    # neuron 2: constant, never strictly above its own baseline -> Acc = share of label 0 = 0.5
    assert result.accuracy[0, 0, 0, 0].tolist() == [1.0, 0.0, 0.5]
    assert result.predictivity[0].tolist() == [1.0, 1.0, 0.5]
    assert result.polarity[0].tolist() == [1, -1, 1]
    assert result.baseline[0, 0, 0, 0].tolist() == pytest.approx([0.5, 0.5, 0.3])
    assert result.baseline[0, 0, 0, 0, 2].item() == torch.tensor(0.3).double().item()


def test_ties_with_the_baseline_are_not_above_it():
    train = acts([1.0, 3.0])  # baseline 2.0
    dev = acts([2.0, 2.5, 1.5])
    result = snl.predictivity_from_activations(train, [0, 1], dev, [1, 1, 0])
    # above = [F, T, F]; labels [1, 1, 0] -> agree on examples 2 and 3 -> Acc 2/3
    assert result.accuracy.flatten().tolist() == [pytest.approx(2 / 3)]
    assert result.n_dev.tolist() == [[3]]


def test_all_one_class_dev_set_when_allowed():
    train = acts([0.0, 1.0])  # baseline 0.5
    dev = acts([0.0, 1.0, 1.0, 1.0])
    result = snl.predictivity_from_activations(
        train, [0, 1], dev, [1, 1, 1, 1], allow_single_class_dev=True
    )
    assert result.accuracy.flatten().tolist() == [0.75]
    with pytest.raises(snl.SkillNeuronError, match="single class"):
        snl.predictivity_from_activations(train, [0, 1], dev, [1, 1, 1, 1])


def test_max_over_slots_and_best_slot():
    # two slots: slot 0 is uninformative, slot 1 perfect
    train = torch.tensor([[[[0.0]], [[0.0]]], [[[0.0]], [[1.0]]]])  # [example, slot, layer, neuron]
    dev = torch.tensor([[[[1.0]], [[0.0]]], [[[1.0]], [[1.0]]]])
    result = snl.predictivity_from_activations(train, [0, 1], dev, [0, 1])
    assert result.per_position[0, 0, :, 0, 0].tolist() == [0.5, 1.0]
    assert result.predictivity.item() == 1.0
    assert result.best_slot.item() == 1


def test_runs_combine_by_mean_or_min():
    train = acts([0, 0, 1, 1])
    good = snl.predictivity_from_activations(train, [0, 0, 1, 1], acts([0, 1]), [0, 1])
    half = snl.predictivity_from_activations(train, [0, 0, 1, 1], acts([0, 0, 1, 1]), [0, 1, 0, 1])
    assert good.predictivity.item() == 1.0 and half.predictivity.item() == 0.5
    assert snl.combine_runs([good, half]).predictivity.item() == 0.75
    assert snl.combine_runs([good, half], how="min").predictivity.item() == 0.5
    assert snl.combine_runs([good, half]).n_runs == 2


def test_paper_scheme_for_three_classes():
    subtasks = subtasks_for(3)
    assert [s.name for s in subtasks] == ["pn", "neu"]
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2, 2]
    targets = subtask_targets(labels, subtasks, balance=True, seed=0)
    pn, neu = targets[:, 0], targets[:, 1]
    assert (pn[3:5] == -1).all()  # class 1 is not in pn
    assert int((pn == 1).sum()) == int((pn == 0).sum()) == 3  # balanced: 3 of class 2, all of class 0
    assert set(pn[5:].tolist()) <= {1, -1} and (pn[:3] == 0).all()
    assert int((neu == 1).sum()) == int((neu == 0).sum()) == 2  # class 1 (2) vs 2 drawn from rest
    assert (neu[3:5] == 1).all()


def test_paper_scheme_for_four_classes_follows_reference_mapping():
    pn, neu = subtasks_for(4, "paper")
    assert (pn.negative, pn.positive) == ((1,), (3,))
    assert neu.positive == (2,) and neu.negative == (0, 1, 3)


def test_one_vs_rest_macro_average():
    subtasks = subtasks_for(4, "ovr")
    assert len(subtasks) == 4
    train = acts([0, 1, 2, 3, 0, 1, 2, 3])
    dev = acts([0, 1, 2, 3])
    result = snl.predictivity_from_activations(
        train, [0, 1, 2, 3, 0, 1, 2, 3], dev, [0, 1, 2, 3], scheme="ovr", balance=False
    )
    # baseline 1.5 for every subtask; above = [F, F, T, T]
    # class 0 vs rest, y = [1, 0, 0, 0]: agrees only on example 2 -> Acc 1/4; likewise class 1;
    # classes 2 and 3 agree on three of four examples -> Acc 3/4
    expected = torch.tensor([1 / 4, 1 / 4, 3 / 4, 3 / 4], dtype=torch.float64)
    assert torch.allclose(result.accuracy[0, :, 0, 0, 0], expected)
    assert result.predictivity.item() == pytest.approx(0.75)  # macro mean of max(Acc, 1-Acc)


def test_top_neurons_lists_best_first():
    train = acts([0, 0, 1, 1], [0, 1, 0, 1], [1, 1, 0, 0])
    dev = acts([0, 1, 0, 1], [0, 0, 1, 1], [1, 0, 1, 0])
    result = snl.predictivity_from_activations(train, [0, 0, 1, 1], dev, [0, 1, 0, 1])
    top = result.top_neurons(2)
    assert [(t["layer"], t["neuron"], t["polarity"]) for t in top] == [(0, 0, 1), (0, 2, -1)]
    with pytest.raises(snl.SkillNeuronError, match="k must be"):
        result.top_neurons(4)
