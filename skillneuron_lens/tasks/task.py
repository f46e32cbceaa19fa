"""Classification tasks: the data model, the paper's split policy, and readers for user data.

A :class:`Task` is a set of named :class:`Split` objects (``"train"``, ``"dev"``, ``"test"``) that
share one label space. The skill-neuron method needs all three roles: the *train* split gives each
neuron's baseline activation, the *dev* split scores predictivity, and the *test* split measures
what perturbing neurons does.

Split policy (Wang et al., 2022): when a source has a training set and a labelled evaluation set but
no development set, a seeded, class-stratified 20% of the training set becomes ``dev`` and the
evaluation set becomes ``test`` (:func:`make_splits`). A single pool of examples (your own lists,
one file, one ``Dataset``) first gives up a stratified 20% as ``test``, drawn with a fixed seed so
that every run sees the same test set, and the rest is split as above (:func:`split_pool`).

Rows of a split that the library carves out come in a seeded random order, so any prefix of one is a
random sample; splits taken as they are keep their source's order.

User data:

- :func:`task_from_lists` for Python lists,
- :func:`task_from_dataframe` for a pandas ``DataFrame``,
- :func:`task_from_files` for CSV, TSV, JSON Lines or JSON files,
- :func:`task_from_hf_dataset` for a Hugging Face ``Dataset`` or ``DatasetDict``.

Labels may be integer ids or strings. Strings become ids in the order of ``label_names`` when given
(a ``datasets`` ``ClassLabel`` supplies them for Hugging Face data), otherwise in sorted order with a
warning that names the mapping. Missing-value markers (``nan``, ``None``, empty cells), spellings of
one label that differ only in case or surrounding spaces, and values outside ``label_names`` are
errors that list each offending value with its count and first row.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import io
import itertools
import json
import logging
import numbers
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "DEFAULT_DEV_FRACTION",
    "DEFAULT_TEST_FRACTION",
    "SPLIT_NAMES",
    "Split",
    "Task",
    "infer_split_roles",
    "make_splits",
    "split_pool",
    "task_from_dataframe",
    "task_from_files",
    "task_from_hf_dataset",
    "task_from_lists",
]

SPLIT_NAMES = ("train", "dev", "test")
DEFAULT_DEV_FRACTION = 0.2
DEFAULT_TEST_FRACTION = 0.2
TEXT_JOINER = "\n"
"""Separator used when several text columns are joined into one text (e.g. title and body)."""

logger = logging.getLogger(__name__)

_FILE_FORMATS = ".csv, .tsv, .jsonl, .ndjson or .json"
_INT_PATTERN = re.compile(r"[+-]?\d+")


# --------------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Split:
    """The examples of one split: texts, integer labels and, for pair tasks, second texts.

    The lists are copied and checked on construction: all have the same length, texts are ``str``,
    labels are ``int`` (``bool`` is rejected). Whether a label is in range is checked by the
    :class:`Task` that holds the split.

    Attributes:
        texts: The input texts (the first text of each pair for pair tasks such as NLI).
        labels: Integer label ids, one per text.
        text_pairs: The second text of each pair, or ``None`` for single-text tasks.
    """

    texts: list[str]
    labels: list[int]
    text_pairs: list[str] | None = None

    def __post_init__(self) -> None:
        """Copy the columns into lists and validate their types and lengths."""
        texts = _checked_strings(self.texts, "texts")
        labels = _checked_label_ids(self.labels)
        pairs = None if self.text_pairs is None else _checked_strings(self.text_pairs, "text_pairs")
        lengths = {"texts": len(texts), "labels": len(labels)}
        if pairs is not None:
            lengths["text_pairs"] = len(pairs)
        if len(set(lengths.values())) > 1:
            raise SkillNeuronError(f"Split columns differ in length: {lengths}.")
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "text_pairs", pairs)

    def __len__(self) -> int:
        """Number of examples."""
        return len(self.labels)

    def __repr__(self) -> str:
        """Summarise sizes instead of printing every text."""
        return f"Split(n={len(self)}, label_counts={self.label_counts()}, pairs={self.is_pair})"

    @property
    def is_pair(self) -> bool:
        """Whether the split holds text pairs."""
        return self.text_pairs is not None

    def label_counts(self) -> dict[int, int]:
        """Count the examples of each label.

        Returns:
            ``{label: count}`` for the labels present, in increasing label order.
        """
        return dict(sorted(Counter(self.labels).items()))

    def select(self, indices: Sequence[int]) -> Split:
        """Build a split from some rows of this one.

        Args:
            indices: Row indices, in the order wanted (repeats allowed).

        Returns:
            A new :class:`Split`.
        """
        pairs = None if self.text_pairs is None else [self.text_pairs[i] for i in indices]
        return Split([self.texts[i] for i in indices], [self.labels[i] for i in indices], pairs)


@dataclass(frozen=True, repr=False)
class Task:
    """A labelled classification task with named splits.

    Attributes:
        name: Short task name, e.g. ``"sst2"``.
        label_names: Human-readable label names; the index is the label id.
        splits: Splits keyed by ``"train"``, ``"dev"`` and/or ``"test"``.
        source: Human-readable provenance, e.g. ``"datasets: nyu-mll/glue (sst2)"``.
    """

    name: str
    label_names: list[str]
    splits: dict[str, Split]
    source: str = ""

    def __post_init__(self) -> None:
        """Validate the label names, the split names and every label id."""
        label_names = _checked_label_names(self.label_names)
        splits = _checked_splits(self.splits)
        object.__setattr__(self, "label_names", label_names)
        object.__setattr__(self, "splits", splits)
        for split_name, split in splits.items():
            _check_label_range(split.labels, label_names, _in_split(split_name))

    def __repr__(self) -> str:
        """Summarise the task instead of printing every text."""
        sizes = {name: len(split) for name, split in self.splits.items()}
        return (
            f"Task(name={self.name!r}, label_names={self.label_names}, splits={sizes}, "
            f"pairs={self.is_pair}, source={self.source!r})"
        )

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(label_names)``)."""
        return len(self.label_names)

    @property
    def is_pair(self) -> bool:
        """Whether the task's inputs are text pairs."""
        return any(split.is_pair for split in self.splits.values())

    @property
    def train(self) -> Split:
        """The training split (baselines)."""
        return self.split("train")

    @property
    def dev(self) -> Split:
        """The development split (predictivity)."""
        return self.split("dev")

    @property
    def test(self) -> Split:
        """The test split (final evaluation)."""
        return self.split("test")

    def split(self, name: str) -> Split:
        """Return one split by name.

        Args:
            name: ``"train"``, ``"dev"`` or ``"test"``.

        Returns:
            The split.

        Raises:
            SkillNeuronError: If the task has no such split; the message lists those it has.
        """
        if name not in self.splits:
            available = ", ".join(self.splits) or "none"
            raise SkillNeuronError(
                f"Task {self.name!r} has no {name!r} split; available splits: {available}."
            )
        return self.splits[name]

    def subsample(self, n: int, seed: int = 0) -> Task:
        """Keep at most ``n`` examples in total, stratified by label within every split.

        ``n`` is shared between the splits in proportion to their sizes (largest remainder), and
        every split keeps at least one example. Within a split, each label keeps a share
        proportional to its frequency. Kept rows stay in their original order.

        Args:
            n: Total number of examples to keep across all splits (at least the number of splits).
            seed: Seed of the draw; the same seed gives the same rows.

        Returns:
            A new task, or this task if it has at most ``n`` examples.

        Raises:
            SkillNeuronError: If ``n`` is smaller than the number of splits.
        """
        sizes = [len(split) for split in self.splits.values()]
        n = _checked_count(n, "n")
        if n >= sum(sizes):
            return self
        non_empty = sum(1 for size in sizes if size)
        if n < non_empty:
            raise SkillNeuronError(
                f"subsample(n={n}) cannot keep one example in each of the {non_empty} splits of "
                f"task {self.name!r}; use n >= {non_empty}."
            )
        quotas = _allocate(sizes, n)
        for i, size in enumerate(sizes):
            if size and not quotas[i]:  # move one example from the largest quota
                quotas[quotas.index(max(quotas))] -= 1
                quotas[i] = 1
        new_splits = {}
        for (name, split), quota in zip(self.splits.items(), quotas, strict=True):
            rows = _stratified_sample(split.labels, quota, _rng(seed, "subsample", name))
            new_splits[name] = split.select(sorted(rows))
        return self._with_splits(new_splits)

    def balanced(self, seed: int = 0) -> Task:
        """Class-balance every split by down-sampling each label to the rarest label's count.

        Args:
            seed: Seed of the draw; the same seed gives the same rows.

        Returns:
            A new task whose splits hold equally many examples of every label, in original order.

        Raises:
            SkillNeuronError: If a split has no example of some label.
        """
        new_splits = {}
        for name, split in self.splits.items():
            by_label = _rows_by_label(split.labels)
            missing = [self.label_names[k] for k in range(self.n_classes) if k not in by_label]
            if missing:
                raise SkillNeuronError(
                    f"Cannot balance split {name!r} of task {self.name!r}: it has no example of "
                    f"label(s) {missing}."
                )
            smallest = min(len(rows) for rows in by_label.values())
            rng = _rng(seed, "balanced", name)
            kept = [
                row for label in sorted(by_label) for row in rng.sample(by_label[label], smallest)
            ]
            new_splits[name] = split.select(sorted(kept))
        return self._with_splits(new_splits)

    def with_dev_share(self, share: float, seed: int = 0) -> Task:
        """Re-split train and dev together so that ``share`` of them is dev (test stays as it is).

        A larger dev split gives the significance tests power (a few hundred dev examples cannot
        tell most neurons from chance; see docs/statistics.md); the baselines need far fewer train
        examples. The draw is stratified by label and seeded.

        Args:
            share: Share of the train + dev examples that becomes dev, in ``(0, 1)``.
            seed: Seed of the draw.

        Returns:
            A new task.

        Raises:
            SkillNeuronError: If ``share`` is outside ``(0, 1)`` or the task has no dev split.
        """
        if "dev" not in self.splits:
            raise SkillNeuronError(f"Task {self.name!r} has no dev split to re-split.")
        train, dev = self.splits["train"], self.splits["dev"]
        if (train.text_pairs is None) != (dev.text_pairs is None):
            raise SkillNeuronError("Train and dev differ in having text pairs; cannot pool them.")
        pairs = None if train.text_pairs is None else [*train.text_pairs, *(dev.text_pairs or [])]
        pool = Split([*train.texts, *dev.texts], [*train.labels, *dev.labels], pairs)
        new_train, new_dev = _carve(pool, share, _rng(seed, "dev-share"), "dev")
        return self._with_splits({**self.splits, "train": new_train, "dev": new_dev})

    def _with_splits(self, splits: dict[str, Split]) -> Task:
        return Task(self.name, list(self.label_names), splits, self.source)


# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------


def _checked_strings(values: Sequence[Any], column: str) -> list[str]:
    values = _as_list(values, column)
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise SkillNeuronError(
                f"{column}[{row}] is {type(value).__name__} ({value!r}); every text must be a str."
            )
    return values


def _checked_label_ids(values: Sequence[Any]) -> list[int]:
    values = _as_list(values, "labels")
    for row, value in enumerate(values):
        if not _is_int(value):
            raise SkillNeuronError(
                f"labels[{row}] is {type(value).__name__} ({value!r}); Split labels must be int "
                "ids. Use task_from_lists(...) to map string labels to ids."
            )
    return [int(value) for value in values]


def _as_list(values: Any, column: str) -> list[Any]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise SkillNeuronError(f"{column} must be a list, got {type(values).__name__}.")
    return list(values)


def _is_int(value: object) -> bool:
    """Whether ``value`` is an integer (NumPy integers included, ``bool`` excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _checked_count(n: object, what: str) -> int:
    if not _is_int(n) or int(n) < 1:  # type: ignore[call-overload]
        raise SkillNeuronError(f"{what} must be a positive int, got {n!r}.")
    return int(n)  # type: ignore[call-overload]


def _checked_label_names(label_names: Sequence[Any]) -> list[str]:
    names = _as_list(label_names, "label_names")
    if not names:
        raise SkillNeuronError("label_names is empty; a task needs at least one label name.")
    bad = [name for name in names if not isinstance(name, str)]
    if bad:
        raise SkillNeuronError(f"label_names must be strings; got {bad!r}.")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise SkillNeuronError(f"label_names has duplicates: {duplicates}.")
    return names


def _checked_splits(splits: Mapping[str, Split]) -> dict[str, Split]:
    if not isinstance(splits, Mapping) or not splits:
        raise SkillNeuronError(f"splits must be a non-empty dict keyed by {list(SPLIT_NAMES)}.")
    unknown = [name for name in splits if name not in SPLIT_NAMES]
    if unknown:
        raise SkillNeuronError(f"Unknown split name(s) {unknown}; use {list(SPLIT_NAMES)}.")
    for name, split in splits.items():
        if not isinstance(split, Split):
            raise SkillNeuronError(f"splits[{name!r}] is {type(split).__name__}, not a Split.")
    if len({split.is_pair for split in splits.values()}) > 1:
        raise SkillNeuronError("Some splits have text_pairs and others do not; use one format.")
    return {name: splits[name] for name in SPLIT_NAMES if name in splits}


def _in_split(split_name: str) -> Callable[[int], str]:
    """Name a row of a task's split in error messages."""
    return lambda row: f"split {split_name!r}, row {row}"


