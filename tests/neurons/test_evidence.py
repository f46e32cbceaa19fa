"""The evidence recorded next to predictivity: firing counts and p-values, held-out scores, fragile
neurons and the permutation chance band, each checked against a slow reference on the same activations."""

from __future__ import annotations

import json

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.stats.significance import exact_p_values, score_tail
from tests.helpers.recording import QUIET
from tests.helpers.reference import collect
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

pytestmark = pytest.mark.models


def activations(model, texts, positions, batch_size=16):
    recorder = snl.Recorder(model, snl.RecordingConfig(positions=positions))
    batches = [recorder.encode(texts[i : i + batch_size], None) for i in range(0, len(texts), batch_size)]
    return collect(model, batches, recorder.hook_names, positions)


@pytest.fixture(scope="module")
def tiny_run():
    model = tiny_gpt2()
    train, dev, test = toy_texts(70, seed=1), toy_texts(45, seed=2), toy_texts(38, seed=5)
    positions = [0, -1]
    result = snl.compute_predictivity(
        model, train, dev, positions=positions, test=test, n_permutations=20,
        recording=snl.RecordingConfig(progress=False, batch_size=16),
    )
    acts = {name: activations(model, split[0], positions) for name, split in
            (("train", train), ("dev", dev), ("test", test))}
    labels = {"train": train[1], "dev": dev[1], "test": test[1]}
    return result, acts, labels


def test_firing_counts_and_p_values_match_a_slow_reference(tiny_run):
    result, acts, labels = tiny_run
    baseline = acts["train"].mean(dim=0)
    fires = acts["dev"] > baseline                                 # [example, slot, layer, neuron]
    y = torch.tensor(labels["dev"]).bool()[:, None, None, None]
    assert torch.equal(result.firing[0, 0], fires.sum(dim=0))
    assert torch.equal(result.correct[0, 0], (fires == y).sum(dim=0))
    assert int(result.n_dev_positive[0, 0]) == sum(labels["dev"])
    # one run, one subtask, two slots: the p-value is the union bound over the two slots, each slot's
    # exact tail evaluated at the observed (max over slots) score; with one slot it is the exact p-value
    n, m = len(labels["dev"]), sum(labels["dev"])
    observed = result.predictivity
    bound = sum(score_tail(result.firing[0, 0, slot], n, m, observed) for slot in range(2))
    assert torch.allclose(result.p_value, bound.clamp(max=1.0), rtol=1e-12, atol=1e-300)
    # never below the exact p-value of the slot that gave the score
    per_slot_exact = exact_p_values(result.correct[0, 0], result.firing[0, 0], n, m)
    at_best = per_slot_exact.gather(0, result.best_slot[0][None])[0]
    assert bool((result.p_value >= at_best * (1 - 1e-12)).all())


def test_single_slot_p_value_is_the_exact_test():
    model = tiny_gpt2()
    train, dev = toy_texts(60, seed=3), toy_texts(40, seed=4)
    result = snl.compute_predictivity(model, train, dev, positions=0, recording=QUIET, n_permutations=0)
    exact = exact_p_values(result.correct[0, 0, 0], result.firing[0, 0, 0], 40, sum(dev[1]))
    assert torch.equal(result.p_value, exact)
    assert result.null_run_predictivity is None and result.null_layer_maxima() is None


def test_held_out_scores_match_a_slow_reference(tiny_run):
    result, acts, labels = tiny_run
    baseline = acts["train"].mean(dim=0)
    y_dev = torch.tensor(labels["dev"]).bool()[:, None, None, None]
    dev_accuracy = ((acts["dev"] > baseline) == y_dev).double().mean(dim=0)
    score = torch.maximum(dev_accuracy, 1 - dev_accuracy)
    best_slot = score.argmax(dim=0)                                  # first slot on ties
    polarity = dev_accuracy.gather(0, best_slot[None])[0] >= 0.5
    y_test = torch.tensor(labels["test"]).bool()[:, None, None, None]
    test_accuracy = ((acts["test"] > baseline) == y_test).double().mean(dim=0)
    at_best = test_accuracy.gather(0, best_slot[None])[0]
    expected = torch.where(polarity, at_best, 1 - at_best)
    assert torch.allclose(result.held_out_predictivity, expected, atol=1e-12)
    assert int(result.n_held_out[0, 0]) == len(labels["test"])
    skill = snl.NeuronSet.top(result, fraction=0.25)
    assert torch.allclose(skill.held_out_scores(result), expected[skill.mask], atol=1e-12)


