"""benchmarks/calibration.py: its core functions on synthetic activations and a tiny model."""

import json
import statistics

import pytest
import torch

import skillneuron_lens as snl
from tests.helpers.recording import QUIET
from tests.helpers.scripts import import_benchmark

cal = import_benchmark("calibration")


def synthetic(n_train=400, n_dev=600, n_layers=3, n_neurons=40, seed=0) -> "cal.Recorded":
    """GELU of Gaussian noise, balanced labels, no neuron related to the labels."""
    generator = torch.Generator().manual_seed(seed)

    def acts(n):
        return torch.nn.functional.gelu(torch.randn(n, n_layers, n_neurons, generator=generator))

    def labels(n):
        return torch.arange(n) % 2

    return cal.Recorded(acts(n_train), labels(n_train), acts(n_dev), labels(n_dev))


def test_significance_counts_by_hand():
    p = torch.tensor([[0.001, 0.02], [0.2, 0.9]], dtype=torch.float64)
    counts = cal.significance_counts(p, q=0.05)
    # BH: sorted p against q r / N = 0.0125, 0.025, ...: the first two pass.
    # BY: thresholds divided by 1 + 1/2 + 1/3 + 1/4 = 2.083: 0.006, 0.012: only the first.
    # Holm: 0.001 <= 0.05 / 4, then 0.02 > 0.05 / 3: only the first.
    assert counts == {
        "share_p_below_0.05": 0.5, "share_p_below_0.01": 0.25, "min_p": 0.001,
        "n_bh": 2, "n_by": 1, "n_holm": 1,
    }


def test_shuffled_and_subset():
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 0, 1, 1])
    mixed = cal.shuffled(labels, 3)
    assert sorted(mixed.tolist()) == sorted(labels.tolist())
    assert torch.equal(mixed, cal.shuffled(labels, 3))
    subset = cal.dev_subset(10, 4, 0)
    assert len(set(subset.tolist())) == 4 and subset.max() < 10
    with pytest.raises(snl.SkillNeuronError, match="does not fit"):
        cal.dev_subset(10, 11, 0)


def test_plant_shifts_only_planted_neurons_by_hand():
    acts = torch.zeros(2, 2, 3)
    planted = torch.tensor([[True, False, False], [False, False, True]])
    scale = torch.tensor([[2.0, 5.0, 5.0], [5.0, 5.0, 4.0]], dtype=torch.float64)
    out = cal.plant(acts, torch.tensor([1, 0]), planted, scale, delta=0.5)
    expected = torch.zeros(2, 2, 3, dtype=torch.float64)
    expected[0, 0, 0], expected[0, 1, 2] = 0.5, 1.0  # +delta * scale / 2 for label 1
    expected[1, 0, 0], expected[1, 1, 2] = -0.5, -1.0  # -delta * scale / 2 for label 0
    assert torch.equal(out, expected)


def test_choose_planted_spreads_over_layers_and_avoids_unusable():
    usable = torch.ones(3, 10, dtype=torch.bool)
    usable[1, :7] = False
    planted = cal.choose_planted(usable, 7, seed=0)
    assert planted.sum(dim=1).tolist() == [3, 2, 2]
    assert not (planted & ~usable).any()
    with pytest.raises(snl.SkillNeuronError, match="usable neurons"):
        cal.choose_planted(usable, 12, seed=0)


def test_shuffled_labels_are_calibrated_and_give_no_discovery():
    recorded = synthetic()
    out = cal.calibration(recorded, dev_sizes=[100, 600], seeds=4, q=0.05)
    assert len(out["shuffled"]) == 8 and len(out["real"]) == 2
    for row in out["shuffled"]:
        assert row["n_bh"] == row["n_by"] == row["n_holm"] == 0
        assert row["share_p_below_0.05"] <= 0.10
        assert row["share_p_below_0.01"] <= row["share_p_below_0.05"]
    for row in out["summary"]:
        assert row["seeds_with_bh_discovery"] == 0
        assert row["mean_share_p_below_0.05"] <= 0.07