def _check_label_range(
    labels: Sequence[int], label_names: Sequence[str], where: Callable[[int], str]
) -> None:
    n_classes = len(label_names)
    for row, label in enumerate(labels):
        if not 0 <= label < n_classes:
            hint = (
                " Negative labels usually mark unlabelled rows (e.g. a hidden GLUE test split)."
                if label < 0
                else ""
            )
            valid = {k: name for k, name in enumerate(label_names)}
            raise SkillNeuronError(
                f"{where(row)}: label {label} is out of range; valid labels are "
                f"{list(range(n_classes))} {valid}.{hint}"
            )


# --------------------------------------------------------------------------------------------------
# Sampling and the split policy
# --------------------------------------------------------------------------------------------------


def _rng(seed: int, *keys: object) -> random.Random:
    """A generator seeded by ``seed`` and a purpose, stable across runs and Python versions."""
    return random.Random(":".join(str(key) for key in (seed, *keys)))


def _rows_by_label(labels: Sequence[int]) -> dict[int, list[int]]:
    rows: dict[int, list[int]] = {}
    for row, label in enumerate(labels):
        rows.setdefault(label, []).append(row)
    return dict(sorted(rows.items()))


def _allocate(sizes: Sequence[int], total: int) -> list[int]:
    """Share ``total`` among groups in proportion to ``sizes`` (largest remainder method)."""
    grand = sum(sizes)
    total = min(max(total, 0), grand)
    if total == 0:
        return [0] * len(sizes)
    exact = [size * total / grand for size in sizes]
    quotas = [int(value) for value in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (quotas[i] - exact[i], i))
    for i in by_remainder[: total - sum(quotas)]:
        quotas[i] += 1
    return quotas


