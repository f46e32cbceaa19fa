"""Constant neurons at the majority share: counting them, and the warnings of find and compare."""

from __future__ import annotations

import json

import torch

import skillneuron_lens.cli.app as cli
from skillneuron_lens.neurons.majority import (
    majority_share,
    scored_majority_share,
    skill_neurons_at_share,
    warn_about_constant_neurons,
)
from tests.helpers.results import make_result


def test_majority_share():
    assert majority_share([0, 0, 1, 0, 1]) == 0.6
    assert majority_share([1, 1, 1, 0]) == 0.75
    assert majority_share([2, 0, 1, 2]) == 0.5
    assert majority_share([]) == 0.0


def test_scored_majority_share_follows_the_subtasks_predictivity_averages():
    binary = [0, 0, 0, 1]
    assert scored_majority_share(binary, 2, None) == 0.75  # auto leaves a binary task as it is
    assert scored_majority_share(binary, 2, False) == 0.75
    assert scored_majority_share(binary, 2, True) is None  # balanced: a constant neuron scores 0.5
    four = [0, 1, 2, 3] * 5
    assert scored_majority_share(four, 4, None) is None  # auto balances multi-class subtasks
    assert scored_majority_share(four, 4, False) == 0.75  # one-vs-rest: 15 of 20 on the "rest" side
    # Three classes, the paper's scheme: pn = class 0 vs 2 (6 vs 2 -> 0.75), neu = 1 vs rest (8 vs 2 -> 0.8).
    three = [0] * 6 + [1] * 2 + [2] * 2
    assert scored_majority_share(three, 3, False) == (0.75 + 0.8) / 2
    assert scored_majority_share([], 2, False) is None


def imbalanced_result():
    """Two layers of 50 neurons; at fraction 0.1 (5 per layer) three of layer 0's skill neurons sit at 0.7."""
    generator = torch.Generator().manual_seed(0)
    scores = 0.5 + 0.1 * torch.rand(2, 50, generator=generator, dtype=torch.float64)  # all below 0.6
    scores[0, [3, 17, 40]] = 0.7  # constant neurons on a 70% majority split
    scores[0, [8, 9]] = 0.75
    scores[1, :5] = 0.8
    scores[1, 20] = 0.7  # at the share, but ranked 6th in its layer: not a skill neuron
    return make_result(scores)


def test_skill_neurons_at_share_are_exactly_the_tied_members_of_the_skill_set():
    result = imbalanced_result()
    assert skill_neurons_at_share(result, 0.7, fraction=0.1).to_list() == [(0, 3), (0, 17), (0, 40)]
    assert skill_neurons_at_share(result, 0.7, fraction=0.2).to_list() == [(0, 3), (0, 17), (0, 40), (1, 20)]
    assert len(skill_neurons_at_share(result, 0.75, fraction=0.1)) == 2
    assert len(skill_neurons_at_share(result, 0.71, fraction=0.1)) == 0
    # On a balanced split a constant neuron scores 0.5 and cannot rank: nothing to report.
    assert len(skill_neurons_at_share(make_result(torch.full((2, 50), 0.5)), 0.5, fraction=0.1)) == 0


def test_warning_counts_and_names_the_fix(caplog):
    with caplog.at_level("WARNING", logger="skillneuron_lens"):
        assert warn_about_constant_neurons("tweets", imbalanced_result(), 0.7, 0.1) == 3
    assert "tweets: 3 of the 10 skill neurons score exactly 0.700" in caplog.text
    assert "--balance on" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="skillneuron_lens"):
        assert warn_about_constant_neurons("tweets", imbalanced_result(), 0.65, 0.1) == 0
    assert caplog.text == ""


def _save_run(path, result, share):
    summary = {"skill_neurons": {"dev_majority_share": share}}
    result.save(path, extra_files={"summary.json": json.dumps(summary)})


