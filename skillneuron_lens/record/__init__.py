"""Recording.

Token positions, hooks that reduce activations on the fly, the mergeable accumulators they fill, and
the per-neuron activations built on them (means, resampling pools, one neuron's values, each neuron's
top-activating texts).
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
from skillneuron_lens.record.checkpoints import (
    CHECKPOINT_FORMAT,
    DEFAULT_CHECKPOINT_EVERY,
    PARTIAL_KIND,
    Checkpointable,
    PassCheckpoints,
    describe_progress,
    fingerprint_differences,
    read_partial_marker,
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
from skillneuron_lens.record.sharding import merge_shards, owns_batch, process_rank
from skillneuron_lens.record.top_examples import (
    ActivatingExample,
    NeuronExamples,
    TopExampleAccumulator,
    top_activating_examples,
)

__all__ = [
    "ActivatingExample",
    "PassFeatures",
    "ActivationCollector",
    "CHECKPOINT_FORMAT",
    "Checkpointable",
    "ClassHistogramAccumulator",
    "ColumnFanOut",
    "DEFAULT_BINS",
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_MAX_BYTES",
    "InputBuilder",
    "LayerAccumulator",
    "MIN_BINS",
    "MeanWeighting",
    "MeanAccumulator",
    "NeuronExamples",
    "NeuronHistograms",
    "PARTIAL_KIND",
    "PassCheckpoints",
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
    "TopExampleAccumulator",
    "WeightedMeanAccumulator",
    "aggregate_null_scores",
    "check_finite",
    "check_permutations_reach",
    "content_bounds",
    "describe_progress",
    "fingerprint_differences",
    "gather_indices",
    "merge_shards",
    "minimum_permutations",
    "monte_carlo_p_values",
    "neuron_activations",
    "neuron_means",
    "neuron_pool",
    "null_layer_maxima",
    "owns_batch",
    "permuted_targets",
    "process_rank",
    "read_partial_marker",
    "recording_config",
    "reduce_positions",
    "token_sums",
    "top_activating_examples",
]
