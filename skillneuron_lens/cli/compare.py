"""The ``compare`` sub-command: compare several runs' neurons (Spearman, skill-set overlap)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from skillneuron_lens.analysis.compare import compare_runs
from skillneuron_lens.cli.options import add_runs_arguments, add_verbosity, multi_run_names, progress
from skillneuron_lens.files import COMPARE_PAGE
from skillneuron_lens.plot.comparison import similarity_matrix
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.runs.config import check_fractions
from skillneuron_lens.runs.run import check_finished, read_summary, warn_about_saved_majority

__all__ = ["add_compare_command", "run_compare"]


def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    """Compare several runs' neurons; write ``compare.json`` and ``compare.html``."""
    out = Path(args.out)
    names = multi_run_names(args, "run directories to compare", "compare")
    for path in args.runs:
        check_finished(Path(path), read_summary(path))
    results = {name: PredictivityResult.load(path) for name, path in zip(names, args.runs, strict=True)}
    for name, path in zip(names, args.runs, strict=True):
        check_fractions([args.fraction], results[name].n_neurons, "--fraction")
        warn_about_saved_majority(name, read_summary(path), results[name], args.fraction)
    comparison = compare_runs(
        results,
        fraction=args.fraction,
        n_draws=args.draws,
        seed=args.seed,
        allow_different_models=args.allow_different_models,
    )
    figures = [
        similarity_matrix(comparison.spearman, names, title="Spearman correlation of neuron predictivity"),
        similarity_matrix(
            comparison.jaccard, names, title=f"Jaccard overlap of top-{args.fraction:g} skill sets"
        ),
    ]
    parts = [
        figure.to_html(full_html=False, include_plotlyjs=index == 0) for index, figure in enumerate(figures)
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>skill-neuron comparison</title></head><body>"
    )
    page += "".join(parts) + "</body></html>"
    comparison.save(out, overwrite=args.overwrite, extra_files={COMPARE_PAGE: page})
    if progress(args):
        width = max(len(name) for name in names)
        for title, matrix in (("Spearman", comparison.spearman), ("Jaccard", comparison.jaccard)):
            print(title)
            print(" " * width + "  " + "  ".join(f"{name[:8]:>8}" for name in names))
            for row, name in enumerate(names):
                print(f"{name:>{width}}  " + "  ".join(f"{float(v):>8.3f}" for v in matrix[row]))
        print(f"saved {out}")
    return comparison.to_dict()


def add_compare_command(commands: Any) -> None:
    """Register ``compare`` on the sub-command parser."""
    compare = commands.add_parser(
        "compare",
        help="compare tasks' neurons (Spearman, skill-set overlap)",
        description=run_compare.__doc__,
    )
    add_runs_arguments(compare, "run directories")
    compare.add_argument("--fraction", type=float, default=0.02, help="skill-set fraction for the overlap")
    compare.add_argument("--draws", type=int, default=1000, help="random draws of the overlap baseline")
    compare.add_argument("--seed", type=int, default=0, help="seed of the random baseline")
    compare.add_argument(
        "--allow-different-models",
        action="store_true",
        help="compare runs from different weights (same architecture)",
    )
    compare.add_argument("--out", required=True, help="directory for compare.json and compare.html")
    compare.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    add_verbosity(compare)
    compare.set_defaults(func=run_compare)
