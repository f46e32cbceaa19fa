"""Figures (plotly ``go.Figure`` objects, returned, never drawn as a side effect)."""

from skillneuron_lens.plot.distributions import (
    layer_auroc_figure,
    neuron_histogram_figure,
)
from skillneuron_lens.plot.figures import (
    CHANCE,
    ColumnBins,
    activation_histogram,
    bin_columns_max,
    layer_distribution,
    neuron_baseline,
    perturbation_curves,
    position_layer_heatmap,
    predictivity_heatmap,
    similarity_matrix,
    skill_counts,
    slot_predictivity,
)

__all__ = [
    "CHANCE",
    "ColumnBins",
    "activation_histogram",
    "bin_columns_max",
    "layer_auroc_figure",
    "layer_distribution",
    "neuron_baseline",
    "neuron_histogram_figure",
    "perturbation_curves",
    "position_layer_heatmap",
    "predictivity_heatmap",
    "similarity_matrix",
    "skill_counts",
    "slot_predictivity",
]
