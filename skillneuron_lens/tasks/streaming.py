r"""Tasks whose texts stay on disk: large files and streamed ``datasets``, read a batch at a time.

:func:`stream_task_from_files` and :func:`stream_task_from_dataset` build a :class:`StreamedTask`
whose splits are :class:`StreamedSplit` objects. Their labels are counted once, in one cheap pass
over the source (a list of int ids: a few bytes per example); their texts are never held: each read
of ``split.texts`` goes back to the source, in order, keeping at most :data:`READ_WINDOW` recent
examples. ``compute_predictivity``, ``find`` and the read-outs read texts in order, so each pass
over a split reads its source once; memory does not grow with the number of examples.

**The split rule.** Sources that name their roles (a train, a dev and a test file; a
``DatasetDict`` with those splits) are used as they are. What a source lacks is carved out of the
train source by a seeded hash of each example's content, so that an example's split depends on
nothing else (not on the other examples, their order or their number) and the same text always
lands in the same split (duplicates never straddle train and test). With ``key`` the text, or
``text + "\0" + second text`` for pairs, and ``u(purpose)`` the number in ``[0, 1)`` that is the
first 8 bytes of ``SHA-256(purpose + "\0" + key)`` read as a big-endian integer, over ``2**64``:

- without a test source: the example is ``test`` when ``u("test:<test_seed>") < test_fraction``
  (``test_seed`` is 0, so the test set does not move with ``seed``);
- then, without a dev source: it is ``dev`` when ``u("dev:<seed>") < dev_fraction``;
- otherwise ``train``.

The shares are therefore those of :func:`~skillneuron_lens.tasks.task.split_pool` in expectation
(64% / 16% / 20% by default), not exactly, and not stratified by label. :class:`HashSplitRule`
implements the rule; :meth:`StreamedTask.fingerprint` identifies the data cheaply (each source's
identity, the split sizes, hashes of the labels and of the first :data:`SAMPLE_EXAMPLES` examples).
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, overload

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.labels import encode_labels
from skillneuron_lens.tasks.readers import (
    _COLUMN_HINT,
    _class_label_names,
    _file_columns,
    _hf_roles,
    _require_columns,
    _Table,
)
from skillneuron_lens.tasks.stream_sources import DatasetRows, FileRows, RowSource, _Fields, _label_key
from skillneuron_lens.tasks.task import (
    DEFAULT_DEV_FRACTION,
    DEFAULT_TEST_FRACTION,
    SPLIT_NAMES,
    Split,
    Task,
    _checked_label_ids,
)

__all__ = [
    "READ_WINDOW",
    "SAMPLE_EXAMPLES",
    "HashSplitRule",
    "StreamedSplit",
    "StreamedTask",
    "StreamedTexts",
    "stream_task_from_dataset",
    "stream_task_from_files",
]

logger = logging.getLogger(__name__)

READ_WINDOW = 4096
"""Recent examples a streamed split keeps: reading a batch's second texts after its texts reads once."""
SAMPLE_EXAMPLES = 256
"""Examples of each source hashed into its fingerprint (the first ones)."""