def _stratified_sample(labels: Sequence[int], k: int, rng: random.Random) -> list[int]:
    """Draw ``k`` row indices, each label contributing in proportion to its frequency."""
    by_label = _rows_by_label(labels)
    quotas = _allocate([len(rows) for rows in by_label.values()], k)
    return [
        row
        for rows, quota in zip(by_label.values(), quotas, strict=True)
        for row in rng.sample(rows, quota)
    ]


def _carve(split: Split, fraction: float, rng: random.Random, role: str) -> tuple[Split, Split]:
    """Split off a stratified ``fraction`` of ``split``; both parts come back shuffled."""
    if not 0.0 < fraction < 1.0:
        raise SkillNeuronError(f"The {role} fraction must be between 0 and 1, got {fraction!r}.")
    if len(split) < 2:
        raise SkillNeuronError(
            f"Cannot carve a {role} split out of {len(split)} example(s); provide more data or "
            f"a separate {role} set."
        )
    k = min(max(round(len(split) * fraction), 1), len(split) - 1)
    held = _stratified_sample(split.labels, k, rng)
    held_set = set(held)
    rest = [row for row in range(len(split)) if row not in held_set]
    rng.shuffle(held)
    rng.shuffle(rest)
    return split.select(rest), split.select(held)


def make_splits(
    train: Split,
    test: Split | None = None,
    dev: Split | None = None,
    seed: int = 0,
    dev_fraction: float = DEFAULT_DEV_FRACTION,
) -> dict[str, Split]:
    """Apply the paper's split policy to a source's splits.

    Without a ``dev`` split, a seeded, label-stratified ``dev_fraction`` of ``train`` becomes
    ``dev`` and the rest stays ``train`` (both in a seeded random order). ``test`` (for instance a
    source's official validation set) is kept as it is.

    Args:
        train: The source's training split.
        test: The evaluation split, if any.
        dev: An existing development split; when given, ``train`` is not split.
        seed: Seed of the train/dev split.
        dev_fraction: Share of ``train`` that becomes ``dev``.

    Returns:
        ``{"train": ..., "dev": ..., "test": ...}`` (``"test"`` only when given).

    Raises:
        SkillNeuronError: If ``dev_fraction`` is not in (0, 1) or ``train`` is too small to split.
    """
    if dev is None:
        train, dev = _carve(train, dev_fraction, _rng(seed, "dev"), "dev")
    splits = {"train": train, "dev": dev}
    if test is not None:
        splits["test"] = test
    return splits


