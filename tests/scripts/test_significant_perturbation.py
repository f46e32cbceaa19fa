"""examples/significant_perturbation.py: splits, verdict and the whole core on a tiny random encoder."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.task import Split, Task
from tests.helpers.tiny_models import tiny_encoder, toy_texts

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "significant_perturbation.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("significant_perturbation", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


sp = _load_script()


def _task(texts, labels, n_train, n_dev):
    return Task(
        "toy",
        ["a", "b"],
        {
            "train": Split(texts[:n_train], labels[:n_train]),
            "dev": Split(texts[n_train : n_train + n_dev], labels[n_train : n_train + n_dev]),
            "test": Split(texts[n_train + n_dev :], labels[n_train + n_dev :]),
        },
    )


def test_carve_splits_gives_disjoint_splits_of_the_asked_sizes():
    labels = [i % 2 for i in range(200)]
    task = _task([f"t{i}" for i in range(200)], labels, 120, 40)  # pool 160, test 40
    splits = sp.carve_splits(task, sp.Sizes(train=70, checkpoint_dev=20, selection_dev=60, test=30), seed=3)
    assert {name: len(split) for name, split in splits.items()} == {
        "train": 70, "checkpoint_dev": 20, "selection_dev": 60, "test": 30,
    }
    seen = [set(split.texts) for split in splits.values()]
    assert sum(len(s) for s in seen) == len(set().union(*seen)) == 180  # disjoint
    assert seen[3] <= {f"t{i}" for i in range(160, 200)}  # test only from the test split
    assert splits["selection_dev"].label_counts() == {0: 30, 1: 30}  # stratified carve of a balanced pool
    again = sp.carve_splits(task, sp.Sizes(train=70, checkpoint_dev=20, selection_dev=60, test=30), seed=3)
    assert all(again[name].texts == splits[name].texts for name in splits)


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (dict(train=100, checkpoint_dev=20, selection_dev=60, test=30), "ask for 180"),
        (dict(train=10, checkpoint_dev=10, selection_dev=10, test=41), "40 test"),
        (dict(train=0, checkpoint_dev=10, selection_dev=10, test=10), "at least one example"),
    ],
)
def test_carve_splits_refuses_sizes_the_task_cannot_give(sizes, message):
    task = _task([f"t{i}" for i in range(200)], [i % 2 for i in range(200)], 120, 40)
    with pytest.raises(SkillNeuronError, match=message):
        sp.carve_splits(task, sp.Sizes(**sizes))


def _row(below: bool, p: float) -> dict:
    return {"below_all_draws": below, "p_value": p}


def test_verdict_follows_the_preregistered_bar():
    assert sp.verdict({"mean": _row(True, 0.001), "zero": _row(True, 0.0099)}) == "success"
    assert sp.verdict({"mean": _row(True, 0.001), "zero": _row(True, 0.01)}) == "partial (mean only)"
    assert sp.verdict({"mean": _row(False, 0.0001), "zero": _row(True, 0.002)}) == "partial (zero only)"
    assert sp.verdict({"mean": _row(False, 0.0001), "zero": _row(True, 0.5)}) == "failure"


@pytest.fixture(scope="module")
def tiny_run():
    model = tiny_encoder()
    texts, labels = toy_texts(360, seed=5)
    splits = sp.carve_splits(
        _task(texts, labels, 240, 60), sp.Sizes(train=60, checkpoint_dev=20, selection_dev=200, test=50)
    )
    classifier_config = snl.ClassifierConfig(
        method="prompt", head="linear", pooling="read", prompt_length=4, max_length=16, batch_size=64
    )
    train_config = snl.TrainConfig(steps=8, eval_every=8, patience=None, lr=3e-2, progress=False)
    record = sp.run_experiment(
        model, splits, classifier_config=classifier_config, train_config=train_config, draws=4, seed=1,
        n_permutations=500, progress=False, skill_fraction=0.25,
    )
    return model, splits, classifier_config, train_config, record


def test_core_writes_every_field_the_preregistration_names(tiny_run, tmp_path):
    _, _, _, _, record = tiny_run
    path = sp.write_record(record, tmp_path / "out.json")
    loaded = json.loads(path.read_text())
    assert loaded["sizes"] == {"train": 60, "checkpoint_dev": 20, "selection_dev": 200, "test": 50}
    selection = loaded["selection"]
    assert selection["n_tested"] == 2 * 40
    assert selection["n_significant"] > 0, "the toy task's neurons should pass BH at 200 dev examples"
    assert sum(selection["per_layer"]) == selection["n_significant"] == len(selection["neurons"])
    assert 0 < selection["n_primary"] <= min(selection["n_significant"], 2 * 10)  # 25% of 40 per layer
    assert sum(selection["primary_per_layer"]) == selection["n_primary"] == len(selection["primary_neurons"])
    assert set(map(tuple, selection["primary_neurons"])) <= set(map(tuple, selection["neurons"]))
    assert set(loaded["modes"]) == set(loaded["secondary_modes"]) == {"mean", "zero"}
    assert all(row["controls_exclude_the_set"] for row in loaded["modes"].values())
    assert loaded["modes"]["zero"]["n_neurons"] == selection["n_primary"]
    for row in [*loaded["modes"].values(), *loaded["secondary_modes"].values()]:
        assert row["clean_accuracy"] == loaded["clean_test_accuracy"]
        draws = row["random_accuracies"]
        assert len(draws) == 4
        accuracy = row["significant_accuracy"]
        assert row["rank"] == 1 + sum(a < accuracy for a in draws)
        assert row["below_all_draws"] == all(a > accuracy for a in draws)
        assert row["draw_p_value"] == pytest.approx((1 + sum(a <= accuracy for a in draws)) / 5)
        assert row["random_minus_significant"] == pytest.approx(sum(draws) / 4 - accuracy)
        assert 0 < row["p_value"] <= 1
    assert loaded["outcome"] == sp.verdict(loaded["modes"])
    with pytest.raises(SkillNeuronError, match="already exists"):
        sp.write_record(record, path)


def test_zero_ablation_accuracy_matches_a_hand_written_hook(tiny_run):
    model, splits, classifier_config, train_config, record = tiny_run
    # Re-tune with the same seeds (deterministic on CPU) and zero the recorded neurons by hand.
    classifier = snl.TunedClassifier(model, classifier_config)
    snl.train_classifier(classifier, splits["train"], splits["checkpoint_dev"], train_config)
    by_layer: dict[int, list[int]] = {}
    for layer, neuron in record["selection"]["neurons"]:
        by_layer.setdefault(layer, []).append(neuron)

    def zero(indices):
        def hook(activations, hook):
            activations[..., indices] = 0.0
            return activations

        return hook

    hooks = [(f"blocks.{layer}.mlp.hook_post", zero(indices)) for layer, indices in by_layer.items()]
    with model.hooks(fwd_hooks=hooks):
        correct = classifier.correct(splits["test"], progress=False)
    assert float(correct.double().mean()) == record["secondary_modes"]["zero"]["significant_accuracy"]
    assert float(classifier.accuracy(splits["test"], progress=False)) == record["clean_test_accuracy"]


def test_empty_significant_set_is_reported_and_nothing_is_ablated(tiny_run):
    model, splits, classifier_config, train_config, _ = tiny_run
    record = sp.run_experiment(
        model, splits, classifier_config=classifier_config, train_config=train_config, q=1e-300,
        draws=2, progress=False, skill_fraction=0.25,
    )
    assert record["selection"]["n_significant"] == 0
    assert record["modes"] == {} and record["secondary_modes"] == {}
    assert record["outcome"].startswith("no significant skill neurons")
    assert "nothing was ablated" in sp.markdown_table(record)
    assert torch.isfinite(torch.tensor(record["clean_test_accuracy"]))
