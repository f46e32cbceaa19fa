"""Argument types and option groups that several sub-commands share.

The argument types turn text into values; the rules a value must follow live with
:class:`~skillneuron_lens.runs.FindConfig` (one definition, used by Python callers too).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.files import CFG_FILE
from skillneuron_lens.intervene.modes import MODES, OPTIONS, options_for
from skillneuron_lens.io import check_destination
from skillneuron_lens.runs.config import (
    NAMED_POSITIONS,
    label_order_problem,
    non_negative_problem,
    positions_problem,
    probability_problem,
)

__all__ = [
    "EXAMPLES",
    "add_mode_options",
    "add_run_options",
    "add_runs_arguments",
    "add_verbosity",
    "fraction_list",
    "label_list",
    "layer_list",
    "mode_options",
    "multi_run_names",
    "non_negative_int",
    "positions",
    "probability",
    "progress",
]

EXAMPLES = """examples:
  skillneuron-lens find --model minilm --task rotten_tomatoes --out runs/rt
  skillneuron-lens find --model smollm2 --task rotten_tomatoes --positions last --n 1000 --out runs/rt-smol
  skillneuron-lens find --model minilm --train-file train.csv --dev-file dev.csv --test-file test.csv \\
      --out runs/mine
  skillneuron-lens find --model minilm --tune prompt --runs 3 --out runs/rt-prompt
  torchrun --nproc-per-node 2 -m skillneuron_lens find --model minilm --n-examples 1000 --out runs/rt-2p
  skillneuron-lens perturb --run runs/rt-prompt --mode gaussian --std 0.1
  skillneuron-lens prune --run runs/rt-prompt --keep 0.02 --layers 2-5 --out runs/rt-pruned
  skillneuron-lens compare runs/rt-prompt runs/tweets-prompt --out runs/compare
  skillneuron-lens cross-perturb runs/rt-prompt runs/tweets-prompt --mode zero --out runs/cross
  skillneuron-lens report runs/rt-prompt
  skillneuron-lens export runs/rt --format neuronpedia --out exports/rt
"""


# ---- argument types --------------------------------------------------------------------------------
def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)


def positions(text: str) -> Any:
    """Parse ``--positions``: ``0``, ``0,1,-1``, ``last``, ``mean``, ``max`` or ``auto``."""
    if text in NAMED_POSITIONS:
        return text
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(str(positions_problem(text))) from None
    return values[0] if len(values) == 1 else values


def _number(text: str, convert: Callable[[str], Any], what: str, problem: Callable[[Any], str | None]) -> Any:
    """``text`` converted by ``convert``, refused when it is not ``what`` or ``problem`` finds one."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    _refuse(problem(value))
    return value


def probability(text: str) -> float:
    """Parse a number strictly between 0 and 1."""
    return float(_number(text, float, "a number", probability_problem))


def non_negative_int(text: str) -> int:
    """Parse an integer that is 0 or more."""
    return int(_number(text, int, "an integer", non_negative_problem))


def fraction_list(text: str) -> list[float]:
    """Parse a comma list of fractions in ``(0, 1]``: ``0.01,0.05``."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma list of fractions, e.g. 0.01,0.05"
        ) from None
    if not all(0 < value <= 1 for value in values):
        raise argparse.ArgumentTypeError(f"fractions must be in (0, 1], got {text!r}")
    return values


def layer_list(text: str) -> list[int]:
    """Parse a layer list: ``2-5`` or ``0,3,5``."""
    try:
        if "-" in text.strip("-"):
            first, last = text.split("-", 1)
            return list(range(int(first), int(last) + 1))
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a layer list (e.g. 2-5 or 0,3,5)") from None


def label_list(text: str) -> list[str]:
    """Parse ``--labels``: comma-separated label names, in label-id order (``negative,positive``)."""
    names = [part.strip() for part in text.split(",")]
    _refuse(label_order_problem(names))
    return names


# ---- option groups ---------------------------------------------------------------------------------
def add_verbosity(group: Any) -> None:
    """``--quiet`` and ``--verbose`` (one or the other)."""
    verbosity = group.add_mutually_exclusive_group()
    verbosity.add_argument("--quiet", action="store_true", help="no progress bars or tables")
    verbosity.add_argument("--verbose", action="store_true", help="log details (data sources, timings)")


def add_runs_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The positional run directories and ``--names`` of a several-run command."""
    parser.add_argument("runs", nargs="+", help=f"two or more {what}")
    parser.add_argument("--names", help="comma-separated names (default: directory names)")


def add_mode_options(parser: argparse.ArgumentParser) -> None:
    """``--mode``, ``--std``, ``--factor`` and ``--value``."""
    parser.add_argument(
        "--mode", choices=list(MODES), default="gaussian", help="intervention (default gaussian)"
    )
    parser.add_argument("--std", type=float, default=0.1, help="gaussian noise std (default 0.1, the paper)")
    parser.add_argument("--factor", type=float, default=0.0, help="scale mode: multiply by this")
    parser.add_argument("--value", type=float, default=0.0, help="clamp mode: set to this")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """How a run's classifier is evaluated, and on which data.

    Adds ``--split``, ``--classifier-run``, ``--device``, ``--seed`` and ``--allow-changed-data``.
    """
    parser.add_argument("--split", default="test", help="split to evaluate on (default test)")
    parser.add_argument(
        "--classifier-run", type=int, default=0, help="which tuned-run{i} classifier (default 0)"
    )
    parser.add_argument("--device", help="device (default: the run's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of random controls and noise")
    parser.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="use the run's data files even if they changed since find (default: refuse, with a clear error)",
    )


# ---- reading parsed arguments ----------------------------------------------------------------------
def progress(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars and print tables (not ``--quiet``)."""
    return not getattr(args, "quiet", False)


def mode_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``--mode`` reads, taken from the number flags (``--std``, ``--factor``, ``--value``)."""
    numbers = {name: getattr(args, name) for name, option in OPTIONS.items() if option.number}
    return options_for(args.mode, numbers)


def multi_run_names(args: argparse.Namespace, what: str, kind: str, legacy_file: str = CFG_FILE) -> list[str]:
    """Check a several-run command's ``--out`` and runs; the runs' names (``--names`` or directory names).

    Args:
        args: Parsed arguments with ``out``, ``overwrite``, ``runs`` and ``names``.
        what: The runs the command needs, for the error (e.g. ``"run directories to compare"``).
        kind: The kind of result the command writes to ``--out`` (see :func:`check_destination`).
        legacy_file: The file naming that kind in output of earlier versions.
    """
    check_destination(args.out, kind, overwrite=args.overwrite, inputs=args.runs, legacy_file=legacy_file)
    if len(args.runs) < 2:
        raise SkillNeuronError(f"Give at least two {what}.")
    named = args.names.split(",") if args.names else [Path(path).name for path in args.runs]
    if len(named) != len(args.runs) or len(set(named)) != len(named):
        raise SkillNeuronError(f"--names needs one distinct name per run ({len(args.runs)}), got {named}.")
    return named
