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
        ([["a"], [0]], r"The dev split must be a \(texts, labels\) tuple .* got list"),
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
