"""A ``datasets.Dataset`` / ``DatasetDict`` passed straight in where splits or a task are accepted."""

from __future__ import annotations

import pytest
import torch

datasets = pytest.importorskip("datasets")

import skillneuron_lens as snl  # noqa: E402
from skillneuron_lens.tasks.labelled import labelled_splits  # noqa: E402
from tests.helpers.recording import QUIET  # noqa: E402
from tests.helpers.tiny_models import tiny_gpt2, toy_texts  # noqa: E402


def as_dataset(texts, labels, **extra):
    return datasets.Dataset.from_dict({"text": list(texts), "label": list(labels), **extra})


def test_a_dataset_is_read_as_its_text_and_label_columns_under_the_label_order_rule():
    train = as_dataset(["a", "b", "c"], ["pos", "neg", "pos"], other=[1, 2, 3])
    dev = as_dataset(["d", "e"], ["neg", "pos"])
    checked, names = labelled_splits({"train": train, "dev": dev})
    assert names == ["neg", "pos"]  # sorted strings of the train split, as for tuples
    assert checked["train"].texts == ["a", "b", "c"] and checked["train"].labels == [1, 0, 1]
    assert checked["dev"].labels == [0, 1] and checked["dev"].text_pairs is None
    tuple_checked, _ = labelled_splits({"train": (["a", "b", "c"], ["pos", "neg", "pos"]), "dev": dev})
    assert tuple_checked == checked


def test_a_class_label_column_gives_its_ids():
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    train = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [1, 0]}, features=features)
    checked, names = labelled_splits({"train": train})
    assert checked["train"].labels == [1, 0] and names is None


def test_predictivity_from_datasets_equals_predictivity_from_tuples():
    model = tiny_gpt2()
    (train_texts, train_labels), (dev_texts, dev_labels) = toy_texts(40, 1), toy_texts(30, 2)
    from_tuples = snl.compute_predictivity(
        model, (train_texts, train_labels), (dev_texts, dev_labels), n_permutations=0, recording=QUIET
    )
    from_datasets = snl.compute_predictivity(
        model, as_dataset(train_texts, train_labels), as_dataset(dev_texts, dev_labels),
        n_permutations=0, recording=QUIET,
    )
    assert torch.equal(from_tuples.accuracy, from_datasets.accuracy)
    assert torch.equal(from_tuples.baseline, from_datasets.baseline)


def test_load_task_takes_a_dataset_dict():
    texts, labels = toy_texts(50, 3)
    data = datasets.DatasetDict(
        {"train": as_dataset(texts[:40], labels[:40]), "test": as_dataset(texts[40:], labels[40:])}
    )
    task = snl.load_task(data, seed=1)
    expected = snl.tasks.task_from_hf_dataset(data, seed=1)
    for role in ("train", "dev", "test"):
        assert task.splits[role].texts == expected.splits[role].texts
        assert task.splits[role].labels == expected.splits[role].labels
    assert task.splits["test"].texts == texts[40:]


def test_a_dataset_dict_as_a_split_and_missing_columns_say_what_to_do():
    data = datasets.DatasetDict({"train": as_dataset(["a"], [0])})
    refused = r"train split is a DatasetDict.*data\['train'\].*load_task"
    with pytest.raises(snl.SkillNeuronError, match=refused):
        labelled_splits({"train": data})
    sst2 = datasets.Dataset.from_dict({"sentence": ["a", "b"], "label": [0, 1]})
    with pytest.raises(snl.SkillNeuronError, match=r"no column\(s\) \['text'\].*rename_column.*text_column="):
        labelled_splits({"train": sst2})