def test_null_maxima_come_from_permuted_labels(tiny_run):
    result, acts, labels = tiny_run
    null = result.null_predictivity
    assert null.shape == (20, result.n_layers, result.n_neurons)
    # every permuted score is a valid predictivity of the same neurons: in [0.5, 1]
    assert bool(((null >= 0.5) & (null <= 1.0)).all())
    maxima = result.null_layer_maxima(0.95)
    assert maxima.shape == (result.n_layers,)
    assert torch.equal(maxima, torch.quantile(null.amax(dim=2), 0.95, dim=0, interpolation="higher"))
    with pytest.raises(snl.SkillNeuronError, match="level"):
        result.null_layer_maxima(1.5)


def test_permutations_are_reproducible_and_do_not_change_the_real_scores():
    model = tiny_gpt2()
    train, dev = toy_texts(50, seed=6), toy_texts(30, seed=7)
    runs = [snl.compute_predictivity(model, train, dev, recording=QUIET, n_permutations=k) for k in (0, 8, 8)]
    assert torch.equal(runs[0].accuracy, runs[1].accuracy)
    assert torch.equal(runs[1].null_run_predictivity, runs[2].null_run_predictivity)


def test_fragile_neurons_are_found_and_kept_out_of_skill_sets():
    generator = torch.Generator().manual_seed(0)
    n_train, n_dev, width = 200, 120, 6
    train_labels = torch.arange(n_train) % 2
    dev_labels = torch.arange(n_dev) % 2
    train = torch.randn(n_train, 1, width, generator=generator)
    dev = torch.randn(n_dev, 1, width, generator=generator)
    dev[:, 0, 0] += 1.5 * dev_labels        # neuron 0: a real, strong signal
    # neuron 5: near-dead (values around 1e-9, far below the layer's scale), and made to look
    # predictive: which side of the baseline it lands on is a matter of rounding
    train[:, 0, 5] = 1e-9 * torch.rand(n_train, generator=generator)
    dev[:, 0, 5] = 1e-9 * (0.2 + 0.6 * dev_labels)
    result = snl.predictivity_from_activations(train, train_labels, dev, dev_labels)
    assert result.fragile.tolist() == [[False, False, False, False, False, True]]
    assert float(result.predictivity[0, 5]) == 1.0
    assert snl.NeuronSet.top(result, k=1).to_list() == [(0, 0)]
    assert snl.NeuronSet.top(result, k=1, exclude_fragile=False).to_list() == [(0, 5)]
    assert (0, 5) not in snl.NeuronSet.significant(result, q=0.05)
    assert (0, 5) in snl.NeuronSet.significant(result, q=0.05, exclude_fragile=False)
    from skillneuron_lens.neurons.evidence import significance_summary

    summary = significance_summary(result, snl.NeuronSet.top(result, k=1))
    assert (summary["n_fragile"], summary["n_fragile_set_aside"]) == (1, 1)


def test_significant_sets_follow_the_adjusted_p_values(tiny_run):
    result, _, _ = tiny_run
    for method in ("bh", "by", "holm"):
        chosen = snl.NeuronSet.significant(result, q=0.5, method=method, exclude_fragile=False)
        assert torch.equal(chosen.mask, result.q_value(method) <= 0.5)
    loose = snl.NeuronSet.significant(result, q=0.5, exclude_fragile=False)
    strict = snl.NeuronSet.significant(result, q=0.01, exclude_fragile=False)
    assert len(strict - loose) == 0
    skill = snl.NeuronSet.top(result, fraction=0.1)
    assert skill.n_significant(result, q=0.5) == len(skill & snl.NeuronSet.significant(result, q=0.5))
    with pytest.raises(snl.SkillNeuronError):
        snl.NeuronSet.significant(result, q=1.5)


def test_evidence_survives_save_load_and_combine(tiny_run, tmp_path):
    result, _, _ = tiny_run
    result.save(tmp_path / "run")
    loaded = snl.PredictivityResult.load(tmp_path / "run")
    for name in ("firing", "n_dev_positive", "near_baseline", "held_out_accuracy", "n_held_out",
                 "null_run_predictivity"):
        assert torch.equal(getattr(loaded, name), getattr(result, name)), name
    assert torch.equal(loaded.p_value, result.p_value)
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "run" / "predictivity.safetensors"))
    assert stored["p_value"].dtype == torch.float64 and torch.equal(stored["p_value"], result.p_value)
    both = snl.combine_runs([result, loaded], how="min")
    assert both.firing.shape[0] == 2 and both.null_run_predictivity.shape[:2] == (20, 2)
    assert torch.equal(both.held_out_predictivity, result.held_out_predictivity)