# --------------------------------------------------------------------------------------------------
# The split rule
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HashSplitRule:
    """The seeded hash rule that assigns a streamed example to train, dev or test (see the module).

    Attributes:
        seed: Seed of the dev draw.
        dev_fraction: Expected share of the non-test examples that becomes ``dev``.
        test_fraction: Expected share of the examples that becomes ``test``.
        test_seed: Seed of the test draw (0 by default, as in
            :func:`~skillneuron_lens.tasks.task.split_pool`).
    """

    seed: int = 0
    dev_fraction: float = DEFAULT_DEV_FRACTION
    test_fraction: float = DEFAULT_TEST_FRACTION
    test_seed: int = 0

    def __post_init__(self) -> None:
        """Refuse fractions outside ``(0, 1)``."""
        for role in ("dev", "test"):
            fraction = getattr(self, f"{role}_fraction")
            if not 0.0 < fraction < 1.0:
                raise SkillNeuronError(f"The {role} fraction must be between 0 and 1, got {fraction!r}.")

    def role(self, text: str, pair: str | None = None, carve: Sequence[str] = ("test", "dev")) -> str:
        """The split of one example of a train source from which the roles ``carve`` are cut.

        Args:
            text: The example's text.
            pair: Its second text, for pair tasks.
            carve: The roles the source lacks, among ``"test"`` and ``"dev"``.

        Returns:
            ``"test"``, ``"dev"`` or ``"train"``.
        """
        key = text if pair is None else f"{text}\0{pair}"
        if "test" in carve and _unit(f"test:{self.test_seed}", key) < self.test_fraction:
            return "test"
        if "dev" in carve and _unit(f"dev:{self.seed}", key) < self.dev_fraction:
            return "dev"
        return "train"

    def to_dict(self) -> dict[str, Any]:
        """The rule's parameters, JSON-friendly."""
        return {"rule": "sha256", "seed": self.seed, "dev_fraction": self.dev_fraction,
                "test_fraction": self.test_fraction, "test_seed": self.test_seed}


def _unit(purpose: str, key: str) -> float:
    """A number in ``[0, 1)`` fixed by ``purpose`` and ``key``: the first 8 bytes of a SHA-256."""
    digest = hashlib.sha256(f"{purpose}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


# --------------------------------------------------------------------------------------------------
# Reading examples
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """One source and the role it plays: a role of its own, or train with ``carve`` cut out of it."""

    source: RowSource
    role: str
    carve: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class _Selection:
    """The examples of one split: which source, which rows, and what the counting pass saw."""

    part: _Part
    fields: _Fields
    rule: HashSplitRule
    role: str
    label_ids: Mapping[tuple[str, str], int]
    sample_sha256: str
    kept: tuple[int, ...] | None = None

    def examples(self) -> Iterator[tuple[str, str | None, int, str]]:
        """``(text, second text, label id, location)`` of the split's examples, in order."""
        kept = self.kept
        if kept is not None and not kept:
            return
        position, wanted = -1, 0
        for where, record in self.part.source.rows():
            text, pair, raw = self.fields.example(record, where)
            if self.part.carve and self.rule.role(text, pair, self.part.carve) != self.role:
                continue
            position += 1
            if kept is not None:
                if position != kept[wanted]:
                    continue
                wanted += 1
            yield text, pair, self.label_ids.get(_label_key(raw), -1), where
            if kept is not None and wanted == len(kept):
                return


class _Cursor:
    """Reads a selection in order, restarting the source only when asked for an earlier example."""

    def __init__(self, selection: _Selection, labels: Sequence[int]) -> None:
        self.selection = selection
        self.labels = labels
        self.restarts = 0
        self._stream: Iterator[tuple[str, str]] | None = None
        self._next = 0
        self._window: OrderedDict[int, tuple[str, str]] = OrderedDict()

    def example(self, index: int) -> tuple[str, str]:
        """``(text, second text or "")`` of example ``index``."""
        if index in self._window:
            return self._window[index]
        if self._stream is None or index < self._next:
            if self._stream is not None:
                self.restarts += 1
                source = self.selection.part.source.name
                logger.debug("%s: reading from the start again for example %d", source, index)
            self._stream, self._next = self.checked(), 0
            self._window.clear()
        while self._next <= index:
            item = next(self._stream, None)
            if item is None:
                raise self._changed(f"it ended after {self._next} of the {len(self.labels)} counted examples")
            self._window[self._next] = item
            self._next += 1
            if len(self._window) > READ_WINDOW:
                self._window.popitem(last=False)
        return self._window[index]

    def checked(self) -> Iterator[tuple[str, str]]:
        """Every example from the start, checked against the labels counted when the task was built."""
        count = 0
        for position, (text, pair, label, where) in enumerate(self.selection.examples()):
            if position >= len(self.labels) or label != self.labels[position]:
                raise self._changed(f"{where} is not the example counted there")
            count += 1
            yield text, "" if pair is None else pair
        if count != len(self.labels):
            raise self._changed(f"it has {count} examples of the {len(self.labels)} counted")

    def _changed(self, detail: str) -> SkillNeuronError:
        part = self.selection.part
        return SkillNeuronError(
            f"{part.source.name} changed since the streamed task was built ({detail}; split "
            f"{self.selection.role!r}). Build the task again from the data as it is now."
        )


class StreamedTexts(Sequence[str]):
    """The texts (or second texts) of a :class:`StreamedSplit`, read from the source when indexed.

    Reading in increasing order (as every pass does) reads the source once; an index before the last
    :data:`READ_WINDOW` examples read starts the source again. ``list(texts)`` holds every text.
    """

    def __init__(self, cursor: _Cursor, column: int) -> None:
        """Read ``column`` (0: texts, 1: second texts) of ``cursor``'s examples."""
        self._cursor = cursor
        self._column = column

    def __len__(self) -> int:
        """The number of examples (counted when the task was built)."""
        return len(self._cursor.labels)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        """One text, or a list of texts for a slice."""
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        position = operator.index(index)
        position += len(self) if position < 0 else 0
        if not 0 <= position < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} streamed texts")
        return self._cursor.example(position)[self._column]

    def __iter__(self) -> Iterator[str]:
        """Every text in order, read from the start (independently of indexing)."""
        for example in self._cursor.checked():
            yield example[self._column]

    def __repr__(self) -> str:
        """Name the source instead of printing texts."""
        return f"StreamedTexts(n={len(self)}, source={self._cursor.selection.part.source.name!r})"

    @property
    def restarts(self) -> int:
        """How often the source was read from the start again for an earlier example."""
        return self._cursor.restarts


