"""A run as a library object: :class:`FindConfig` (the options), :func:`find` (the step) and :class:`Run`.

``snl.find(snl.FindConfig(out="runs/rt"))`` does what ``skillneuron-lens find --out runs/rt`` does and
returns the :class:`Run`; ``snl.Run("runs/rt")`` opens a run directory again (its result, summary and
config, and on demand its model, data and tuned classifiers); ``resume=True`` continues a killed run
from its checkpoints (:mod:`skillneuron_lens.runs.resume`). Under ``torchrun``,
:func:`torchrun_process_group` starts the process group that :func:`find` shares its passes over.
"""

from skillneuron_lens.runs.config import (
    BALANCE_CHOICES,
    DEFAULT_DEV_SHARE,
    DEFAULT_FROZEN_EXAMPLES,
    FIND_CONFIG_VERSION,
    HEAD_CHOICES,
    NAMED_POSITIONS,
    POOLING_CHOICES,
    READOUT_CHOICES,
    TUNE_CHOICES,
    FindConfig,
    check_fractions,
    label_order_problem,
    non_negative_problem,
    positions_problem,
    probability_problem,
)
from skillneuron_lens.runs.finding import (
    check_device_map_processes,
    find,
    process_device,
    process_rank,
    torchrun_process_group,
)
from skillneuron_lens.runs.resume import (
    RUN_ONLY_OPTIONS,
    check_partial_run,
    discard_partial_run,
    open_checkpoints,
    run_fingerprint,
)
from skillneuron_lens.runs.run import (
    RUN_FILES,
    RUN_KIND,
    Run,
    check_finished,
    read_summary,
    warn_about_saved_majority,
)

__all__ = [
    "BALANCE_CHOICES",
    "DEFAULT_DEV_SHARE",
    "DEFAULT_FROZEN_EXAMPLES",
    "FIND_CONFIG_VERSION",
    "HEAD_CHOICES",
    "NAMED_POSITIONS",
    "POOLING_CHOICES",
    "READOUT_CHOICES",
    "RUN_FILES",
    "RUN_KIND",
    "RUN_ONLY_OPTIONS",
    "TUNE_CHOICES",
    "FindConfig",
    "Run",
    "check_device_map_processes",
    "check_finished",
    "check_fractions",
    "check_partial_run",
    "discard_partial_run",
    "find",
    "label_order_problem",
    "non_negative_problem",
    "open_checkpoints",
    "positions_problem",
    "probability_problem",
    "process_device",
    "process_rank",
    "read_summary",
    "run_fingerprint",
    "torchrun_process_group",
    "warn_about_saved_majority",
]