def split_pool(
    pool: Split,
    seed: int = 0,
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    test_seed: int = 0,
) -> dict[str, Split]:
    """Split a single pool of examples into train, dev and test.

    A stratified ``test_fraction`` becomes ``test``, drawn with ``test_seed`` so that the test set
    does not change with ``seed``; the rest goes through :func:`make_splits`. With the defaults the
    shares are 64% train, 16% dev and 20% test.

    Args:
        pool: All examples.
        seed: Seed of the train/dev split.
        dev_fraction: Share of the non-test examples that becomes ``dev``.
        test_fraction: Share of the pool that becomes ``test``.
        test_seed: Seed of the test hold-out.

    Returns:
        ``{"train": ..., "dev": ..., "test": ...}``.
    """
    rest, test = _carve(pool, test_fraction, _rng(test_seed, "test"), "test")
    return make_splits(rest, test=test, seed=seed, dev_fraction=dev_fraction)


# --------------------------------------------------------------------------------------------------
# Label encoding for user data
# --------------------------------------------------------------------------------------------------


def _row_location(row: int) -> str:
    return f"row {row}"


_MISSING_MARKERS = frozenset({"nan", "none", "null", "na", "n/a", "?", "-", "missing"})
"""Label values (compared case-insensitively) that mark a missing label, never a class."""
_FIX = "Clean the label column, or pass --labels (label_names=) listing every class in order"


def _encode_labels(
    raw: Sequence[Any],
    label_names: Sequence[str] | None,
    where: Callable[[int], str] = _row_location,
) -> tuple[list[int], list[str]]:
    """Turn raw labels (int ids or strings) into ids and the label names they refer to.

    Precedence: ``label_names`` (``--labels``) when given; otherwise int ids as they are; otherwise
    the sorted label strings, with a warning that names the guessed mapping. Missing-value markers
    (``nan``, ``None``, ...) and values that differ only in case or surrounding spaces are errors
    that list every offending value with its count, never classes of their own.
    """
    _check_label_types(raw, where)
    if label_names is not None:
        names = _checked_label_names(label_names)
        ids = _ids_from_names(raw, names, where)
    elif all(_is_int(value) or _INT_PATTERN.fullmatch(value.strip()) for value in raw):
        ids = [int(value) for value in raw]
        names = [str(k) for k in range(max(ids, default=0) + 1)]
    elif any(_is_int(value) for value in raw):
        raise SkillNeuronError(
            "Labels mix int ids and strings; use one kind, or pass label_names to map strings."
        )
    else:
        _check_label_strings(raw, where)
        names = sorted({value.strip() for value in raw})
        ids = _ids_from_names(raw, names, where)
        logger.warning(
            "labels mapped %s (alphabetical); pass --labels (label_names=) to set the order",
            ", ".join(f"{name}={k}" for k, name in enumerate(names)),
        )
    _check_label_range(ids, names, where)
    return ids, names


