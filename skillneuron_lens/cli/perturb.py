"""The ``perturb`` sub-command: perturb skill, random and bottom neurons of a tuned run."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from skillneuron_lens.analysis.curves import DEFAULT_FRACTIONS, PerturbationCurve, perturbation_curve
from skillneuron_lens.cli.options import (
    add_mode_options,
    add_run_options,
    add_verbosity,
    fraction_list,
    mode_options,
    progress,
)
from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import PERTURBATION_FILE, TUNED_RUN_PREFIX
from skillneuron_lens.io import locked_result
from skillneuron_lens.record.sharding import process_rank
from skillneuron_lens.report import write_report
from skillneuron_lens.runs.config import check_fractions
from skillneuron_lens.runs.finding import check_device_map_processes, process_device, torchrun_process_group
from skillneuron_lens.runs.run import RUN_FILES, Run, warn_about_saved_majority

__all__ = ["add_perturb_command", "perturb_output", "run_perturb"]


def run_perturb(args: argparse.Namespace) -> dict[str, Any]:
    """Perturb skill, random and bottom neurons of a tuned run; write ``perturbation.json``.

    Under ``torchrun`` the processes share every evaluation pass (see :func:`torchrun_process_group`):
    each runs its batches, the predictions are merged, and the curve equals the one-process curve;
    rank 0 alone writes (recording the world size in the curve's settings) and prints, the other
    processes return ``{}``.
    """
    run = Run(args.run)
    target = perturb_output(run.path, args.output)
    if target.exists() and not args.overwrite:
        raise FileExistsError(f"{target} already exists; pass --overwrite to replace it.")
    check_fractions(args.fractions, run.result.n_neurons, "--fractions")
    warn_about_saved_majority(run.path.name, run.summary, run.result, max(args.fractions))
    split = run.split(run.task(args.allow_changed_data), args.split)  # data checked before the model loads
    device = args.device or run.config.device
    with torchrun_process_group(device) as world_size:
        rank = process_rank()[0]
        check_device_map_processes(run.config.device_map, world_size)
        quiet = not progress(args) or rank > 0  # rank 0 draws the progress bars and prints
        model = run.model(process_device(device))
        classifier = run.classifier(model, args.classifier_run)
        where = None if args.where == "all" else classifier.position_mask(args.where)
        curve = perturbation_curve(
            model,
            lambda: classifier.correct(split, progress=False, distributed=world_size > 1),
            run.result,
            fractions=args.fractions,
            mode=args.mode,
            draws=args.draws,
            seed=args.seed,
            n_permutations=args.permutations,
            progress=not quiet,
            where=where,
            **mode_options(args),
        )
        if world_size > 1:
            curve.config["distributed"] = {
                "world_size": world_size, "backend": str(torch.distributed.get_backend())
            }
        if rank == 0:
            with locked_result(run.path, run.marker_id):
                curve.save(target, overwrite=args.overwrite)
                if not args.no_report:
                    write_report(run.path)
        if world_size > 1:
            torch.distributed.barrier()  # the others wait until rank 0 has written
    if rank > 0:
        return {}
    if not quiet:
        _print_curve(curve, args, len(split), target)
    return curve.to_dict()


def _print_curve(curve: PerturbationCurve, args: argparse.Namespace, n_examples: int, target: Path) -> None:
    """Print the curve's table: skill, random and bottom accuracy and the p-values per fraction."""
    clean = f"clean accuracy {curve.clean_accuracy:.3f} ({args.split}, {n_examples} examples)"
    print(f"{clean}; mode {args.mode}")
    print("fraction  skill   random(mean)  bottom  p-value  draw p-value")
    bottom, p_values = curve.bottom, curve.p_values
    assert bottom is not None and p_values is not None  # perturbation_curve fills every entry
    for index, fraction in enumerate(curve.fractions):
        print(
            f"{fraction:>8.3f}  {float(curve.skill[index]):.3f}   {float(curve.random_mean[index]):.3f}"
            f"         {float(bottom[index]):.3f}   {float(p_values[index]):<7.2g}  "
            f"{float(curve.draw_p_values[index]):.2g}"
        )
    print(f"saved {target}")


def perturb_output(run_path: Path, name: str) -> Path:
    """The file ``perturb --output`` names inside the run directory, checked.

    Raises:
        SkillNeuronError: For a name with a folder in it, one of the run's own files (see
            :data:`~skillneuron_lens.runs.RUN_FILES`, ``tuned-run*``), a hidden name, or an existing
            directory.
    """
    separators = [sep for sep in (os.sep, os.altsep, "/") if sep]
    if not name or name in (".", "..") or any(sep in name for sep in separators):
        raise SkillNeuronError(
            f"--output is a file name inside the run directory (no folders), got {name!r}; e.g. "
            "--output perturbation-zero.json."
        )
    if name in RUN_FILES or name.startswith((TUNED_RUN_PREFIX, ".")):
        raise SkillNeuronError(
            f"--output {name} names a file of the run itself ({', '.join(RUN_FILES[:4])}, tuned-run* "
            "and hidden files are the run's own); choose another name, e.g. perturbation-zero.json."
        )
    target = run_path / name
    if target.is_dir():
        raise SkillNeuronError(f"--output {name} is a directory in {run_path}; name a file instead.")
    return target


def add_perturb_command(commands: Any) -> None:
    """Register ``perturb`` on the sub-command parser."""
    perturb = commands.add_parser(
        "perturb",
        help="perturb skill vs random vs bottom neurons of a tuned run (perturbation.json)",
        description=run_perturb.__doc__,
    )
    perturb.add_argument("--run-directory", "--run", dest="run", required=True,
                         help="run directory made by find --tune ...; spell it --run-directory under "
                              "torchrun, which takes --run for its own --run-path")
    add_mode_options(perturb)
    perturb.add_argument(
        "--fractions",
        type=fraction_list,
        default=list(DEFAULT_FRACTIONS),
        help="comma list of per-layer fractions (default 0.01,0.02,0.05,0.1,0.15,0.2)",
    )
    perturb.add_argument("--draws", type=int, default=5, help="random control draws per fraction (default 5)")
    perturb.add_argument("--permutations", type=int, default=10000, help="sign-flip permutations")
    perturb.add_argument(
        "--where",
        choices=["all", "prompt", "input"],
        default="all",
        help="positions perturbed (default all, the paper)",
    )
    add_run_options(perturb)
    perturb.add_argument("--output", default=PERTURBATION_FILE,
                         help="file in the run directory (default perturbation.json: the report shows it)")
    perturb.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    perturb.add_argument("--no-report", action="store_true", help="do not rewrite report.html")
    add_verbosity(perturb)
    perturb.set_defaults(func=run_perturb)
