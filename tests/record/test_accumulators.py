"""Direct tests of every accumulator in record/accumulators.py: hand-computed values, merge == one pass."""

from __future__ import annotations

import math

import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.record.accumulators import (
    ActivationCollector,
    ColumnFanOut,
    MeanAccumulator,
    ThresholdAccuracyAccumulator,
    TokenMeanAccumulator,
    WeightedMeanAccumulator,
    check_finite,
)
from skillneuron_lens.record.positions import token_sums

# Four examples, one slot, one layer, two neurons; two subtasks. Subtask 1 leaves example 2 out.
VALUES = torch.tensor([[[1.0, -2.0]], [[3.0, 0.0]], [[5.0, 4.0]], [[7.0, 2.0]]], dtype=torch.float64)
TARGETS = torch.tensor([[1, 0], [0, 1], [1, -1], [0, 1]])
SHAPE = dict(n_subtasks=2, n_slots=1, n_layers=1, n_neurons=2)


def feed(accumulator, values, targets, layer_slot=0):
    accumulator.add_examples(targets)
    accumulator.add_layer(layer_slot, values, targets, where="layer 0")


def test_check_finite_names_the_place_and_counts_bad_values():
    check_finite(torch.ones(3), "fine")
    with pytest.raises(SkillNeuronError, match=r"2 activation value\(s\) at blocks.1 are NaN or infinite"):
        check_finite(torch.tensor([1.0, math.nan, math.inf]), "blocks.1")


# ---- MeanAccumulator --------------------------------------------------------------------------
def test_mean_accumulator_hand_computed():
    means = MeanAccumulator(**SHAPE)
    feed(means, VALUES, TARGETS)
    assert means.counts.tolist() == [4, 3]
    # subtask 0: all four examples; subtask 1: examples 0, 1, 3
    expected_means = torch.tensor([[[[4.0, 1.0]]], [[[11 / 3, 0.0]]]], dtype=torch.float64)
    torch.testing.assert_close(means.means(), expected_means)
    # population std of neuron 0 over 1, 3, 5, 7 is sqrt(5); neuron 1 over -2, 0, 4, 2 is sqrt(5)
    torch.testing.assert_close(means.stds()[0, 0, 0], torch.tensor([5.0, 5.0], dtype=torch.float64).sqrt())
    assert means.minimum[1, 0, 0].tolist() == [1.0, -2.0] and means.maximum[1, 0, 0].tolist() == [7.0, 2.0]
    assert means.minimum[0, 0, 0].tolist() == [1.0, -2.0] and means.maximum[0, 0, 0].tolist() == [7.0, 4.0]
    # layer scale: RMS over neurons of the per-neuron second moments: (84/4 + 24/4) / 2 = 13.5
    torch.testing.assert_close(means.layer_scales()[0, 0, 0], torch.tensor(13.5, dtype=torch.float64).sqrt())


def test_mean_accumulator_merge_equals_one_pass():
    whole = MeanAccumulator(**SHAPE)
    feed(whole, VALUES, TARGETS)
    first, second = MeanAccumulator(**SHAPE), MeanAccumulator(**SHAPE)
    feed(first, VALUES[:1], TARGETS[:1])
    feed(second, VALUES[1:], TARGETS[1:])
    first.merge(second)
    for name in ("sums", "sums_of_squares", "counts", "minimum", "maximum"):
        assert torch.equal(getattr(first, name), getattr(whole, name)), name


def test_mean_accumulator_refuses_empty_subtasks_bad_values_and_bad_merges():
    empty = MeanAccumulator(**SHAPE)
    feed(empty, VALUES[:1], torch.tensor([[1, -1]]))
    with pytest.raises(SkillNeuronError, match="no training examples"):
        empty.means()
    with pytest.raises(SkillNeuronError, match="NaN or infinite"):
        feed(MeanAccumulator(**SHAPE), torch.full((1, 1, 2), math.nan), TARGETS[:1])
    with pytest.raises(SkillNeuronError, match="Cannot merge accumulators of shapes"):
        empty.merge(MeanAccumulator(**{**SHAPE, "n_neurons": 3}))
    wrong_kind = "Cannot merge ThresholdAccuracyAccumulator into MeanAccumulator"
    with pytest.raises(SkillNeuronError, match=wrong_kind):
        empty.merge(ThresholdAccuracyAccumulator(**SHAPE, baselines=torch.zeros(2, 1, 1, 2)))


