"""Notebook display: every result-like object has a short ``__repr__`` and a self-contained ``_repr_html_``.

The numbers each display shows are worked out by hand from small objects built here; every HTML display
is checked to be free of script, links and tensor dumps, and to escape hostile names.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.analysis.compare import TaskComparison
from skillneuron_lens.analysis.curves import PerturbationCurve
from skillneuron_lens.notebook import HtmlTable, format_number, html_repr, text_repr
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.runs.config import FindConfig
from skillneuron_lens.runs.run import Run
from skillneuron_lens.tasks.task import Split, Task
from tests.helpers.checkpoints import write_split
from tests.helpers.results import make_result
from tests.helpers.tiny_models import tiny_gpt2, toy_texts

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def assert_clean_text(text: str) -> None:
    """A repr: no tensor printed, at most two lines."""
    assert "tensor(" not in text and "\n" not in text.strip()


def assert_self_contained(page: str) -> None:
    """HTML: no script, no link or resource, no tensor printed, and the tags balanced."""
    lowered = page.lower()
    for forbidden in ("<script", "src=", "href=", "http", "@import", "tensor("):
        assert forbidden not in lowered, forbidden
    for tag in ("div", "table", "tr", "td", "th"):
        assert len(re.findall(f"<{tag}[ >]", page)) == page.count(f"</{tag}>"), tag


# ---- the helpers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "n/a"), (7, "7"), (True, "True"), (0.7125, "0.713"), (0.0, "0.000"), (1.234e-7, "1.23e-07"),
     (0.001, "0.001"), (float("nan"), "nan"), (torch.tensor(0.5), "0.500")],
)
def test_format_number(value, expected):
    assert format_number(value) == expected


def test_text_repr_quotes_pairs_and_keeps_free_text():
    line = text_repr("Thing", [("name", "it's"), ("sizes", [1, 2]), "best=0.7 (layer 1)"])
    assert line == """Thing(name="it's", sizes=[1, 2], best=0.7 (layer 1))"""


def test_html_repr_escapes_every_text_and_leaves_out_empty_columns():
    table = HtmlTable.from_records(
        [{"a": 1, "b": None, HOSTILE: 2}, {"a": 0.25}], [("a", "A"), ("b", "B"), (HOSTILE, HOSTILE)], HOSTILE
    )
    page = html_repr(HOSTILE, [(HOSTILE, HOSTILE), ("labels", {0: HOSTILE})], [table])
    assert_self_contained(page)
    assert page.count(ESCAPED) == 6  # title, fact name, fact value, the dict's value, caption, header
    assert "<th>B</th>" not in page  # column b holds only None
    assert "<td>0.250</td><td>n/a</td>" in page  # the second row lacks the hostile column


# ---- PredictivityResult -----------------------------------------------------------------------------
def result_with_significance() -> PredictivityResult:
    """Two layers of 3 neurons on 40 dev examples (20 positive): two are perfect, four at chance.

    A perfect neuron fires on exactly the 20 positives. The score is max(Acc, 1 - Acc), so under the
    permutation null it reaches 1 when the 20 firing examples are all positives or all negatives: p =
    2 / C(40, 20) (about 1.45e-11), and BH over the 6 neurons gives q = p * 6 / 2 and keeps exactly the
    two perfect ones; a neuron at accuracy 0.5 has a p-value near 1.
    """
    accuracy = torch.tensor([[1.0, 0.5, 0.5], [0.5, 0.5, 1.0]], dtype=torch.float64)[None, None, None]
    return PredictivityResult(
        accuracy=accuracy,
        baseline=torch.zeros_like(accuracy),
        n_train=torch.full((1, 1), 30),
        n_dev=torch.full((1, 1), 40),
        layers=(3, 5),
        hook="blocks.{layer}.mlp.hook_post",
        slot_names=("pos 0",),
        subtask_names=("binary",),
        config={"positions": [0]},
        fingerprint={"class": "HookedTransformer", "model_name": "tiny-model", "weights_sha256": "abc"},
        firing=torch.full(accuracy.shape, 20),
        n_dev_positive=torch.full((1, 1), 20),
    )


def test_result_repr_names_the_shape_the_best_neuron_and_the_significance():
    result = result_with_significance()
    assert float(result.p_value.min()) == pytest.approx(2 / math.comb(40, 20), rel=1e-9)
    assert repr(result) == (
        "PredictivityResult(model='tiny-model', hook='blocks.{layer}.mlp.hook_post', layers=2, "
        "neurons/layer=3, positions=[0], n_train=30, n_dev=40, best=1.000 (layer 3, neuron 0), "
        "2 of 6 significant at q=0.05 (BH))"
    )


def test_result_html_shows_settings_significance_and_the_top_five_with_p_and_q():
    result = result_with_significance()
    page = result._repr_html_()
    assert_self_contained(page)
    assert "<th>significance</th><td>2 of 6 significant at q=0.05 (BH)</td>" in page
    assert "<th>layers</th><td>3, 5</td>" in page
    body = page.split("<caption>top neurons</caption>")[1]
    assert "<th>p</th><th>q</th>" in body
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td><td>([0-9.]+)</td>", body)
    # the two perfect neurons first, then chance neurons in (layer, neuron) order: five rows of six
    assert rows == [("3", "0", "1.000"), ("5", "2", "1.000"), ("3", "1", "0.500"), ("3", "2", "0.500"),
                    ("5", "0", "0.500")]
    p_value, q_value = 2 / math.comb(40, 20), 6 / math.comb(40, 20)
    assert f"<td>1</td><td>{format_number(p_value)}</td><td>{format_number(q_value)}</td>" in body
    assert format_number(q_value) == "4.35e-11"


def test_an_old_result_without_significance_says_so(tmp_path):
    make_result([[0.5, 0.9, 0.6], [0.7, 0.55, 0.95]]).save(tmp_path / "old")
    loaded = PredictivityResult.load(tmp_path / "old")
    assert not loaded.has_significance
    text = repr(loaded)
    assert_clean_text(text)
    assert text.endswith("best=0.950 (layer 1, neuron 2), no significance recorded)")
    page = loaded._repr_html_()
    assert_self_contained(page)
    assert "no significance recorded" in page and "<th>q</th>" not in page


def test_computed_result_repr_agrees_with_its_own_numbers():
    model = tiny_gpt2()
    result = snl.compute_predictivity(
        model, toy_texts(40, seed=1), toy_texts(40, seed=2), positions=[0, -1], n_permutations=5,
        recording=snl.RecordingConfig(progress=False, batch_size=16),
    )
    best = result.top_neurons(1)[0]
    significant = len(snl.NeuronSet.significant(result))
    text = repr(result)
    assert_clean_text(text)
    assert f"best={best['predictivity']:.3f} (layer {best['layer']}, neuron {best['neuron']})" in text
    assert text.endswith(f", {significant} of {3 * 48} significant at q=0.05 (BH))")
    assert "layers=3, neurons/layer=48, positions=[0, -1], n_train=40, n_dev=40" in text
    page = result._repr_html_()
    assert_self_contained(page)
    assert "<th>label permutations</th><td>5</td>" in page


# ---- NeuronSet --------------------------------------------------------------------------------------
def test_neuron_set_repr_and_html_count_members_per_layer():
    members = snl.NeuronSet.from_list([(0, 1), (2, 3), (2, 5)], layers=[0, 1, 2], n_neurons=8)
    assert repr(members) == (
        "NeuronSet(size=3, hook='blocks.{layer}.mlp.hook_post', per_layer={0: 1, 1: 0, 2: 2}, "
        "neurons/layer=8)"
    )
    page = members._repr_html_()
    assert_self_contained(page)
    assert "<th>members</th><td>(0, 1), (2, 3), (2, 5)</td>" in page
    assert "<th>share of all neurons</th><td>0.125</td>" in page
    assert "<tr><td>2</td><td>2</td><td>0.250</td></tr>" in page


def test_a_large_neuron_set_does_not_list_its_members():
    everything = snl.NeuronSet(torch.ones(2, 30, dtype=torch.bool), (4, 7), hook=HOSTILE)
    text = repr(everything)
    assert_clean_text(text)
    assert "size=60" in text and "per_layer={4: 30, 7: 30}" in text
    page = everything._repr_html_()
    assert_self_contained(page)
    assert "<th>members</th><td>" not in page and ESCAPED in page


# ---- PerturbationCurve ------------------------------------------------------------------------------
def test_curve_repr_and_html_show_the_largest_fraction_against_random():
    curve = PerturbationCurve(
        fractions=(0.1, 0.2),
        clean_accuracy=0.9,
        skill=torch.tensor([0.7, 0.5]),
        random=torch.tensor([[0.88, 0.85], [0.86, 0.8]]),
        p_values=torch.tensor([0.03, 0.01]),
        mode="gaussian",
        name=HOSTILE,
    )
    assert repr(curve) == (
        f"PerturbationCurve(name={HOSTILE!r}, mode='gaussian', fractions=[0.1, 0.2], clean=0.900, draws=2, "
        "at 0.2: skill 0.500 vs random 0.825, p=0.010)"
    )
    page = curve._repr_html_()
    assert_self_contained(page)
    assert ESCAPED in page
    # random 0.87 = mean(0.88, 0.86); the rank p-value of the skill among 2 draws is (1 + 0) / 3
    assert "<tr><td>0.100</td><td>0.700</td><td>0.870</td><td>0.030</td><td>0.333</td></tr>" in page
    assert "<th>bottom</th>" not in page  # not recorded


# ---- TaskComparison ---------------------------------------------------------------------------------
def test_comparison_repr_names_the_most_similar_pair_and_html_shows_the_matrices():
    names = ("a", "b", HOSTILE)
    spearman = torch.tensor([[1.0, 0.2, 0.3], [0.2, 1.0, 0.8], [0.3, 0.8, 1.0]], dtype=torch.float64)
    p_exact = torch.tensor([[math.nan, 0.5, 0.4], [0.5, math.nan, 0.001], [0.4, 0.001, math.nan]])
    comparison = TaskComparison(
        names=names, spearman=spearman, spearman_per_layer=spearman[..., None].repeat(1, 1, 2),
        jaccard=spearman / 2, jaccard_null_mean=torch.zeros(3, 3), jaccard_p_value=p_exact,
        jaccard_p_value_exact=p_exact, activated_jaccard=spearman / 4, layers=(0, 1),
        hook="blocks.{layer}.mlp.hook_post", fraction=0.02, n_draws=100, seed=0,
    )
    assert repr(comparison) == (
        f"TaskComparison(tasks=['a', 'b', {HOSTILE!r}], hook='blocks.{{layer}}.mlp.hook_post', layers=2, "
        f"fraction=0.02, most similar: b ~ {HOSTILE} (spearman 0.800))"
    )
    page = comparison._repr_html_()
    assert_self_contained(page)
    assert "<tr><td>b</td><td>0.200</td><td>1.000</td><td>0.800</td></tr>" in page  # Spearman
    assert "<tr><td>b</td><td>0.100</td><td>0.500</td><td>0.400</td></tr>" in page  # skill-set Jaccard
    assert "<tr><td>b</td><td>0.500</td><td>nan</td><td>0.001</td></tr>" in page  # exact p-value
    assert page.count(ESCAPED) >= 5


def test_a_comparison_of_one_task_has_no_most_similar_pair():
    one = torch.ones(1, 1, dtype=torch.float64)
    comparison = TaskComparison(
        names=("a",), spearman=one, spearman_per_layer=one[..., None], jaccard=one, jaccard_null_mean=one,
        jaccard_p_value=one, jaccard_p_value_exact=one, activated_jaccard=one, layers=(0,), hook="h",
        fraction=0.5, n_draws=1, seed=0,
    )
    assert repr(comparison) == "TaskComparison(tasks=['a'], hook='h', layers=1, fraction=0.5)"
    assert "<th>most similar</th><td>n/a</td>" in comparison._repr_html_()


# ---- Task -------------------------------------------------------------------------------------------
def test_task_html_shows_splits_labels_and_class_balance_escaped():
    task = Task(
        HOSTILE, ["neg", HOSTILE],
        {"train": Split(["a", "b", "c"], [0, 1, 1]), "dev": Split(["d"], [0])}, source="hand-made",
    )
    assert_clean_text(repr(task))
    page = task._repr_html_()
    assert_self_contained(page)
    assert f"<th>name</th><td>{ESCAPED}</td>" in page
    assert f"<th>labels</th><td>0: neg, 1: {ESCAPED}</td>" in page
    assert f"<th>split</th><th>examples</th><th>neg</th><th>{ESCAPED}</th>" in page
    assert "<tr><td>train</td><td>3</td><td>1 (33%)</td><td>2 (67%)</td></tr>" in page
    assert "<tr><td>dev</td><td>1</td><td>1 (100%)</td><td>0 (0%)</td></tr>" in page


# ---- FindConfig and Run -----------------------------------------------------------------------------
def test_config_repr_shows_the_changed_options_and_evaluates_to_an_equal_config():
    config = FindConfig(out="runs/x", seed=3, layers=[1, 2], lr=1e-5)
    text = repr(config)
    assert text == (
        "FindConfig(model='minilm', task='rotten_tomatoes', out='runs/x', seed=3, layers=[1, 2], lr=1e-05)"
    )
    assert eval(text, {"FindConfig": FindConfig}) == config
    assert config.changed_options() == {"out": "runs/x", "seed": 3, "layers": [1, 2], "lr": 1e-5}
    page = FindConfig(out=HOSTILE)._repr_html_()
    assert_self_contained(page)
    assert f"<tr><td>out</td><td>&#x27;{ESCAPED}&#x27;</td><td></td></tr>" in page
    assert "<tr><td>seed</td><td>0</td><td>0</td></tr>" in page


def run_summary(significance: dict | None) -> dict:
    """A summary as find writes it, with the headline entries a run's display reads."""
    return {
        "model": "minilm", "task": HOSTILE, "label_names": ["neg", "pos"], "n_train": 10, "n_dev": 12,
        "n_test": 0, "test_accuracy": 0.8525, "positions": [0], "hook": "blocks.{layer}.mlp.hook_post",
        "top_neurons": make_result([[0.5, 0.9, 0.6], [0.7, 0.55, 0.95]]).top_neurons(6),
        "skill_neurons": {"fraction_per_layer": 0.34, "count_per_layer": [1, 1]},
        "significance": significance, "seconds": 1.5, "arguments": {"command": "find", "model": "minilm"},
    }