# --------------------------------------------------------------------------------------------------
# Splits and tasks
# --------------------------------------------------------------------------------------------------


class StreamedSplit(Split):
    """A :class:`~skillneuron_lens.tasks.task.Split` whose texts stay in their source.

    Its ``labels`` are a list of ids (counted once); ``texts`` and ``text_pairs`` are
    :class:`StreamedTexts`. Build one with :func:`stream_task_from_files` or
    :func:`stream_task_from_dataset`.
    """

    def __post_init__(self) -> None:
        """Keep the streamed columns as they are; check the labels and the lengths."""
        columns = [self.texts] + ([] if self.text_pairs is None else [self.text_pairs])
        if not all(isinstance(column, StreamedTexts) for column in columns):
            raise SkillNeuronError(
                "A StreamedSplit holds streamed texts; build streamed tasks with stream_task_from_files or "
                "stream_task_from_dataset, and in-memory splits with Split(texts, labels)."
            )
        labels = _checked_label_ids(self.labels)
        if len(labels) != len(self.texts):
            raise SkillNeuronError(f"Got {len(self.texts)} streamed texts but {len(labels)} labels.")
        object.__setattr__(self, "labels", labels)

    @classmethod
    def _reading(cls, selection: _Selection, labels: list[int]) -> StreamedSplit:
        cursor = _Cursor(selection, labels)
        pairs = StreamedTexts(cursor, 1) if selection.fields.pair_column else None
        return cls(StreamedTexts(cursor, 0), labels, pairs)

    @property
    def _selection(self) -> _Selection:
        assert isinstance(self.texts, StreamedTexts)
        return self.texts._cursor.selection

    def select(self, indices: Sequence[int]) -> StreamedSplit:
        """Keep some rows, still streamed.

        Args:
            indices: Row indices in increasing order (what ``Task.subsample`` and ``Task.balanced``
                pass); a streamed split is read in its source's order.

        Returns:
            A new :class:`StreamedSplit`.

        Raises:
            SkillNeuronError: For indices out of range, repeated or not increasing.
        """
        rows = [operator.index(index) for index in indices]
        increasing = all(earlier < later for earlier, later in zip(rows, rows[1:], strict=False))
        if not increasing or (rows and (rows[0] < 0 or rows[-1] >= len(self))):
            raise SkillNeuronError(
                f"A streamed split of {len(self)} examples keeps rows in its source's order: select distinct "
                "row indices in increasing order within range (or call .in_memory() first)."
            )
        selection = self._selection
        kept = tuple(rows) if selection.kept is None else tuple(selection.kept[row] for row in rows)
        return StreamedSplit._reading(replace(selection, kept=kept), [self.labels[row] for row in rows])

    def in_memory(self) -> Split:
        """The same examples as a plain in-memory :class:`~skillneuron_lens.tasks.task.Split`."""
        pairs = None if self.text_pairs is None else list(self.text_pairs)
        return Split(list(self.texts), list(self.labels), pairs)

    def fingerprint(self) -> dict[str, Any]:
        """A cheap identity: the source's, the rule and columns, the count, label and sample hashes."""
        selection = self._selection
        kept = None if selection.kept is None else _sha256(json.dumps(list(selection.kept)))
        return {
            "source": selection.part.source.identity(),
            "role": selection.role,
            "carved_by": selection.rule.to_dict() if selection.part.carve else None,
            "columns": selection.fields.to_dict(),
            "count": len(self),
            "labels_sha256": _sha256(json.dumps(self.labels)),
            "source_sample_sha256": selection.sample_sha256,
            "kept_sha256": kept,
        }


