"""Readers that turn user data into a :class:`~skillneuron_lens.tasks.task.Task`.

- :func:`task_from_lists` for Python lists,
- :func:`task_from_dataframe` for a pandas ``DataFrame``,
- :func:`task_from_files` for CSV, TSV, JSON Lines or JSON files,
- :func:`task_from_hf_dataset` for a Hugging Face ``Dataset`` or ``DatasetDict``.

Each applies the split policy of :mod:`skillneuron_lens.tasks.task` to what the source lacks, and
encodes labels with :func:`~skillneuron_lens.tasks.labels.encode_labels` (errors name the file and
line, the data-frame index, or the split and row of the offending value).
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import itertools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.labels import _row_location, encode_labels
from skillneuron_lens.tasks.task import (
    DEFAULT_DEV_FRACTION,
    DEFAULT_TEST_FRACTION,
    SPLIT_NAMES,
    Split,
    Task,
    _as_list,
    make_splits,
    split_pool,
)

__all__ = [
    "TEXT_JOINER",
    "hf_split_parts",
    "infer_split_roles",
    "is_hf_dataset",
    "task_from_dataframe",
    "task_from_files",
    "task_from_hf_dataset",
    "task_from_lists",
]

logger = logging.getLogger(__name__)

TEXT_JOINER = "\n"
"""Separator used when several text columns are joined into one text (e.g. title and body)."""

_FILE_FORMATS = ".csv, .tsv, .jsonl, .ndjson or .json"


# --------------------------------------------------------------------------------------------------
# User data: lists and DataFrames
# --------------------------------------------------------------------------------------------------


def _task_from_columns(
    texts: Sequence[Any],
    raw_labels: Sequence[Any],
    text_pairs: Sequence[Any] | None,
    label_names: Sequence[str] | None,
    name: str,
    source: str,
    split_options: Mapping[str, Any],
    where: Callable[[int], str] = _row_location,
) -> Task:
    text_list = _as_list(texts, "texts")
    pair_list = None if text_pairs is None else _as_list(text_pairs, "text_pairs")
    _check_texts(text_list, where, "text")
    if pair_list is not None:
        _check_texts(pair_list, where, "text_pair")
    labels, names = encode_labels(raw_labels, label_names, where)
    pool = Split(text_list, labels, pair_list)
    return Task(name, names, split_pool(pool, **split_options), source)


def task_from_lists(
    texts: Sequence[str],
    labels: Sequence[int | str],
    label_names: Sequence[str] | None = None,
    text_pairs: Sequence[str] | None = None,
    *,
    name: str = "custom",
    seed: int = 0,
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Task:
    """Build a task from Python lists, split into train/dev/test by :func:`split_pool`.

    Args:
        texts: The texts (first texts of the pairs for pair tasks).
        labels: Int ids or label strings, one per text.
        label_names: Names of the labels, index = id. Default: the sorted label strings, or
            ``"0"``, ``"1"``, ... for int labels.
        text_pairs: Second texts for pair tasks (NLI), or ``None``.
        name: Task name.
        seed: Seed of the train/dev split (the test hold-out always uses seed 0).
        dev_fraction: Share of the non-test examples that becomes ``dev``.
        test_fraction: Share of all examples that becomes ``test``.

    Returns:
        The task.

    Raises:
        SkillNeuronError: On mismatched lengths, non-string texts, or labels that are not in
            ``label_names`` / out of range (the message names the row).
    """
    options = {"seed": seed, "dev_fraction": dev_fraction, "test_fraction": test_fraction}
    texts = _as_list(texts, "texts")
    labels = _as_list(labels, "labels")
    if len(texts) != len(labels):
        raise SkillNeuronError(f"Got {len(texts)} texts but {len(labels)} labels.")
    return _task_from_columns(texts, labels, text_pairs, label_names, name, "user lists", options)


def task_from_dataframe(
    df: Any,
    text_column: str = "text",
    label_column: str = "label",
    pair_column: str | None = None,
    *,
    label_names: Sequence[str] | None = None,
    name: str = "custom",
    seed: int = 0,
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Task:
    """Build a task from a pandas ``DataFrame``, split into train/dev/test by :func:`split_pool`.

    Args:
        df: The data frame.
        text_column: Column with the texts (first texts for pair tasks).
        label_column: Column with int ids or label strings.
        pair_column: Column with the second texts for pair tasks, or ``None``.
        label_names: Names of the labels, index = id (see :func:`task_from_lists`).
        name: Task name.
        seed: Seed of the train/dev split (the test hold-out always uses seed 0).
        dev_fraction: Share of the non-test examples that becomes ``dev``.
        test_fraction: Share of all examples that becomes ``test``.

    Returns:
        The task.

    Raises:
        SkillNeuronError: If a column is missing (the message lists the columns found) or a value
            is invalid (the message names the row by its index label).
    """
    if not hasattr(df, "columns") or not hasattr(df, "index"):
        raise SkillNeuronError(f"Expected a pandas DataFrame, got {type(df).__name__}.")
    wanted = [text_column, label_column] + ([pair_column] if pair_column else [])
    _require_columns(list(df.columns), wanted, "The DataFrame")
    index = list(df.index)
    pairs = df[pair_column].tolist() if pair_column else None
    options = {"seed": seed, "dev_fraction": dev_fraction, "test_fraction": test_fraction}
    return _task_from_columns(
        df[text_column].tolist(),
        df[label_column].tolist(),
        pairs,
        label_names,
        name,
        "pandas DataFrame",
        options,
        lambda row: f"DataFrame row {index[row]!r}",
    )


def _require_columns(found: Sequence[Any], wanted: Sequence[str], what: str, hint: str = "") -> None:
    missing = [column for column in wanted if column not in found]
    if missing:
        raise SkillNeuronError(
            f"{what} has no column(s) {missing}; columns found: {[str(c) for c in found]}.{hint}"
        )
    repeated = sorted({column for column in wanted if wanted.count(column) > 1})
    if repeated:
        raise SkillNeuronError(f"Column(s) {repeated} are named for more than one role; name each once.")


def _check_texts(values: Sequence[Any], where: Callable[[int], str], column: str) -> None:
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise SkillNeuronError(
                f"{where(row)}: {column!r} is {type(value).__name__} ({value!r}), not text."
            )


# --------------------------------------------------------------------------------------------------
# User data: files
# --------------------------------------------------------------------------------------------------


@dataclass
class _Table:
    """Rows read from one file, with a human-readable location for each row."""

    path: Path
    columns: list[str]
    rows: list[dict[str, Any]]
    locations: list[str]


def _decode(path: Path) -> str:
    """Read a file as UTF-8 (a byte-order mark is allowed) with a clear error otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SkillNeuronError(f"File not found: {path}") from None
    except OSError as exc:
        raise SkillNeuronError(f"Cannot read {path}: {exc}") from None
    offset = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        position = offset + exc.start
        line = data.count(b"\n", 0, position) + 1
        raise _not_utf8(path, data[position], position, line, exc.reason) from None
    if not text.strip():
        raise SkillNeuronError(f"{path} is empty.")
    return text


