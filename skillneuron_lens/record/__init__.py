"""Recording.

Token positions, hooks that reduce activations on the fly, the mergeable accumulators they fill, and
the per-neuron activations built on them (means, resampling pools, one neuron's values).
"""

from skillneuron_lens.record.accumulators import (
    ActivationCollector,
    ColumnFanOut,
    MeanAccumulator,
    ThresholdAccuracyAccumulator,
    TokenMeanAccumulator,
    WeightedMeanAccumulator,
    check_finite,
)
from skillneuron_lens.record.activations import PassFeatures, neuron_activations, neuron_means, neuron_pool
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
    token_sums,
)
from skillneuron_lens.record.recorder import (
    InputBuilder,
    LayerAccumulator,
    MeanWeighting,
    Recorder,
    RecordingConfig,
    Reduction,
    recording_config,
)

__all__ = [
    "PassFeatures",
    "ActivationCollector",
    "ClassHistogramAccumulator",
    "ColumnFanOut",
    "DEFAULT_BINS",
    "DEFAULT_MAX_BYTES",
    "InputBuilder",
    "LayerAccumulator",
    "MIN_BINS",
    "MeanWeighting",
    "MeanAccumulator",
    "NeuronHistograms",
    "PermutationNullAccumulator",
    "PoolingMode",
    "PositionSpec",
    "PositionsLike",
    "RELATIVE_FLOOR",
    "Recorder",
    "Reduction",
    "RecordingConfig",
    "ThresholdAccuracyAccumulator",
    "TokenMeanAccumulator",
    "WeightedMeanAccumulator",
    "aggregate_null_scores",
    "check_finite",
    "check_permutations_reach",
    "content_bounds",
    "gather_indices",
    "minimum_permutations",
    "monte_carlo_p_values",
    "neuron_activations",
    "neuron_means",
    "neuron_pool",
    "null_layer_maxima",
    "permuted_targets",
    "recording_config",
    "reduce_positions",
    "token_sums",
]
