"""Statistics in one home.

Exact permutation p-values, multiple testing, intervals, resampling tests, rank correlation, Mantel.
"""

from skillneuron_lens.stats.correlation import (
    rankdata,
    spearman,
    spearman_per_layer,
)
from skillneuron_lens.stats.mantel import (
    mantel_test,
)
from skillneuron_lens.stats.resampling import (
    bootstrap_ci,
    sign_flip_test,
)
from skillneuron_lens.stats.significance import (
    FDR_METHODS,
    SMALLEST_P,
    FdrMethod,
    RunAggregation,
    adjust_p_values,
    aggregate_scores,
    aggregated_p_values,
    check_q,
    dev_size_for_effect,
    exact_p_values,
    score_distance,
    score_tail,
    significant,
    smallest_attainable_p,
    threshold_tail,
    typical_neuron_p,
    wilson_interval,
)

__all__ = [
    "FDR_METHODS",
    "FdrMethod",
    "RunAggregation",
    "SMALLEST_P",
    "adjust_p_values",
    "aggregate_scores",
    "aggregated_p_values",
    "bootstrap_ci",
    "check_q",
    "dev_size_for_effect",
    "exact_p_values",
    "mantel_test",
    "rankdata",
    "score_distance",
    "score_tail",
    "sign_flip_test",
    "significant",
    "smallest_attainable_p",
    "spearman",
    "spearman_per_layer",
    "threshold_tail",
    "typical_neuron_p",
    "wilson_interval",
]
