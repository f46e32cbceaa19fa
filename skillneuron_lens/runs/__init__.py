"""A run as a library object: :class:`FindConfig` (the options), :func:`find` (the step) and :class:`Run`.

``snl.find(snl.FindConfig(out="runs/rt"))`` does what ``skillneuron-lens find --out runs/rt`` does and
returns the :class:`Run`; ``snl.Run("runs/rt")`` opens a run directory again (its result, summary and
config, and on demand its model, data and tuned classifiers). Under ``torchrun``,
:func:`torchrun_process_group` starts the process group that :func:`find` shares its passes over.
"""

from skillneuron_lens.runs.config import (
    BALANCE_CHOICES,
    DEFAULT_DEV_SHARE,
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
    "FIND_CONFIG_VERSION",
    "HEAD_CHOICES",
    "NAMED_POSITIONS",
    "POOLING_CHOICES",
    "READOUT_CHOICES",
    "RUN_FILES",
    "RUN_KIND",
    "TUNE_CHOICES",
    "FindConfig",
    "Run",
    "check_device_map_processes",
    "check_finished",
    "check_fractions",
    "find",
    "label_order_problem",
    "non_negative_problem",
    "positions_problem",
    "probability_problem",
    "process_device",
    "process_rank",
    "read_summary",
    "torchrun_process_group",
    "warn_about_saved_majority",
]
