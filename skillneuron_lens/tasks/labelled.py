"""One validation for the labelled splits that functions accept as input.

Every function that reads a labelled split (predictivity, read-outs, the tuned classifier) takes
a ``(texts, labels)`` tuple, a Hugging Face ``datasets.Dataset`` with ``text`` and ``label`` columns
(:func:`~skillneuron_lens.tasks.readers.hf_split_parts`), or an object with ``.texts``, ``.labels`` and
optionally ``.text_pairs`` (e.g. a :class:`~skillneuron_lens.tasks.task.Split`), and checks it here.

Labels are int class ids or strings. The label-order rule for strings is the one of the task readers
and ``--labels`` (:func:`~skillneuron_lens.tasks.labels.encode_labels`): the order of
``label_names`` when given, otherwise the sorted distinct strings of the *train* split (the first
split a function receives), with a warning that names the mapping. Dev and test labels must be among
them: a string the train split lacks is an error naming it, never a new class. A function that sees
one split alone (an ``accuracy(split)``) cannot know the order from it, since a class missing from
the split would shift every id; it needs ``label_names``, which fitted objects keep from their
training split.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.labels import _INT_PATTERN, _value_report, encode_labels
from skillneuron_lens.tasks.readers import hf_split_parts, is_hf_dataset
from skillneuron_lens.tasks.streaming import StreamedTexts

__all__ = [
    "LabelledSplit",
    "label_id",
    "labelled_split",
    "labelled_splits",
    "split_label_ids",
    "split_texts",
]


class LabelledSplit(NamedTuple):
    """A checked split: texts, integer labels and optional second texts, as plain lists."""

    texts: Sequence[str]
    labels: list[int]
    text_pairs: Sequence[str] | None


class _RawSplit(NamedTuple):
    """A split's parts before its labels are encoded."""

    texts: Sequence[str]
    labels: list[Any]
    text_pairs: Sequence[str] | None


def labelled_splits(
    splits: Mapping[str, Any], label_names: Sequence[str] | None = None
) -> tuple[dict[str, LabelledSplit], list[str] | None]:
    """Check the splits of one task together, under one label order.

    Args:
        splits: ``{name: split}`` with the train split first (its labels fix the order of string
            labels); each split a ``(texts, labels)`` tuple or an object with ``.texts`` and
            ``.labels`` (and optionally ``.text_pairs``). ``None`` values are skipped.
        label_names: The class names in id order, or ``None`` (see the module's label-order rule).

    Returns:
        ``({name: checked split}, label names)``; the names are ``None`` for int labels without
        ``label_names``.

    Raises:
        SkillNeuronError: For another type, an empty split, lengths that differ, labels that are
            neither int ids nor strings, or a label outside the train split / ``label_names``.
    """
    raw = {name: _raw_split(split, name) for name, split in splits.items() if split is not None}
    ids, names = split_label_ids({name: parts.labels for name, parts in raw.items()}, label_names)
    checked = {
        name: LabelledSplit(parts.texts, ids[name], parts.text_pairs) for name, parts in raw.items()
    }
    return checked, names


def labelled_split(
    split: Any, name: str, label_names: Sequence[str] | None = None
) -> LabelledSplit:
    """Check one labelled split that is scored on its own and return its parts as lists.

    String labels need ``label_names`` here: one split alone cannot fix their order (see the
    module's rule). To check train and dev together, use :func:`labelled_splits`.

    Args:
        split: A ``(texts, labels)`` tuple or an object with ``.texts`` and ``.labels`` (and
            optionally ``.text_pairs``).
        name: What to call the split in error messages (``"train"``, ``"dev"``, ...).
        label_names: The class names in id order, mapping string labels to ids.

    Returns:
        The :class:`LabelledSplit`.

    Raises:
        SkillNeuronError: For another type, an empty split, bad labels, lengths that differ, or
            string labels without ``label_names``.
    """
    parts = _raw_split(split, name)
    if label_names is None and any(isinstance(label, str) for label in parts.labels):
        strings = sorted({label for label in parts.labels if isinstance(label, str)})
        raise SkillNeuronError(
            f"The {name} split has string labels ({', '.join(map(repr, strings[:5]))}), and one split "
            "alone cannot fix which id each class has (a class missing from it would shift every id). "
            "Pass integer ids, or fit on string labels first (compute_predictivity, train_classifier, "
            "LinearReadout.fit take train and dev together and keep the order as label_names), or "
            "pass label_names=[...] in id order."
        )
    ids, _ = split_label_ids({name: parts.labels}, label_names)
    return LabelledSplit(parts.texts, ids[name], parts.text_pairs)


