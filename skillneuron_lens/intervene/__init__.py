"""Interventions.

Perturbing or ablating neurons through the model's own hooks, and pruning a model down to its skill
neurons.
"""

from skillneuron_lens.intervene.hooks import (
    DEFAULT_STD,
    MODES,
    Mode,
    PositionFilter,
    perturb,
    perturbation_hooks,
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
    "DEFAULT_STD",
    "MODES",
    "Mode",
    "PRUNING_ATTR",
    "PositionFilter",
    "PruningInfo",
    "TENSOR_FILE",
    "count_parameters",
    "load_pruned",
    "perturb",
    "perturbation_hooks",
    "prune_model",
    "pruned_neuron_indices",
    "pruning_info",
    "save_pruned",
]