# ---- ThresholdAccuracyAccumulator -------------------------------------------------------------
def test_threshold_accuracy_hand_computed():
    baselines = torch.tensor([[[[4.0, 1.0]]], [[[3.0, 0.0]]]], dtype=torch.float64)
    hits = ThresholdAccuracyAccumulator(**SHAPE, baselines=baselines, tolerance=1.0)
    feed(hits, VALUES, TARGETS)
    # subtask 0, neuron 0: above 4 -> [F, F, T, T] vs labels [1, 0, 1, 0] -> agree [F, T, T, F]
    # subtask 0, neuron 1: above 1 -> [F, F, T, T] -> the same agreement
    # subtask 1 (examples 0, 1, 3; labels 0, 1, 1), neuron 0: above 3 -> [F, F, T] -> agree [T, F, T]
    # subtask 1, neuron 1: above 0 -> [F, F, T] (0 is not above 0) -> agree [T, F, T]
    assert hits.correct[:, 0, 0].tolist() == [[2, 2], [2, 2]]
    assert hits.firing[:, 0, 0].tolist() == [[2, 2], [1, 1]]
    # within 1.0 of the baseline: subtask 0: |3-4|, |5-4| and |2-1|, |0-1|; subtask 1: |3-3| and |0-0|
    assert hits.near_baseline[:, 0, 0].tolist() == [[2, 2], [1, 1]]
    assert hits.counts.tolist() == [4, 3] and hits.positives.tolist() == [2, 2]
    torch.testing.assert_close(
        hits.accuracy()[:, 0, 0], torch.tensor([[0.5, 0.5], [2 / 3, 2 / 3]], dtype=torch.float64)
    )


def test_threshold_accuracy_merge_equals_one_pass():
    baselines = torch.tensor([[[[4.0, 1.0]]], [[[3.0, 0.0]]]])
    whole = ThresholdAccuracyAccumulator(**SHAPE, baselines=baselines)
    feed(whole, VALUES, TARGETS)
    parts = [ThresholdAccuracyAccumulator(**SHAPE, baselines=baselines) for _ in range(2)]
    feed(parts[0], VALUES[:3], TARGETS[:3])
    feed(parts[1], VALUES[3:], TARGETS[3:])
    parts[0].merge(parts[1])
    for name in ("correct", "firing", "near_baseline", "counts", "positives"):
        assert torch.equal(getattr(parts[0], name), getattr(whole, name)), name


def test_threshold_accuracy_refuses_bad_shapes_and_empty_subtasks():
    wrong_shape = r"Baselines have shape \(2, 1, 1, 3\), expected \(2, 1, 1, 2\)"
    with pytest.raises(SkillNeuronError, match=wrong_shape):
        ThresholdAccuracyAccumulator(**SHAPE, baselines=torch.zeros(2, 1, 1, 3))
    with pytest.raises(SkillNeuronError, match="does not broadcast"):
        ThresholdAccuracyAccumulator(**SHAPE, baselines=torch.zeros(2, 1, 1, 2), tolerance=torch.zeros(3))
    hits = ThresholdAccuracyAccumulator(**SHAPE, baselines=torch.zeros(2, 1, 1, 2))
    feed(hits, VALUES[:1], torch.tensor([[1, -1]]))
    with pytest.raises(SkillNeuronError, match="no dev examples"):
        hits.accuracy()


# ---- ColumnFanOut -----------------------------------------------------------------------------
def test_column_fan_out_gives_each_accumulator_its_columns():
    baselines = torch.zeros(1, 1, 1, 2, dtype=torch.float64)
    one = dict(SHAPE, n_subtasks=1)
    first = ThresholdAccuracyAccumulator(**one, baselines=baselines)
    second = ThresholdAccuracyAccumulator(**one, baselines=baselines)
    feed(ColumnFanOut([(first, slice(0, 1)), (second, slice(1, 2))]), VALUES, TARGETS)
    alone = [ThresholdAccuracyAccumulator(**one, baselines=baselines) for _ in range(2)]
    feed(alone[0], VALUES, TARGETS[:, :1])
    feed(alone[1], VALUES, TARGETS[:, 1:])
    for fanned, direct in ((first, alone[0]), (second, alone[1])):
        assert torch.equal(fanned.correct, direct.correct) and torch.equal(fanned.counts, direct.counts)
    assert first.counts.tolist() == [4] and second.counts.tolist() == [3]


# ---- WeightedMeanAccumulator ------------------------------------------------------------------
def test_weighted_mean_hand_computed_and_merge_equals_one_pass():
    values = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]], dtype=torch.float64)
    weights = torch.tensor([[1], [3]])  # example 0 weighs 1, example 1 weighs 3
    whole = WeightedMeanAccumulator(n_layers=2)
    whole.add_examples(weights)
    for layer_slot in range(2):
        whole.add_layer(layer_slot, values + 10 * layer_slot, weights, where="x")
    # slot means: example 0 -> [2, 3], example 1 -> [6, 7]; weighted: ([2, 3] + 3 * [6, 7]) / 4 = [5, 6]
    expected = torch.tensor([[5.0, 6.0], [15.0, 16.0]], dtype=torch.float64)
    assert torch.equal(whole.means(), expected)
    parts = [WeightedMeanAccumulator(n_layers=2) for _ in range(2)]
    for part, rows in zip(parts, (slice(0, 1), slice(1, 2)), strict=True):
        part.add_examples(weights[rows])
        for layer_slot in range(2):
            part.add_layer(layer_slot, (values + 10 * layer_slot)[rows], weights[rows], where="x")
    parts[0].merge(parts[1])
    assert torch.equal(parts[0].means(), whole.means())


