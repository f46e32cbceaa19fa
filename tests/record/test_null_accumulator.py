"""The Monte Carlo permutation null: permuted targets, counts against a slow loop, streaming,
merging, two gloo processes, p-values, chance bands and the K-too-small error."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import skillneuron_lens as snl
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.record.accumulators import MeanAccumulator, ThresholdAccuracyAccumulator
from skillneuron_lens.record.permutation_null import (
    PermutationNullAccumulator,
    aggregate_null_scores,
    check_permutations_reach,
    minimum_permutations,
    monte_carlo_p_values,
    null_layer_maxima,
    permuted_targets,
)
from skillneuron_lens.stats.significance import exact_p_values
from tests.helpers.tiny_models import tiny_gpt2, toy_texts  # noqa: E402

N_EXAMPLES, N_SLOTS, N_LAYERS, N_NEURONS, K = 37, 2, 3, 5, 6


def example_targets() -> torch.Tensor:
    """Two subtasks; the second leaves some rows out (-1), as a 3-class "pn" subtask does."""
    generator = torch.Generator().manual_seed(5)
    first = (torch.rand(N_EXAMPLES, generator=generator) < 0.45).long()
    second = torch.randint(-1, 2, (N_EXAMPLES,), generator=generator)
    return torch.stack([first, second], dim=1)


def example_values() -> list[torch.Tensor]:
    """One [example, slot, neuron] float32 tensor per layer, with some exact ties at the baseline."""
    generator = torch.Generator().manual_seed(6)
    values = [torch.randn(N_EXAMPLES, N_SLOTS, N_NEURONS, generator=generator) for _ in range(N_LAYERS)]
    values[0][:5, 0, 0] = 0.25
    return values


def example_baselines() -> torch.Tensor:
    baselines = torch.randn(2, N_SLOTS, N_LAYERS, N_NEURONS, generator=torch.Generator().manual_seed(7))
    baselines[:, 0, 0, 0] = 0.25  # ties: 0.25 > 0.25 is False
    return baselines.double()


def new_accumulator() -> PermutationNullAccumulator:
    return PermutationNullAccumulator(2, N_SLOTS, N_LAYERS, N_NEURONS, K, example_baselines())


def feed(
    accumulator: PermutationNullAccumulator,
    rows: slice | torch.Tensor,
    permuted: torch.Tensor,
    values: list[torch.Tensor] | None = None,
) -> None:
    values = example_values() if values is None else values
    accumulator.add_examples(permuted[rows])
    for layer in range(N_LAYERS):
        accumulator.add_layer(layer, values[layer][rows], permuted[rows], where=f"layer {layer}")


def slow_counts(permuted: torch.Tensor, values=None, baselines=None) -> torch.Tensor:
    """Per permutation, subtask, slot, layer, neuron: a loop over examples."""
    values = example_values() if values is None else values
    baselines = example_baselines() if baselines is None else baselines
    correct = torch.zeros(K, 2, N_SLOTS, N_LAYERS, N_NEURONS, dtype=torch.int64)
    for p in range(K):
        for j in range(2):
            for layer in range(N_LAYERS):
                for example in range(N_EXAMPLES):
                    label = int(permuted[example, j * K + p])
                    if label < 0:
                        continue
                    fires = values[layer][example].double() > baselines[j, :, layer, :]
                    correct[p, j, :, layer, :] += (fires == bool(label)).long()
    return correct


# ---- permuted targets ------------------------------------------------------------------------
def test_permuted_targets_keep_excluded_rows_and_class_counts():
    targets = example_targets()
    permuted = permuted_targets(targets, K, seed=1)
    assert permuted.shape == (N_EXAMPLES, 2 * K) and permuted.dtype == torch.int8
    for j in range(2):
        for p in range(K):
            column = permuted[:, j * K + p].long()
            assert torch.equal(column < 0, targets[:, j] < 0)
            assert torch.equal(column.sort().values, targets[:, j].sort().values)
    # Permutations differ from each other and from the original labels.
    first = permuted[:, :K].long()
    assert len({tuple(first[:, p].tolist()) for p in range(K)}) == K
    assert any(not torch.equal(first[:, p], targets[:, 0]) for p in range(K))


def test_permuted_targets_are_deterministic_from_the_seed():
    targets = example_targets()
    assert torch.equal(permuted_targets(targets, K, seed=3), permuted_targets(targets, K, seed=3))
    assert not torch.equal(permuted_targets(targets, K, seed=3), permuted_targets(targets, K, seed=4))


@pytest.mark.parametrize(
    ("targets", "k", "match"),
    [(torch.zeros(4, 1, dtype=torch.long), 0, "at least 1"), (torch.full((4, 1), 2), 3, "1, 0 or -1")],
)
def test_permuted_targets_errors(targets, k, match):
    with pytest.raises(SkillNeuronError, match=match):
        permuted_targets(targets, k)


# ---- accumulator -----------------------------------------------------------------------------
def test_counts_equal_a_slow_loop_over_permutations():
    permuted = permuted_targets(example_targets(), K, seed=0)
    accumulator = new_accumulator()
    feed(accumulator, slice(None), permuted)
    assert accumulator.correct.dtype == torch.int64
    assert torch.equal(accumulator.correct, slow_counts(permuted))
    values, baselines, targets = example_values(), example_baselines(), example_targets()
    for j in range(2):
        for layer in range(N_LAYERS):
            included = values[layer][targets[:, j] >= 0].double()
            fires = (included > baselines[j, :, layer, :]).sum(dim=0)
            assert torch.equal(accumulator.firing[j, :, layer, :], fires)
    assert accumulator.positives.tolist() == (targets == 1).sum(dim=0).tolist()
    assert accumulator.counts.tolist() == (example_targets() >= 0).sum(dim=0).tolist()
    accuracy = slow_counts(permuted).double() / accumulator.counts[None, :, None, None, None].double()
    torch.testing.assert_close(accumulator.scores(), torch.maximum(accuracy, 1 - accuracy))


def test_streaming_in_batches_and_merging_halves_equal_one_pass():
    permuted = permuted_targets(example_targets(), K, seed=0)
    whole = new_accumulator()
    feed(whole, slice(None), permuted)
    streamed = new_accumulator()
    for start in range(0, N_EXAMPLES, 8):
        feed(streamed, slice(start, start + 8), permuted)
    first, second = new_accumulator(), new_accumulator()
    feed(first, slice(0, 20), permuted)
    feed(second, slice(20, None), permuted)
    first.merge(second)
    for other in (streamed, first):
        for mine, theirs in zip(other._tensors(), whole._tensors(), strict=True):
            assert torch.equal(mine, theirs)


def _worker(rank: int, world: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        permuted = permuted_targets(example_targets(), K, seed=0)
        accumulator = new_accumulator()
        rows = torch.arange(rank, N_EXAMPLES, world)  # every world-size-th row, as the recorder shards
        feed(accumulator, rows, permuted)
        accumulator.all_reduce()
        torch.save(accumulator._tensors(), f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    alone = new_accumulator()
    feed(alone, slice(None), permuted_targets(example_targets(), K, seed=0))
    for rank in range(2):
        shared = torch.load(tmp_path / f"rank{rank}.pt")
        for mine, theirs in zip(shared, alone._tensors(), strict=True):
            assert torch.equal(mine, theirs)


def test_accumulator_errors():
    with pytest.raises(SkillNeuronError, match="Baselines have shape"):
        PermutationNullAccumulator(2, N_SLOTS, N_LAYERS, N_NEURONS, K, torch.zeros(1, 1, 1, 1))
    with pytest.raises(SkillNeuronError, match="at least 1"):
        PermutationNullAccumulator(2, N_SLOTS, N_LAYERS, N_NEURONS, 0, example_baselines())
    accumulator = new_accumulator()
    with pytest.raises(SkillNeuronError, match="permuted targets"):
        accumulator.add_examples(example_targets())  # the unpermuted [example, subtask] targets
    with pytest.raises(SkillNeuronError, match="no dev examples"):
        accumulator.scores()
    accumulator.counts[:] = (1 << 24) - 5  # as if 16.7 million examples had been counted
    with pytest.raises(SkillNeuronError, match="inexact"):
        accumulator.add_examples(permuted_targets(example_targets(), K)[:10])
    accumulator.counts[:] = 1 << 24  # e.g. after merging shards
    with pytest.raises(SkillNeuronError, match="exceed"):
        accumulator.scores()
    more_permutations = PermutationNullAccumulator(
        2, N_SLOTS, N_LAYERS, N_NEURONS, K + 1, example_baselines()
    )
    with pytest.raises(SkillNeuronError, match="Cannot merge"):
        accumulator.merge(more_permutations)


def test_aggregated_null_equals_the_slow_chain_for_two_runs():
    """Two runs (other activations and baselines) fed the same permuted targets; each permutation's
    scores go through max over slots, mean or min over runs, mean over subtasks."""
    permuted = permuted_targets(example_targets(), K, seed=0)
    run_values = [example_values(), [0.3 - v for v in example_values()]]
    run_baselines = [example_baselines(), example_baselines() * 0.5]
    run_scores = []
    slow_accuracy = []
    for values, baselines in zip(run_values, run_baselines, strict=True):
        accumulator = PermutationNullAccumulator(2, N_SLOTS, N_LAYERS, N_NEURONS, K, baselines)
        feed(accumulator, slice(None), permuted, values)
        run_scores.append(accumulator.scores())
        counts = accumulator.counts[None, :, None, None, None].double()
        slow_accuracy.append(slow_counts(permuted, values, baselines).double() / counts)
    stacked = torch.stack(run_scores)
    for how in ("mean", "min"):
        per_subtask, overall = aggregate_null_scores(stacked, how)
        assert per_subtask.shape == (K, 2, N_LAYERS, N_NEURONS) and overall.shape == (K, N_LAYERS, N_NEURONS)
        for p in range(K):
            # [subtask, layer, neuron] per run: the best slot.
            per_run = [torch.maximum(a[p], 1 - a[p]).amax(dim=1) for a in slow_accuracy]
            expected = (per_run[0] + per_run[1]) / 2 if how == "mean" else torch.minimum(*per_run)
            torch.testing.assert_close(per_subtask[p], expected, rtol=0, atol=1e-12)
            torch.testing.assert_close(overall[p], expected.mean(dim=0), rtol=0, atol=1e-12)
    with pytest.raises(SkillNeuronError, match="run, perm, subtask"):
        aggregate_null_scores(stacked[0])


@pytest.mark.models
def test_fed_by_the_recorder_each_permutation_equals_the_threshold_accumulator_on_its_labels():
    """Through a real (tiny) model: permutation p's counts are what the project's own accuracy
    accumulator counts with permuted column p as the dev labels."""
    model = tiny_gpt2()
    recorder = snl.Recorder(model, snl.RecordingConfig(positions="mean", progress=False))
    train_texts, train_labels = toy_texts(24, 1)
    dev_texts, dev_labels = toy_texts(20, 2)
    means = MeanAccumulator(1, 1, recorder.adapter.n_layers, 48)
    recorder.accumulate(means, train_texts, None, torch.tensor(train_labels)[:, None])
    dev_targets = torch.tensor(dev_labels)[:, None]
    dev_targets[3] = -1  # one dev example in no subtask: skipped by the recorder
    n_permutations = 4
    permuted = permuted_targets(dev_targets, n_permutations, seed=2)
    null = PermutationNullAccumulator(1, 1, recorder.adapter.n_layers, 48, n_permutations, means.means())
    recorder.accumulate(null, dev_texts, None, permuted)
    for p in range(n_permutations):
        plain = ThresholdAccuracyAccumulator(1, 1, recorder.adapter.n_layers, 48, baselines=means.means())
        recorder.accumulate(plain, dev_texts, None, permuted[:, p : p + 1].long())
        assert torch.equal(null.correct[p], plain.correct)
        assert torch.equal(null.counts, plain.counts)
        # Correct, firing, examples and positives fit together as the exact test requires.
        n, n_pos = null.counts[:, None, None, None], null.positives[:, None, None, None]
        assert bool((exact_p_values(null.correct[p], null.firing, n, n_pos) > 0).all())


# ---- p-values and bands ----------------------------------------------------------------------
def test_monte_carlo_p_values_count_ties_and_add_one():
    null = torch.tensor([[0.5, 0.6], [0.7, 0.6], [0.6, 0.6], [0.9, 0.55]], dtype=torch.float64)
    observed = torch.tensor([0.7, 0.6], dtype=torch.float64)
    # First: 0.7 and 0.9 reach 0.7 -> (1 + 2) / 5. Second: three ties at 0.6 -> (1 + 3) / 5.
    assert monte_carlo_p_values(observed, null).tolist() == pytest.approx([0.6, 0.8])
    assert float(monte_carlo_p_values(torch.tensor(1.0), torch.zeros(9))) == pytest.approx(0.1)


def test_monte_carlo_agrees_with_the_exact_p_value_for_one_slot():
    """A neuron that fires on a fixed set: the permutation null of its score is the hypergeometric
    law, so the Monte Carlo p-value estimates the exact one."""
    n, k_perm = 60, 4000
    generator = torch.Generator().manual_seed(2)
    targets = (torch.rand(n, 1, generator=generator) < 0.5).long()
    values = torch.randn(n, 1, 1, generator=generator) + 0.6 * targets[:, :, None]
    permuted = permuted_targets(targets, k_perm, seed=9)
    accumulator = PermutationNullAccumulator(1, 1, 1, 1, k_perm, torch.zeros(1, 1, 1, 1, dtype=torch.float64))
    accumulator.add_examples(permuted)
    accumulator.add_layer(0, values, permuted, where="layer 0")
    fires = values[:, 0, 0] > 0
    correct = int((fires == targets[:, 0].bool()).sum())
    exact = float(exact_p_values(correct, int(fires.sum()), n, int(targets.sum())))
    observed = torch.tensor(max(correct / n, 1 - correct / n), dtype=torch.float64)
    estimate = float(monte_carlo_p_values(observed, accumulator.scores()[:, 0, 0, 0, 0]))
    assert 0.005 < exact < 0.5
    assert estimate == pytest.approx(exact, abs=4 * (exact * (1 - exact) / k_perm) ** 0.5 + 1 / k_perm)


def test_null_layer_maxima_take_the_upper_quantile_of_each_layers_best():
    # 5 permutations, 2 layers, 2 neurons; per-layer best: layer 0 -> 0.6, 0.7, 0.55, 0.8, 0.65;
    # layer 1 -> 0.5, 0.52, 0.51, 0.53, 0.9.
    null = torch.tensor(
        [
            [[0.6, 0.5], [0.5, 0.5]],
            [[0.7, 0.6], [0.52, 0.5]],
            [[0.5, 0.55], [0.51, 0.5]],
            [[0.8, 0.8], [0.53, 0.5]],
            [[0.6, 0.65], [0.5, 0.9]],
        ],
        dtype=torch.float64,
    )
    # Sorted layer 0: 0.55, 0.6, 0.65, 0.7, 0.8. Level 0.5 -> position 2 -> 0.65; level 0.7 ->
    # position 2.8, rounded up -> 0.7. Layer 1 sorted: 0.5, 0.51, 0.52, 0.53, 0.9.
    assert null_layer_maxima(null, level=0.5).tolist() == [0.65, 0.52]
    assert null_layer_maxima(null, level=0.7).tolist() == [0.7, 0.53]
    with pytest.raises(SkillNeuronError, match="strictly between"):
        null_layer_maxima(null, level=1.0)
    with pytest.raises(SkillNeuronError, match="perm, layer, neuron"):
        null_layer_maxima(null[0])


def test_too_few_permutations_for_q_is_a_clear_error():
    # BH over 100 neurons at q = 0.05 needs p <= 0.0005 = 1 / 2000, so K >= 1999.
    assert minimum_permutations(0.05, 100) == 1999
    check_permutations_reach(1999, 0.05, 100)
    with pytest.raises(SkillNeuronError, match=r"1,998 permutations are too few.*at least 1,999"):
        check_permutations_reach(1998, 0.05, 100)
    with pytest.raises(SkillNeuronError, match="184,319"):
        check_permutations_reach(1000, 0.05, 9216)
    with pytest.raises(SkillNeuronError, match="strictly between"):
        check_permutations_reach(1000, 1.5, 100)