def split_texts(split: Any, name: str) -> tuple[Sequence[str], Sequence[str] | None]:
    """The texts and second texts of a split whose labels are not needed (they are not encoded).

    Args:
        split: A ``(texts, labels)`` tuple or an object with ``.texts`` (and ``.labels``,
            ``.text_pairs``).
        name: What to call the split in error messages.

    Returns:
        ``(texts, text_pairs)``; ``text_pairs`` is ``None`` for single texts.

    Raises:
        SkillNeuronError: For another type, an empty split or lengths that differ.
    """
    parts = _raw_split(split, name)
    return parts.texts, parts.text_pairs


def split_label_ids(
    labels_by_split: Mapping[str, Sequence[Any] | torch.Tensor],
    label_names: Sequence[str] | None = None,
) -> tuple[dict[str, list[int]], list[str] | None]:
    """The label-order rule: every split's labels as int ids, in one label space.

    Int ids (also integral floats and one-element tensors) stay as they are. With strings, the ids
    follow ``label_names`` when given, else the sorted distinct strings of the first split (with a
    warning naming the mapping); the other splits may only use those.

    Args:
        labels_by_split: ``{split name: labels}``, the train split first.
        label_names: The class names in id order, or ``None``.

    Returns:
        ``({split name: ids}, names)``: ``names`` is ``None`` for int labels without ``label_names``.

    Raises:
        SkillNeuronError: For labels that are neither ids nor strings, a mix of both without
            ``label_names``, or a label of a later split that the first split lacks.
    """
    plain = {
        name: [
            _plain_label(label, name)
            for label in (labels.tolist() if isinstance(labels, torch.Tensor) else labels)
        ]
        for name, labels in labels_by_split.items()
    }
    has_strings = any(isinstance(label, str) for labels in plain.values() for label in labels)
    if not has_strings and label_names is None:
        return {name: [int(label) for label in labels] for name, labels in plain.items()}, None
    if label_names is None:
        _refuse_names_beside_ids(plain)
    names = None if label_names is None else list(label_names)
    ids: dict[str, list[int]] = {}
    for name, labels in plain.items():
        if names is not None and label_names is None:
            _refuse_unseen(labels, names, name, next(iter(plain)))
        ids[name], names = encode_labels(labels, names, _in_split(name))
    return ids, names


def _refuse_names_beside_ids(plain: Mapping[str, Sequence[int | str]]) -> None:
    """Refuse class names in one split beside int ids in another: which id is which name is unknown."""
    named = [name for name, labels in plain.items() if any(_is_name(label) for label in labels)]
    numbered = [name for name, labels in plain.items() if any(isinstance(label, int) for label in labels)]
    if any(first != second for first in named for second in numbered):  # a mix in one split: encode_labels
        raise SkillNeuronError(
            f"The {', '.join(named)} split(s) have string labels (class names) but the "
            f"{', '.join(numbered)} split(s) have int class ids, so which id is which name is unknown. "
            "Give every split the same kind of labels, or pass label_names=[...] listing the classes in "
            "id order (e.g. label_names=['neg', 'pos'] makes 0 'neg' and 1 'pos')."
        )