def _check_label_types(raw: Sequence[Any], where: Callable[[int], str]) -> None:
    for row, value in enumerate(raw):
        if not (_is_int(value) or isinstance(value, str)):
            missing = value is None or (isinstance(value, float) and value != value)
            hint = (
                " It marks a missing label: drop the unlabelled rows or fill them in."
                if missing
                else ""
            )
            raise SkillNeuronError(
                f"{where(row)}: label {value!r} is {type(value).__name__}; labels must be int ids "
                f"or strings.{hint}"
            )
        if isinstance(value, str) and not value.strip():
            raise SkillNeuronError(
                f"{where(row)}: the label is empty (a missing label). Drop the unlabelled rows or "
                "fill them in."
            )


def _value_report(rows_by_value: Mapping[str, list[int]], where: Callable[[int], str]) -> str:
    """``'nan' (3 rows, first at <where>)`` for each value, in first-seen order."""
    return "; ".join(
        f"{value!r} ({len(rows)} row{'s' if len(rows) > 1 else ''}, first at {where(rows[0])})"
        for value, rows in rows_by_value.items()
    )


def _check_label_strings(raw: Sequence[str], where: Callable[[int], str]) -> None:
    """Refuse missing-value markers and near-duplicate spellings of one label, naming them all."""
    rows_by_value: dict[str, list[int]] = {}
    for row, value in enumerate(raw):
        rows_by_value.setdefault(value, []).append(row)
    markers = {v: rows for v, rows in rows_by_value.items() if v.strip().lower() in _MISSING_MARKERS}
    if markers:
        raise SkillNeuronError(
            f"The label column holds missing-value markers, which would become a class of their own: "
            f"{_value_report(markers, where)}. {_FIX} (values outside it are then reported)."
        )
    spellings: dict[str, list[str]] = {}
    for value in rows_by_value:
        spellings.setdefault(value.strip().casefold(), []).append(value)
    clashes = {key: values for key, values in spellings.items() if len(values) > 1}
    if clashes:
        report = " | ".join(
            _value_report({value: rows_by_value[value] for value in values}, where)
            for values in clashes.values()
        )
        raise SkillNeuronError(
            f"Label values differ only in case or surrounding spaces, so one class would be split in "
            f"several: {report}. {_FIX} (e.g. --labels negative,positive)."
        )


def _ids_from_names(raw: Sequence[Any], names: list[str], where: Callable[[int], str]) -> list[int]:
    index = {name: k for k, name in enumerate(names)}
    ids: list[int] = []
    outside: dict[str, list[int]] = {}
    for row, value in enumerate(raw):
        if _is_int(value):
            ids.append(int(value))
        elif value.strip() in index:
            ids.append(index[value.strip()])
        elif _INT_PATTERN.fullmatch(value.strip()):
            ids.append(int(value))
        else:
            outside.setdefault(value, []).append(row)
    if outside:
        raise SkillNeuronError(
            f"Label value(s) outside the label names {names}: {_value_report(outside, where)}. "
            "Clean the label column, or add the missing classes to --labels (label_names=)."
        )
    return ids


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
    labels, names = _encode_labels(raw_labels, label_names, where)
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


def _require_columns(found: Sequence[Any], wanted: Sequence[str], what: str) -> None:
    missing = [column for column in wanted if column not in found]
    if missing:
        raise SkillNeuronError(
            f"{what} has no column(s) {missing}; columns found: {[str(c) for c in found]}."
        )


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
        raise SkillNeuronError(
            f"{path} is not valid UTF-8: byte 0x{data[position]:02x} at byte offset {position} "
            f"(line {line}) cannot be decoded ({exc.reason}). Re-save the file as UTF-8, e.g. "
            f"`iconv -f latin1 -t utf-8 {path.name} > fixed{path.suffix}`, or choose 'CSV UTF-8' "
            "when exporting from a spreadsheet."
        ) from None
    if not text.strip():
        raise SkillNeuronError(f"{path} is empty.")
    return text