def test_compare_warns_about_the_run_whose_skill_set_holds_constant_neurons(tmp_path, caplog):
    _save_run(tmp_path / "imbalanced", imbalanced_result(), 0.7)
    _save_run(tmp_path / "balanced", imbalanced_result(), None)  # same scores, scored balanced: no share
    (tmp_path / "python-made").mkdir()
    imbalanced_result().save(tmp_path / "python-made" / "run")  # no summary.json: not checked
    runs = [str(tmp_path / "imbalanced"), str(tmp_path / "balanced"), str(tmp_path / "python-made" / "run")]
    out = str(tmp_path / "cmp")
    with caplog.at_level("WARNING", logger="skillneuron_lens"):
        code = cli.main(["compare", *runs, "--fraction", "0.1", "--draws", "20", "--out", out, "--quiet"])
    assert code == 0
    assert "imbalanced: 3 of the 10 skill neurons score exactly 0.700" in caplog.text
    assert "balanced:" not in caplog.text.replace("imbalanced:", "") and "run:" not in caplog.text
    assert (tmp_path / "cmp" / "compare.json").exists()


def test_perturb_warns_before_it_loads_the_model(tmp_path, caplog, capsys):
    missing = str(tmp_path / "no-such-model")
    summary = {
        "skill_neurons": {"dev_majority_share": 0.7},
        "arguments": {"model": missing, "device": "cpu", "dtype": "float32"},
    }
    imbalanced_result().save(tmp_path / "run", extra_files={"summary.json": json.dumps(summary)})
    with caplog.at_level("WARNING", logger="skillneuron_lens"):
        code = cli.main(["perturb", "--run", str(tmp_path / "run"), "--fractions", "0.05,0.1"])
    assert "run: 3 of the 10 skill neurons score exactly 0.700" in caplog.text  # at the largest fraction
    # then the summary's missing data arguments stop it, with a clear error, before any model is loaded
    assert code == 2 and "lacks the find arguments" in capsys.readouterr().err


def test_a_run_without_find_arguments_or_with_a_damaged_summary_gets_a_clear_error(tmp_path, capsys):
    _save_run(tmp_path / "run", imbalanced_result(), 0.7)  # summary.json without the find arguments
    assert cli.main(["perturb", "--run", str(tmp_path / "run")]) == 2
    assert "does not hold the find arguments" in capsys.readouterr().err
    (tmp_path / "run" / "summary.json").write_text("{broken")
    assert cli.main(["prune", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "pruned")]) == 2
    assert "summary.json is damaged" in capsys.readouterr().err


def test_with_firing_counts_only_constant_neurons_count():
    """A neuron can score exactly the majority share without being constant; firing counts tell them apart."""
    import skillneuron_lens as snl

    n = 10
    dev_labels = torch.tensor([0] * 7 + [1] * 3)                     # majority share 0.7
    train = torch.randn(40, 1, 3, generator=torch.Generator().manual_seed(1))
    dev = torch.zeros(n, 1, 3)
    dev[:, 0, 0] = 100.0                                             # always above: constant, scores 0.7
    dev[:, 0, 1] = torch.tensor([9.0, 9, 9, -9, -9, -9, -9, 9, 9, 9])  # fires on 6 rows, not constant
    dev[:, 0, 2] = torch.tensor([-9.0, -9, -9, -9, -9, -9, 9, 9, 9, 9])  # fires on 4 (1 neg, 3 pos): 0.9
    result = snl.predictivity_from_activations(train, torch.arange(40) % 2, dev, dev_labels)
    scores = result.predictivity[0].tolist()
    assert scores[0] == 0.7
    # neuron 1: fires on rows 0-2 and 7-9 -> correct on rows 3-6 (negatives, not firing) and 7-9 -> 0.7
    assert abs(scores[1] - 0.7) < 1e-12
    at_share = skill_neurons_at_share(result, 0.7, fraction=1.0)
    assert at_share.to_list() == [(0, 0)]
