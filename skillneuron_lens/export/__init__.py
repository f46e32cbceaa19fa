"""Exports of a run for other tools: the Neuronpedia / SAEDashboard bulk-import layout.

``snl.export.export_neuronpedia("runs/rt", "exports/rt")`` does what
``skillneuron-lens export runs/rt --format neuronpedia --out exports/rt`` does.
"""

from skillneuron_lens.export.neuronpedia import (
    EXPORT_NEURONS,
    NEURONPEDIA_KIND,
    SAEDASHBOARD_COMMIT,
    export_neuronpedia,
    neuron_description,
)

__all__ = [
    "EXPORT_NEURONS",
    "NEURONPEDIA_KIND",
    "SAEDASHBOARD_COMMIT",
    "export_neuronpedia",
    "neuron_description",
]
