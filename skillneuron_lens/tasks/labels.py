"""Labels of user data: int ids or strings turned into ids and the names they stand for.

Labels may be integer ids or strings. Strings become ids in the order of ``label_names`` when given
(a ``datasets`` ``ClassLabel`` supplies them for Hugging Face data), otherwise in sorted order with a
warning that names the mapping. Missing-value markers (``nan``, ``None``, empty cells), spellings of
one label that differ only in case or surrounding spaces, and values outside ``label_names`` are
errors that list each offending value with its count and first row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.tasks.task import _check_label_range, _checked_label_names, _is_int

__all__ = ["encode_labels"]

logger = logging.getLogger(__name__)

_INT_PATTERN = re.compile(r"[+-]?\d+")


def _row_location(row: int) -> str:
    return f"row {row}"


_MISSING_MARKERS = frozenset({"nan", "none", "null", "na", "n/a", "?", "-", "missing"})
"""Label values (compared case-insensitively) that mark a missing label, never a class."""
_FIX = "Clean the label column, or pass --labels (label_names=) listing every class in order"


def encode_labels(
    raw: Sequence[Any],
    label_names: Sequence[str] | None,
    where: Callable[[int], str] = _row_location,
) -> tuple[list[int], list[str]]:
    """Turn raw labels (int ids or strings) into ids and the label names they refer to.

    Precedence: ``label_names`` (``--labels``) when given; otherwise int ids as they are; otherwise
    the sorted label strings, with a warning that names the guessed mapping. Missing-value markers
    (``nan``, ``None``, ...) and values that differ only in case or surrounding spaces are errors
    that list every offending value with its count, never classes of their own.

    Args:
        raw: One label per row: int ids, or strings (names, or ids written as text).
        label_names: The class names in id order, or ``None`` to take them from the labels.
        where: Names a row in error messages (default ``"row N"``).

    Returns:
        ``(ids, names)``: the id of each row and the name of each id.

    Raises:
        SkillNeuronError: For a missing label, mixed ids and strings, near-duplicate spellings, a value
            outside ``label_names`` or an id out of range; the message names the rows.
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