def _is_name(label: int | str) -> bool:
    """A string label that is not an int id written as text (e.g. ``"pos"``, not ``"1"``)."""
    return isinstance(label, str) and not _INT_PATTERN.fullmatch(label.strip())


def _in_split(name: str) -> Callable[[int], str]:
    return lambda row: f"{name} split row {row}"


def _refuse_unseen(labels: Sequence[Any], names: Sequence[str], name: str, first: str) -> None:
    """Refuse strings of a later split that the first split (which fixed the order) lacks."""
    known = set(names)
    unseen: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        text = label.strip() if isinstance(label, str) else None
        if text is not None and text not in known and not _INT_PATTERN.fullmatch(text):
            unseen.setdefault(label, []).append(row)
    if unseen:
        order = ", ".join(f"{label}={k}" for k, label in enumerate(names))
        raise SkillNeuronError(
            f"The {name} split has label(s) that the {first} split lacks: "
            f"{_value_report(unseen, _in_split(name))}. String labels take their ids from the "
            f"{first} split's labels, sorted ({order}); pass label_names=[...] listing every class "
            "in id order, or fix the labels."
        )


def _plain_label(label: Any, split_name: str) -> int | str:
    """A label as an int id or a string (strings are encoded by :func:`split_label_ids`)."""
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item()
    return label if isinstance(label, str) else label_id(label, split_name)


def _raw_split(split: Any, name: str) -> _RawSplit:
    """A split's texts, raw labels and pairs as lists, with its shape checked."""
    texts: Any
    if is_hf_dataset(split):
        texts, labels, pairs = hf_split_parts(split, f"The {name} split")
    elif isinstance(split, tuple) and len(split) == 2:
        texts, labels, pairs = split[0], split[1], None
    elif hasattr(split, "texts") and hasattr(split, "labels"):
        texts, labels, pairs = split.texts, split.labels, getattr(split, "text_pairs", None)
    else:
        raise SkillNeuronError(
            f"The {name} split must be a (texts, labels) tuple, a datasets.Dataset with text and label "
            f"columns, or have .texts and .labels, got {type(split).__name__}."
        )
    texts, labels = _kept_texts(texts), list(labels)
    if len(texts) == 0:
        raise SkillNeuronError(f"The {name} split is empty: it needs labelled examples.")
    if len(texts) != len(labels):
        raise SkillNeuronError(
            f"The {name} split has {len(texts)} texts but {len(labels)} labels; they must match."
        )
    if pairs is not None and len(pairs) != len(texts):
        raise SkillNeuronError(f"The {name} split has {len(pairs)} text pairs for {len(texts)} texts.")
    return _RawSplit(texts, labels, None if pairs is None else _kept_texts(pairs))


def _kept_texts(texts: Any) -> Sequence[str]:
    """Texts as a list, except streamed texts, which stay in their source (read when indexed)."""
    return texts if isinstance(texts, StreamedTexts) else list(texts)


def label_id(label: Any, split_name: str) -> int:
    """One label of a split as an int class id, with a clear error for anything else.

    Args:
        label: An int, an integral float, or a one-element tensor.
        split_name: The split's name, for the error message.

    Returns:
        The class id.

    Raises:
        SkillNeuronError: For strings (use :func:`split_label_ids`, which knows the order), NaN,
            None or fractions.
    """
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item()
    if isinstance(label, str):
        raise SkillNeuronError(
            f"The {split_name} split has the string label {label!r}, and one label alone has no class "
            "id. Encode the split's labels together with split_label_ids (sorted strings of the train "
            "split, or label_names=[...] in id order)."
        )
    if isinstance(label, numbers.Real) and not isinstance(label, bool) and float(label).is_integer():
        return int(float(label))
    raise SkillNeuronError(
        f"Labels must be integer class ids or strings; the {split_name} split has {label!r} "
        f"({type(label).__name__}). Drop or fix unlabelled rows (NaN, None) first."
    )
