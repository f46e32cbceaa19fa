"""labelled_split: the one check of the labelled splits that functions accept."""

from __future__ import annotations

import math

import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.labelled import LabelledSplit, label_id, labelled_split
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
        ((["a"], ["pos"]), r"string label 'pos'.*label_names="),
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