def _not_utf8(path: Path, byte: int, position: int, line: int, reason: str) -> SkillNeuronError:
    """The error for a byte of ``path`` that is not UTF-8, with how to re-save the file."""
    return SkillNeuronError(
        f"{path} is not valid UTF-8: byte 0x{byte:02x} at byte offset {position} "
        f"(line {line}) cannot be decoded ({reason}). Re-save the file as UTF-8, e.g. "
        f"`iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}`, or choose 'CSV UTF-8' "
        "when exporting from a spreadsheet."
    )


def _read_delimited(path: Path, delimiter: str) -> _Table:
    """Read a CSV (quoted fields allowed) or a TSV (no quoting: a ``"`` is part of the text)."""
    tsv = delimiter == "\t"
    reader = csv.DictReader(
        io.StringIO(_decode(path), newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL,
    )
    rows, locations = [], []
    try:
        columns = [str(column) for column in reader.fieldnames or []]
        for row in reader:
            if None in row:
                raise SkillNeuronError(
                    f"{path} line {reader.line_num} has more fields than the header's {len(columns)} "
                    f"({columns}): " + ("a text holds a tab; remove tabs from the texts, or save the "
                    "file as .csv with quoted fields." if tsv else "quote fields that hold a comma.")
                )
            rows.append(row)
            locations.append(f"{path} line {reader.line_num}")
    except csv.Error as exc:
        raise SkillNeuronError(f"{path} line {reader.line_num}: malformed CSV ({exc}).") from None
    if not rows:
        raise SkillNeuronError(f"{path} has a header ({','.join(columns)}) but no data rows.")
    if tsv:
        _warn_quoted_fields(path, rows, locations)
    return _Table(path, columns, rows, locations)


def _warn_quoted_fields(path: Path, rows: Sequence[Mapping[str, Any]], locations: Sequence[str]) -> None:
    """Warn when a TSV's fields look quoted: TSV has no quoting, so the quotes stay in the texts."""
    quoted = [
        where
        for row, where in zip(rows, locations, strict=True)
        if any(isinstance(v, str) and len(v) > 1 and v[0] == v[-1] == '"' for v in row.values())
    ]
    if quoted:
        logger.warning(
            "%s: %d row(s) have fields wrapped in double quotes (first at %s). A .tsv file is read "
            "without quoting (as GLUE's SST-2 files), so the quotes stay part of the text; save data "
            "with quoted fields as .csv.",
            path, len(quoted), quoted[0],
        )


def _read_json_lines(path: Path, text: str) -> _Table:
    rows, locations = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append(_json_line(path, number, line))
            locations.append(f"{path} line {number}")
    columns = sorted({key for row in rows for key in row})
    return _Table(path, columns, rows, locations)


def _json_line(path: Path, number: int, line: str) -> dict[str, Any]:
    """One record of a JSON Lines file (line ``number``), with a clear error for anything else."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SkillNeuronError(
            f"{path} line {number}: not valid JSON ({exc.msg} at column {exc.colno})."
        ) from None
    return _checked_record(record, f"{path} line {number}")


def _read_json_array(path: Path, text: str) -> _Table:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SkillNeuronError(
            f"{path} line {exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})."
        ) from None
    if not isinstance(records, list) or not records:
        raise SkillNeuronError(f"{path} must hold a non-empty JSON array of objects.")
    locations = [f"{path} item {k}" for k in range(len(records))]
    rows = [
        _checked_record(record, where) for record, where in zip(records, locations, strict=True)
    ]
    columns = sorted({key for row in rows for key in row})
    return _Table(path, columns, rows, locations)


def _checked_record(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise SkillNeuronError(f"{where}: expected a JSON object, got {type(record).__name__}.")
    return record


def _read_table(path: str | Path) -> _Table:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_delimited(path, ",")
    if suffix == ".tsv":
        return _read_delimited(path, "\t")
    if suffix in (".jsonl", ".ndjson"):
        return _read_json_lines(path, _decode(path))
    if suffix == ".json":
        text = _decode(path)
        if text.lstrip().startswith("["):
            return _read_json_array(path, text)
        return _read_json_lines(path, text)
    raise SkillNeuronError(
        f"Unsupported file extension {path.suffix or '(none)'!r} for {path}; use {_FILE_FORMATS}."
    )


_COLUMN_HINT = " Name the columns with text_column= / label_column= (--text-column / --label-column)."


def _file_columns(
    table: _Table, text_column: str | None, pair_column: str | None
) -> tuple[str, str | None]:
    """The text and pair columns of a file: as named, else ``text`` or ``text_a``/``text_b``."""
    if text_column is not None:
        return text_column, pair_column
    if pair_column is not None:
        raise SkillNeuronError("pair_column needs text_column, the column of the first texts.")
    if "text_a" in table.columns and "text_b" in table.columns:
        return "text_a", "text_b"
    if "text" in table.columns:
        return "text", None
    raise SkillNeuronError(
        f"{table.path} has no 'text' column (or 'text_a' and 'text_b' for pairs); columns found: "
        f"{table.columns}. Expected columns text,label or text_a,text_b,label.{_COLUMN_HINT}"
    )


def _table_columns(table: _Table, wanted: Sequence[str]) -> dict[str, list[Any]]:
    """Extract columns from a table, checking every row has them and the texts are strings."""
    _require_columns(table.columns, wanted, str(table.path), _COLUMN_HINT)
    values: dict[str, list[Any]] = {column: [] for column in wanted}
    for row, where in zip(table.rows, table.locations, strict=True):
        missing = [column for column in wanted if row.get(column) is None]
        if missing:
            found = [key for key, value in row.items() if key is not None and value is not None]
            raise SkillNeuronError(
                f"{where}: missing value(s) for {missing}; fields found: {found}."
            )
        for column in wanted:
            values[column].append(row[column])
    for column in wanted[:-1]:
        _check_texts(values[column], table.locations.__getitem__, column)
    return values


def task_from_files(
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
) -> Task:
    """Build a task from CSV, TSV, JSON Lines or JSON files.

    Each file has the columns ``text,label`` (single texts) or ``text_a,text_b,label`` (pairs), or
    the columns named by ``text_column``, ``label_column`` and ``pair_column`` (e.g. SST-2's
    ``sentence``); other columns are ignored. Files must be UTF-8. A ``.tsv`` file is tab-separated
    without quoting (a ``"`` is part of the text, as in the GLUE files), so a text cannot hold a tab;
    a ``.csv`` file may quote fields. Labels may be int ids or strings (mapped through
    ``label_names``, or sorted, over all files together). Splits:

    - only ``train_file``: :func:`split_pool` (64% train, 16% dev, 20% test);
    - ``train_file`` and ``test_file``: :func:`make_splits` carves ``dev`` out of train;
    - with ``dev_file``: the files are used as they are.

    Args:
        train_file: Training data.
        dev_file: Development data, optional.
        test_file: Test data, optional.
        text_column: Column of the texts (first texts of pairs); default ``text``, or ``text_a``
            with ``text_b`` as pairs when the train file has both.
        label_column: Column of the labels.
        pair_column: Column of the second texts of pairs (needs ``text_column``), or ``None``.
        label_names: Names of the labels, index = id.
        name: Task name.
        seed: Seed of the train/dev split (a test hold-out always uses seed 0).
        dev_fraction: Share of train that becomes ``dev`` when no ``dev_file`` is given.
        test_fraction: Share of train that becomes ``test`` when only ``train_file`` is given.

    Returns:
        The task.

    Raises:
        SkillNeuronError: On an unknown extension, an empty or non-UTF-8 file, malformed rows,
            missing columns, or bad labels; the message names the file and line.
    """
    paths = {"train": train_file, "dev": dev_file, "test": test_file}
    tables = {role: _read_table(path) for role, path in paths.items() if path is not None}
    text_column, pair_column = _file_columns(tables["train"], text_column, pair_column)
    wanted = [text_column] + ([pair_column] if pair_column else []) + [label_column]
    columns = {role: _table_columns(table, wanted) for role, table in tables.items()}
    locations = [where for table in tables.values() for where in table.locations]
    splits, names = _labelled_splits(
        columns, [text_column], pair_column, label_column, label_names, locations.__getitem__
    )
    source = "files: " + ", ".join(str(table.path) for table in tables.values())
    return Task(name, names, _apply_policy(splits, seed, dev_fraction, test_fraction), source)


def _labelled_splits(
    columns: Mapping[str, Mapping[str, list[Any]]],
    text_columns: Sequence[str],
    pair_column: str | None,
    label_column: str,
    label_names: Sequence[str] | None,
    where: Callable[[int], str],
) -> tuple[dict[str, Split], list[str]]:
    """Encode the labels of every role together (one label space), then cut them back into splits.

    Args:
        columns: ``{role: {column: values}}`` in split order.
        text_columns: Columns joined with :data:`TEXT_JOINER` into each text.
        pair_column: Column of the second texts, or ``None``.
        label_column: Column of the labels.
        label_names: Class names in id order, or ``None`` (see :func:`encode_labels`).
        where: Names a row of the roles' concatenation in error messages.

    Returns:
        ``({role: split}, label names)``.
    """
    raw_labels = [label for values in columns.values() for label in values[label_column]]
    labels, names = encode_labels(raw_labels, label_names, where)
    splits, start = {}, 0
    for role, values in columns.items():
        stop = start + len(values[label_column])
        texts = _join_columns([values[column] for column in text_columns])
        pairs = values[pair_column] if pair_column else None
        splits[role] = Split(texts, labels[start:stop], pairs)
        start = stop
    return splits, names


def _apply_policy(
    splits: Mapping[str, Split], seed: int, dev_fraction: float, test_fraction: float
) -> dict[str, Split]:
    """Complete ``{role: split}`` into train/dev(/test) following the split policy."""
    if "dev" in splits:
        return dict(splits)
    if "test" in splits:
        return make_splits(
            splits["train"], test=splits["test"], seed=seed, dev_fraction=dev_fraction
        )
    return split_pool(splits["train"], seed, dev_fraction, test_fraction)


# --------------------------------------------------------------------------------------------------
# User data: Hugging Face datasets
# --------------------------------------------------------------------------------------------------


def infer_split_roles(available: Sequence[str]) -> dict[str, str]:
    """Map task roles to the split names of a ``DatasetDict``.

    ``train`` is required. ``dev`` (or ``validation`` when a labelled ``test`` also exists)
    becomes the dev split; otherwise ``validation`` becomes ``test`` (the paper's policy) and dev
    is carved out of train later. Other splits (e.g. IMDB's ``unsupervised``) are ignored.

    Args:
        available: The split names of the dataset dict.

    Returns:
        ``{role: split_name}`` with roles among ``train``, ``dev``, ``test``.

    Raises:
        SkillNeuronError: If there is no ``train`` split.
    """
    if "train" not in available:
        raise SkillNeuronError(
            f"The dataset has no 'train' split; splits found: {list(available)}. Pass split_map, "
            "e.g. {'train': 'my_train', 'test': 'my_eval'}."
        )
    roles = {"train": "train"}
    if "dev" in available:
        roles["dev"] = "dev"
        for name in ("test", "validation"):
            if name in available:
                roles["test"] = name
                break
    elif "validation" in available and "test" in available:
        roles.update(dev="validation", test="test")
    elif "validation" in available or "test" in available:
        roles["test"] = "validation" if "validation" in available else "test"
    return roles


def task_from_hf_dataset(
    data: Any,
    text_column: str | Sequence[str] = "text",
    label_column: str = "label",
    pair_column: str | None = None,
    *,
    label_names: Sequence[str] | None = None,
    split_map: Mapping[str, str] | None = None,
    name: str = "custom",
    source: str = "datasets (in memory)",
    seed: int = 0,
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Task:
    """Build a task from a Hugging Face ``datasets.Dataset`` or ``DatasetDict``.

    A single ``Dataset`` is split by :func:`split_pool`. For a ``DatasetDict`` the roles come from
    ``split_map`` or :func:`infer_split_roles`, and the split policy fills in what is missing.
    Label names default to the names of a ``ClassLabel`` label column.

    Args:
        data: A ``Dataset`` or ``DatasetDict`` (any mapping of split name to ``Dataset``).
        text_column: Text column, or several columns joined with a newline (e.g. title and body).
        label_column: Label column (int ids or strings).
        pair_column: Second-text column for pair tasks, or ``None``.
        label_names: Names of the labels, index = id.
        split_map: ``{role: split_name}`` with roles ``train``, ``dev``, ``test``.
        name: Task name.
        source: Provenance recorded on the task.
        seed: Seed of the train/dev split (a test hold-out always uses seed 0).
        dev_fraction: Share of train that becomes ``dev`` when there is no dev split.
        test_fraction: Share of a single ``Dataset`` that becomes ``test``.

    Returns:
        The task.

    Raises:
        SkillNeuronError: On missing splits or columns (the message lists those found) or bad
            labels.
    """
    text_columns = [text_column] if isinstance(text_column, str) else list(text_column)
    datasets_by_role = _hf_roles(data, split_map)
    if label_names is None:
        label_names = _class_label_names(datasets_by_role["train"], label_column)
    wanted = text_columns + ([pair_column] if pair_column else []) + [label_column]
    columns = {
        role: _hf_columns(dataset, wanted, f"split {role!r}")
        for role, dataset in datasets_by_role.items()
    }
    sizes = {role: len(values[label_column]) for role, values in columns.items()}
    splits, names = _labelled_splits(
        columns, text_columns, pair_column, label_column, label_names, _split_row_locator(sizes)
    )
    return Task(name, names, _apply_policy(splits, seed, dev_fraction, test_fraction), source)


def is_hf_dataset(data: Any) -> bool:
    """Whether ``data`` is a Hugging Face ``Dataset`` or ``DatasetDict``.

    Checked by type name, so ``datasets`` is never imported here.
    """
    return any(
        cls.__module__.startswith("datasets") and cls.__name__ in ("Dataset", "DatasetDict")
        for cls in type(data).__mro__
    )


def hf_split_parts(
    dataset: Any,
    what: str,
    text_column: str = "text",
    label_column: str = "label",
    pair_column: str | None = None,
) -> tuple[list[str], list[Any], list[str] | None]:
    """Texts, raw labels and second texts of one ``datasets.Dataset`` passed where a split is expected.

    This is the one place a ``Dataset`` becomes a split; its labels then follow the label-order rule
    of :mod:`skillneuron_lens.tasks.labelled` like any other split's.

    Args:
        dataset: A ``datasets.Dataset``.
        what: What to call it in messages (e.g. ``"the train split"``).
        text_column: Text column.
        label_column: Label column (int ids or strings).
        pair_column: Second-text column, or ``None``.

    Returns:
        ``(texts, labels, text_pairs)`` as lists.

    Raises:
        SkillNeuronError: For a ``DatasetDict`` (pick a split, or make a task of it) or missing
            columns (the message lists those found and how to read other names).
    """
    if isinstance(dataset, Mapping):
        raise SkillNeuronError(
            f"{what} is a DatasetDict with splits {list(dataset)}; pass one split (e.g. data['train']), "
            "or make a task of all of them with skillneuron_lens.load_task(data)."
        )
    wanted = [text_column] + ([pair_column] if pair_column else []) + [label_column]
    hint = (
        " Rename them (dataset.rename_column('sentence', 'text')), or read other names with "
        "skillneuron_lens.tasks.task_from_hf_dataset(data, text_column=..., label_column=...)."
    )
    _require_columns(list(getattr(dataset, "column_names", [])), wanted, f"{what} (a Dataset)", hint)
    values = _hf_columns(dataset, wanted, what)
    pairs = None if pair_column is None else list(values[pair_column])
    return list(values[text_column]), list(values[label_column]), pairs


def _split_row_locator(sizes: Mapping[str, int]) -> Callable[[int], str]:
    """Name the split and row of an index into the concatenation of several splits."""
    roles = list(sizes)
    starts = list(itertools.accumulate(sizes.values(), initial=0))

    def where(index: int) -> str:
        k = bisect.bisect_right(starts, index) - 1
        return f"split {roles[k]!r} row {index - starts[k]}"

    return where


def _hf_roles(data: Any, split_map: Mapping[str, str] | None) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        if split_map:
            raise SkillNeuronError("split_map applies to a DatasetDict, not a single Dataset.")
        return {"train": data}
    roles = dict(split_map) if split_map else infer_split_roles(list(data))
    unknown = [role for role in roles if role not in SPLIT_NAMES]
    if unknown or "train" not in roles:
        raise SkillNeuronError(
            f"split_map {roles} must map 'train' (and optionally 'dev', 'test') to split names."
        )
    missing = [split for split in roles.values() if split not in data]
    if missing:
        raise SkillNeuronError(
            f"The dataset has no split(s) {missing}; splits found: {list(data)}."
        )
    return {role: data[roles[role]] for role in SPLIT_NAMES if role in roles}


def _class_label_names(dataset: Any, label_column: str) -> list[str] | None:
    feature = getattr(dataset, "features", {}).get(label_column)
    names = getattr(feature, "names", None)
    return list(names) if names else None


def _hf_columns(dataset: Any, wanted: Sequence[str], where: str) -> dict[str, list[Any]]:
    found = list(getattr(dataset, "column_names", []))
    _require_columns(found, wanted, f"The dataset ({where})")
    values = dataset.select_columns(list(dict.fromkeys(wanted))).to_dict()
    for column in wanted[:-1]:
        _check_texts(values[column], lambda row: f"{where} row {row}", column)
    return values


def _join_columns(columns: Sequence[Sequence[str]]) -> list[str]:
    if len(columns) == 1:
        return list(columns[0])
    return [
        TEXT_JOINER.join(part.strip() for part in parts) for parts in zip(*columns, strict=True)
    ]
