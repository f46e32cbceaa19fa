"""The ``report`` sub-command: (re)write a run directory's ``report.html``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from skillneuron_lens.cli.options import add_verbosity, progress
from skillneuron_lens.report import write_report
from skillneuron_lens.runs.run import check_finished, read_summary

__all__ = ["add_report_command", "run_report"]


def run_report(args: argparse.Namespace) -> str:
    """(Re)write a run directory's ``report.html``."""
    run_dir = Path(args.run_dir)
    check_finished(run_dir, read_summary(run_dir))
    path = write_report(args.run_dir, top_k=args.top, max_columns=args.max_columns, fraction=args.fraction)
    if progress(args):
        print(f"wrote {path}")
    return str(path)


def add_report_command(commands: Any) -> None:
    """Register ``report`` on the sub-command parser."""
    report = commands.add_parser(
        "report", help="write report.html for a run directory", description=run_report.__doc__
    )
    report.add_argument("run_dir", help="run directory made by find")
    report.add_argument("--top", type=int, default=20, help="rows of the top-neuron table")
    report.add_argument("--max-columns", type=int, default=2000, help="bin wider layers in the heatmap")
    report.add_argument("--fraction", type=float, help="skill-set fraction shown (default: the run's)")
    add_verbosity(report)
    report.set_defaults(func=run_report)
