"""How the package's objects show themselves in a notebook: one short line, or a small HTML table.

Every result-like class (:class:`~skillneuron_lens.predictivity.result.PredictivityResult`,
:class:`~skillneuron_lens.neurons.sets.NeuronSet`, :class:`~skillneuron_lens.tasks.task.Task`, ...) builds
its ``__repr__`` with :func:`text_repr` and its ``_repr_html_`` (which Jupyter shows when a cell ends
with the object) with :func:`html_repr`, from facts it already holds: no tensor is printed and nothing
is recomputed over all neurons.

The HTML is self-contained (no script, no style sheet, nothing loaded from elsewhere) and every piece
of text in it, names and values alike, goes through :func:`html.escape`, so a task or label named
``<script>`` shows as text. The callers pass text and numbers, never markup.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "TOP_NEURON_COLUMNS",
    "HtmlTable",
    "format_number",
    "html_repr",
    "significance_text",
    "text_repr",
    "top_neuron_table",
]

TOP_NEURON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("layer", "layer"),
    ("neuron", "neuron"),
    ("head", "head"),
    ("head_neuron", "in head"),
    ("predictivity", "predictivity"),
    ("polarity", "polarity"),
    ("p_value", "p"),
    ("q_value", "q"),
    ("held_out", "held-out"),
    ("fragile", "fragile"),
)
"""The columns of a top-neuron table: ``(key in a top_neurons() row, header)``; absent keys are left out."""


def format_number(value: object, digits: int = 3) -> str:
    """A number as a notebook shows it: ``digits`` decimals, or scientific when smaller than that.

    Args:
        value: An int, a float (or a 0-d tensor), or ``None``.
        digits: Decimals of a float.

    Returns:
        ``"n/a"`` for ``None``; ints as they are; floats as ``0.712`` or ``1.23e-07``; ``"nan"``.
    """
    if value is None:
        return "n/a"
    if isinstance(value, bool | int):
        return str(value)
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number) or math.isinf(number):
        return str(number)
    if number != 0 and abs(number) < 10.0**-digits:
        return f"{number:.{digits - 1}e}"
    return f"{number:.{digits}f}"


def significance_text(n_significant: int, n_tested: int, q: float, method: str) -> str:
    """``"2,026 of 9,216 significant at q=0.05 (BH)"``: the one significance phrase of every repr."""
    return f"{n_significant:,} of {n_tested:,} significant at q={q:g} ({method.upper()})"


def _value_text(value: object) -> str:
    """A fact's value as plain text (before escaping)."""
    if value is None or isinstance(value, float):
        return format_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {_value_text(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(item) for item in value)
    return str(value)


def text_repr(kind: str, parts: Iterable[str | tuple[str, object]]) -> str:
    """A one-line ``__repr__``: ``Kind(key=value, ..., free text)``.

    Args:
        kind: The class name.
        parts: ``(key, value)`` pairs, shown as ``key=value`` with the value's ``repr`` (so strings are
            quoted and escaped as Python does), or plain strings shown as they are (rounded numbers:
            build them with :func:`format_number`).

    Returns:
        The line.
    """
    shown = [part if isinstance(part, str) else f"{part[0]}={part[1]!r}" for part in parts]
    return f"{kind}({', '.join(shown)})"


@dataclass(frozen=True)
class HtmlTable:
    """A table for :func:`html_repr`: a caption, a header row and rows of plain values.

    Attributes:
        header: Column headers.
        rows: One sequence of values per row (floats by :func:`format_number`, ``None`` as ``n/a``).
        caption: Shown above the table (``""`` for none).
    """

    header: Sequence[str]
    rows: Sequence[Sequence[object]]
    caption: str = ""

    @classmethod
    def from_records(
        cls, records: Sequence[Mapping[str, object]], columns: Sequence[tuple[str, str]], caption: str = ""
    ) -> HtmlTable:
        """A table of dicts: one row per dict, one column per ``(key, header)`` that some dict fills.

        A column whose key every dict lacks (or holds as ``None``) is left out.
        """
        present = [
            (key, header) for key, header in columns if any(record.get(key) is not None for record in records)
        ]
        return cls(
            header=[header for _, header in present],
            rows=[[record.get(key) for key, _ in present] for record in records],
            caption=caption,
        )

    def to_html(self) -> str:
        """The table as escaped HTML."""
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        head = "".join(f"<th>{html.escape(name)}</th>" for name in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_value_text(value))}</td>" for value in row) + "</tr>"
            for row in self.rows
        )
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_repr(
    kind: str, facts: Iterable[tuple[str, object]], tables: Iterable[HtmlTable] = ()
) -> str:
    """A ``_repr_html_``: the class name, a two-column table of facts, then any further tables.

    Args:
        kind: The class name (the title).
        facts: ``(name, value)`` pairs; values as in :class:`HtmlTable` (lists and dicts joined by commas).
        tables: More tables, shown below the facts in order.

    Returns:
        Self-contained HTML with every text escaped.
    """
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(_value_text(value))}</td></tr>"
        for name, value in facts
    )
    more = "".join(table.to_html() for table in tables)
    return (
        f'<div class="skillneuron-lens-repr"><strong>{html.escape(kind)}</strong>'
        f"<table><tbody>{rows}</tbody></table>{more}</div>"
    )


def top_neuron_table(rows: Sequence[Mapping[str, object]], caption: str = "top neurons") -> HtmlTable:
    """The table of ``PredictivityResult.top_neurons()`` rows (or a run summary's ``top_neurons``)."""
    return HtmlTable.from_records(rows, TOP_NEURON_COLUMNS, caption)
