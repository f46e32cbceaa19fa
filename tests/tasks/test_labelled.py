"""labelled_split: the one check of the labelled splits that functions accept."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.labelled import (
    LabelledSplit,
    label_id,
    labelled_split,
    labelled_splits,
    split_label_ids,
    split_texts,
)
from skillneuron_lens.tasks.readers import task_from_lists


def test_tuples_and_split_objects_give_plain_lists():
    parts = labelled_split((("a", "b"), torch.tensor([1, 0])), "train")
    assert parts == LabelledSplit(["a", "b"], [1, 0], None)
    assert all(type(label) is int for label in parts.labels)
    task = task_from_lists(["x y", "z w"] * 10, [0, 1] * 10, text_pairs=["p", "q"] * 10, seed=0)
    texts, labels, pairs = labelled_split(task.train, "train")
    assert texts == list(task.train.texts) and labels == list(task.train.labels)
    assert pairs == list(task.train.text_pairs)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ([["a"], [0]], r"The dev split must be a \(texts, labels\) tuple, .* got list"),
        (([], []), "The dev split is empty"),
        ((["a", "b"], [0]), "The dev split has 2 texts but 1 labels"),
        ((["a"], ["pos"]), r"string labels \('pos'\), and one split alone cannot fix.*label_names="),
        ((["a"], [math.nan]), r"the dev split has nan \(float\)\. Drop or fix unlabelled rows"),
        ((["a"], [0.5]), "Labels must be integer class ids"),
        ((["a"], [True]), "Labels must be integer class ids"),
    ],
)
def test_bad_splits_say_what_is_wrong(split, message):
    with pytest.raises(SkillNeuronError, match=message):
        labelled_split(split, "dev")


def test_pairs_must_match_the_texts():
    class WithPairs:
        texts, labels, text_pairs = ["a", "b"], [0, 1], ["only one"]

    with pytest.raises(SkillNeuronError, match="The test split has 1 text pairs for 2 texts"):
        labelled_split(WithPairs(), "test")


def test_label_id_accepts_integral_numbers_only():
    assert label_id(2.0, "train") == 2 and label_id(torch.tensor(3), "train") == 3
    with pytest.raises(SkillNeuronError, match="None"):
        label_id(None, "train")


# ---- string labels: one label-order rule ---------------------------------------------------------
def test_string_labels_take_the_sorted_order_of_the_train_split(caplog):
    train = (["a", "b", "c"], ["pos", "neg", "pos"])
    dev = (["d", "e"], ("neg", "pos"))
    with caplog.at_level(logging.WARNING):
        checked, names = labelled_splits({"train": train, "dev": dev, "test": None})
    assert names == ["neg", "pos"] and list(checked) == ["train", "dev"]
    assert checked["train"] == LabelledSplit(["a", "b", "c"], [1, 0, 1], None)
    assert checked["dev"].labels == [0, 1]
    assert "neg=0, pos=1 (alphabetical)" in caplog.text


def test_label_names_set_the_order_of_every_split():
    checked, names = labelled_splits(
        {"train": (["a", "b"], ["pos", "neg"]), "dev": (["c"], ["pos"])}, ["pos", "neg"]
    )
    assert names == ["pos", "neg"] and checked["train"].labels == [0, 1] and checked["dev"].labels == [0]
    assert labelled_split((["c", "d"], ["neg", "neg"]), "test", ["pos", "neg"]).labels == [1, 1]


def test_a_dev_label_unseen_in_train_is_named():
    splits = {"train": (["a", "b"], ["neg", "pos"]), "dev": (["c", "d", "e"], ["pos", "neutral", "neutral"])}
    with pytest.raises(
        SkillNeuronError,
        match=r"The dev split has label\(s\) that the train split lacks: 'neutral' \(2 rows, first at "
        r"dev split row 1\).*sorted \(neg=0, pos=1\); pass label_names=",
    ):
        labelled_splits(splits)
    with pytest.raises(SkillNeuronError, match=r"outside the label names \['neg', 'pos'\]: 'neutral'"):
        labelled_splits(splits, ["neg", "pos"])


def test_int_labels_stay_as_they_are_and_tensors_are_read():
    ids, names = split_label_ids({"train": torch.tensor([2, 0]), "dev": [1.0, 0]})
    assert ids == {"train": [2, 0], "dev": [1, 0]} and names is None
    ids, names = split_label_ids({"train": [1, 0]}, ["a", "b"])
    assert ids == {"train": [1, 0]} and names == ["a", "b"]
    with pytest.raises(SkillNeuronError, match="label 2 is out of range"):
        split_label_ids({"train": [2, 0]}, ["a", "b"])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, "pos"], "Labels mix int ids and strings"),
        (["pos", " Pos"], "differ only in case or surrounding spaces"),
        (["pos", "nan"], "missing-value markers"),
        (["pos", None], "Labels must be integer class ids or strings; the train split has None"),
    ],
)
def test_bad_string_labels_are_clear_errors(labels, message):
    with pytest.raises(SkillNeuronError, match=message):
        labelled_splits({"train": (["a", "b"], labels)})


def test_split_texts_needs_no_label_order():
    assert split_texts((["a", "b"], ["pos", "neg"]), "given") == (["a", "b"], None)
    with pytest.raises(SkillNeuronError, match="The given split has 2 texts but 1 labels"):
        split_texts((["a", "b"], ["pos"]), "given")


# ---- string labels end to end: the same numbers as the int ids they stand for -------------------
@pytest.fixture(scope="module")
def tiny_model():
    from tests.helpers.tiny_models import tiny_gpt2

    return tiny_gpt2()


def _toy(n: int, seed: int) -> tuple[list[str], list[int]]:
    from tests.helpers.tiny_models import toy_texts

    return toy_texts(n, seed)


NAMES = ("negative", "positive")


def test_compute_predictivity_takes_string_labels(tiny_model):
    import skillneuron_lens as snl

    (train, train_ids), (dev, dev_ids) = _toy(24, 1), _toy(16, 2)
    by_id = snl.compute_predictivity(tiny_model, (train, train_ids), (dev, dev_ids), n_permutations=0)
    by_name = snl.compute_predictivity(
        tiny_model, (train, [NAMES[k] for k in train_ids]), (dev, [NAMES[k] for k in dev_ids]),
        n_permutations=0,
    )
    assert torch.equal(by_name.accuracy, by_id.accuracy) and torch.equal(by_name.baseline, by_id.baseline)
    flipped = snl.compute_predictivity(
        tiny_model, (train, [NAMES[k] for k in train_ids]), (dev, [NAMES[k] for k in dev_ids]),
        label_names=["positive", "negative"], n_permutations=0,
    )
    assert torch.allclose(flipped.accuracy, 1 - by_id.accuracy)  # the classes swap: Acc -> 1 - Acc
    with pytest.raises(SkillNeuronError, match="'neutral'"):
        snl.compute_predictivity(tiny_model, (train, [NAMES[k] for k in train_ids]), (dev, ["neutral"] * 16))


def test_predictivity_from_activations_takes_string_labels():
    from skillneuron_lens.predictivity.compute import predictivity_from_activations

    generator = torch.Generator().manual_seed(0)
    train_acts = torch.randn(12, 2, 5, generator=generator)
    dev_acts = torch.randn(8, 2, 5, generator=generator)
    train_ids, dev_ids = [0, 1] * 6, [1, 0, 0, 1] * 2
    by_id = predictivity_from_activations(train_acts, train_ids, dev_acts, torch.tensor(dev_ids))
    by_name = predictivity_from_activations(
        train_acts, [NAMES[k] for k in train_ids], dev_acts, [NAMES[k] for k in dev_ids]
    )
    assert torch.equal(by_name.accuracy, by_id.accuracy)


def test_a_linear_readout_keeps_the_order_of_its_string_labels(tiny_model):
    from skillneuron_lens.tuning.readouts import LinearReadout

    (train, train_ids), (dev, dev_ids) = _toy(30, 3), _toy(12, 4)
    named_dev = (dev, [NAMES[k] for k in dev_ids])
    by_id = LinearReadout(tiny_model).fit((train, train_ids), (dev, dev_ids))
    by_name = LinearReadout(tiny_model).fit((train, [NAMES[k] for k in train_ids]), named_dev)
    assert by_name.label_names == list(NAMES) and by_id.label_names is None
    assert by_name.accuracy(named_dev) == by_id.accuracy((dev, dev_ids))
    only_positive = [i for i, k in enumerate(dev_ids) if k == 1]  # sorting this split alone: id 0
    subset = ([dev[i] for i in only_positive], ["positive"] * len(only_positive))
    assert by_name.accuracy(subset) == by_id.accuracy((subset[0], [1] * len(only_positive)))
    with pytest.raises(SkillNeuronError, match="one split alone cannot fix"):
        by_id.accuracy(named_dev)


def test_train_classifier_takes_string_labels(tiny_model):
    from skillneuron_lens.tuning.classifier import TunedClassifier
    from skillneuron_lens.tuning.training import TrainConfig, train_classifier

    (train, train_ids), (dev, dev_ids) = _toy(16, 5), _toy(8, 6)
    config = TrainConfig(steps=2, eval_every=1, batch_size=8, progress=False)

    def trained(labelled):
        torch.manual_seed(0)
        classifier = TunedClassifier(tiny_model, method="none", head="linear", max_length=16)
        labelled_train = (train, [labelled(k) for k in train_ids])
        history = train_classifier(classifier, labelled_train, (dev, [labelled(k) for k in dev_ids]), config)
        return classifier, history

    by_id, id_history = trained(lambda k: k)
    by_name, name_history = trained(lambda k: NAMES[k])
    assert by_name.label_names == list(NAMES) and by_id.label_names is None
    clocks = ("seconds", "train_seconds")
    timeless = [
        [{k: v for k, v in entry.items() if k not in clocks} for entry in history]
        for history in (id_history, name_history)
    ]
    assert timeless[0] == timeless[1]
    negatives = [text for text, k in zip(dev, dev_ids, strict=True) if k == 0]
    assert by_name.accuracy((negatives, ["negative"] * len(negatives)), progress=False) == by_id.accuracy(
        (negatives, [0] * len(negatives)), progress=False
    )