def test_run_repr_and_html_show_the_summary_headline(tmp_path):
    config = FindConfig(out=str(tmp_path / "run"), no_report=True, task=HOSTILE)
    significance = {"method": "bh", "q": 0.05, "n_tested": 6, "n_significant": 3}
    run = Run.write(config, make_result([[0.5, 0.9, 0.6], [0.7, 0.55, 0.95]]), run_summary(significance))
    assert repr(run) == (
        f"Run({str(tmp_path / 'run')!r}, model='minilm', task={HOSTILE!r}, tune='frozen', "
        "test_accuracy=0.853, best=0.950 (layer 1, neuron 2), skill_neurons=2 (top 0.34/layer), "
        "3 of 6 significant at q=0.05 (BH))"
    )
    page = run._repr_html_()
    assert_self_contained(page)
    assert f"<th>task</th><td>{ESCAPED}</td>" in page
    assert "<th>examples</th><td>train: 10, dev: 12, test: 0</td>" in page
    assert len(re.findall(r"<tr><td>\d+</td><td>\d+</td><td>0\.\d+</td>", page)) == 5  # the top 5 of 6


def test_run_without_significance_says_so(tmp_path):
    config = FindConfig(out=str(tmp_path / "run"), no_report=True)
    run = Run.write(config, make_result([[0.6, 0.7]]), run_summary(None))
    assert repr(run).endswith("no significance recorded)")
    assert "<th>significance</th><td>no significance recorded</td>" in run._repr_html_()


