"""Classification tasks: the data model and the paper's split policy.

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

Readers for user data (lists, data frames, files, Hugging Face datasets) are in
:mod:`skillneuron_lens.tasks.readers`.
"""

from __future__ import annotations

import numbers
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.notebook import HtmlTable, html_repr

__all__ = [
    "DEFAULT_DEV_FRACTION",
    "DEFAULT_TEST_FRACTION",
    "SPLIT_NAMES",
    "Split",
    "Task",
    "make_splits",
    "split_pool",
]

SPLIT_NAMES = ("train", "dev", "test")
DEFAULT_DEV_FRACTION = 0.2
DEFAULT_TEST_FRACTION = 0.2


# --------------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Split:
    """The examples of one split: texts, integer labels and, for pair tasks, second texts.

    The lists are copied and checked on construction: all have the same length, texts are ``str``,
    labels are ``int`` (``bool`` is rejected). Whether a label is in range is checked by the
    :class:`Task` that holds the split. (A :class:`~skillneuron_lens.tasks.streaming.StreamedSplit`
    keeps its texts in their source and reads them when indexed.)

    Attributes:
        texts: The input texts (the first text of each pair for pair tasks such as NLI).
        labels: Integer label ids, one per text.
        text_pairs: The second text of each pair, or ``None`` for single-text tasks.
    """

    texts: Sequence[str]
    labels: list[int]
    text_pairs: Sequence[str] | None = None

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

    def _repr_html_(self) -> str:
        """A notebook table: name, source and labels, then each split's size and class balance."""
        facts: list[tuple[str, object]] = [
            ("name", self.name),
            ("source", self.source or "n/a"),
            ("labels", {label: name for label, name in enumerate(self.label_names)}),
            ("text pairs", "yes" if self.is_pair else "no"),
        ]
        rows = []
        for split_name, split in self.splits.items():
            present = split.label_counts()
            counts = [present.get(label, 0) for label in range(self.n_classes)]
            shares = [f"{count} ({count / max(1, len(split)):.0%})" for count in counts]
            rows.append([split_name, len(split), *shares])
        table = HtmlTable(["split", "examples", *self.label_names], rows, "examples per label (share)")
        return html_repr(type(self).__name__, facts, [table])

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
