"""Neuron sets.

Skill neurons, significant neurons, layer-matched random controls, and the evidence behind a selection.
"""

from skillneuron_lens.neurons.evidence import (
    LOGGER,
    REFERENCE_EFFECT,
    evidence_line,
    held_out_summary,
    significance_summary,
    warn_if_dev_too_small,
)
from skillneuron_lens.neurons.majority import (
    WARN_SHARE,
    majority_share,
    scored_majority_share,
    skill_neurons_at_share,
    warn_about_constant_neurons,
)
from skillneuron_lens.neurons.sets import (
    NeuronSet,
    checked_count,
    fraction_to_count,
    smallest_fraction,
)

__all__ = [
    "LOGGER",
    "NeuronSet",
    "REFERENCE_EFFECT",
    "WARN_SHARE",
    "checked_count",
    "evidence_line",
    "fraction_to_count",
    "held_out_summary",
    "majority_share",
    "scored_majority_share",
    "significance_summary",
    "skill_neurons_at_share",
    "smallest_fraction",
    "warn_about_constant_neurons",
    "warn_if_dev_too_small",
]