def _read_delimited(path: Path, delimiter: str) -> _Table:
    reader = csv.DictReader(io.StringIO(_decode(path), newline=""), delimiter=delimiter)
    rows, locations = [], []
    try:
        columns = [str(column) for column in reader.fieldnames or []]
        for row in reader:
            rows.append(row)
            locations.append(f"{path} line {reader.line_num}")
    except csv.Error as exc:
        raise SkillNeuronError(f"{path} line {reader.line_num}: malformed CSV ({exc}).") from None
    if not rows:
        raise SkillNeuronError(f"{path} has a header ({','.join(columns)}) but no data rows.")
    return _Table(path, columns, rows, locations)


def _read_json_lines(path: Path, text: str) -> _Table:
    rows, locations = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SkillNeuronError(
                f"{path} line {number}: not valid JSON ({exc.msg} at column {exc.colno})."
            ) from None
        rows.append(_checked_record(record, f"{path} line {number}"))
        locations.append(f"{path} line {number}")
    columns = sorted({key for row in rows for key in row})
    return _Table(path, columns, rows, locations)


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


def _file_columns(table: _Table) -> tuple[str, str | None]:
    """The text and pair columns of a file: ``text`` or ``text_a``/``text_b``."""
    if "text_a" in table.columns and "text_b" in table.columns:
        return "text_a", "text_b"
    if "text" in table.columns:
        return "text", None
    raise SkillNeuronError(
        f"{table.path} has no 'text' column (or 'text_a' and 'text_b' for pairs); columns found: "
        f"{table.columns}. Expected columns text,label or text_a,text_b,label."
    )


def _table_columns(table: _Table, wanted: Sequence[str]) -> dict[str, list[Any]]:
    """Extract columns from a table, checking every row has them and the texts are strings."""
    _require_columns(table.columns, wanted, str(table.path))
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
    label_names: Sequence[str] | None = None,
    name: str = "custom",
    seed: int = 0,
    dev_fraction: float = DEFAULT_DEV_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> Task:
    """Build a task from CSV, TSV, JSON Lines or JSON files.

    Each file has the columns ``text,label`` (single texts) or ``text_a,text_b,label`` (pairs);
    other columns are ignored. Files must be UTF-8. Labels may be int ids or strings (mapped
    through ``label_names``, or sorted, over all files together). Splits:

    - only ``train_file``: :func:`split_pool` (64% train, 16% dev, 20% test);
    - ``train_file`` and ``test_file``: :func:`make_splits` carves ``dev`` out of train;
    - with ``dev_file``: the files are used as they are.

    Args:
        train_file: Training data.
        dev_file: Development data, optional.
        test_file: Test data, optional.
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
    text_column, pair_column = _file_columns(tables["train"])
    wanted = [text_column] + ([pair_column] if pair_column else []) + ["label"]
    columns = {role: _table_columns(table, wanted) for role, table in tables.items()}
    raw_labels = [label for values in columns.values() for label in values["label"]]
    locations = [where for table in tables.values() for where in table.locations]
    labels, names = _encode_labels(raw_labels, label_names, locations.__getitem__)
    splits, start = {}, 0
    for role, values in columns.items():
        stop = start + len(values["label"])
        pairs = values[pair_column] if pair_column else None
        splits[role] = Split(values[text_column], labels[start:stop], pairs)
        start = stop
    source = "files: " + ", ".join(str(table.path) for table in tables.values())
    return Task(name, names, _apply_policy(splits, seed, dev_fraction, test_fraction), source)


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
    raw_labels = [label for values in columns.values() for label in values[label_column]]
    sizes = {role: len(values[label_column]) for role, values in columns.items()}
    labels, names = _encode_labels(raw_labels, label_names, _split_row_locator(sizes))
    splits, start = {}, 0
    for role, values in columns.items():
        stop = start + len(values[label_column])
        texts = _join_columns([values[column] for column in text_columns])
        pairs = values[pair_column] if pair_column else None
        splits[role] = Split(texts, labels[start:stop], pairs)
        start = stop
    return Task(name, names, _apply_policy(splits, seed, dev_fraction, test_fraction), source)


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
