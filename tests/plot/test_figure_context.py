"""Figures with context: subtitles that say what was scored, ``subtask=``, and the single-neuron flow."""

from __future__ import annotations

import itertools

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.plot.activations import activation_histogram, neuron_baseline
from skillneuron_lens.plot.distributions import layer_auroc_figure, neuron_histogram_figure
from skillneuron_lens.plot.layout import context_line, subtask_index
from skillneuron_lens.plot.predictivity import (
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

HOOK = "blocks.{layer}.mlp.hook_post"


def subtitle(fig: go.Figure) -> str:
    return fig.layout.title.subtitle.text or ""


@pytest.fixture(autouse=True)
def nothing_is_shown(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a figure function displayed a figure")

    monkeypatch.setattr(go.Figure, "show", refuse)


# ---- a tiny model's result ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    from tests.helpers.tiny_models import tiny_gpt2, toy_texts

    model = tiny_gpt2()
    texts, labels = toy_texts(12, seed=3)
    result = compute_predictivity(
        model, (texts, labels), (texts, labels), layers=[1, 2], positions=[0, -1], histograms=True,
        recording=RecordingConfig(batch_size=6, progress=False),
    )
    return model, texts, labels, result


@pytest.mark.models
def test_every_result_figure_says_model_hook_positions_and_example_counts(tiny):
    _, _, _, result = tiny
    name = result.fingerprint["model_name"]  # "tiny-gpt2" on the bridge, TransformerLens 2.x says "custom"
    assert name in ("tiny-gpt2", "custom")
    context = f"model {name} · hook blocks.{{layer}}.mlp.hook_post · positions 0, -1 · n_train 12 · n_dev 12"
    skill = NeuronSet.top(result, fraction=0.1)
    figures = {
        "heatmap": predictivity_heatmap(result, task="toy"),
        "sorted heatmap": predictivity_heatmap(result, order="sorted", task="toy"),
        "violin": layer_distribution(result, task="toy"),
        "histogram": layer_distribution(result, "histogram", task="toy"),
        "positions": position_layer_heatmap(result, task="toy"),
        "counts": skill_counts(skill, result=result, task="toy"),
        "auroc": layer_auroc_figure(result, task="toy"),
        "neuron histogram": neuron_histogram_figure(result, 1, 3, task="toy"),
    }
    for name, fig in figures.items():
        assert subtitle(fig).endswith("task toy · " + context), name
    # the facts the subtitles had before stay, on the line above the context
    assert subtitle(figures["counts"]).startswith(f"{len(skill)} neurons in 2 layers")
    assert subtitle(figures["auroc"]).startswith("binary, pos 0; 0.5 is chance<br>task toy")
    assert subtitle(figures["neuron histogram"]).startswith("AUROC ")
    # without task= the line starts with the model; title= still overrides the title
    fig = predictivity_heatmap(result, title="Mine")
    assert subtitle(fig) == context and fig.layout.title.text == "Mine"
    # a set alone names its hook
    assert subtitle(skill_counts(skill)).endswith("<br>hook blocks.{layer}.mlp.hook_post")


def test_context_line_lists_runs_and_subtasks_and_differing_counts():
    result = two_subtask_result()
    merged = context_line(result)
    assert merged == (
        "model demo · hook blocks.{layer}.mlp.hook_post · positions pos 0, pos 1 · n_train 30–40 · "
        "n_dev 8–9 · 2 runs (mean) · mean over subtasks pn, neu"
    )
    assert context_line(result, subtask=1, task="mnli") == (
        "task mnli · model demo · hook blocks.{layer}.mlp.hook_post · positions pos 0, pos 1 · "
        "n_train 40 · n_dev 9 · 2 runs (mean) · subtask neu"
    )
    assert context_line(None) == "" and context_line(None, task="a<b") == "task a&lt;b"
    local = two_subtask_result(fingerprint={"model_name": "/home/me/models/minilm/model", "class": "X"})
    assert context_line(local).startswith("model …/minilm/model · hook")
    by_class = two_subtask_result(fingerprint={"class": "HookedEncoder"})
    assert context_line(by_class).startswith("model HookedEncoder · hook")


# ---- subtask= ------------------------------------------------------------------------------------
# Two runs, two subtasks ("pn", "neu"), two slots, two layers of three neurons; accuracies chosen by hand.
ACCURACY = torch.tensor(
    [
        [  # run 0
            [[[0.9, 0.5, 0.2], [0.6, 0.7, 0.5]], [[0.8, 0.5, 0.1], [0.5, 0.9, 0.55]]],  # pn: slot 0, slot 1
            [[[0.5, 0.8, 0.5], [0.3, 0.5, 0.6]], [[0.55, 0.6, 0.5], [0.5, 0.5, 0.95]]],  # neu
        ],
        [  # run 1
            [[[0.7, 0.5, 0.3], [0.6, 0.5, 0.5]], [[0.6, 0.6, 0.2], [0.5, 0.7, 0.65]]],
            [[[0.5, 0.6, 0.5], [0.1, 0.5, 0.6]], [[0.65, 0.6, 0.5], [0.5, 0.5, 0.85]]],
        ],
    ],
    dtype=torch.float64,
)


def two_subtask_result(**changes) -> PredictivityResult:
    fields = dict(
        accuracy=ACCURACY,
        baseline=torch.zeros_like(ACCURACY),
        n_train=torch.tensor([[30, 40], [30, 40]]),
        n_dev=torch.tensor([[8, 9], [8, 9]]),
        layers=(2, 5),
        hook=HOOK,
        slot_names=("pos 0", "pos 1"),
        subtask_names=("pn", "neu"),
        fingerprint={"model_name": "demo"},
    )
    fields.update(changes)
    return PredictivityResult(**fields)


def by_hand(subtask: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictivity and polarity of one subtask with loops: max over slots of the run-mean score."""
    scores, polarity = np.zeros((2, 3)), np.zeros((2, 3), dtype=int)
    for layer, neuron in itertools.product(range(2), range(3)):
        per_slot = []
        for slot in range(2):
            runs = [float(ACCURACY[run, subtask, slot, layer, neuron]) for run in range(2)]
            per_slot.append((sum(max(a, 1 - a) for a in runs) / 2, sum(runs) / 2))
        best = max(range(2), key=lambda slot: per_slot[slot][0])  # first best on ties
        scores[layer, neuron] = per_slot[best][0]
        polarity[layer, neuron] = 1 if per_slot[best][1] >= 0.5 else -1
    return scores, polarity


@pytest.mark.parametrize("subtask", [0, 1, "neu"])
def test_subtask_draws_that_subtasks_scores(subtask):
    result = two_subtask_result()
    index = subtask_index(result.subtask_names, subtask)
    scores, polarity = by_hand(index)
    heat = predictivity_heatmap(result, subtask=subtask).data[0]
    np.testing.assert_allclose(heat.z, scores, atol=1e-6)
    np.testing.assert_allclose(heat.customdata[..., 2], scores, atol=1e-6)
    assert heat.customdata[..., 1].tolist() == polarity.tolist()
    signed = predictivity_heatmap(result, subtask=subtask, signed=True).data[0]
    np.testing.assert_allclose(signed.z, 0.5 + polarity * (scores - 0.5), atol=1e-6)
    for kind in ("violin", "box"):
        spread = layer_distribution(result, kind, subtask=subtask).data
        for row in range(2):
            np.testing.assert_allclose(spread[row].y, scores[row], atol=1e-6)
    name = result.subtask_names[index]
    assert subtitle(predictivity_heatmap(result, subtask=subtask)).endswith(f"subtask {name}")


def test_default_is_the_papers_merge_the_mean_over_subtasks():
    result = two_subtask_result()
    merged = (by_hand(0)[0] + by_hand(1)[0]) / 2
    heat = predictivity_heatmap(result).data[0]
    np.testing.assert_allclose(heat.z, merged, atol=1e-6)
    assert heat.customdata[..., 1].tolist() == by_hand(0)[1].tolist()  # first subtask's polarity
    np.testing.assert_allclose(layer_distribution(result).data[1].y, merged[1], atol=1e-6)
    assert subtitle(predictivity_heatmap(result)).endswith("mean over subtasks pn, neu")


def test_position_heatmap_of_one_subtask():
    result = two_subtask_result()
    for subtask in (0, 1):
        # slot x layer: best neuron's run-mean score at that slot, by hand
        expected = np.zeros((2, 2))
        for slot, layer in itertools.product(range(2), range(2)):
            expected[slot, layer] = max(
                sum(max(a, 1 - a) for a in ACCURACY[:, subtask, slot, layer, neuron].tolist()) / 2
                for neuron in range(3)
            )
        heat = position_layer_heatmap(result, subtask=subtask).data[0]
        np.testing.assert_allclose(heat.z, expected, atol=1e-6)
        torch.testing.assert_close(slot_predictivity(result, subtask).amax(dim=2), torch.tensor(expected))
    merged = (slot_predictivity(result, 0) + slot_predictivity(result, 1)) / 2
    torch.testing.assert_close(slot_predictivity(result), merged)


def test_chance_band_follows_the_subtask():
    # 5 permutations of [perm, run, subtask, layer, neuron]; band = 95% quantile ("higher") of each
    # layer's best run-mean null score.
    generator = torch.Generator().manual_seed(1)
    null = torch.rand(5, 2, 2, 2, 3, generator=generator, dtype=torch.float64) / 2 + 0.5
    result = two_subtask_result(null_run_predictivity=null)
    for subtask in (0, 1):
        run_mean = null[:, :, subtask].mean(dim=1)  # [perm, layer, neuron]
        best = [[float(run_mean[perm, layer].max()) for perm in range(5)] for layer in range(2)]
        expected = [sorted(values)[4] for values in best]  # ceil(0.95 * 4) = 4: the largest of 5
        band = layer_distribution(result, subtask=subtask).data[-1]
        assert band.name.startswith("chance")
        np.testing.assert_allclose(band.y, expected)
    np.testing.assert_allclose(layer_distribution(result).data[-1].y, result.null_layer_maxima(0.95).numpy())


@pytest.mark.parametrize("subtask", [2, -1, "contra", True, 1.0])
def test_a_bad_subtask_names_the_valid_ones(subtask):
    result = two_subtask_result()
    valid = r"the subtasks are 0 \('pn'\), 1 \('neu'\)"
    for draw in (predictivity_heatmap, layer_distribution, position_layer_heatmap):
        message = f"subtask={subtask!r} is not one of the subtasks; {valid}"
        with pytest.raises(SkillNeuronError, match=message):
            draw(result, subtask=subtask)
    with pytest.raises(SkillNeuronError, match=valid):
        neuron_baseline(result, 2, 0, subtask=subtask)


def test_one_subtask_figures_refuse_the_merge():
    with pytest.raises(SkillNeuronError, match=r"subtask=None is required here; .*pn.*neu"):
        neuron_baseline(two_subtask_result(), 2, 0, subtask=None)  # type: ignore[arg-type]


def test_neuron_baseline_by_subtask_name():
    baseline = torch.arange(ACCURACY.numel(), dtype=torch.float64).reshape(ACCURACY.shape)
    result = two_subtask_result(baseline=baseline)
    # neuron 2 of layer 5 (row 1) in "neu": slot 1 scores (0.95 + 0.85) / 2 > slot 0's 0.6
    threshold, slot = neuron_baseline(result, 5, 2, subtask="neu")
    assert slot == 1
    assert threshold == pytest.approx(float(baseline[:, 1, 1, 1, 2].mean()))
    assert neuron_baseline(result, 5, 2, subtask=1) == (threshold, slot)


# ---- errors of the context-aware inputs ------------------------------------------------------------
def test_skill_counts_refuses_a_result_the_set_was_not_selected_from():
    result = two_subtask_result()
    other = NeuronSet(torch.ones(2, 4, dtype=torch.bool), (2, 5), HOOK)
    with pytest.raises(SkillNeuronError, match="was not selected from this result"):
        skill_counts(other, result=result)


def test_histogram_figures_need_a_result_with_histograms():
    with pytest.raises(SkillNeuronError, match=r"histograms=True"):
        layer_auroc_figure(two_subtask_result())
    with pytest.raises(SkillNeuronError, match=r"histograms=True"):
        neuron_histogram_figure(two_subtask_result(), 2, 0)
    with pytest.raises(SkillNeuronError, match="Expected NeuronHistograms or a PredictivityResult"):
        layer_auroc_figure([1, 2])  # type: ignore[arg-type]


# ---- the single-neuron helpers compose ----------------------------------------------------------------
def test_activation_histogram_picks_the_slot_of_2d_values():
    values = torch.tensor([[1.0, 5.0], [2.0, 6.0], [3.0, 7.0]])
    fig = activation_histogram((values, [0, 1, 1]), 4.0, slot=1, layer=2, neuron=9)
    assert list(fig.data[0].x) == [5.0] and list(fig.data[1].x) == [6.0, 7.0]
    assert fig.layout.title.text == "Layer 2, neuron 9 at slot 1: activations by class"
    by_class = activation_histogram({"a": values[:2], "b": values[2:]}, 4.0, slot=0)
    assert list(by_class.data[0].x) == [1.0, 2.0] and list(by_class.data[1].x) == [3.0]
    one_slot = activation_histogram((values[:, :1], [0, 1, 1]), 4.0)  # one slot: nothing to choose
    assert list(one_slot.data[1].x) == [2.0, 3.0]


def test_activation_histogram_says_which_slot_to_pass():
    values = torch.zeros(3, 2)
    how = r"2 slots per example.*slot=.*neuron_baseline\(result, layer, neuron\)"
    with pytest.raises(SkillNeuronError, match=how):
        activation_histogram((values, [0, 1, 1]), 0.0)
    with pytest.raises(SkillNeuronError, match=r"slot=2 is out of range: the values have 2 slots \(0..1\)"):
        activation_histogram((values, [0, 1, 1]), 0.0, slot=2)
    with pytest.raises(SkillNeuronError, match="slot=0 was given but the values are 1-D"):
        activation_histogram((values[:, 0], [0, 1, 1]), 0.0, slot=0)
    with pytest.raises(SkillNeuronError, match=r"must be \[example\] or \[example, slot\]"):
        activation_histogram((torch.zeros(3, 2, 1), [0, 1, 1]), 0.0)
    with pytest.raises(SkillNeuronError, match="class 'a' have 2 slots"):
        activation_histogram({"a": values}, 0.0)


@pytest.mark.models
def test_neuron_activations_baseline_and_histogram_compose_without_reshaping(tiny):
    model, texts, labels, result = tiny
    for layer, neuron in [(1, 7), (2, 30)]:
        threshold, slot = neuron_baseline(result, layer, neuron)
        values = neuron_activations(model, texts, layer, neuron, positions=result.config["positions"])
        fig = activation_histogram((values, labels), threshold, slot=slot, layer=layer, neuron=neuron)
        column = values[:, slot].numpy()
        labels_array = np.array(labels)
        assert list(fig.data[0].x) == column[labels_array == 0].tolist()
        assert list(fig.data[1].x) == column[labels_array == 1].tolist()
        # the rule in the subtitle, on the same (dev = train) texts, is the result's accuracy at that slot
        accuracy = float(((column > threshold) == (labels_array == 1)).mean())
        row = result.layers.index(layer)
        assert accuracy == pytest.approx(float(result.accuracy[0, 0, slot, row, neuron]))
        assert f"accuracy {accuracy:.3f}" in subtitle(fig)
        with pytest.raises(SkillNeuronError, match="slot="):
            activation_histogram((values, labels), threshold)