def test_a_run_made_by_find_shows_its_own_summary(tmp_path):
    rows = [(text, label) for text, label in zip(*toy_texts(60, seed=3), strict=True)]
    config = FindConfig(
        model="tiny", train_file=write_split(tmp_path / "train.csv", rows), n=0, fraction=0.05, max_length=16,
        quiet=True, no_report=True, out=str(tmp_path / "run"),
    )
    run = snl.find(config, model=tiny_gpt2())
    summary, best = run.summary, run.summary["top_neurons"][0]
    significance = summary["significance"]
    text = repr(run)
    assert_clean_text(text)
    assert f"test_accuracy={summary['test_accuracy']:.3f}" in text
    assert f"best={best['predictivity']:.3f} (layer {best['layer']}, neuron {best['neuron']})" in text
    assert f"skill_neurons={sum(summary['skill_neurons']['count_per_layer'])} (top 0.05/layer)" in text
    assert text.endswith(f"{significance['n_significant']} of {3 * 48} significant at q=0.05 (BH))")
    page = run._repr_html_()
    assert_self_contained(page)
    assert f"<th>examples</th><td>train: {summary['n_train']}, dev: {summary['n_dev']}" in page


def test_overlap_result_repr_leaves_the_per_layer_tensor_out():
    a = snl.NeuronSet.from_list([(0, 0), (0, 1), (1, 0)], layers=[0, 1], n_neurons=4)
    b = snl.NeuronSet.from_list([(0, 0), (1, 1), (1, 2)], layers=[0, 1], n_neurons=4)
    overlap = snl.skill_overlap(a, b, fraction=None, n_draws=50)
    text = repr(overlap)
    assert_clean_text(text)
    # |A & B| = 1 of |A | B| = 5
    assert text.startswith("OverlapResult(jaccard=0.200, null_mean=")
    assert f"p_value_exact={format_number(overlap.p_value_exact)}, n_draws=50)" in text
