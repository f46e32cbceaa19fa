"""Predictivity.

The paper's per-neuron score, computed exactly and streaming, with its statistical evidence.
"""

from skillneuron_lens.predictivity.compute import (
    DEFAULT_PERMUTATIONS,
    FRAGILE_SHARE,
    FRAGILE_TOLERANCE,
    TENSOR_FILE,
    LabelledTexts,
    PredictivityResult,
    combine_runs,
    compute_predictivity,
    hook_width,
    predictivity_from_activations,
)

__all__ = [
    "DEFAULT_PERMUTATIONS",
    "FRAGILE_SHARE",
    "FRAGILE_TOLERANCE",
    "LabelledTexts",
    "PredictivityResult",
    "TENSOR_FILE",
    "combine_runs",
    "compute_predictivity",
    "hook_width",
    "predictivity_from_activations",
]
