"""Tabulate task-pair similarity over several ``compare`` outputs (seeds, positions), and test a claim.

Each argument is a directory written by ``skillneuron-lens compare`` with the same task names. For every
pair of tasks the script prints, per directory, the Spearman correlation of per-neuron predictivity and
the Jaccard overlap of the skill sets with its exact chance p-value; then, for the pair named by
``--pair``, whether it is the most similar pair of each of its two tasks, directory by directory (the
task-comparison claim of the paper: two sentiment tasks are closer to each other than to other tasks).

    python examples/similarity_table.py runs/similarity/compare-mean-seed{0,1,2} \
        --pair rotten_tomatoes,tweets_binary
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any


def load(directory: Path) -> dict[str, Any]:
    """The ``compare.json`` of a compare directory."""
    path = directory / "compare.json"
    if not path.is_file():
        raise SystemExit(f"{directory} has no compare.json: make it with `skillneuron-lens compare`.")
    return json.loads(path.read_text())


def value(comparison: dict[str, Any], metric: str, a: str, b: str) -> float:
    """One entry of a task x task matrix, by task names."""
    names = comparison["names"]
    return float(comparison[metric][names.index(a)][names.index(b)])


def closest_partner(comparison: dict[str, Any], metric: str, task: str) -> str:
    """The other task most similar to ``task`` under ``metric``."""
    others = [name for name in comparison["names"] if name != task]
    return max(others, key=lambda other: value(comparison, metric, task, other))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("compare_dirs", nargs="+", type=Path, help="directories written by compare")
    parser.add_argument("--pair", default="rotten_tomatoes,tweets_binary", help="two task names")
    args = parser.parse_args()
    comparisons = [load(directory) for directory in args.compare_dirs]
    names = comparisons[0]["names"]
    if any(comparison["names"] != names for comparison in comparisons):
        raise SystemExit("The compare directories name different tasks; give runs of the same tasks.")
    pair = args.pair.split(",")
    if len(pair) != 2 or any(task not in names for task in pair):
        raise SystemExit(f"--pair needs two of the task names {names}, got {args.pair!r}.")

    labels = [directory.name for directory in args.compare_dirs]
    print("pair".ljust(34) + "".join(f"  {label[:24]:>26}" for label in labels))
    for a, b in itertools.combinations(names, 2):
        cells = [
            f"{value(c, 'spearman', a, b):.3f} / {value(c, 'jaccard', a, b):.3f} "
            f"(p {value(c, 'jaccard_p_value_exact', a, b):.1g})"
            for c in comparisons
        ]
        print(f"{a} - {b}".ljust(34) + "".join(f"  {cell:>26}" for cell in cells))
    print("(Spearman / Jaccard of the skill sets (exact chance p-value))")
    for metric in ("spearman", "jaccard"):
        for task, partner in (pair, pair[::-1]):
            closest = [closest_partner(c, metric, task) for c in comparisons]
            held = sum(found == partner for found in closest)
            print(f"{metric}: {partner} is {task}'s most similar task in {held} of {len(comparisons)} "
                  f"({', '.join(closest)})")


if __name__ == "__main__":
    main()
