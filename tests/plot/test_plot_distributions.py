"""Distribution figures drawn from NeuronHistograms."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.plot.distributions import layer_auroc_figure, neuron_histogram_figure
from skillneuron_lens.record.histograms import ClassHistogramAccumulator, NeuronHistograms


@pytest.fixture(scope="module")
def hists() -> NeuronHistograms:
    """Two layers (model layers 3 and 5) of 4 neurons, one subtask, one slot; neuron 1 separates."""
    generator = torch.Generator().manual_seed(0)
    train = torch.randn(80, 1, 1, 2, 4, generator=generator, dtype=torch.float64)
    accumulator = ClassHistogramAccumulator(
        1, 1, 2, 4, minimum=train.amin(0), maximum=train.amax(0), baseline=train.mean(0), n_bins=64
    )
    labels = torch.tensor([0, 1] * 20)
    dev = torch.randn(40, 1, 2, 4, generator=generator, dtype=torch.float64) * 0.3
    dev[:, 0, :, 1] += (labels.double() - 0.5).view(-1, 1) * 2.0
    dev[0, 0, 0, 2] = 50.0  # one negative above the train range
    targets = labels.view(-1, 1)
    accumulator.add_examples(targets)
    for layer in range(2):
        accumulator.add_layer(layer, dev[:, :, layer, :], targets, where=f"layer {layer}")
    return accumulator.histograms(
        layers=(3, 5), subtask_names=("negative vs positive",), slot_names=("[CLS]",)
    )


def test_neuron_histogram_figure_shows_both_classes_and_the_baseline(hists) -> None:
    fig = neuron_histogram_figure(hists, layer=3, neuron=1, display_bins=10)
    assert isinstance(fig, go.Figure)
    assert [type(trace) for trace in fig.data] == [go.Bar, go.Bar]
    assert [trace.name for trace in fig.data] == ["negative (n=20)", "positive (n=20)"]
    for trace in fig.data:
        assert len(trace.x) == 10
        assert np.isclose(sum(trace.y), 1.0)  # shares of the class, nothing outside the range
        assert sum(trace.customdata) == 20
    # The positives sit above the negatives: their mean bar position is higher.
    negative, positive = fig.data
    assert np.average(positive.x, weights=positive.y) > np.average(negative.x, weights=negative.y)
    (line,) = [shape for shape in fig.layout.shapes if shape.type == "line"]
    assert line.x0 == pytest.approx(float(hists.baseline[0, 0, 0, 1]))
    assert fig.layout.xaxis.title.text == "activation"
    assert fig.layout.yaxis.title.text == "share of the class's dev examples"
    assert "Layer 3, neuron 1" in fig.layout.title.text
    auroc = float(hists.auroc()[0, 0, 0, 1])
    assert auroc > 0.95
    assert f"AUROC {auroc:.3f}" in str(fig.layout.title.subtitle.text)


def test_neuron_histogram_figure_counts_examples_outside_the_train_range(hists) -> None:
    fig = neuron_histogram_figure(hists, layer=3, neuron=2, class_names=("rotten", "fresh"), title="T")
    assert fig.data[0].name == "rotten (n=20), 0 below / 1 above the train range"
    assert fig.data[1].name == "fresh (n=20)"
    assert sum(fig.data[0].customdata) == 19
    assert fig.layout.title.text == "T"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(layer=4, neuron=0), "Layer 4 was not recorded"),
        (dict(layer=3, neuron=4), "Neuron 4 is out of range 0..3"),
        (dict(layer=3, neuron=-1), "Neuron -1 is out of range"),
        (dict(layer=3, neuron=0, subtask=1), r"subtask=1 is not one.*0 \('negative vs positive'\)"),
        (dict(layer=3, neuron=0, slot=2), "Slot 2 is out of range 0..0"),
        (dict(layer=3, neuron=0, display_bins=0), "display_bins must be at least 1"),
        (dict(layer=3, neuron=0, class_names=("only one",)), "class_names must name the two classes"),
        (dict(layer=3, neuron=0, layout=[1]), "layout must be a dict"),
    ],
)
def test_neuron_histogram_figure_rejects_bad_arguments(hists, arguments, message) -> None:
    with pytest.raises(SkillNeuronError, match=message):
        neuron_histogram_figure(hists, **arguments)


@pytest.mark.parametrize(("kind", "trace_type"), [("box", go.Box), ("violin", go.Violin)])
def test_layer_auroc_figure_has_one_trace_per_layer(hists, kind, trace_type) -> None:
    fig = layer_auroc_figure(hists, kind=kind)
    assert [type(trace) for trace in fig.data] == [trace_type, trace_type]
    assert [trace.name for trace in fig.data] == ["layer 3", "layer 5"]
    np.testing.assert_allclose(fig.data[0].y, hists.auroc()[0, 0, 0].numpy(), atol=1e-6)
    assert list(fig.data[1].customdata) == [0, 1, 2, 3]
    assert fig.layout.xaxis.title.text == "layer"
    assert fig.layout.yaxis.title.text.startswith("AUROC")
    (chance,) = [shape for shape in fig.layout.shapes if shape.type == "line"]
    assert chance.y0 == 0.5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(subtask=3), "subtask=3 is not one of the subtasks"),
        (dict(slot=1), "Slot 1 is out of range"),
        (dict(kind="histogram"), "kind must be 'box' or 'violin'"),
    ],
)
def test_layer_auroc_figure_rejects_bad_arguments(hists, arguments, message) -> None:
    with pytest.raises(SkillNeuronError, match=message):
        layer_auroc_figure(hists, **arguments)
