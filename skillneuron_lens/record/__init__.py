"""Recording.

Token positions, hooks that reduce activations on the fly, and the mergeable accumulators they fill.
"""

from skillneuron_lens.record.accumulators import (
    ColumnFanOut,
    MeanAccumulator,
    ThresholdAccuracyAccumulator,
)
from skillneuron_lens.record.histograms import (
    DEFAULT_BINS,
    DEFAULT_MAX_BYTES,
    MIN_BINS,
    RELATIVE_FLOOR,
    ClassHistogramAccumulator,
    NeuronHistograms,
)
from skillneuron_lens.record.permutation_null import (
    PermutationNullAccumulator,
    aggregate_null_scores,
    check_permutations_reach,
    minimum_permutations,
    monte_carlo_p_values,
    null_layer_maxima,
    permuted_targets,
)
from skillneuron_lens.record.positions import (
    PoolingMode,
    PositionsLike,
    PositionSpec,
    content_bounds,
    gather_indices,
    reduce_positions,
)
from skillneuron_lens.record.recorder import (
    InputBuilder,
    LayerAccumulator,
    Recorder,
    RecordingConfig,
)

__all__ = [
    "ClassHistogramAccumulator",
    "ColumnFanOut",
    "DEFAULT_BINS",
    "DEFAULT_MAX_BYTES",
    "InputBuilder",
    "LayerAccumulator",
    "MIN_BINS",
    "MeanAccumulator",
    "NeuronHistograms",
    "PermutationNullAccumulator",
    "PoolingMode",
    "PositionSpec",
    "PositionsLike",
    "RELATIVE_FLOOR",
    "Recorder",
    "RecordingConfig",
    "ThresholdAccuracyAccumulator",
    "aggregate_null_scores",
    "check_permutations_reach",
    "content_bounds",
    "gather_indices",
    "minimum_permutations",
    "monte_carlo_p_values",
    "null_layer_maxima",
    "permuted_targets",
    "reduce_positions",
]
