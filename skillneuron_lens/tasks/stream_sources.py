"""Sources of examples that are read again on every pass instead of being held in memory.

A source yields its records (one ``{column: value}`` mapping per example) with a human-readable
location each, in the same order every time it is read, and describes itself cheaply (its
:meth:`identity`: a file's path, size and modification time; a dataset's builder, configuration
and split), so that a run can tell whether it reads the same data again without hashing all of it.

- :class:`FileRows` reads a large local file a line at a time: JSON Lines (``.jsonl``,
  ``.ndjson``), CSV (quoted fields allowed) or TSV (no quoting, as the in-memory reader). Files must
  be UTF-8; errors name the file and line, as :func:`~skillneuron_lens.tasks.readers.task_from_files`
  does.
- :class:`DatasetRows` reads a Hugging Face ``datasets.IterableDataset`` (for example
  ``load_dataset("parquet", data_files=..., streaming=True)["train"]``: parquet, text, JSON and CSV
  files) or any other iterable of mappings that can be iterated more than once.

Every pass turns a record into an example the same way (the columns it needs, checked, with errors
that name the record's location).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.readers import TEXT_JOINER, _check_texts, _json_line, _not_utf8

__all__ = ["STREAM_FILE_FORMATS", "DatasetRows", "FileRows", "RowSource"]

STREAM_FILE_FORMATS = (".jsonl", ".ndjson", ".csv", ".tsv")
"""The file extensions :class:`FileRows` streams."""


class RowSource(Protocol):
    """What a streamed task reads: records in a fixed order, their columns, and a cheap identity."""

    @property
    def name(self) -> str:
        """What error messages call the source (a path, or a dataset split)."""

    def columns(self) -> list[str]:
        """The column names (a file's header, a dataset's features, or the first record's keys)."""

    def rows(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """``(location, record)`` for every example, in the source's order, from the start."""

    def identity(self) -> dict[str, Any]:
        """A JSON-friendly description that changes when the source does (no full hash)."""


@dataclass(frozen=True)
class FileRows:
    """A JSON Lines, CSV or TSV file, read one line at a time on every pass.

    Attributes:
        path: The file.

    Raises:
        SkillNeuronError: For a missing file or an extension that cannot be streamed (a ``.json``
            array is one value: convert it to JSON Lines).
    """

    path: Path

    def __post_init__(self) -> None:
        """Check the extension and that the file exists."""
        path = Path(self.path)
        object.__setattr__(self, "path", path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            raise SkillNeuronError(
                f"{path} is a .json file, which is read whole; a streamed task needs one record per line. "
                f"Convert it to JSON Lines, e.g. `jq -c '.[]' {path.name} > {path.stem}.jsonl`, or load it "
                "in memory with task_from_files."
            )
        if suffix not in STREAM_FILE_FORMATS:
            raise SkillNeuronError(
                f"Unsupported file extension {path.suffix or '(none)'!r} for {path}; a streamed task reads "
                f"{', '.join(STREAM_FILE_FORMATS)} files (parquet and text files through "
                "datasets.load_dataset(..., streaming=True) and stream_task_from_dataset)."
            )
        if not path.is_file():
            raise SkillNeuronError(f"File not found: {path}")

    @property
    def name(self) -> str:
        """The path as given."""
        return str(self.path)

    @property
    def _delimiter(self) -> str | None:
        return {".csv": ",", ".tsv": "\t"}.get(self.path.suffix.lower())

    def columns(self) -> list[str]:
        """The header of a CSV/TSV file, or the keys of a JSON Lines file's first record."""
        if self._delimiter is None:
            first = next(self.rows(), None)
            return [] if first is None else [str(key) for key in first[1]]
        with self.path.open("rb") as handle:
            reader = csv.reader(_decoded_lines(self.path, handle), **self._dialect())
            return [str(column) for column in next(reader, [])]

    def rows(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """Every record with its location (``"<path> line N"``).

        Raises:
            SkillNeuronError: For bytes that are not UTF-8, a line that is not a JSON object, a CSV
                row with more fields than its header, or malformed CSV.
        """
        if self._delimiter is None:
            yield from self._json_rows()
        else:
            yield from self._delimited_rows()

    def _json_rows(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        with self.path.open("rb") as handle:
            for number, line in enumerate(_decoded_lines(self.path, handle), start=1):
                if line.strip():
                    yield f"{self.path} line {number}", _json_line(self.path, number, line)

    def _dialect(self) -> dict[str, Any]:
        tsv = self._delimiter == "\t"
        return {"delimiter": self._delimiter, "quoting": csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL}

    def _delimited_rows(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        with self.path.open("rb") as handle:
            reader = csv.DictReader(_decoded_lines(self.path, handle), **self._dialect())
            try:
                columns = [str(column) for column in reader.fieldnames or []]
                for row in reader:
                    if None in row:
                        raise SkillNeuronError(
                            f"{self.path} line {reader.line_num} has more fields than the header's "
                            f"{len(columns)} ({columns}): "
                            + ("a text holds a tab; remove tabs from the texts, or save the file as .csv "
                               "with quoted fields." if self._delimiter == "\t" else
                               "quote fields that hold a comma.")
                        )
                    yield f"{self.path} line {reader.line_num}", row
            except csv.Error as exc:
                where = f"{self.path} line {reader.line_num}"
                raise SkillNeuronError(f"{where}: malformed CSV ({exc}).") from None

    def identity(self) -> dict[str, Any]:
        """The path as given and resolved, the size in bytes and the modification time (ns)."""
        stat = self.path.stat()
        return {
            "kind": "file",
            "path": str(self.path),
            "resolved": str(self.path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }


def _decoded_lines(path: Path, handle: Iterable[bytes]) -> Iterator[str]:
    """The lines of a binary file as text (a UTF-8 byte-order mark is dropped), line endings kept."""
    offset = 0
    for number, raw in enumerate(handle, start=1):
        start = len(codecs.BOM_UTF8) if number == 1 and raw.startswith(codecs.BOM_UTF8) else 0
        try:
            yield raw[start:].decode("utf-8")
        except UnicodeDecodeError as exc:
            position = start + exc.start
            raise _not_utf8(path, raw[position], offset + position, number, exc.reason) from None
        offset += len(raw)


@dataclass(frozen=True)
class DatasetRows:
    """A ``datasets.IterableDataset`` (or any re-iterable collection of mappings), read on every pass.

    Attributes:
        dataset: The dataset; iterating it must start from the beginning each time (a generator or
            other one-shot iterator is refused).
        label: What error messages call it, e.g. ``"split 'train'"``.

    Raises:
        SkillNeuronError: For an object that is not iterable, or a one-shot iterator.
    """

    dataset: Any
    label: str = "the dataset"

    def __post_init__(self) -> None:
        """Refuse what cannot be read twice."""
        if isinstance(self.dataset, (str, bytes, Mapping)) or not hasattr(self.dataset, "__iter__"):
            raise SkillNeuronError(
                f"{self.label} must be a datasets.IterableDataset (or another iterable of records), got "
                f"{type(self.dataset).__name__}."
            )
        if iter(self.dataset) is self.dataset:
            raise SkillNeuronError(
                f"{self.label} is a one-shot iterator ({type(self.dataset).__name__}), but a streamed task "
                "reads its data once per pass; pass a datasets.IterableDataset, e.g. "
                "load_dataset('json', data_files=..., streaming=True)['train']."
            )

    @property
    def name(self) -> str:
        """The label."""
        return self.label

    def columns(self) -> list[str]:
        """The dataset's column names, else the first record's keys."""
        names = getattr(self.dataset, "column_names", None)
        if names:
            return [str(name) for name in names]
        first = next(self.rows(), None)
        return [] if first is None else [str(key) for key in first[1]]

    def rows(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """Every record with its location (``"<label> row N"``, counted from 0).

        Raises:
            SkillNeuronError: For a record that is not a mapping.
        """
        for row, record in enumerate(self.dataset):
            where = f"{self.label} row {row}"
            if not isinstance(record, Mapping):
                kind = type(record).__name__
                raise SkillNeuronError(f"{where}: expected a record ({{column: value}}), got {kind}.")
            yield where, record

    def identity(self) -> dict[str, Any]:
        """The dataset's type, builder, configuration, split, shards and features (as far as it has them)."""
        info = getattr(self.dataset, "info", None)
        features = getattr(self.dataset, "features", None)
        return {
            "kind": "datasets",
            "type": type(self.dataset).__name__,
            "builder": getattr(info, "builder_name", None),
            "config": getattr(info, "config_name", None),
            "split": None if getattr(self.dataset, "split", None) is None else str(self.dataset.split),
            "n_shards": getattr(self.dataset, "num_shards", None),
            "features": None if features is None else str(features),
            "label": self.label,
        }


@dataclass(frozen=True)
class _Fields:
    """Which columns of a record make an example."""

    text_columns: tuple[str, ...]
    pair_column: str | None
    label_column: str

    @property
    def wanted(self) -> list[str]:
        return [*self.text_columns, *([self.pair_column] if self.pair_column else []), self.label_column]

    def example(self, record: Mapping[str, Any], where: str) -> tuple[str, str | None, Any]:
        """``(text, second text or None, raw label)`` of a record, checked."""
        wanted = self.wanted
        missing = [column for column in wanted if record.get(column) is None]
        if missing:
            found = [key for key, value in record.items() if key is not None and value is not None]
            raise SkillNeuronError(f"{where}: missing value(s) for {missing}; fields found: {found}.")
        for column in wanted[:-1]:
            _check_texts([record[column]], lambda _: where, column)
        parts = [record[column] for column in self.text_columns]
        text = parts[0] if len(parts) == 1 else TEXT_JOINER.join(part.strip() for part in parts)
        pair = None if self.pair_column is None else record[self.pair_column]
        return text, pair, record[self.label_column]

    def to_dict(self) -> dict[str, Any]:
        return {"text": list(self.text_columns), "pair": self.pair_column, "label": self.label_column}


def _label_key(raw: Any) -> tuple[str, str]:
    """A hashable key per raw label value (``1`` and ``True`` and ``"1"`` stay apart)."""
    return type(raw).__name__, repr(raw)