def test_delta_reaches_the_target_accuracy():
    recorded = synthetic()
    setup = cal.power_setup(recorded, n_planted=6, seed=0)
    delta = cal.delta_for_accuracy(recorded, setup, 0.7)
    assert float(cal.planted_accuracy(recorded, setup, delta).mean()) >= 0.7
    assert float(cal.planted_accuracy(recorded, setup, delta * 0.97).mean()) < 0.7
    # The shuffled labels are a permutation of the real ones.
    assert setup.dev_labels.sum() == recorded.dev_labels.sum()


def test_huge_planted_effects_are_all_recovered_and_nulls_are_not():
    recorded = synthetic()
    out = cal.power(recorded, n_planted=9, targets=[0.9], dev_sizes=[300, 600], repeats=2, q=0.05)
    assert out["planted_per_layer"] == [3, 3, 3]
    assert out["strengths"][0]["mean_accuracy"] == pytest.approx(0.9, abs=0.01)
    for cell in out["cells"]:
        assert cell["recovered"] == 1.0
        # BH at 0.05 with 9 true discoveries lets about 0.05 * 111 / 120 of the nulls through on average.
        assert cell["false_discoveries"] <= 2
    assert statistics.fmean(cell["fdp"] for cell in out["cells"]) <= 0.15
    # Weak effects are found less often than strong ones at the same dev size.
    weak = cal.power(recorded, n_planted=9, targets=[0.56], dev_sizes=[100], repeats=1, q=0.05)
    assert weak["cells"][0]["recovered"] < 1.0


def test_measure_writes_the_fields_the_doc_uses(tmp_path):
    args = cal.parse_args(["--quick", "--planted", "6", "--seeds", "2", "--targets", "0.8"])
    assert args.dev_sizes == cal.QUICK["dev_sizes"] and args.planted == 6
    results = cal.measure(synthetic(n_dev=200), args)
    assert results["data"]["dev_sizes"] == [100]  # 320 does not fit 200 recorded examples
    cal.print_results(results)
    text = json.dumps(results)
    loaded = json.loads(text)
    for key in ("real", "shuffled", "summary", "q", "n_tested"):
        assert key in loaded["calibration"]
    for key in ("strengths", "cells", "summary", "n_planted", "planted_per_layer"):
        assert key in loaded["power"]
    needed = snl.stats.dev_size_for_effect(0.8, 120, 0.05)
    assert loaded["power"]["strengths"][0]["dev_size_single_discovery"] == needed
    assert "| 100 | shuffled |" in loaded["markdown"]
    assert "Share of planted neurons recovered" in loaded["markdown"]


def test_record_matches_compute_predictivity_on_a_tiny_model(tmp_path):
    from types import SimpleNamespace

    from tests.helpers.tiny_models import tiny_encoder, toy_texts

    model = tiny_encoder()
    train = snl.Split(*toy_texts(24, seed=1))
    dev = snl.Split(*toy_texts(16, seed=2))
    args = cal.parse_args(["--n-train", "20", "--batch-size", "8", "--activations", str(tmp_path / "a.pt")])
    recorded = cal.cached_record(model, SimpleNamespace(train=train, dev=dev), args)
    again = cal.cached_record(None, None, args)  # read back from the cache, no model needed
    assert torch.equal(again.train, recorded.train) and torch.equal(again.dev_labels, recorded.dev_labels)
    args.n_train = 10
    with pytest.raises(snl.SkillNeuronError, match="recorded with"):
        cal.cached_record(None, None, args)
    assert recorded.train.shape[0] == 20 and recorded.dev.shape[0] == 16
    from_activations = cal.score(recorded.train, recorded.train_labels, recorded.dev, recorded.dev_labels)
    streamed = snl.compute_predictivity(
        model, (train.texts[:20], train.labels[:20]), dev, positions=0, recording=QUIET, n_permutations=0,
        n_classes=2,
    )
    assert torch.allclose(from_activations.accuracy, streamed.accuracy)
    assert torch.allclose(from_activations.p_value, streamed.p_value)
