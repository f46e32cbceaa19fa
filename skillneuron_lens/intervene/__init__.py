"""Interventions.

Perturbing or ablating neurons through the model's own hooks (the modes are one table in
:mod:`~skillneuron_lens.intervene.modes`), and pruning a model down to its skill
neurons.
"""

from skillneuron_lens.intervene.hooks import (
    CachedPrefix,
    PositionFilter,
    perturb,
    perturbation_hooks,
    skip_forward_pass,
)
from skillneuron_lens.intervene.modes import (
    DEFAULT_STD,
    MODE_TABLE,
    MODES,
    OPTIONS,
    HookContext,
    Mode,
    ModeOption,
    ModeSettings,
    PerturbationMode,
    check_options,
    fixed_values,
    gaussian_values,
    options_for,
    prepare_mode,
    resampled_values,
    scaled_values,
    zero_values,
)
from skillneuron_lens.intervene.prune import (
    PRUNING_ATTR,
    TENSOR_FILE,
    PruningInfo,
    count_parameters,
    load_pruned,
    prune_model,
    pruned_neuron_indices,
    pruning_info,
    save_pruned,
)

__all__ = [
    "CachedPrefix",
    "DEFAULT_STD",
    "HookContext",
    "MODES",
    "MODE_TABLE",
    "Mode",
    "ModeOption",
    "ModeSettings",
    "OPTIONS",
    "PerturbationMode",
    "PRUNING_ATTR",
    "PositionFilter",
    "PruningInfo",
    "TENSOR_FILE",
    "check_options",
    "count_parameters",
    "fixed_values",
    "gaussian_values",
    "load_pruned",
    "options_for",
    "perturb",
    "perturbation_hooks",
    "skip_forward_pass",
    "prepare_mode",
    "prune_model",
    "pruned_neuron_indices",
    "pruning_info",
    "resampled_values",
    "save_pruned",
    "scaled_values",
    "zero_values",
]
