"""Streamed tasks: in-memory numbers, the documented split rule, one read per pass, clear errors."""

from __future__ import annotations

import csv
import hashlib
import json
import os

import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.predictivity.compute import compute_predictivity
from skillneuron_lens.record.recorder import RecordingConfig
from skillneuron_lens.tasks.provenance import task_fingerprint
from skillneuron_lens.tasks.readers import task_from_files
from skillneuron_lens.tasks.streaming import (
    READ_WINDOW,
    StreamedSplit,
    StreamedTask,
    stream_task_from_dataset,
    stream_task_from_files,
)
from skillneuron_lens.tasks.task import Split, Task
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

RESULT_TENSORS = (
    "accuracy", "baseline", "n_train", "n_dev", "firing", "near_baseline", "held_out_accuracy",
    "n_held_out", "null_run_predictivity",
)


@pytest.fixture(scope="module")
def model():
    return tiny_gpt2()


def write_jsonl(path, texts, labels, pairs=None):
    with path.open("w", encoding="utf-8") as handle:
        for k, (text, label) in enumerate(zip(texts, labels, strict=True)):
            record = {"text": text, "label": label} if pairs is None else {
                "text_a": text, "text_b": pairs[k], "label": label
            }
            handle.write(json.dumps(record) + "\n")
    return path


