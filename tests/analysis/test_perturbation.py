"""Perturbation curves: exact accuracies on a synthetic model, statistics, saving."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.analysis.curves import PerturbationCurve, perturbation_curve
from skillneuron_lens.models.adapter import ModelAdapter
from skillneuron_lens.stats.resampling import sign_flip_test
from tests.helpers.tiny_models import tiny_gpt2

try:
    from transformer_lens import HookedRootModule
except ImportError:  # TransformerLens 2.x
    from transformer_lens.hook_points import HookedRootModule
from transformer_lens.hook_points import HookPoint

N_LAYERS, WIDTH = 2, 20


class _MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hook_post = HookPoint()


class _Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = _MLP()


class FakeNeurons(HookedRootModule):
    """A hooked module whose 'neurons' are all 1: each layer passes its input through hook_post."""

    def __init__(self):
        super().__init__()
        self.cfg = SimpleNamespace(n_layers=N_LAYERS)
        self.blocks = torch.nn.ModuleList([_Block() for _ in range(N_LAYERS)])
        self.setup()

    def forward(self, x):
        return torch.stack([block.mlp.hook_post(x) for block in self.blocks])


def make_task(model, depends_on: list[tuple[int, int]]):
    """Example i is correct unless its neuron (layer, index) is perturbed. Counts evaluations."""
    layers = torch.tensor([layer for layer, _ in depends_on])
    index = torch.tensor([neuron for _, neuron in depends_on])
    calls = []

    def evaluate():
        calls.append(1)
        out = model(torch.ones(len(depends_on), 1, WIDTH))  # [layer, example, pos, neuron]
        return (out[layers, torch.arange(len(depends_on)), 0, index] == 1.0).clone()

    def reference(neuron_set: snl.NeuronSet) -> torch.Tensor:
        return torch.tensor([(layer, n) not in neuron_set for layer, n in depends_on])

    return evaluate, reference, calls


def result_with_scores(scores: torch.Tensor) -> snl.PredictivityResult:
    """A result whose predictivity is ``scores`` ([layer, neuron], values in [0.5, 1])."""
    accuracy = scores[None, None, None].double()
    return snl.PredictivityResult(
        accuracy=accuracy,
        baseline=torch.zeros_like(accuracy),
        n_train=torch.ones(1, 1, dtype=torch.long),
        n_dev=torch.ones(1, 1, dtype=torch.long),
        layers=tuple(range(scores.shape[0])),
        hook="blocks.{layer}.mlp.hook_post",
        slot_names=("pos 0",),
        subtask_names=("binary",),
    )


# Neuron n of every layer has predictivity 1 - n / 40: neuron 0 is the best skill neuron.
RESULT = result_with_scores(1.0 - torch.arange(WIDTH).double().repeat(N_LAYERS, 1) / 40)
# 30 examples: most depend on the top neurons, a few on random ones.
DEPENDS = [(i % 2, i % 3) for i in range(24)] + [(0, 7), (1, 11), (0, 15), (1, 19), (0, 4), (1, 9)]


@pytest.fixture(scope="module")
def fake():
    return FakeNeurons()


@pytest.fixture(scope="module")
def curve(fake):
    evaluate, _, _ = make_task(fake, DEPENDS)
    return perturbation_curve(
        fake, evaluate, RESULT, fractions=(0.05, 0.1, 0.2), mode="zero", draws=3, seed=0, progress=False
    )


def test_curve_matches_a_hand_computed_reference(fake, curve):
    evaluate, reference, calls = make_task(fake, DEPENDS)
    again = perturbation_curve(
        fake, evaluate, RESULT, fractions=(0.05, 0.1, 0.2), mode="zero", draws=3, seed=0, progress=False
    )
    assert len(calls) == 1 + 3 * (2 + 3)  # one evaluation per condition, nothing more
    assert curve.clean_accuracy == 1.0
    for i, fraction in enumerate((0.05, 0.1, 0.2)):
        skill = snl.NeuronSet.top(RESULT, fraction=fraction)
        bottom = snl.NeuronSet.top(RESULT, fraction=fraction, lowest=True)
        randoms = skill.random_controls(3, seed=0)
        assert float(curve.skill[i]) == pytest.approx(reference(skill).double().mean().item())
        assert float(curve.bottom[i]) == pytest.approx(reference(bottom).double().mean().item())
        random_correct = torch.stack([reference(r) for r in randoms]).double()
        assert torch.allclose(curve.random[:, i], random_correct.mean(dim=1))
        d = random_correct.mean(dim=0) - reference(skill).double()
        statistic, p_value, _ = sign_flip_test(d, n_permutations=10000, seed=i)
        assert float(curve.statistic[i]) == pytest.approx(statistic)
        assert float(curve.p_values[i]) == pytest.approx(p_value)
    assert float(curve.skill[-1]) == pytest.approx(6 / 30)  # neurons 0..3 of each layer perturbed
    assert bool((curve.skill <= curve.random.mean(dim=0)).all())
    assert float(curve.p_values[-1]) < 0.01
    assert torch.equal(again.skill, curve.skill) and torch.equal(again.p_values, curve.p_values)
    assert torch.equal(again.skill_ci, curve.skill_ci)


def test_intervals_contain_the_means(curve):
    for values, ci in (
        (curve.skill, curve.skill_ci),
        (curve.random.mean(dim=0), curve.random_ci),
        (curve.bottom, curve.bottom_ci),
    ):
        assert bool((ci[:, 0] <= values + 1e-12).all()) and bool((values <= ci[:, 1] + 1e-12).all())
        assert bool((ci[:, 0] <= ci[:, 1]).all())


def test_attributes_and_table(curve):
    assert curve.fractions == (0.05, 0.1, 0.2) and curve.mode == "zero"
    assert curve.random.shape == (3, 3) and curve.skill_ci.shape == (3, 2)
    assert curve.config["set_sizes"] == [2, 4, 8]
    rows = curve.table()
    assert len(rows) == 3 and rows[2]["neurons"] == 8
    assert rows[2]["skill"] == pytest.approx(0.2) and rows[2]["p_value"] == float(curve.p_values[2])


def test_draw_p_values_rank_the_skill_accuracy_among_the_random_draws():
    fractions = (0.05, 0.1, 0.2)
    curve = PerturbationCurve(
        fractions=fractions,
        clean_accuracy=0.9,
        skill=torch.tensor([0.80, 0.70, 0.60], dtype=torch.float64),
        random=torch.tensor(
            [[0.85, 0.69, 0.70], [0.82, 0.75, 0.60], [0.79, 0.76, 0.71], [0.90, 0.80, 0.72]],
            dtype=torch.float64,
        ),
        bottom=torch.full((3,), 0.9, dtype=torch.float64),
        skill_ci=torch.zeros(3, 2, dtype=torch.float64),
        random_ci=torch.zeros(3, 2, dtype=torch.float64),
        bottom_ci=torch.zeros(3, 2, dtype=torch.float64),
        p_values=torch.ones(3, dtype=torch.float64),
        statistic=torch.zeros(3, dtype=torch.float64),
        mode="zero",
    )
    # fraction 0.05: one draw (0.79) is at most 0.80 -> (1 + 1) / 5; fraction 0.1: one (0.69) -> 2 / 5;
    # fraction 0.2: the tie at 0.60 counts against the hypothesis -> (1 + 1) / 5; all above -> 1 / 5.
    assert curve.draw_p_values.tolist() == pytest.approx([2 / 5, 2 / 5, 2 / 5])
    below_every_draw = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64)
    lower = PerturbationCurve(**{**curve.__dict__, "skill": below_every_draw})
    assert lower.draw_p_values.tolist() == pytest.approx([1 / 5] * 3)  # the smallest possible with 4 draws
    assert [row["draw_p_value"] for row in lower.table()] == pytest.approx([0.2] * 3)
    again = PerturbationCurve.from_dict(json.loads(json.dumps(lower.to_dict())))
    assert torch.equal(again.draw_p_values, lower.draw_p_values)  # derived, so it survives a round trip


def test_a_fraction_that_selects_no_neuron_is_refused_before_any_evaluation(fake):
    evaluate, _, calls = make_task(fake, DEPENDS)
    with pytest.raises(snl.SkillNeuronError, match=r"0.01 selects no neuron of 20 .*is 0.05"):
        perturbation_curve(fake, evaluate, RESULT, fractions=(0.01, 0.1), mode="zero", progress=False)
    assert calls == []  # floor(0.01 * 20) = 0: refused up front, no p = 1 row
    curve = perturbation_curve(
        fake, evaluate, RESULT, fractions=(0.05,), mode="zero", draws=2, progress=False
    )
    assert curve.config["set_sizes"] == [RESULT.n_layers]  # floor(0.05 * 20) = 1 neuron per layer
    assert len(calls) == 1 + 2 + 2


def test_mean_mode_defaults_to_the_result_baseline(fake):
    evaluate, _, _ = make_task(fake, DEPENDS)
    by_mean = perturbation_curve(
        fake, evaluate, RESULT, fractions=(0.1,), mode="mean", draws=2, progress=False
    )
    by_zero = perturbation_curve(
        fake, evaluate, RESULT, fractions=(0.1,), mode="zero", draws=2, progress=False
    )
    assert torch.equal(by_mean.skill, by_zero.skill) and torch.equal(by_mean.random, by_zero.random)
    assert by_mean.config["mean_source"].startswith("result.baseline")


def test_gaussian_curve_is_seeded(fake):
    evaluate, _, _ = make_task(fake, DEPENDS)

    def run(seed):
        return perturbation_curve(
            fake, evaluate, RESULT, fractions=(0.1,), draws=2, std=0.5, seed=seed, progress=False
        )

    first, again = run(0), run(0)
    assert first.to_dict() == again.to_dict()
    assert first.config["mode_options"] == {"std": 0.5}


def test_save_load_roundtrip_and_refusal_to_overwrite(curve, tmp_path):
    path = tmp_path / "curve.json"
    curve.save(path)
    loaded = PerturbationCurve.load(path)
    assert loaded.fractions == curve.fractions and loaded.mode == curve.mode
    for name in ("skill", "random", "bottom", "skill_ci", "random_ci", "bottom_ci", "p_values", "statistic"):
        assert torch.equal(getattr(loaded, name), getattr(curve, name).double()), name
    assert loaded.config == json.loads(json.dumps(curve.config))
    assert PerturbationCurve.from_dict(curve.to_dict()).to_dict() == curve.to_dict()
    before = path.read_text()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        curve.save(path)
    assert path.read_text() == before
    curve.save(path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["curve.json"]  # no temporary file left


def test_loading_a_damaged_or_foreign_file(curve, tmp_path):
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps(curve.to_dict())[:-20])
    with pytest.raises(snl.ResultFileError, match="damaged"):
        PerturbationCurve.load(damaged)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"kind": "predictivity"}))
    with pytest.raises(snl.ResultFileError, match="not a 'perturbation_curve'"):
        PerturbationCurve.load(foreign)
    broken = curve.to_dict()
    broken["skill"] = broken["skill"][:1]
    foreign.write_text(json.dumps(broken))
    with pytest.raises(snl.ResultFileError, match=r"skill has shape \(1,\)"):
        PerturbationCurve.load(foreign)
    with pytest.raises(snl.ResultFileError, match="does not exist"):
        PerturbationCurve.load(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fractions": ()}, "fractions is empty"),
        ({"fractions": (0.1, 1.5)}, r"fractions must lie in \(0, 1\]"),
        ({"draws": 0}, "draws must be"),
        ({"mode": "noise"}, "Unknown perturbation mode"),
        ({"mode": "zero", "std": 0.1}, "does not use std="),
        ({"confidence": 1.0}, "confidence must be in"),
        ({"layers": [5]}, "does not cover"),
    ],
)
def test_bad_settings_fail_before_any_evaluation(fake, kwargs, message):
    evaluate, _, calls = make_task(fake, DEPENDS)
    with pytest.raises(snl.SkillNeuronError, match=message):
        perturbation_curve(fake, evaluate, RESULT, progress=False, **{"fractions": (0.05, 0.1), **kwargs})
    assert calls == []


def test_evaluator_must_return_per_example_correctness(fake):
    with pytest.raises(snl.SkillNeuronError, match="non-empty bool tensor"):
        perturbation_curve(fake, lambda: torch.tensor(0.5), RESULT, fractions=(0.05,), progress=False)
    with pytest.raises(snl.SkillNeuronError, match="bool \\(or 0/1\\)"):
        perturbation_curve(fake, lambda: torch.rand(5), RESULT, fractions=(0.05,), progress=False)
    sizes = iter([5, 4])
    with pytest.raises(snl.SkillNeuronError, match="same examples, in the same order"):
        perturbation_curve(
            fake, lambda: torch.ones(next(sizes), dtype=torch.bool), RESULT, fractions=(0.05,), progress=False
        )


def test_end_to_end_on_a_tiny_transformer():
    model = tiny_gpt2()
    adapter = ModelAdapter(model)
    texts = [f"w{i} w{i + 1} w{i + 2}" for i in range(3, 19)]
    batch = adapter.tokenize(texts)
    last = batch.attention_mask.sum(dim=1) - 1

    def predictions():
        with torch.no_grad():
            logits = adapter.forward(batch)
        return logits[torch.arange(len(texts)), last].argmax(dim=-1)

    labels = predictions()
    scores = 0.5 + torch.rand(3, 48, generator=torch.Generator().manual_seed(0)) / 2
    result = result_with_scores(scores)
    curve = perturbation_curve(
        model, lambda: predictions() == labels, result, fractions=(0.1, 0.5), draws=2, std=2.0, progress=False
    )
    assert curve.clean_accuracy == 1.0
    assert curve.random.shape == (2, 2) and bool((curve.skill < 1.0).any())
    assert bool(((curve.p_values > 0) & (curve.p_values <= 1)).all())
    assert sum(len(hp._forward_hooks) + len(hp.fwd_hooks) for hp in model.hook_dict.values()) == 0


def test_perturbation_table_example_prints_each_fraction_with_the_draw_range(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    curve = PerturbationCurve(
        fractions=(0.05, 0.2),
        clean_accuracy=0.9,
        skill=torch.tensor([0.80, 0.60], dtype=torch.float64),
        random=torch.tensor([[0.85, 0.70], [0.82, 0.62], [0.79, 0.74]], dtype=torch.float64),
        bottom=torch.tensor([0.88, 0.86], dtype=torch.float64),
        skill_ci=torch.zeros(2, 2, dtype=torch.float64),
        random_ci=torch.zeros(2, 2, dtype=torch.float64),
        bottom_ci=torch.zeros(2, 2, dtype=torch.float64),
        p_values=torch.tensor([0.3, 0.004], dtype=torch.float64),
        statistic=torch.zeros(2, dtype=torch.float64),
        mode="mean",
    )
    previous = os.umask(0o022)
    try:
        curve.save(tmp_path / "perturbation-mean.json")
    finally:
        os.umask(previous)
    assert (tmp_path / "perturbation-mean.json").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    script = Path(__file__).resolve().parents[2] / "examples" / "perturbation_table.py"
    completed = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "perturbation-mean.json")],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("| p | mean: skill | random | draws | bottom | p | draw p |")
    assert "| clean | 0.900 |" in lines[2]
    # 5%: draws 0.85, 0.82, 0.79 (mean 0.820), one at most 0.80 -> draw p (1 + 1) / 4 = 0.5.
    assert lines[3] == "| 5% | 0.800 | 0.820 | 0.790-0.850 | 0.880 | 0.3 | 0.5 |"
    # 20%: no draw at most 0.60 -> 1 / 4.
    assert lines[4] == "| 20% | 0.600 | 0.687 | 0.620-0.740 | 0.860 | 0.004 | 0.25 |"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    bad = subprocess.run(
        [sys.executable, str(script), str(broken)], capture_output=True, text=True, check=False, timeout=120
    )
    assert bad.returncode != 0 and "broken.json" in bad.stderr