def test_results_saved_before_significance_still_load(tiny_run, tmp_path):
    result, _, _ = tiny_run
    old = snl.PredictivityResult(
        accuracy=result.accuracy, baseline=result.baseline, n_train=result.n_train, n_dev=result.n_dev,
        layers=result.layers, hook=result.hook, slot_names=result.slot_names,
        subtask_names=result.subtask_names,
    )
    old.save(tmp_path / "old")
    loaded = snl.PredictivityResult.load(tmp_path / "old")
    assert not loaded.has_significance and loaded.fragile is None and loaded.held_out_predictivity is None
    assert "p_value" not in loaded.top_neurons(3)[0]
    with pytest.raises(snl.SkillNeuronError, match="no significance recorded"):
        snl.NeuronSet.significant(loaded)
    with pytest.raises(snl.SkillNeuronError, match="no held-out"):
        snl.NeuronSet.top(loaded, k=1).held_out_scores(loaded)
    # the report says so instead of failing
    from skillneuron_lens.report import render_report

    html = render_report(tmp_path / "old")
    assert "no significance recorded" in html
    # no fraction recorded: the default 0.02 keeps no neuron of 48, so one per layer is shown, with a note
    assert "0.02 selects no neuron of a 48-neuron layer; 0.0209 (one neuron per layer)" in html


def test_top_neurons_carry_their_evidence(tiny_run):
    result, _, _ = tiny_run
    row = result.top_neurons(1)[0]
    assert {"p_value", "q_value", "held_out", "fragile", "held_out_ci95"} <= set(row)
    json.dumps(row, allow_nan=False)
    # a Wilson 95% interval around the held-out share of the 38 test examples
    low, high = row["held_out_ci95"]
    assert low < row["held_out"] < high
    successes = round(row["held_out"] * 38)
    share, z = successes / 38, 1.959963984540054
    centre = (share + z * z / 76) / (1 + z * z / 38)
    assert (low + high) / 2 == pytest.approx(centre, abs=1e-9) or low == 0.0 or high == 1.0


def test_find_warns_when_the_dev_split_is_too_small(caplog):
    from skillneuron_lens.neurons.evidence import warn_if_dev_too_small

    model = tiny_gpt2()
    # 8 dev examples, 4 positive: even a perfect neuron has p = 2 / C(8, 4) = 0.029 > 0.05 / n_tested
    train, dev = toy_texts(40, seed=8), (toy_texts(8, seed=9)[0], [0, 1] * 4)
    result = snl.compute_predictivity(model, train, dev, recording=QUIET, n_permutations=0)
    with caplog.at_level("WARNING", logger="skillneuron_lens"):
        message = warn_if_dev_too_small(result, q=0.05)
    assert message is not None and "too small" in message and message in caplog.text
    assert f"{result.n_layers * result.n_neurons:,} neurons" in message
    big = snl.compute_predictivity(model, train, toy_texts(60, seed=10), recording=QUIET, n_permutations=0)
    assert warn_if_dev_too_small(big, q=0.05) is None


def test_histograms_give_the_auroc_without_another_pass(tmp_path):
    model = tiny_gpt2()
    train, dev = toy_texts(60, seed=11), toy_texts(50, seed=12)
    result = snl.compute_predictivity(model, train, dev, positions=0, histograms=True, recording=QUIET)
    acts = activations(model, dev[0], 0)[:, 0]                      # [example, layer, neuron]
    labels = torch.tensor(dev[1])
    positives, negatives = acts[labels == 1], acts[labels == 0]
    above = (positives[:, None] > negatives[None]).double()
    tied = (positives[:, None] == negatives[None]).double()
    exact = (above + 0.5 * tied).mean(dim=(0, 1))                   # Mann-Whitney, ties half
    assert torch.allclose(result.auroc, exact, atol=0.02)
    assert float((result.auroc - exact).abs().mean()) < 0.005
    assert "auroc" in result.top_neurons(1)[0]
    result.save(tmp_path / "hist")
    loaded = snl.PredictivityResult.load(tmp_path / "hist")
    assert torch.equal(loaded.histograms.counts, result.histograms.counts)
    assert torch.equal(loaded.auroc, result.auroc)
    off = snl.compute_predictivity(model, train, dev, positions=0, recording=QUIET)
    assert off.auroc is None and off.histograms is None