class StreamedTask(Task):
    """A :class:`~skillneuron_lens.tasks.task.Task` whose splits are :class:`StreamedSplit` objects.

    ``subsample`` and ``balanced`` keep it streamed; ``with_dev_share`` is refused (pass
    ``dev_fraction`` to the reader instead, which is what ``find --stream --dev-share`` does).
    """

    def __post_init__(self) -> None:
        """Check the task as any task, and that every split is streamed."""
        super().__post_init__()
        plain = [name for name, split in self.splits.items() if not isinstance(split, StreamedSplit)]
        if plain:
            raise SkillNeuronError(f"A StreamedTask needs streamed splits; {plain} are in memory.")

    def _with_splits(self, splits: dict[str, Split]) -> Task:
        return StreamedTask(self.name, list(self.label_names), splits, self.source)

    def with_dev_share(self, share: float, seed: int = 0) -> Task:
        """Refused: a streamed task's dev split comes from the hash rule's ``dev_fraction``.

        Raises:
            SkillNeuronError: Always, naming what to do instead.
        """
        raise SkillNeuronError(
            f"Task {self.name!r} is streamed; its train/dev split is drawn by the hash rule. Build it again "
            f"with dev_fraction={share!r} (and seed={seed!r}), or call .in_memory() first."
        )

    def in_memory(self) -> Task:
        """The same task with every split read into memory."""
        splits: dict[str, Split] = {
            name: split.in_memory() for name, split in self.splits.items() if isinstance(split, StreamedSplit)
        }
        return Task(self.name, list(self.label_names), splits, self.source)

    def fingerprint(self) -> dict[str, Any]:
        """The cheap fingerprint: the label names and each split's :meth:`StreamedSplit.fingerprint`."""
        return {
            "kind": "streamed",
            "name": self.name,
            "label_names": list(self.label_names),
            "splits": {
                name: split.fingerprint() for name, split in self.splits.items()
                if isinstance(split, StreamedSplit)
            },
        }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# The counting pass and the builders
# --------------------------------------------------------------------------------------------------


