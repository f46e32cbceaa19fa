"""The ``skillneuron-lens`` parser, dispatch and error handling; each command lives in its own module.

:mod:`~skillneuron_lens.cli.find`, :mod:`~skillneuron_lens.cli.perturb`, :mod:`~skillneuron_lens.cli.prune`,
:mod:`~skillneuron_lens.cli.compare`, :mod:`~skillneuron_lens.cli.report`,
:mod:`~skillneuron_lens.cli.cross_perturb` and :mod:`~skillneuron_lens.cli.export` parse their arguments,
call the library and print. Here a bad input becomes a one-line message and exit code 2, an interrupt
exit code 130, and any other failure a short message with the traceback saved to a log file (exit code 1).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import torch

from skillneuron_lens import __version__
from skillneuron_lens.cli.compare import add_compare_command
from skillneuron_lens.cli.cross_perturb import add_cross_perturb_command
from skillneuron_lens.cli.export import add_export_command
from skillneuron_lens.cli.find import add_find_command
from skillneuron_lens.cli.options import EXAMPLES
from skillneuron_lens.cli.perturb import add_perturb_command
from skillneuron_lens.cli.prune import add_prune_command
from skillneuron_lens.cli.report import add_report_command
from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "EXAMPLES",
    "build_parser",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one sub-command per pipeline step."""
    parser = argparse.ArgumentParser(
        prog="skillneuron-lens",
        description="Find skill neurons in TransformerLens models (Wang et al., EMNLP 2022).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for add_command in (
        add_find_command,
        add_perturb_command,
        add_prune_command,
        add_compare_command,
        add_report_command,
        add_cross_perturb_command,
        add_export_command,
    ):
        add_command(commands)
    return parser


def _silence_third_party_progress() -> None:
    """Hide the progress bars that transformers and datasets draw while loading."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        import datasets

        datasets.disable_progress_bars()
    except (ImportError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``skillneuron-lens``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    secondary = os.environ.get("RANK", "0").strip() not in ("", "0")  # a torchrun process other than rank 0
    if secondary:  # its warnings repeat rank 0's
        logging.getLogger("skillneuron_lens").setLevel(logging.ERROR)
    if getattr(args, "quiet", False) or secondary:
        _silence_third_party_progress()
    try:
        args.func(args)
    except (SkillNeuronError, FileExistsError) as error:
        print(f"skillneuron-lens: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skillneuron-lens: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the last resort: a short message and a log, no traceback
        log = _write_error_log(argv)
        first = (str(error).strip().splitlines() or [""])[0]
        print(
            f"skillneuron-lens: unexpected error: {type(error).__name__}: {first}\n"
            f"The full traceback is in {log}; please attach it to a bug report.",
            file=sys.stderr,
        )
        return 1
    return 0


def _write_error_log(argv: Sequence[str] | None) -> Path | str:
    """Write the traceback of the exception being handled to a log file; its path."""
    folder = Path(tempfile.gettempdir()) / "skillneuron-lens"
    arguments = list(sys.argv[1:] if argv is None else argv)
    text = (
        f"skillneuron-lens {__version__}, Python {sys.version.split()[0]}, torch {torch.__version__}\n"
        f"arguments: {arguments}\n\n{traceback.format_exc()}"
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        prefix = time.strftime("error-%Y%m%d-%H%M%S-")
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".log", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError:
        return "(no log: the temporary folder is not writable)"
    return Path(name)


if __name__ == "__main__":
    sys.exit(main())
