"""Figures (plotly ``go.Figure`` objects, returned, never drawn as a side effect).

Every function returns a ``go.Figure``: a notebook shows it when it is the cell's value,
:func:`skillneuron_lens.report.write_report` embeds it in a report, and ``fig.write_image`` /
``fig.write_html`` save it. Every function takes ``layout``, a dict passed to ``fig.update_layout``
last, to override titles, sizes, fonts or colours.

Modules: the shared house style (layout); predictivity and skill neurons (predictivity); one neuron's
activations (activations); the threshold-free view from histograms (distributions); perturbation curves
(perturbation); task x task matrices (comparison); figures that draw offline in a notebook (notebook).
"""

from skillneuron_lens.plot.activations import (
    activation_histogram,
    neuron_baseline,
)
from skillneuron_lens.plot.comparison import (
    similarity_matrix,
)
from skillneuron_lens.plot.distributions import (
    layer_auroc_figure,
    neuron_histogram_figure,
)
from skillneuron_lens.plot.layout import (
    BOTTOM_COLOUR,
    CHANCE,
    CLEAN_COLOUR,
    DIVERGING_SCALE,
    FONT,
    PREDICTIVITY_SCALE,
    RANDOM_COLOUR,
    SKILL_COLOUR,
    VIRIDIS,
    add_layer_spread,
    as_numpy,
    check_layout,
    context_line,
    finish_figure,
    sample_viridis,
    subtask_index,
)
from skillneuron_lens.plot.notebook import (
    OFFLINE_RENDERER,
    OfflineNotebookRenderer,
    embed_plotlyjs,
)
from skillneuron_lens.plot.perturbation import (
    perturbation_curves,
)
from skillneuron_lens.plot.predictivity import (
    ColumnBins,
    bin_columns_max,
    layer_distribution,
    position_layer_heatmap,
    predictivity_heatmap,
    skill_counts,
    slot_predictivity,
    subtask_scores,
)

__all__ = [
    "BOTTOM_COLOUR",
    "CHANCE",
    "CLEAN_COLOUR",
    "ColumnBins",
    "DIVERGING_SCALE",
    "FONT",
    "OFFLINE_RENDERER",
    "OfflineNotebookRenderer",
    "PREDICTIVITY_SCALE",
    "RANDOM_COLOUR",
    "SKILL_COLOUR",
    "VIRIDIS",
    "activation_histogram",
    "add_layer_spread",
    "as_numpy",
    "bin_columns_max",
    "check_layout",
    "embed_plotlyjs",
    "context_line",
    "finish_figure",
    "layer_auroc_figure",
    "layer_distribution",
    "neuron_baseline",
    "neuron_histogram_figure",
    "perturbation_curves",
    "position_layer_heatmap",
    "predictivity_heatmap",
    "sample_viridis",
    "similarity_matrix",
    "skill_counts",
    "slot_predictivity",
    "subtask_index",
    "subtask_scores",
]
