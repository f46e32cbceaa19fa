"""The ``export`` sub-command: write a run's skill neurons for another tool (Neuronpedia, SAEDashboard)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from skillneuron_lens.cli.options import add_verbosity, progress
from skillneuron_lens.export.neuronpedia import EXPORT_NEURONS, SAEDASHBOARD_COMMIT, export_neuronpedia

__all__ = ["EXPORT_FORMATS", "add_export_command", "run_export"]

EXPORT_FORMATS = ("neuronpedia",)
"""The formats ``export`` writes."""


def run_export(args: argparse.Namespace) -> Path:
    """Write a run's skill neurons, with their top-activating texts, in Neuronpedia's bulk-import layout."""
    out = export_neuronpedia(
        args.run,
        args.out,
        neurons=args.neurons,
        split=args.split,
        examples=args.examples,
        model_id=args.model_id,
        source_set=args.source_set,
        creator_id=args.creator_id,
        creator_name=args.creator_name,
        overwrite=args.overwrite,
        device=args.device,
        allow_changed_data=args.allow_changed_data,
        progress=progress(args),
    )
    if progress(args):
        print(f"wrote {out} (Neuronpedia bulk-import layout)")
    return out


def add_export_command(commands: Any) -> None:
    """Register ``export`` on the sub-command parser."""
    export = commands.add_parser(
        "export",
        help="write a run's skill neurons for Neuronpedia / SAEDashboard",
        description=(
            f"{run_export.__doc__} The layout and field names follow SAEDashboard's "
            f"neuronpedia_export.py at commit {SAEDASHBOARD_COMMIT[:12]}; see docs/export.md."
        ),
    )
    export.add_argument("run", help="run directory made by find")
    export.add_argument("--format", choices=list(EXPORT_FORMATS), required=True, help="export format")
    export.add_argument("--out", required=True, help="export directory to create")
    export.add_argument(
        "--neurons",
        choices=list(EXPORT_NEURONS),
        default="skill",
        help="the run's skill set (top --fraction per layer, the default) or its significant neurons",
    )
    export.add_argument(
        "--split", default="train", help="split whose texts give the top examples (default train)"
    )
    export.add_argument(
        "--examples", type=int, default=20, help="top-activating texts per neuron (default 20)"
    )
    export.add_argument("--model-id", help="Neuronpedia model id (default: the run's model name)")
    export.add_argument(
        "--source-set", help="Neuronpedia source set; layer L becomes source L-SET (default snl-TASK)"
    )
    export.add_argument(
        "--creator-id", default="skillneuron-lens", help="Neuronpedia user id written as creator"
    )
    export.add_argument("--creator-name", default="skillneuron-lens", help="creator display name")
    export.add_argument("--device", help="device (default: the run's)")
    export.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="use the run's data files even if they changed since find (default: refuse)",
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace an earlier export of this tool at --out"
    )
    add_verbosity(export)
    export.set_defaults(func=run_export)
