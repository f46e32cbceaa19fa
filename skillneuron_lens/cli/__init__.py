"""The ``skillneuron-lens`` command line: it parses arguments, calls the library and prints.

One module per command (:mod:`.find`, :mod:`.perturb`, :mod:`.prune`, :mod:`.compare`, :mod:`.report`,
:mod:`.cross_perturb`, :mod:`.export`), shared argument types in :mod:`.options`, and :mod:`.app` for
the parser, dispatch and error handling.
"""

from skillneuron_lens.cli.app import EXAMPLES, build_parser, main
from skillneuron_lens.cli.compare import add_compare_command, run_compare
from skillneuron_lens.cli.cross_perturb import (
    MATRIX_FILE,
    add_cross_perturb_command,
    print_matrix,
    run_cross_perturb,
)
from skillneuron_lens.cli.export import EXPORT_FORMATS, add_export_command, run_export
from skillneuron_lens.cli.find import add_find_command, config_from_arguments, print_table, run_find
from skillneuron_lens.cli.options import (
    add_mode_options,
    add_run_options,
    add_runs_arguments,
    add_verbosity,
    fraction_list,
    label_list,
    layer_list,
    mode_options,
    multi_run_names,
    non_negative_int,
    positions,
    probability,
    progress,
)
from skillneuron_lens.cli.perturb import add_perturb_command, perturb_output, run_perturb
from skillneuron_lens.cli.prune import add_prune_command, run_prune
from skillneuron_lens.cli.report import add_report_command, run_report

__all__ = [
    "EXAMPLES",
    "EXPORT_FORMATS",
    "MATRIX_FILE",
    "add_compare_command",
    "add_cross_perturb_command",
    "add_export_command",
    "add_find_command",
    "add_mode_options",
    "add_perturb_command",
    "add_prune_command",
    "add_report_command",
    "add_run_options",
    "add_runs_arguments",
    "add_verbosity",
    "build_parser",
    "config_from_arguments",
    "fraction_list",
    "label_list",
    "layer_list",
    "main",
    "mode_options",
    "multi_run_names",
    "non_negative_int",
    "perturb_output",
    "positions",
    "print_matrix",
    "print_table",
    "probability",
    "progress",
    "run_compare",
    "run_cross_perturb",
    "run_export",
    "run_find",
    "run_perturb",
    "run_prune",
    "run_report",
]
