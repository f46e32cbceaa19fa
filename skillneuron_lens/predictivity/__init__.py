"""Predictivity.

The paper's per-neuron score, computed exactly and streaming, with its statistical evidence.
"""

from skillneuron_lens.predictivity.compute import (
    DEFAULT_PERMUTATIONS,
    FRAGILE_TOLERANCE,
    LabelledTexts,
    compute_predictivity,
    hook_width,
    predictivity_from_activations,
)
from skillneuron_lens.predictivity.result import (
    FRAGILE_SHARE,
    TENSOR_FILE,
    PredictivityResult,
    combine_runs,
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