@dataclass
class _Count:
    """What one pass over the sources finds: label codes per role, distinct labels, sample hashes."""

    codes: dict[tuple[str, str], int] = field(default_factory=dict)
    distinct: list[Any] = field(default_factory=list)
    first_seen: list[str] = field(default_factory=list)
    labels: dict[str, list[int]] = field(default_factory=dict)
    samples: dict[int, str] = field(default_factory=dict)

    def add(self, role: str, raw: Any, where: str) -> None:
        key = _label_key(raw)
        if key not in self.codes:
            self.codes[key] = len(self.distinct)
            self.distinct.append(raw)
            self.first_seen.append(where)
        self.labels.setdefault(role, []).append(self.codes[key])


def _count(parts: Sequence[_Part], fields: _Fields, rule: HashSplitRule) -> _Count:
    counted = _Count()
    for number, part in enumerate(parts):
        sample, seen = hashlib.sha256(), 0
        for where, record in part.source.rows():
            text, pair, raw = fields.example(record, where)
            role = rule.role(text, pair, part.carve) if part.carve else part.role
            counted.add(role, raw, where)
            if seen < SAMPLE_EXAMPLES:
                sample.update(json.dumps([text, pair, _label_key(raw)]).encode() + b"\n")
            seen += 1
        if not seen:
            raise SkillNeuronError(f"{part.source.name} has no examples (only a header, or blank lines).")
        counted.samples[number] = sample.hexdigest()
    return counted


def _streamed_task(
    sources: Mapping[str, RowSource],
    fields: _Fields,
    label_names: Sequence[str] | None,
    rule: HashSplitRule,
    name: str,
    description: str,
) -> StreamedTask:
    """Count the sources once, encode the labels, and make the streamed splits."""
    carve = () if "dev" in sources else ("dev",) if "test" in sources else ("test", "dev")
    parts = [_Part(source, role, carve if role == "train" else ()) for role, source in sources.items()]
    counted = _count(parts, fields, rule)
    ids, names = encode_labels(counted.distinct, label_names, counted.first_seen.__getitem__)
    label_ids = {key: ids[code] for key, code in counted.codes.items()}
    splits: dict[str, Split] = {}
    for role in [role for role in SPLIT_NAMES if role in sources or role in carve]:
        number = next(k for k, part in enumerate(parts) if part.role == role or role in part.carve)
        codes = counted.labels.get(role, [])
        if not codes:
            total = sum(len(counted.labels.get(name, [])) for name in ("train", *carve))
            raise SkillNeuronError(
                f"The split rule put none of the {total} examples of {parts[number].source.name} into "
                f"{role}: give more data, or a {role} source of its own."
            )
        selection = _Selection(parts[number], fields, rule, role, label_ids, counted.samples[number])
        splits[role] = StreamedSplit._reading(selection, [ids[code] for code in codes])
    return StreamedTask(name, names, splits, description)


