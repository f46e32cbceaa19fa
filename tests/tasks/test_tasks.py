"""Tests for the task data model, the split policy, sampling, and the user-data readers."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from skillneuron_lens.errors import SkillNeuronError  # noqa: E402
from skillneuron_lens.tasks.readers import (  # noqa: E402
    infer_split_roles,
    task_from_dataframe,
    task_from_files,
    task_from_hf_dataset,
    task_from_lists,
)
from skillneuron_lens.tasks.task import Split, Task, make_splits, split_pool  # noqa: E402

USER = Path(__file__).parents[1] / "fixtures" / "tasks" / "user"


def make_split(counts: dict[int, int], prefix: str = "t") -> Split:
    """A split with ``counts[label]`` examples of each label and unique texts."""
    labels = [label for label, count in counts.items() for _ in range(count)]
    return Split([f"{prefix}{i}" for i in range(len(labels))], labels)


def make_task(**splits: Split) -> Task:
    return Task(
        "toy", ["neg", "pos", "neu"][: max(max(s.labels) for s in splits.values()) + 1], splits
    )


# ------------------------------------------------------------------------------------------------
# Split and Task validation
# ------------------------------------------------------------------------------------------------


class TestSplit:
    def test_holds_copies_and_length(self):
        texts, labels = ["a", "b"], [0, 1]
        split = Split(texts, labels)
        texts.append("c")
        assert len(split) == 2
        assert split.texts == ["a", "b"]
        assert split.text_pairs is None and not split.is_pair

    def test_numpy_ints_become_python_ints(self):
        split = Split(["a", "b"], np.array([0, 1]))
        assert split.labels == [0, 1]
        assert all(type(label) is int for label in split.labels)

    def test_rejects_mismatched_lengths(self):
        with pytest.raises(SkillNeuronError, match="differ in length"):
            Split(["a", "b"], [0])
        with pytest.raises(SkillNeuronError, match="text_pairs"):
            Split(["a", "b"], [0, 1], ["x"])

    @pytest.mark.parametrize("bad", [True, "pos", 1.0, None])
    def test_rejects_non_int_labels(self, bad):
        with pytest.raises(SkillNeuronError, match=r"labels\[1\]"):
            Split(["a", "b"], [0, bad])

    def test_rejects_non_str_texts(self):
        with pytest.raises(SkillNeuronError, match=r"texts\[0\] is float"):
            Split([float("nan")], [0])
        with pytest.raises(SkillNeuronError, match=r"text_pairs\[1\] is int"):
            Split(["a", "b"], [0, 1], ["x", 3])

    def test_repr_is_short(self):
        split = Split(["x" * 1000] * 3, [0, 1, 1])
        assert repr(split) == "Split(n=3, label_counts={0: 1, 1: 2}, pairs=False)"

    def test_select(self):
        split = Split(["a", "b", "c"], [0, 1, 0], ["A", "B", "C"])
        picked = split.select([2, 0])
        assert (picked.texts, picked.labels, picked.text_pairs) == (["c", "a"], [0, 0], ["C", "A"])


class TestTask:
    def test_properties(self):
        train, test = make_split({0: 2, 1: 2}), make_split({0: 1, 1: 1})
        task = Task("toy", ["neg", "pos"], {"test": test, "train": train}, source="unit test")
        assert task.n_classes == 2
        assert task.train is train and task.test is test
        assert list(task.splits) == ["train", "test"]  # canonical order
        assert "toy" in repr(task) and "'train': 4" in repr(task)

    def test_missing_split_names_available(self):
        task = Task("toy", ["neg", "pos"], {"train": make_split({0: 1, 1: 1})})
        with pytest.raises(SkillNeuronError, match=r"no 'dev' split; available splits: train"):
            _ = task.dev

    def test_label_out_of_range_names_value_row_and_valid_set(self):
        split = Split(["a", "b", "c"], [0, 1, 2])
        with pytest.raises(SkillNeuronError) as info:
            Task("toy", ["neg", "pos"], {"train": split})
        message = str(info.value)
        assert "split 'train', row 2" in message
        assert "label 2 is out of range" in message
        assert "[0, 1]" in message and "'neg'" in message and "'pos'" in message

    def test_negative_label_hints_unlabelled_rows(self):
        with pytest.raises(SkillNeuronError, match="unlabelled"):
            Task("toy", ["neg", "pos"], {"test": Split(["a"], [-1])})

    @pytest.mark.parametrize(
        ("label_names", "splits", "match"),
        [
            ([], {"train": Split(["a"], [0])}, "empty"),
            (["a", "a"], {"train": Split(["a"], [0])}, "duplicates"),
            (["a", 1], {"train": Split(["a"], [0])}, "strings"),
            (["a"], {"validation": Split(["a"], [0])}, "Unknown split"),
            (["a"], {}, "non-empty"),
            (["a"], {"train": (["a"], [0])}, "not a Split"),
            (["a"], {"train": Split(["a"], [0]), "test": Split(["b"], [0], ["c"])}, "text_pairs"),
        ],
    )
    def test_rejects_bad_construction(self, label_names, splits, match):
        with pytest.raises(SkillNeuronError, match=match):
            Task("toy", label_names, splits)


# ------------------------------------------------------------------------------------------------
# Split policy
# ------------------------------------------------------------------------------------------------


class TestMakeSplits:
    def test_80_20_stratified_disjoint(self):
        train = make_split({0: 300, 1: 200})
        splits = make_splits(train, seed=3)
        assert list(splits) == ["train", "dev"]
        assert (len(splits["train"]), len(splits["dev"])) == (400, 100)
        assert splits["dev"].label_counts() == {0: 60, 1: 40}
        assert splits["train"].label_counts() == {0: 240, 1: 160}
        assert not set(splits["train"].texts) & set(splits["dev"].texts)
        assert sorted(splits["train"].texts + splits["dev"].texts) == sorted(train.texts)

    def test_rows_keep_their_labels(self):
        train = make_split({0: 30, 1: 20})
        truth = dict(zip(train.texts, train.labels, strict=True))
        for split in make_splits(train).values():
            assert all(truth[t] == y for t, y in zip(split.texts, split.labels, strict=True))

    def test_reproducible_and_seed_dependent(self):
        train = make_split({0: 50, 1: 50})
        first, again, other = (make_splits(train, seed=s) for s in (0, 0, 1))
        assert first["dev"].texts == again["dev"].texts
        assert first["train"].texts == again["train"].texts
        assert set(first["dev"].texts) != set(other["dev"].texts)

    def test_carved_rows_are_shuffled(self):
        splits = make_splits(make_split({0: 50, 1: 50}))
        assert splits["train"].labels != sorted(splits["train"].labels)

    def test_test_and_dev_pass_through(self):
        train, dev, test = make_split({0: 4, 1: 4}), make_split({0: 1}), make_split({1: 2})
        assert make_splits(train, test=test)["test"] is test
        splits = make_splits(train, test=test, dev=dev)
        assert splits == {"train": train, "dev": dev, "test": test}

    def test_dev_fraction(self):
        splits = make_splits(make_split({0: 50, 1: 50}), dev_fraction=0.1)
        assert len(splits["dev"]) == 10

    @pytest.mark.parametrize("fraction", [0.0, 1.0, -0.2, 1.5])
    def test_rejects_bad_fraction(self, fraction):
        with pytest.raises(SkillNeuronError, match="between 0 and 1"):
            make_splits(make_split({0: 5, 1: 5}), dev_fraction=fraction)

    def test_rejects_too_small_train(self):
        with pytest.raises(SkillNeuronError, match="1 example"):
            make_splits(make_split({0: 1}))

    def test_tiny_train_keeps_one_example_on_each_side(self):
        splits = make_splits(make_split({0: 1, 1: 1}))
        assert (len(splits["train"]), len(splits["dev"])) == (1, 1)


class TestSplitPool:
    def test_sizes_and_strata(self):
        splits = split_pool(make_split({0: 600, 1: 400}))
        assert {name: len(s) for name, s in splits.items()} == {
            "train": 640,
            "dev": 160,
            "test": 200,
        }
        assert splits["test"].label_counts() == {0: 120, 1: 80}
        assert splits["dev"].label_counts() == {0: 96, 1: 64}

    def test_test_set_is_fixed_across_seeds(self):
        pool = make_split({0: 60, 1: 40})
        a, b = split_pool(pool, seed=0), split_pool(pool, seed=5)
        assert a["test"].texts == b["test"].texts
        assert set(a["dev"].texts) != set(b["dev"].texts)
        assert split_pool(pool, test_seed=1)["test"].texts != a["test"].texts


# ------------------------------------------------------------------------------------------------
# Subsampling and balancing
# ------------------------------------------------------------------------------------------------


class TestSubsample:
    @pytest.fixture
    def task(self):
        return make_task(
            train=make_split({0: 600, 1: 200}, "tr"),
            dev=make_split({0: 150, 1: 50}, "dv"),
            test=make_split({0: 100, 1: 100}, "te"),
        )

    def test_total_and_split_proportions(self, task):
        small = task.subsample(120, seed=1)
        assert {name: len(s) for name, s in small.splits.items()} == {
            "train": 80,
            "dev": 20,
            "test": 20,
        }

    def test_stratified_within_splits(self, task):
        small = task.subsample(120, seed=1)
        assert small.train.label_counts() == {0: 60, 1: 20}
        assert small.dev.label_counts() == {0: 15, 1: 5}
        assert small.test.label_counts() == {0: 10, 1: 10}

    def test_rows_are_a_subset_in_original_order(self, task):
        small = task.subsample(120, seed=1)
        for name, split in small.splits.items():
            positions = [task.splits[name].texts.index(text) for text in split.texts]
            assert positions == sorted(positions)
            assert split.labels == [task.splits[name].labels[p] for p in positions]

    def test_seeded(self, task):
        assert task.subsample(50, seed=2).train.texts == task.subsample(50, seed=2).train.texts
        assert task.subsample(50, seed=2).train.texts != task.subsample(50, seed=3).train.texts

    def test_every_split_keeps_one_example(self, task):
        small = task.subsample(3)
        assert [len(s) for s in small.splits.values()] == [1, 1, 1]

    def test_large_n_returns_the_task(self, task):
        assert task.subsample(10_000) is task

    @pytest.mark.parametrize(
        ("n", "match"), [(2, "n >= 3"), (0, "positive int"), (1.5, "positive")]
    )
    def test_rejects_bad_n(self, task, n, match):
        with pytest.raises(SkillNeuronError, match=match):
            task.subsample(n)


class TestBalanced:
    def test_every_split_balanced_to_its_rarest_class(self):
        task = make_task(
            train=make_split({0: 30, 1: 10, 2: 20}), test=make_split({0: 5, 1: 7, 2: 9})
        )
        balanced = task.balanced(seed=4)
        assert balanced.train.label_counts() == {0: 10, 1: 10, 2: 10}
        assert balanced.test.label_counts() == {0: 5, 1: 5, 2: 5}
        rare = [t for t, y in zip(task.train.texts, task.train.labels, strict=True) if y == 1]
        assert [
            t for t, y in zip(balanced.train.texts, balanced.train.labels, strict=True) if y == 1
        ] == rare

    def test_seeded_and_ordered(self):
        task = make_task(train=make_split({0: 40, 1: 10}))
        assert task.balanced(seed=1).train.texts == task.balanced(seed=1).train.texts
        assert task.balanced(seed=1).train.texts != task.balanced(seed=2).train.texts
        kept = task.balanced(seed=1).train.texts
        assert kept == [text for text in task.train.texts if text in set(kept)]

    def test_missing_class_is_an_error(self):
        task = Task(
            "toy", ["neg", "pos"], {"train": make_split({0: 3, 1: 3}), "dev": make_split({0: 2})}
        )
        with pytest.raises(
            SkillNeuronError, match=r"split 'dev'.*no example of label\(s\) \['pos'\]"
        ):
            task.balanced()


# ------------------------------------------------------------------------------------------------
# User data: lists and data frames
# ------------------------------------------------------------------------------------------------

TEXTS = [f"text {i}" for i in range(20)]
STRING_LABELS = ["pos", "neg"] * 10


class TestFromLists:
    def test_string_labels_sorted(self):
        task = task_from_lists(TEXTS, STRING_LABELS)
        assert task.label_names == ["neg", "pos"]
        assert {name: len(s) for name, s in task.splits.items()} == {
            "train": 13,
            "dev": 3,
            "test": 4,
        }
        everything = {
            t: y for s in task.splits.values() for t, y in zip(s.texts, s.labels, strict=True)
        }
        assert everything["text 0"] == 1 and everything["text 1"] == 0
        assert task.source == "user lists" and task.name == "custom"

    def test_label_names_order_wins(self):
        task = task_from_lists(TEXTS, STRING_LABELS, label_names=["pos", "neg"], name="mine")
        everything = {
            t: y for s in task.splits.values() for t, y in zip(s.texts, s.labels, strict=True)
        }
        assert everything["text 0"] == 0 and task.name == "mine"

    def test_int_labels(self):
        task = task_from_lists(TEXTS, [i % 3 for i in range(20)])
        assert task.label_names == ["0", "1", "2"]
        named = task_from_lists(TEXTS, [i % 2 for i in range(20)], label_names=["bad", "good"])
        assert named.label_names == ["bad", "good"]

    def test_pairs(self):
        task = task_from_lists(TEXTS, STRING_LABELS, text_pairs=[t.upper() for t in TEXTS])
        assert task.is_pair
        assert all(
            p == t.upper() for t, p in zip(task.train.texts, task.train.text_pairs, strict=True)
        )

    def test_label_not_in_label_names(self):
        with pytest.raises(
            SkillNeuronError,
            match=r"outside the label names \['pos', 'bad'\]: 'neg' \(\d+ rows?, first at row 1\)",
        ):
            task_from_lists(TEXTS, STRING_LABELS, label_names=["pos", "bad"])

    def test_int_label_out_of_range(self):
        with pytest.raises(SkillNeuronError, match=r"row 3: label 5 is out of range"):
            task_from_lists(TEXTS[:4], [0, 1, 0, 5], label_names=["a", "b"])

    @pytest.mark.parametrize(
        ("labels", "match"),
        [
            ([0, 1, 0.5, 1], r"row 2: label 0.5 is float"),
            ([0, "a", 1, "b"], "mix int ids and strings"),
            (["a", "", "b", "a"], "row 1: the label is empty"),
            ([0, 1, True, 0], "row 2: label True is bool"),
            ([0, -1, 1, 0], "row 1: label -1 is out of range"),
        ],
    )
    def test_bad_labels(self, labels, match):
        with pytest.raises(SkillNeuronError, match=match):
            task_from_lists(TEXTS[:4], labels)

    def test_bad_texts_and_lengths(self):
        with pytest.raises(SkillNeuronError, match="Got 20 texts but 3 labels"):
            task_from_lists(TEXTS, [0, 1, 0])
        with pytest.raises(SkillNeuronError, match=r"row 1: 'text' is NoneType"):
            task_from_lists(["a", None, "c", "d"], [0, 1, 0, 1])


@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


class TestFromDataFrame:
    def test_columns_and_pairs(self, pd):
        df = pd.DataFrame({"premise": TEXTS, "hyp": TEXTS[::-1], "gold": STRING_LABELS})
        task = task_from_dataframe(df, "premise", "gold", pair_column="hyp", name="nli")
        assert (
            task.label_names == ["neg", "pos"]
            and task.is_pair
            and task.source == "pandas DataFrame"
        )
        assert sum(len(s) for s in task.splits.values()) == 20

    def test_missing_column_lists_found(self, pd):
        df = pd.DataFrame({"sentence": TEXTS, "label": STRING_LABELS})
        with pytest.raises(
            SkillNeuronError,
            match=r"no column\(s\) \['text'\]; columns found: \['sentence', 'label'\]",
        ):
            task_from_dataframe(df)

    def test_nan_text_names_index_label(self, pd):
        df = pd.DataFrame({"text": ["a", None, "c"], "label": [0, 1, 0]}, index=[10, 11, 12])
        with pytest.raises(SkillNeuronError, match="DataFrame row 11"):
            task_from_dataframe(df)

    def test_rejects_non_dataframe(self, pd):
        with pytest.raises(SkillNeuronError, match="Expected a pandas DataFrame"):
            task_from_dataframe({"text": TEXTS})


# ------------------------------------------------------------------------------------------------
# User data: files
# ------------------------------------------------------------------------------------------------


def all_rows(task: Task) -> dict[str, str]:
    return {
        text: task.label_names[label]
        for split in task.splits.values()
        for text, label in zip(split.texts, split.labels, strict=True)
    }


class TestFromFiles:
    def test_csv_train_dev_test_used_as_is(self):
        task = task_from_files(
            USER / "reviews_train.csv", USER / "reviews_dev.csv", USER / "reviews_test.csv"
        )
        assert task.label_names == ["negative", "positive"]
        assert [len(s) for s in task.splits.values()] == [10, 3, 4]
        assert task.test.texts[0] == "Bright, bold and brilliant." and task.test.labels[0] == 1
        assert task.train.texts[0] == "A warm, funny film with a big heart."
        assert "reviews_train.csv" in task.source

    def test_csv_train_and_test_carves_dev(self):
        task = task_from_files(USER / "reviews_train.csv", test_file=USER / "reviews_test.csv")
        assert [len(s) for s in task.splits.values()] == [8, 2, 4]
        assert task.dev.label_counts() == {0: 1, 1: 1}

    def test_train_and_dev_files_give_no_test(self):
        task = task_from_files(USER / "reviews_train.csv", USER / "reviews_dev.csv")
        assert list(task.splits) == ["train", "dev"]
        assert [len(s) for s in task.splits.values()] == [10, 3]
        with pytest.raises(SkillNeuronError, match="no 'test' split; available splits: train, dev"):
            _ = task.test

    def test_single_file_is_split_three_ways(self):
        task = task_from_files(USER / "reviews.jsonl")
        assert list(task.splits) == ["train", "dev", "test"]
        assert sum(len(s) for s in task.splits.values()) == 8
        assert task.label_names == ["0", "1"]
        assert all_rows(task)["Dull from start to finish."] == "0"

    def test_tsv_and_json_array(self):
        tsv = task_from_files(USER / "reviews.tsv", label_names=["neg", "pos"])
        assert all_rows(tsv)["A triumph."] == "pos"
        array = task_from_files(USER / "reviews_train.csv", test_file=USER / "reviews.json")
        assert array.test.texts == [
            "An utter joy.",
            "A tiresome slog.",
            "Lovely, and quietly devastating.",
            "Not one scene works.",
        ]
        assert array.test.labels == [1, 0, 1, 0]

    def test_pairs_across_formats_share_label_ids(self):
        task = task_from_files(
            USER / "nli_train.csv",
            test_file=USER / "nli_test.jsonl",
            label_names=["entailment", "neutral", "contradiction"],
        )
        assert task.is_pair
        assert task.test.texts[0] == "A boy is reading a book."
        assert task.test.text_pairs == [
            "A child is reading.",
            "The book is about space.",
            "The boy is swimming.",
        ]
        assert task.test.labels == [0, 1, 2]
        assert len(task.dev) == 2 and set(task.dev.label_counts().values()) == {1}

    def test_string_labels_sorted_over_all_files(self):
        task = task_from_files(USER / "nli_train.csv", test_file=USER / "nli_test.jsonl")
        assert task.label_names == ["contradiction", "entailment", "neutral"]
        assert task.test.labels == [1, 2, 0]

    def test_utf8_bom_and_crlf(self):
        task = task_from_files(USER / "bom.csv", USER / "bom.csv")
        assert task.train.texts == ["Great film.", "Awful film."] and task.train.labels == [1, 0]

    def test_seed_changes_dev_only(self):
        a = task_from_files(USER / "reviews.jsonl", seed=0)
        b = task_from_files(USER / "reviews.jsonl", seed=1)
        assert a.test.texts == b.test.texts

    def test_missing_column_lists_found(self):
        with pytest.raises(SkillNeuronError) as info:
            task_from_files(USER / "wrong_columns.csv")
        message = str(info.value)
        assert "wrong_columns.csv" in message and "['label']" in message
        assert "columns found: ['text', 'sentiment']" in message

    def test_missing_text_column(self, tmp_path):
        path = _write(tmp_path, "no_text.jsonl", '{"sentence": "a", "label": 0}\n')
        with pytest.raises(
            SkillNeuronError, match=r"no 'text' column.*columns found: \['label', 'sentence'\]"
        ):
            task_from_files(path)

    def test_empty_file(self):
        with pytest.raises(SkillNeuronError, match=r"empty\.csv is empty"):
            task_from_files(USER / "empty.csv")

    def test_header_only(self):
        with pytest.raises(
            SkillNeuronError, match=r"header_only\.csv has a header \(text,label\) but no data rows"
        ):
            task_from_files(USER / "header_only.csv")

    def test_non_utf8_file_names_position(self):
        with pytest.raises(SkillNeuronError) as info:
            task_from_files(USER / "latin1.csv")
        message = str(info.value)
        assert "latin1.csv is not valid UTF-8" in message
        assert "byte 0xef at byte offset 34 (line 3)" in message
        assert "Re-save the file as UTF-8" in message

    def test_invalid_json_line(self):
        with pytest.raises(SkillNeuronError, match=r"bad_line\.jsonl line 3: not valid JSON"):
            task_from_files(USER / "bad_line.jsonl")

    def test_missing_value(self):
        with pytest.raises(
            SkillNeuronError,
            match=r"missing_value\.jsonl line 3: missing value\(s\) for \['label'\]; "
            r"fields found: \['text'\]",
        ):
            task_from_files(USER / "missing_value.jsonl")

    def test_label_not_in_label_names_names_file_and_line(self):
        with pytest.raises(
            SkillNeuronError,
            match=r"outside the label names .*'mixed' \(1 row, first at \S*unknown_label\.csv line 4\)",
        ):
            task_from_files(USER / "unknown_label.csv", label_names=["negative", "positive"])

    def test_unknown_extension(self, tmp_path):
        path = tmp_path / "data.xlsx"
        path.write_bytes(b"PK\x03\x04")
        with pytest.raises(
            SkillNeuronError, match=r"Unsupported file extension '\.xlsx'.*\.csv, \.tsv, \.jsonl"
        ):
            task_from_files(path)

    def test_file_not_found(self, tmp_path):
        with pytest.raises(SkillNeuronError, match="File not found"):
            task_from_files(tmp_path / "nope.csv")

    def test_short_csv_row(self, tmp_path):
        path = _write(tmp_path, "short.csv", "text,label\nfine,1\nno label here\nok,0\n")
        with pytest.raises(
            SkillNeuronError, match=r"short\.csv line 3: missing value\(s\) for \['label'\]"
        ):
            task_from_files(path)

    def test_json_must_hold_objects(self, tmp_path):
        with pytest.raises(
            SkillNeuronError, match=r"lines\.jsonl line 2: expected a JSON object, got list"
        ):
            task_from_files(_write(tmp_path, "lines.jsonl", '{"text": "a", "label": 0}\n[1, 2]\n'))
        with pytest.raises(SkillNeuronError, match=r"array\.json item 1: expected a JSON object"):
            task_from_files(_write(tmp_path, "array.json", '[{"text": "a", "label": 0}, 3]'))

    def test_non_string_text_in_json(self, tmp_path):
        path = _write(
            tmp_path, "nums.jsonl", '{"text": "a", "label": 0}\n{"text": 7, "label": 1}\n'
        )
        with pytest.raises(SkillNeuronError, match=r"nums\.jsonl line 2: 'text' is int"):
            task_from_files(path)


def _write(folder: Path, name: str, content: str) -> Path:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------
# User data: Hugging Face datasets
# ------------------------------------------------------------------------------------------------


class TestFromHfDataset:
    @pytest.fixture(autouse=True)
    def _datasets(self):
        self.datasets = pytest.importorskip("datasets")

    def make(self, n: int = 10, offset: int = 0, class_label: bool = True):
        features = self.datasets.Features(
            {
                "text": self.datasets.Value("string"),
                "label": self.datasets.ClassLabel(names=["bad", "good"])
                if class_label
                else self.datasets.Value("string"),
            }
        )
        labels = (
            [i % 2 for i in range(n)] if class_label else [["bad", "good"][i % 2] for i in range(n)]
        )
        texts = [f"row {offset + i}" for i in range(n)]
        return self.datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)

    def test_single_dataset_is_a_pool_with_class_label_names(self):
        task = task_from_hf_dataset(self.make(20))
        assert task.label_names == ["bad", "good"]
        assert [len(s) for s in task.splits.values()] == [13, 3, 4]

    def test_string_label_column(self, caplog):
        with caplog.at_level("WARNING", logger="skillneuron_lens.tasks.labels"):
            task = task_from_hf_dataset(self.make(20, class_label=False))
        assert task.label_names == ["bad", "good"]
        assert "labels mapped bad=0, good=1 (alphabetical)" in caplog.text

    def test_label_precedence_given_names_then_class_label_then_guess(self, caplog):
        with caplog.at_level("WARNING", logger="skillneuron_lens.tasks.labels"):
            own = task_from_hf_dataset(self.make(20))
            given = task_from_hf_dataset(self.make(20), label_names=["negative", "positive"])
            reordered = task_from_hf_dataset(
                self.make(20, class_label=False), label_names=["good", "bad"]
            )
        assert own.label_names == ["bad", "good"]  # the ClassLabel's own names, no guess
        assert given.label_names == ["negative", "positive"]  # given names win (ids kept)
        assert given.train.labels == own.train.labels
        assert reordered.label_names == ["good", "bad"]
        assert all_rows(reordered) == all_rows(own)  # each text keeps its label, under new ids
        ids = {t: y for sp in reordered.splits.values() for t, y in zip(sp.texts, sp.labels, strict=True)}
        assert ids["row 1"] == 0 and ids["row 0"] == 1  # "good" is id 0 as given
        assert "labels mapped" not in caplog.text

    def test_train_validation_test(self):
        data = self.datasets.DatasetDict(
            train=self.make(10), validation=self.make(4, 100), test=self.make(6, 200)
        )
        task = task_from_hf_dataset(data)
        assert task.dev.texts == [f"row {100 + i}" for i in range(4)]
        assert task.test.texts == [f"row {200 + i}" for i in range(6)]
        assert len(task.train) == 10

    def test_validation_becomes_test(self):
        data = self.datasets.DatasetDict(train=self.make(10), validation=self.make(4, 100))
        task = task_from_hf_dataset(data, seed=2)
        assert task.test.texts == [f"row {100 + i}" for i in range(4)]
        assert (len(task.train), len(task.dev)) == (8, 2)

    def test_split_map_and_joined_columns(self):
        ds = self.datasets.Dataset.from_dict(
            {
                "title": ["T1", "T2", "T3", "T4"],
                "body": [" b1", "b2 ", "b3", "b4"],
                "y": [0, 1, 0, 1],
            }
        )
        data = self.datasets.DatasetDict(fit=ds, holdout=ds)
        task = task_from_hf_dataset(
            data,
            ("title", "body"),
            "y",
            label_names=["a", "b"],
            split_map={"train": "fit", "test": "holdout"},
        )
        assert task.test.texts == ["T1\nb1", "T2\nb2", "T3\nb3", "T4\nb4"]

    def test_errors(self):
        data = self.datasets.DatasetDict(train=self.make(4))
        with pytest.raises(
            SkillNeuronError,
            match=r"has no column\(s\) \['sentence'\]; columns found: \['text', 'label'\]",
        ):
            task_from_hf_dataset(data, text_column="sentence")
        with pytest.raises(
            SkillNeuronError, match=r"no split\(s\) \['validation'\]; splits found: \['train'\]"
        ):
            task_from_hf_dataset(data, split_map={"train": "train", "test": "validation"})
        with pytest.raises(SkillNeuronError, match="no 'train' split"):
            task_from_hf_dataset(self.datasets.DatasetDict(test=self.make(4)))
        unlabelled = self.datasets.Dataset.from_dict({"text": ["a", "b"], "label": [-1, -1]})
        with pytest.raises(
            SkillNeuronError, match=r"split 'test' row 0: label -1 is out of range.*unlabelled"
        ):
            task_from_hf_dataset(
                self.datasets.DatasetDict(train=self.make(4), test=unlabelled),
                label_names=["bad", "good"],
            )


@pytest.mark.parametrize(
    ("available", "roles"),
    [
        (["train"], {"train": "train"}),
        (["train", "test"], {"train": "train", "test": "test"}),
        (["train", "validation"], {"train": "train", "test": "validation"}),
        (["train", "validation", "test"], {"train": "train", "dev": "validation", "test": "test"}),
        (
            ["train", "dev", "test", "unsupervised"],
            {"train": "train", "dev": "dev", "test": "test"},
        ),
        (["train", "test", "unsupervised"], {"train": "train", "test": "test"}),
    ],
)
def test_infer_split_roles(available, roles):
    assert infer_split_roles(available) == roles


# ------------------------------------------------------------------------------------------------
# Label meanings: explicit order, stray values, guessed order with a warning
# ------------------------------------------------------------------------------------------------


def _label_csv(folder: Path, labels: list[str]) -> Path:
    lines = ["text,label"] + [f"text number {i},{label}" for i, label in enumerate(labels)]
    return _write(folder, "train.csv", "\n".join(lines) + "\n")


class TestLabelMeanings:
    THREE = ["bad", "good", "neutral"] * 10

    def test_guessed_order_is_announced_with_its_mapping(self, tmp_path, caplog):
        with caplog.at_level("WARNING", logger="skillneuron_lens.tasks.labels"):
            task = task_from_files(_label_csv(tmp_path, self.THREE))
        assert task.label_names == ["bad", "good", "neutral"]
        assert "labels mapped bad=0, good=1, neutral=2 (alphabetical); pass --labels" in caplog.text

    def test_explicit_order_sets_the_ids_and_stays_silent(self, tmp_path, caplog):
        order = ["bad", "neutral", "good"]
        with caplog.at_level("WARNING", logger="skillneuron_lens.tasks.labels"):
            task = task_from_files(_label_csv(tmp_path, self.THREE), label_names=order)
        assert task.label_names == order and "labels mapped" not in caplog.text
        # every text keeps its own label name: ids follow the given order, not the alphabet
        assert all_rows(task) == {f"text number {i}": label for i, label in enumerate(self.THREE)}
        assert task.train.labels[0] == order.index(all_rows(task)[task.train.texts[0]])

    def test_int_labels_and_class_label_names_need_no_guess(self, caplog):
        with caplog.at_level("WARNING", logger="skillneuron_lens.tasks.labels"):
            task_from_lists([f"t{i}" for i in range(20)], [i % 2 for i in range(20)])
        assert "labels mapped" not in caplog.text

    @pytest.mark.parametrize("marker", ["nan", "NaN", "None", "n/a"])
    def test_missing_value_markers_are_reported_not_promoted(self, tmp_path, marker):
        labels = ["negative", "positive"] * 24 + [marker, marker]
        with pytest.raises(
            SkillNeuronError,
            match=rf"missing-value markers.*'{marker}' \(2 rows, first at \S*train\.csv line 50\).*--labels",
        ):
            task_from_files(_label_csv(tmp_path, labels))

    def test_near_duplicates_are_reported_by_name_and_count(self, tmp_path):
        labels = ["negative", "positive"] * 10 + ["Positive"] * 3 + [" positive"]
        with pytest.raises(SkillNeuronError, match="differ only in case or surrounding spaces") as error:
            task_from_files(_label_csv(tmp_path, labels))
        message = str(error.value)
        assert "'positive' (10 rows" in message and "'Positive' (3 rows" in message
        assert "' positive' (1 row," in message and "negative" not in message.split("--labels")[0]

    def test_values_outside_the_given_order_are_listed(self, tmp_path):
        labels = ["negative", "positive"] * 10 + ["nan", "Positive", "nan"]
        with pytest.raises(SkillNeuronError) as error:
            task_from_files(_label_csv(tmp_path, labels), label_names=["negative", "positive"])
        message = str(error.value)
        assert "outside the label names ['negative', 'positive']" in message
        assert "'nan' (2 rows, first at" in message and "'Positive' (1 row, first at" in message

    def test_consistent_surrounding_spaces_are_one_class(self, tmp_path):
        task = task_from_files(_label_csv(tmp_path, [" negative", " positive"] * 10))
        assert task.label_names == ["negative", "positive"]

    def test_dataframe_nan_labels_name_the_fix(self, pd):
        labels = ["a", "b"] * 9 + [None, float("nan")]
        frame = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": labels})
        with pytest.raises(SkillNeuronError, match=r"row 18.*missing label: drop the unlabelled rows"):
            task_from_dataframe(frame)


def test_with_dev_share_resplits_train_and_dev_only():
    from skillneuron_lens.tasks.task import Split, Task

    labels = [0] * 60 + [1] * 40
    pool = {
        "train": Split([f"t{i}" for i in range(80)], labels[:80]),
        "dev": Split([f"d{i}" for i in range(20)], labels[80:]),
        "test": Split(["x", "y"], [0, 1]),
    }
    task = Task("toy", ["neg", "pos"], pool, "made here")
    half = task.with_dev_share(0.5, seed=3)
    assert (len(half.train), len(half.dev), len(half.test)) == (50, 50, 2)
    assert sorted(half.train.texts + half.dev.texts) == sorted(pool["train"].texts + pool["dev"].texts)
    assert half.dev.labels.count(1) == 20 and half.train.labels.count(1) == 20   # stratified
    assert half.test.texts == ["x", "y"]
    assert task.with_dev_share(0.5, seed=3).dev.texts == half.dev.texts          # seeded
    import pytest

    from skillneuron_lens.errors import SkillNeuronError

    with pytest.raises(SkillNeuronError, match="between 0 and 1"):
        task.with_dev_share(1.0)


def test_find_dev_share_option(tmp_path, capsys):
    import skillneuron_lens.cli.app as cli

    assert cli.main(["find", "--dev-share", "0.3", "--train-file", "a.csv", "--dev-file", "b.csv",
                     "--out", str(tmp_path / "x")]) == 2
    assert "--dev-file" in capsys.readouterr().err
    assert cli.main(["find", "--dev-share", "1.5", "--out", str(tmp_path / "y")]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
