"""One validation for the labelled splits that functions accept as input.

Every function that reads a labelled split (predictivity, read-outs, the tuned classifier) takes
either a ``(texts, labels)`` tuple or an object with ``.texts``, ``.labels`` and optionally
``.text_pairs`` (e.g. a :class:`~skillneuron_lens.tasks.task.Split`), and checks it here.
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import torch

from skillneuron_lens.errors import SkillNeuronError

__all__ = ["LabelledSplit", "labelled_split", "label_id"]


class LabelledSplit(NamedTuple):
    """A checked split: texts, integer labels and optional second texts, as plain lists."""

    texts: list[str]
    labels: list[int]
    text_pairs: list[str] | None


def labelled_split(split: Any, name: str) -> LabelledSplit:
    """Check a labelled split and return its parts as lists.

    Args:
        split: A ``(texts, labels)`` tuple or an object with ``.texts`` and ``.labels`` (and
            optionally ``.text_pairs``).
        name: What to call the split in error messages (``"train"``, ``"dev"``, ...).

    Returns:
        The :class:`LabelledSplit`.

    Raises:
        SkillNeuronError: For another type, an empty split, non-integer labels, or lengths that differ.
    """
    if isinstance(split, tuple) and len(split) == 2:
        texts, labels, pairs = split[0], split[1], None
    elif hasattr(split, "texts") and hasattr(split, "labels"):
        texts, labels, pairs = split.texts, split.labels, getattr(split, "text_pairs", None)
    else:
        raise SkillNeuronError(
            f"The {name} split must be a (texts, labels) tuple or have .texts and .labels, got "
            f"{type(split).__name__}."
        )
    texts, labels = list(texts), [label_id(label, name) for label in labels]
    if len(texts) == 0:
        raise SkillNeuronError(f"The {name} split is empty: it needs labelled examples.")
    if len(texts) != len(labels):
        raise SkillNeuronError(
            f"The {name} split has {len(texts)} texts but {len(labels)} labels; they must match."
        )
    if pairs is not None and len(pairs) != len(texts):
        raise SkillNeuronError(f"The {name} split has {len(pairs)} text pairs for {len(texts)} texts.")
    return LabelledSplit(texts, labels, None if pairs is None else list(pairs))


def label_id(label: Any, split_name: str) -> int:
    """One label of a split as an int class id, with a clear error for anything else.

    Args:
        label: An int, an integral float, or a one-element tensor.
        split_name: The split's name, for the error message.

    Returns:
        The class id.

    Raises:
        SkillNeuronError: For strings (whose class order would be a guess), NaN, None or fractions.
    """
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item()
    if isinstance(label, str):
        raise SkillNeuronError(
            f"The {split_name} split has the string label {label!r}; a (texts, labels) split needs "
            "integer class ids, and guessing an order for strings would silently decide which class "
            "is which. Build a task that states the order, e.g. task_from_lists(texts, labels, "
            "label_names=['negative', 'positive']), and pass its splits (task.train, task.dev)."
        )
    if isinstance(label, numbers.Real) and not isinstance(label, bool) and float(label).is_integer():
        return int(float(label))
    raise SkillNeuronError(
        f"Labels must be integer class ids; the {split_name} split has {label!r} "
        f"({type(label).__name__}). Drop or fix unlabelled rows (NaN, None) first."
    )