def stream_task_from_files(
    train_file: str | Path,
    dev_file: str | Path | None = None,
    test_file: str | Path | None = None,
    *,
    text_column: str | None = None,
    label_column: str = "label",
    pair_column: str | None = None,
    label_names: Sequence[str] | None = None,
    name: str = "custom",
    seed: int = 0,
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> StreamedTask:
    """A task read from large JSON Lines, CSV or TSV files a line at a time (never held in memory).

    The files and columns are those of :func:`~skillneuron_lens.tasks.readers.task_from_files`
    (``text,label`` or ``text_a,text_b,label``, or the named columns; UTF-8; ``.tsv`` without
    quoting), except that a ``.json`` array is refused. One pass counts the examples and reads the
    labels; a missing test or dev file is replaced by the module's hash rule (not a stratified draw).

    Args:
        train_file: Training data.
        dev_file: Development data, optional.
        test_file: Test data, optional.
        text_column: Column of the texts; default ``text``, or ``text_a``/``text_b`` as pairs.
        label_column: Column of the labels.
        pair_column: Column of the second texts of pairs (needs ``text_column``).
        label_names: Names of the labels, index = id.
        name: Task name.
        seed: Seed of the dev draw (the test draw always uses seed 0).
        dev_fraction: Expected share of the non-test train rows that becomes ``dev`` without a dev file.
        test_fraction: Expected share of the train rows that becomes ``test`` without a test file.

    Returns:
        The :class:`StreamedTask`.

    Raises:
        SkillNeuronError: For an unsupported extension, a missing, empty or non-UTF-8 file, a missing
            column or value, bad labels, or a split the rule leaves empty; the message names the file
            and line.
    """
    paths = {"train": train_file, "dev": dev_file, "test": test_file}
    sources = {role: FileRows(Path(path)) for role, path in paths.items() if path is not None}
    columns = {role: source.columns() for role, source in sources.items()}
    for role, found in columns.items():
        if not found:
            raise SkillNeuronError(f"{sources[role].path} is empty.")
    train = sources["train"]
    header = _Table(train.path, columns["train"], [], [])
    text_column, pair_column = _file_columns(header, text_column, pair_column)
    fields = _Fields((text_column,), pair_column, label_column)
    for role, found in columns.items():
        _require_columns(found, fields.wanted, str(sources[role].path), _COLUMN_HINT)
    rule = HashSplitRule(seed, dev_fraction, test_fraction)
    description = "streamed files: " + ", ".join(str(source.path) for source in sources.values())
    return _streamed_task(sources, fields, label_names, rule, name, description)


def stream_task_from_dataset(
    data: Any,
    text_column: str | Sequence[str] = "text",
    label_column: str = "label",
    pair_column: str | None = None,
    *,
    label_names: Sequence[str] | None = None,
    split_map: Mapping[str, str] | None = None,
    name: str = "custom",
    source: str = "datasets (streamed)",
    seed: int = 0,
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> StreamedTask:
    """A task read from a streamed Hugging Face dataset, e.g. ``load_dataset(..., streaming=True)``.

    ``data`` is an ``IterableDataset`` or an ``IterableDatasetDict`` (splits mapped to roles by
    ``split_map`` or :func:`~skillneuron_lens.tasks.readers.infer_split_roles`), built from local
    files (``json``, ``csv``, ``parquet``, ``text``); the hub is not needed. One pass counts the
    examples and reads the labels; missing roles come from the module's hash rule.

    Args:
        data: The streamed dataset or dataset dict.
        text_column: Text column, or several joined with a newline.
        label_column: Label column (int ids, strings, or a ``ClassLabel``).
        pair_column: Second-text column for pair tasks, or ``None``.
        label_names: Names of the labels, index = id (default: the ``ClassLabel`` names, if any).
        split_map: ``{role: split name}`` with roles ``train``, ``dev``, ``test``.
        name: Task name.
        source: Provenance recorded on the task.
        seed: Seed of the dev draw (the test draw always uses seed 0).
        dev_fraction: Expected share of the non-test train rows that becomes ``dev`` without a dev split.
        test_fraction: Expected share of the train rows that becomes ``test`` without a test split.

    Returns:
        The :class:`StreamedTask`.

    Raises:
        SkillNeuronError: For missing splits or columns (the message lists those found), an empty
            split, bad labels, or a one-shot iterator.
    """
    text_columns = (text_column,) if isinstance(text_column, str) else tuple(text_column)
    single = not isinstance(data, Mapping)
    datasets_by_role = _hf_roles(data, split_map)
    sources = {
        role: DatasetRows(dataset, "the dataset" if single else f"split {role!r}")
        for role, dataset in datasets_by_role.items()
    }
    fields = _Fields(text_columns, pair_column, label_column)
    for rows in sources.values():
        _require_columns(rows.columns(), fields.wanted, f"The dataset ({rows.name})")
    if label_names is None and getattr(datasets_by_role["train"], "features", None):
        label_names = _class_label_names(datasets_by_role["train"], label_column)
    rule = HashSplitRule(seed, dev_fraction, test_fraction)
    return _streamed_task(sources, fields, label_names, rule, name, source)
