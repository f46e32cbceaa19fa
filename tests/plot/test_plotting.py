"""Figures: each one's data (trace values, binning, subtitles) on small inputs with known answers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.plot.activations import activation_histogram, neuron_baseline
from skillneuron_lens.plot.comparison import similarity_matrix
from skillneuron_lens.plot.perturbation import perturbation_curves
from skillneuron_lens.plot.predictivity import (
    bin_columns_max,
    layer_distribution,
    position_layer_heatmap,
    predictivity_heatmap,
    skill_counts,
    slot_predictivity,
)
from skillneuron_lens.predictivity.compute import compute_predictivity
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.record.activations import neuron_activations
from skillneuron_lens.record.recorder import RecordingConfig

# Dev accuracy of 2 layers x 4 neurons (one run, one subtask, one slot). Predictivity is
# max(Acc, 1 - Acc) and polarity is +1 where Acc >= 0.5.
ACCURACY = [[0.52, 0.93, 0.15, 0.66], [0.71, 0.29, 0.50, 0.57]]
PREDICTIVITY = [[0.52, 0.93, 0.85, 0.66], [0.71, 0.71, 0.50, 0.57]]
POLARITY = [[1, 1, -1, 1], [1, -1, 1, 1]]


def make_result(accuracy, layers=None, slot_names=None, run_aggregation="mean") -> PredictivityResult:
    """A result from accuracy of shape [layer, neuron] or [run, subtask, slot, layer, neuron]."""
    acc = torch.as_tensor(accuracy, dtype=torch.float64)
    if acc.ndim == 2:
        acc = acc[None, None, None]
    n_run, n_subtask, n_slot, n_layer, _ = acc.shape
    return PredictivityResult(
        accuracy=acc,
        baseline=torch.zeros_like(acc),
        n_train=torch.full((n_run, n_subtask), 10),
        n_dev=torch.full((n_run, n_subtask), 10),
        layers=tuple(layers or range(n_layer)),
        hook="blocks.{layer}.mlp.hook_post",
        slot_names=tuple(slot_names or [f"pos {i}" for i in range(n_slot)]),
        subtask_names=tuple(f"s{i}" for i in range(n_subtask)) if n_subtask > 1 else ("binary",),
        run_aggregation=run_aggregation,
    )


def subtitle(fig: go.Figure) -> str | None:
    return fig.layout.title.subtitle.text


@pytest.fixture(autouse=True)
def nothing_is_shown(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a figure function displayed a figure")

    monkeypatch.setattr(go.Figure, "show", refuse)


# ---- binning ----------------------------------------------------------------------------------
def test_bin_columns_max_keeps_each_bins_maximum_and_covers_every_column():
    values = torch.tensor([[1.0, 5.0, 2.0, 7.0, 3.0], [0.0, 0.0, 9.0, 0.0, 0.0]])
    bins = bin_columns_max(values, max_columns=2)
    assert bins.size == 3 and bins.binned
    assert bins.values.tolist() == [[5.0, 7.0], [9.0, 0.0]]
    assert bins.argmax.tolist() == [[1, 3], [2, 3]]
    assert bins.starts.tolist() == [0, 3] and bins.stops.tolist() == [2, 4]  # the last bin is shorter
    same = bin_columns_max(values, max_columns=5)
    assert same.size == 1 and not same.binned and torch.equal(same.values, values.double())
    assert same.argmax.tolist() == [[0, 1, 2, 3, 4]] * 2
    with pytest.raises(SkillNeuronError, match="max_columns"):
        bin_columns_max(values, 0)
    with pytest.raises(SkillNeuronError, match="row, column"):
        bin_columns_max(values[0], 2)


# ---- predictivity heatmap ---------------------------------------------------------------------
def test_heatmap_in_index_order():
    fig = predictivity_heatmap(make_result(ACCURACY, layers=[4, 7]))
    assert isinstance(fig, go.Figure) and len(fig.data) == 1
    heat = fig.data[0]
    np.testing.assert_allclose(heat.z, PREDICTIVITY, atol=1e-6)
    assert list(heat.x) == [0, 1, 2, 3] and list(heat.y) == [4, 7]
    assert heat.customdata[..., 0].tolist() == [[0, 1, 2, 3]] * 2  # neuron
    assert heat.customdata[..., 1].tolist() == POLARITY
    np.testing.assert_allclose(heat.customdata[..., 2], PREDICTIVITY, atol=1e-6)
    assert (heat.zmin, heat.zmax) == (0.5, pytest.approx(0.93))
    assert "%{customdata[0]:d}" in heat.hovertemplate and "polarity" in heat.hovertemplate
    # nothing was down-sampled: the subtitle is the context line alone
    assert subtitle(fig) == "hook blocks.{layer}.mlp.hook_post · positions pos 0 · n_train 10 · n_dev 10"
    assert fig.layout.title.text == "Neuron predictivity"
    assert (fig.layout.xaxis.title.text, fig.layout.yaxis.title.text) == ("neuron", "layer")


def test_heatmap_sorted_within_each_layer_names_the_neurons():
    heat = predictivity_heatmap(make_result(ACCURACY), order="sorted").data[0]
    np.testing.assert_allclose(heat.z, [[0.93, 0.85, 0.66, 0.52], [0.71, 0.71, 0.57, 0.50]], atol=1e-6)
    assert heat.customdata[..., 0].tolist() == [[1, 2, 3, 0], [0, 1, 3, 2]]  # ties keep index order
    assert heat.customdata[..., 1].tolist() == [[1, -1, 1, 1], [1, -1, 1, 1]]


def test_heatmap_signed_is_the_accuracy_on_a_scale_diverging_at_chance():
    heat = predictivity_heatmap(make_result(ACCURACY), signed=True).data[0]
    np.testing.assert_allclose(heat.z, ACCURACY, atol=1e-6)
    assert heat.zmid == 0.5 and heat.zmin == pytest.approx(1 - 0.93) and heat.zmax == pytest.approx(0.93)
    assert heat.colorscale[0][1] != heat.colorscale[-1][1]


def test_heatmap_bins_wide_layers_by_their_maximum_and_says_so():
    fig = predictivity_heatmap(make_result(ACCURACY), max_columns=2)
    heat = fig.data[0]
    np.testing.assert_allclose(heat.z, [[0.93, 0.85], [0.71, 0.57]], atol=1e-6)
    assert list(heat.x) == [0, 2]
    assert heat.customdata[..., 0].tolist() == [[0, 2]] * 2  # first neuron of each bin
    assert heat.customdata[..., 1].tolist() == [[1, 3]] * 2  # last neuron of each bin
    assert heat.customdata[..., 2].tolist() == [[1, 2], [0, 3]]  # best neuron of each bin
    assert heat.customdata[..., 3].tolist() == [[1, -1], [1, 1]]
    assert "Down-sampled" in subtitle(fig) and "4 neurons per layer shown as 2 bins of 2" in subtitle(fig)
    assert "bins of 2" in fig.layout.xaxis.title.text


def test_heatmap_of_a_7b_sized_model_is_binned_without_losing_neurons():
    accuracy = torch.rand(30, 11008, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    result = make_result(accuracy)
    fig = predictivity_heatmap(result)
    heat = fig.data[0]
    assert heat.z.shape == (30, 1835)  # ceil(11008 / 2000) = 6 neurons per bin
    assert "11,008 neurons per layer shown as 1,835 bins of 6" in subtitle(fig)
    assert heat.customdata[0, -1, 1] == 11007  # the last bin ends at the last neuron
    np.testing.assert_allclose(heat.z.max(axis=1), result.predictivity.amax(dim=1).numpy(), atol=1e-6)
    best = heat.customdata[..., 2].astype(int)
    rows = np.arange(30)[:, None]
    np.testing.assert_allclose(result.predictivity.numpy()[rows, best], heat.z, atol=1e-6)


def test_heatmap_rejects_bad_options_and_applies_layout_overrides():
    result = make_result(ACCURACY)
    with pytest.raises(SkillNeuronError, match="order"):
        predictivity_heatmap(result, order="random")
    with pytest.raises(SkillNeuronError, match="layout"):
        predictivity_heatmap(result, layout="wide")
    fig = predictivity_heatmap(result, layout={"height": 321, "title": {"text": "Mine"}})
    assert fig.layout.height == 321 and fig.layout.title.text == "Mine"


# ---- distributions, counts, positions ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["violin", "box"])
def test_layer_distribution_one_trace_per_layer(kind):
    fig = layer_distribution(make_result(ACCURACY, layers=[4, 7]), kind)
    assert [trace.type for trace in fig.data] == [kind, kind]
    assert [trace.name for trace in fig.data] == ["layer 4", "layer 7"]
    for trace, expected in zip(fig.data, PREDICTIVITY, strict=True):
        np.testing.assert_allclose(trace.y, expected, atol=1e-6)
        assert list(trace.customdata) == [0, 1, 2, 3]
    assert fig.layout.shapes[0].y0 == 0.5  # chance line
    assert fig.layout.yaxis.title.text == "predictivity"


def test_layer_distribution_histogram_counts_per_layer():
    fig = layer_distribution(make_result(ACCURACY), "histogram", bins=5)  # edges 0.5, 0.6, ... 1.0
    np.testing.assert_allclose(fig.data[0].x, [0.55, 0.65, 0.75, 0.85, 0.95])
    assert list(fig.data[0].customdata) == [1, 1, 0, 1, 1]  # 0.52, 0.66, 0.85, 0.93
    assert list(fig.data[1].customdata) == [2, 0, 2, 0, 0]  # 0.50, 0.57 | 0.71, 0.71
    np.testing.assert_allclose(fig.data[1].y, [0.5, 0, 0.5, 0, 0])
    assert fig.layout.yaxis.title.text == "share of the layer's neurons"
    with pytest.raises(SkillNeuronError, match="kind"):
        layer_distribution(make_result(ACCURACY), "ridgeline")


def test_skill_counts_bars():
    neurons = NeuronSet.from_list([(4, 0), (4, 3), (9, 1), (9, 2), (9, 3)], layers=[4, 7, 9], n_neurons=10)
    fig = skill_counts(neurons)
    bar = fig.data[0]
    assert bar.type == "bar" and list(bar.x) == [4, 7, 9] and list(bar.y) == [2, 0, 3]
    assert "5 neurons in 3 layers" in subtitle(fig)
    assert fig.layout.xaxis.title.text == "layer" and fig.layout.yaxis.title.text == "skill neurons"


def test_position_layer_heatmap_takes_the_best_neuron_per_slot_and_layer():
    # [run=2, subtask=1, slot=3, layer=2, neuron=2]
    accuracy = torch.tensor(
        [
            [[[[0.5, 0.9], [0.6, 0.6]], [[0.2, 0.5], [0.5, 0.5]], [[0.7, 0.7], [0.5, 0.95]]]],
            [[[[0.5, 0.7], [0.6, 0.6]], [[0.2, 0.5], [0.5, 0.5]], [[0.5, 0.9], [0.5, 0.85]]]],
        ]
    )
    fig = position_layer_heatmap(make_result(accuracy, layers=[2, 5], slot_names=["p0", "p1", "p2"]))
    heat = fig.data[0]
    # run mean of max(Acc, 1-Acc), then the max over neurons
    np.testing.assert_allclose(heat.z, [[0.8, 0.6], [0.8, 0.5], [0.8, 0.9]], atol=1e-9)
    assert heat.customdata.tolist() == [[1, 0], [0, 0], [1, 1]]
    assert list(heat.y) == ["p0", "p1", "p2"] and list(heat.x) == [2, 5]
    assert heat.texttemplate == "%{z:.3f}" and heat.zmin == 0.5
    by_min = position_layer_heatmap(
        make_result(accuracy, layers=[2, 5], slot_names=["p0", "p1", "p2"], run_aggregation="min")
    )
    np.testing.assert_allclose(by_min.data[0].z, [[0.7, 0.6], [0.8, 0.5], [0.7, 0.85]], atol=1e-9)


def test_one_slot_position_heatmap_matches_the_predictivity():
    result = make_result(ACCURACY)
    assert torch.equal(slot_predictivity(result)[0], result.predictivity)
    np.testing.assert_allclose(position_layer_heatmap(result).data[0].z, [[0.93, 0.71]])


# ---- activations ------------------------------------------------------------------------------
def test_activation_histogram_by_class_with_the_threshold():
    fig = activation_histogram(
        {"negative": torch.tensor([0.0, 1.0, 2.0]), "positive": torch.tensor([3.0, 4.0, 1.5])},
        1.8,
        layer=3,
        neuron=17,
        bins=8,
    )
    assert [trace.type for trace in fig.data] == ["histogram", "histogram"]
    assert [trace.name for trace in fig.data] == ["negative (n=3)", "positive (n=3)"]
    assert list(fig.data[0].x) == [0.0, 1.0, 2.0] and list(fig.data[1].x) == [3.0, 4.0, 1.5]
    assert fig.data[0].xbins.start == 0.0 and fig.data[0].xbins.size == pytest.approx(0.5)
    assert fig.data[0].xbins == fig.data[1].xbins  # shared bins
    line = fig.layout.shapes[0]
    assert line.x0 == line.x1 == 1.8
    # above 1.8: negative 2.0 (wrong), positive 3.0, 4.0 (right); 1.5 is below (wrong): 4 of 6
    assert "accuracy 0.667" in subtitle(fig) and "polarity +1" in subtitle(fig)
    assert fig.layout.title.text == "Layer 3, neuron 17: activations by class"
    assert fig.layout.barmode == "overlay"


def test_activation_histogram_from_values_and_labels():
    values, labels = torch.tensor([5.0, 1.0, 4.0, 0.0]), [0, 1, 0, 1]
    fig = activation_histogram((values, labels), 2.5, label_names=["neg", "pos"])
    assert [trace.name for trace in fig.data] == ["neg (n=2)", "pos (n=2)"]
    assert list(fig.data[0].x) == [5.0, 4.0] and list(fig.data[1].x) == [1.0, 0.0]
    assert "accuracy 0.000" in subtitle(fig) and "predictivity 1.000" in subtitle(fig)
    assert "polarity -1" in subtitle(fig)
    three = activation_histogram((values, [0, 1, 2, 2]), 2.5)
    assert len(three.data) == 3 and subtitle(three) is None
    with pytest.raises(SkillNeuronError, match="same length"):
        activation_histogram((values, [0, 1]), 0.0)
    with pytest.raises(SkillNeuronError, match="dict"):
        activation_histogram([1.0, 2.0], 0.0)


@pytest.mark.models
def test_neuron_activations_average_to_the_recorded_baseline():
    from tests.helpers.tiny_models import tiny_gpt2, toy_texts

    model = tiny_gpt2()
    texts, labels = toy_texts(12, seed=3)
    result = compute_predictivity(model, (texts, labels), (texts, labels), layers=[1], positions=[0, -1],
                                  recording=RecordingConfig(batch_size=5, progress=False))
    values = neuron_activations(model, texts, 1, 7, positions=[0, -1],
                                recording=RecordingConfig(batch_size=5))
    assert values.shape == (12, 2) and values.dtype == torch.float64
    torch.testing.assert_close(values.mean(dim=0), result.baseline[0, 0, :, 0, 7])
    left = neuron_activations(model, texts, 1, 7, positions=[0, -1],
                              recording=RecordingConfig(batch_size=12, padding_side="left"))
    torch.testing.assert_close(left, values, rtol=1e-5, atol=1e-5)  # float32 model: round-off only
    threshold, slot = neuron_baseline(result, 1, 7)
    assert threshold == pytest.approx(float(values[:, slot].mean()))
    fig = activation_histogram((values[:, slot], labels), threshold, layer=1, neuron=7)
    assert sum(len(trace.x) for trace in fig.data) == 12
    with pytest.raises(SkillNeuronError, match="out of range"):
        neuron_activations(model, texts[:2], 1, 999)
    with pytest.raises(SkillNeuronError, match="not recorded"):
        neuron_baseline(result, 0, 7)


# ---- perturbation -----------------------------------------------------------------------------
def make_curve(**changes):
    curve = dict(
        fractions=(0.0, 0.01, 0.05),
        clean_accuracy=0.9,
        skill=torch.tensor([0.9, 0.7, 0.5]),
        random=torch.tensor([[0.9, 0.88, 0.84], [0.9, 0.86, 0.80], [0.9, 0.87, 0.83]]),
        bottom=torch.tensor([0.9, 0.9, 0.89]),
        skill_ci=torch.tensor([[0.88, 0.92], [0.66, 0.73], [0.45, 0.52]]),
        random_ci=torch.tensor([[0.9, 0.9], [0.855, 0.885], [0.79, 0.85]]),
        bottom_ci=torch.tensor([[0.89, 0.91], [0.88, 0.92], [0.87, 0.91]]),
        p_values=torch.tensor([1.0, 0.02, 0.001]),
        mode="zero",
    )
    curve.update(changes)
    return SimpleNamespace(**curve)


def traces_by_name(fig):
    return {trace.name.split(" (")[0]: trace for trace in fig.data}


def test_perturbation_curves_data():
    fig = perturbation_curves(make_curve())
    traces = traces_by_name(fig)
    assert list(traces) == [
        "random band low", "random band", "random", "skill neurons", "bottom neurons", "clean"
    ]
    assert fig.data[1].name == "random band (95% CI)" and fig.data[1].fill == "tonexty"
    np.testing.assert_allclose(traces["skill neurons"].x, [0, 1, 5])  # percent of each layer
    np.testing.assert_allclose(traces["skill neurons"].y, [0.9, 0.7, 0.5])
    np.testing.assert_allclose(traces["random band low"].y, [0.9, 0.855, 0.79])
    np.testing.assert_allclose(traces["random band"].y, [0.9, 0.885, 0.85])
    np.testing.assert_allclose(traces["random"].y, [0.9, 0.87, 0.8233333], atol=1e-6)
    assert fig.data[2].name == "random (mean of 3 draws)"
    np.testing.assert_allclose(traces["bottom neurons"].y, [0.9, 0.9, 0.89])
    np.testing.assert_allclose(traces["skill neurons"].error_y.array, [0.02, 0.03, 0.02], atol=1e-6)
    np.testing.assert_allclose(traces["skill neurons"].error_y.arrayminus, [0.02, 0.04, 0.05], atol=1e-6)
    np.testing.assert_allclose(traces["skill neurons"].customdata, [1.0, 0.02, 0.001])
    assert list(traces["clean"].y) == [0.9, 0.9] and list(traces["clean"].x) == [0.0, 5.0]
    assert fig.layout.title.text == "Perturbation (zero)" and "95% CI" in subtitle(fig)
    assert fig.layout.yaxis.title.text == "accuracy"


def test_perturbation_band_min_max_and_missing_optional_parts():
    fig = perturbation_curves(make_curve(random_ci=None, bottom=None, bottom_ci=None, skill_ci=None,
                                         p_values=None))
    traces = traces_by_name(fig)
    assert "bottom neurons" not in traces and traces["skill neurons"].error_y.array is None
    assert fig.data[1].name == "random band (min–max of 3 draws)"
    np.testing.assert_allclose(traces["random band low"].y, [0.9, 0.86, 0.80])
    np.testing.assert_allclose(traces["random band"].y, [0.9, 0.88, 0.84])
    minmax = perturbation_curves(make_curve(), band="minmax")
    np.testing.assert_allclose(minmax.data[0].y, [0.9, 0.86, 0.80])
    with pytest.raises(SkillNeuronError, match="3 fractions"):
        perturbation_curves(make_curve(skill=torch.tensor([0.9, 0.7])))
    with pytest.raises(SkillNeuronError, match="band"):
        perturbation_curves(make_curve(), band="sd")


# ---- comparison -------------------------------------------------------------------------------
def test_similarity_matrix_annotated():
    matrix = torch.tensor([[1.0, 0.25, -0.5], [0.25, 1.0, 0.0], [-0.5, 0.0, 1.0]])
    fig = similarity_matrix(matrix, ["sst2", "imdb", "mnli"], zmid=0.0, title="Overlap")
    heat = fig.data[0]
    np.testing.assert_allclose(heat.z, matrix.numpy())
    assert list(heat.x) == list(heat.y) == ["sst2", "imdb", "mnli"]
    assert heat.texttemplate == "%{z:.2f}"
    assert (heat.zmin, heat.zmid, heat.zmax) == (-1.0, 0.0, 1.0)  # symmetric around zmid
    assert fig.layout.title.text == "Overlap" and fig.layout.yaxis.autorange == "reversed"
    plain = similarity_matrix(matrix, ["a", "b", "c"])
    assert plain.data[0].zmid is None and plain.data[0].colorscale[0][1] == "#f7f7f7"


def test_similarity_matrix_non_square_and_bad_names():
    fig = similarity_matrix(torch.ones(2, 3), ["x", "y"], column_tasks=["a", "b", "c"],
                            row_label="neurons of", column_label="evaluated on")
    assert list(fig.data[0].x) == ["a", "b", "c"] and list(fig.data[0].y) == ["x", "y"]
    assert fig.layout.xaxis.title.text == "evaluated on"
    with pytest.raises(SkillNeuronError, match="names"):
        similarity_matrix(torch.ones(2, 3), ["x", "y"])