def write_csv(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def predictivity(model, task, batch_size=7):
    recording = RecordingConfig(batch_size=batch_size, max_length=16, progress=False)
    return compute_predictivity(
        model, task.train, task.dev, test=task.test, positions="last", recording=recording,
        n_permutations=5, n_classes=task.n_classes,
    )


def assert_same_result(expected, got):
    for name in RESULT_TENSORS:
        assert torch.equal(getattr(expected, name), getattr(got, name)), name


def reference_role(text, pair=None, seed=0, dev_fraction=0.2, test_fraction=0.2):
    """The split rule as docs/method.md and the streaming module state it, written out again."""
    key = text if pair is None else text + "\0" + pair

    def u(purpose):
        return int.from_bytes(hashlib.sha256((purpose + "\0" + key).encode()).digest()[:8], "big") / 2**64

    if u("test:0") < test_fraction:
        return "test"
    return "dev" if u(f"dev:{seed}") < dev_fraction else "train"


# ---- the same numbers as in memory ------------------------------------------------------------------
def test_streamed_files_give_the_in_memory_readers_predictivity_exactly(model, tmp_path):
    files = {}
    for k, role in enumerate(("train", "dev", "test")):
        texts, labels = toy_texts(40 + 10 * k, seed=k)
        files[role] = write_jsonl(tmp_path / f"{role}.jsonl", texts, labels)
    in_memory = task_from_files(files["train"], files["dev"], files["test"])
    streamed = stream_task_from_files(files["train"], files["dev"], files["test"])
    assert isinstance(streamed, StreamedTask) and isinstance(streamed.train, StreamedSplit)
    assert streamed.label_names == in_memory.label_names
    for role in ("train", "dev", "test"):
        assert streamed.split(role).labels == in_memory.split(role).labels
        assert list(streamed.split(role).texts) == in_memory.split(role).texts
    assert_same_result(predictivity(model, in_memory), predictivity(model, streamed))


def test_a_carved_pool_follows_the_documented_rule_and_scores_as_those_splits_in_memory(model, tmp_path):
    texts, labels = toy_texts(200, seed=5)
    path = write_csv(tmp_path / "pool.csv", ["label", "text"], zip(labels, texts, strict=True))
    streamed = stream_task_from_files(path)
    by_hand = {"train": ([], []), "dev": ([], []), "test": ([], [])}
    for text, label in zip(texts, labels, strict=True):
        role_texts, role_labels = by_hand[reference_role(text)]
        role_texts.append(text)
        role_labels.append(label)
    for role, (role_texts, role_labels) in by_hand.items():
        assert list(streamed.split(role).texts) == role_texts
        assert streamed.split(role).labels == role_labels
    # disjoint and complete
    assert sum(len(split) for split in streamed.splits.values()) == len(texts)
    splits = {role: Split(*parts) for role, parts in by_hand.items()}
    in_memory = Task("custom", streamed.label_names, splits)
    assert_same_result(predictivity(model, in_memory), predictivity(model, streamed))


def test_the_rule_is_deterministic_the_test_set_ignores_the_seed_and_duplicates_share_a_split(tmp_path):
    texts, labels = toy_texts(300, seed=9)
    texts[10] = texts[20] = texts[30]  # duplicates
    path = write_jsonl(tmp_path / "pool.jsonl", texts, labels)
    first, again = stream_task_from_files(path, seed=3), stream_task_from_files(path, seed=3)
    other_seed = stream_task_from_files(path, seed=4, dev_fraction=0.5)
    for role in ("train", "dev", "test"):
        assert list(first.split(role).texts) == list(again.split(role).texts)
    assert list(first.test.texts) == list(other_seed.test.texts)
    assert list(first.dev.texts) != list(other_seed.dev.texts)
    assert len(other_seed.dev) > len(first.dev)  # dev_fraction 0.5 of the non-test rows
    roles = {role for role, split in first.splits.items() if texts[30] in list(split.texts)}
    assert len(roles) == 1
    # a row's split does not depend on the others: the reversed file splits the same texts the same way
    reversed_path = write_jsonl(tmp_path / "reversed.jsonl", texts[::-1], labels[::-1])
    flipped = stream_task_from_files(reversed_path, seed=3)
    for role in ("train", "dev", "test"):
        assert sorted(flipped.split(role).texts) == sorted(first.split(role).texts)


def test_pairs_stream_with_one_read_per_pass(model, tmp_path):
    texts, labels = toy_texts(90, seed=2)
    pairs = [" ".join(reversed(text.split())) for text in texts]
    path = write_jsonl(tmp_path / "pairs.jsonl", texts, labels, pairs)
    streamed = stream_task_from_files(path)
    assert streamed.is_pair
    in_memory = streamed.in_memory()
    assert in_memory.train.text_pairs == [
        pair for text, pair in zip(texts, pairs, strict=True) if reference_role(text, pair) == "train"
    ]
    assert_same_result(predictivity(model, in_memory), predictivity(model, streamed))
    for split in streamed.splits.values():  # texts and second texts of a batch come from one read
        assert split.texts.restarts == 0 and split.text_pairs.restarts == 0


def test_reading_backwards_beyond_the_window_starts_the_source_again(tmp_path):
    texts, labels = toy_texts(READ_WINDOW + 50, seed=1, max_len=3)
    path = write_jsonl(tmp_path / "many.jsonl", texts, labels)
    column = stream_task_from_files(path, dev_file=path).train.texts  # train used as it is
    assert column[READ_WINDOW + 40] == texts[READ_WINDOW + 40] and column.restarts == 0
    assert column[100] == texts[100] and column.restarts == 0  # still in the window
    assert column[2] == texts[2] and column.restarts == 1
    assert column[-1] == texts[-1] and column[3:6] == texts[3:6]
    with pytest.raises(IndexError):
        column[len(texts)]


def test_subsample_and_balanced_stay_streamed_and_keep_the_in_memory_rows(tmp_path):
    texts, labels = toy_texts(400, seed=4)
    path = write_jsonl(tmp_path / "pool.jsonl", texts, labels)
    streamed = stream_task_from_files(path)
    transforms = (("subsample", lambda t: t.subsample(60, seed=2)), ("balanced", lambda t: t.balanced(1)))
    for name, transform in transforms:
        small, reference = transform(streamed), transform(streamed.in_memory())
        assert isinstance(small, StreamedTask), name
        for role in ("train", "dev", "test"):
            assert list(small.split(role).texts) == reference.split(role).texts, name
            assert small.split(role).labels == reference.split(role).labels, name
    twice = streamed.subsample(100, seed=0).subsample(50, seed=1)
    reference = streamed.in_memory().subsample(100, seed=0).subsample(50, seed=1)
    assert list(twice.train.texts) == reference.train.texts
    with pytest.raises(SkillNeuronError, match="increasing order"):
        streamed.train.select([3, 1])
    with pytest.raises(SkillNeuronError, match="dev_fraction=0.5"):
        streamed.with_dev_share(0.5)


def test_a_streamed_dataset_reads_as_the_same_file(tmp_path):
    datasets = pytest.importorskip("datasets")
    texts, labels = toy_texts(120, seed=6)
    path = write_jsonl(tmp_path / "pool.jsonl", texts, labels)
    data = datasets.load_dataset("json", data_files={"train": str(path)}, streaming=True)
    from_dataset = stream_task_from_dataset(data)
    from_file = stream_task_from_files(path)
    for role in ("train", "dev", "test"):
        assert list(from_dataset.split(role).texts) == list(from_file.split(role).texts)
        assert from_dataset.split(role).labels == from_file.split(role).labels
    assert from_dataset.fingerprint()["splits"]["train"]["source"]["kind"] == "datasets"


# ---- fingerprints -----------------------------------------------------------------------------------
def test_the_fingerprint_is_stable_and_follows_the_data(tmp_path):
    texts, labels = toy_texts(100, seed=7)
    path = write_jsonl(tmp_path / "pool.jsonl", texts, labels)
    fingerprint = task_fingerprint(stream_task_from_files(path))
    assert fingerprint == task_fingerprint(stream_task_from_files(path))
    assert json.loads(json.dumps(fingerprint)) == fingerprint
    train = fingerprint["splits"]["train"]
    assert train["count"] == sum(reference_role(text) == "train" for text in texts)
    assert train["source"]["size"] == path.stat().st_size and train["carved_by"]["seed"] == 0
    assert task_fingerprint(stream_task_from_files(path, seed=1)) != fingerprint
    in_memory = task_fingerprint(stream_task_from_files(path).in_memory())
    assert in_memory["kind"] == "in_memory" and in_memory["splits"]["train"]["count"] == train["count"]
    stat = path.stat()
    texts[0] = texts[0] + " w1"
    write_jsonl(path, texts, labels)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert task_fingerprint(stream_task_from_files(path)) != fingerprint  # size and sample hash differ


# ---- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.jsonl", "", "is empty"),
        ("blank.jsonl", "\n\n", "is empty"),
        ("header.csv", "text,label\n", "has no examples"),
        ("nolabel.jsonl", '{"text": "w1"}\n', r"has no column\(s\) \['label'\]; columns found: \['text'\]"),
        ("notext.csv", "sentence,label\nw1,0\n", "has no 'text' column"),
        ("gap.jsonl", '{"text": "w1", "label": 0}\n{"text": "w2"}\n',
         r"gap.jsonl line 2: missing value\(s\) for \['label'\]"),
        ("number.jsonl", '{"text": 5, "label": 0}\n', "line 1: 'text' is int"),
        ("broken.jsonl", '{"text": "w1", "label": 0}\n{"text": \n', "line 2: not valid JSON"),
        ("wide.csv", "text,label\nw1,0,extra\n", "line 2 has more fields than the header"),
        ("array.json", '[{"text": "w1", "label": 0}]', "Convert it to JSON Lines"),
        ("data.txt", "w1\n", "Unsupported file extension '.txt'"),
        ("labels.jsonl", '{"text": "w1", "label": "nan"}\n', "missing"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SkillNeuronError, match=message):
        stream_task_from_files(path)


def test_missing_and_non_utf8_files_name_the_file_and_line(tmp_path):
    with pytest.raises(SkillNeuronError, match="File not found"):
        stream_task_from_files(tmp_path / "absent.jsonl")
    path = tmp_path / "latin.jsonl"
    content = b'{"text": "w1", "label": 0}\n{"text": "caf\xe9", "label": 1}\n'
    path.write_bytes(content)
    offset = content.index(b"\xe9")
    expected = rf"not valid UTF-8: byte 0xe9 at byte offset {offset} \(line 2\)"
    with pytest.raises(SkillNeuronError, match=expected):
        stream_task_from_files(path)


def test_a_split_the_rule_leaves_empty_is_named(tmp_path):
    path = write_jsonl(tmp_path / "one.jsonl", ["w1 w2"], [0])
    with pytest.raises(SkillNeuronError, match="put none of the 1 examples of .*one.jsonl into"):
        stream_task_from_files(path)


def test_a_file_changed_after_counting_is_refused_when_read(tmp_path):
    texts, labels = toy_texts(50, seed=8)
    path = write_jsonl(tmp_path / "train.jsonl", texts, labels)
    task = stream_task_from_files(path, dev_file=path)
    write_jsonl(path, texts[:20], labels[:20])
    with pytest.raises(SkillNeuronError, match="changed since the streamed task was built"):
        list(task.train.texts)
    write_jsonl(path, texts, [1 - label for label in labels])
    with pytest.raises(SkillNeuronError, match="is not the example counted there"):
        task.train.texts[0]


def test_a_one_shot_iterator_is_refused():
    records = ({"text": "w1", "label": k % 2} for k in range(10))
    with pytest.raises(SkillNeuronError, match="one-shot iterator"):
        stream_task_from_dataset(records)


def test_a_streamed_split_is_built_by_the_readers_only():
    with pytest.raises(SkillNeuronError, match="holds streamed texts"):
        StreamedSplit(["w1"], [0])