def test_weighted_mean_refuses_nothing_missing_layers_and_different_widths():
    with pytest.raises(SkillNeuronError, match="No examples"):
        WeightedMeanAccumulator(n_layers=1).means()
    missing = WeightedMeanAccumulator(n_layers=2)
    feed(missing, VALUES, torch.ones(4, 1, dtype=torch.long))
    with pytest.raises(SkillNeuronError, match="never received activations"):
        missing.means()
    uneven = WeightedMeanAccumulator(n_layers=2)
    feed(uneven, VALUES, torch.ones(4, 1, dtype=torch.long))
    uneven.add_layer(1, VALUES[:, :, :1], torch.ones(4, 1, dtype=torch.long), where="x")
    with pytest.raises(SkillNeuronError, match="different widths"):
        uneven.means()
    with pytest.raises(SkillNeuronError, match="NaN or infinite"):
        feed(WeightedMeanAccumulator(n_layers=1), torch.full((1, 1, 2), math.inf), torch.ones(1, 1).long())
    with pytest.raises(SkillNeuronError, match="over 1 layers into a WeightedMeanAccumulator over 2"):
        uneven.merge(WeightedMeanAccumulator(n_layers=1))
    with pytest.raises(SkillNeuronError, match="Cannot merge a TokenMeanAccumulator"):
        uneven.merge(TokenMeanAccumulator(n_layers=2))


# ---- TokenMeanAccumulator with token_sums -----------------------------------------------------
def test_token_mean_is_the_mean_over_every_unpadded_token_and_merges():
    # two examples, right-padded: the first has 3 tokens, the second 1
    activations = torch.tensor(
        [[[1.0, 0.0], [2.0, 4.0], [3.0, 8.0]], [[10.0, -6.0], [99.0, 99.0], [99.0, 99.0]]]
    )
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    totals = token_sums(activations, mask)
    assert totals.shape == (1, 1, 2) and totals.dtype == torch.float64
    assert totals[0, 0].tolist() == [16.0, 6.0]
    counts = mask.sum(dim=1)[:, None]
    whole = TokenMeanAccumulator(n_layers=1)
    feed(whole, totals, counts)
    assert whole.means().tolist() == [[4.0, 1.5]]  # (1 + 2 + 3 + 10) / 4, (0 + 4 + 8 - 6) / 4
    first, second = TokenMeanAccumulator(n_layers=1), TokenMeanAccumulator(n_layers=1)
    feed(first, token_sums(activations[:1], mask[:1]), counts[:1])
    feed(second, token_sums(activations[1:, :1], mask[1:, :1]), counts[1:])
    first.merge(second)
    assert torch.equal(first.means(), whole.means())
    with pytest.raises(SkillNeuronError, match=r"one batch total per layer \(\[1, 1, neuron\]\)"):
        feed(TokenMeanAccumulator(n_layers=1), VALUES, counts)
    with pytest.raises(SkillNeuronError, match="Expected hook activations of shape"):
        token_sums(activations[0], mask)


# ---- ActivationCollector ----------------------------------------------------------------------
def test_activation_collector_keeps_values_in_order_and_merge_appends():
    whole = ActivationCollector(n_layers=1, dtype=torch.float64)
    feed(whole, VALUES[:2], TARGETS[:2])
    feed(whole, VALUES[2:], TARGETS[2:])
    assert torch.equal(whole.per_layer()[0], VALUES)
    first, second = ActivationCollector(n_layers=1), ActivationCollector(n_layers=1)
    feed(first, VALUES[:3], TARGETS[:3])
    feed(second, VALUES[3:], TARGETS[3:])
    first.merge(second)
    assert first.per_layer()[0].dtype == torch.float32
    assert torch.equal(first.per_layer()[0], VALUES.float())
    one = ActivationCollector(n_layers=1, neuron=1, dtype=torch.float64)
    feed(one, VALUES, TARGETS)
    assert torch.equal(one.per_layer()[0], VALUES[:, :, 1:])


def test_activation_collector_refuses_bad_neurons_nothing_and_mismatched_merges():
    with pytest.raises(SkillNeuronError, match=r"Neuron 5 is out of range 0\.\.1 at layer 0"):
        feed(ActivationCollector(n_layers=1, neuron=5), VALUES, TARGETS)
    with pytest.raises(SkillNeuronError, match="No activations were collected"):
        ActivationCollector(n_layers=1).per_layer()
    with pytest.raises(SkillNeuronError, match="different layers or neuron selections"):
        ActivationCollector(n_layers=1).merge(ActivationCollector(n_layers=1, neuron=0))
