"""Task comparison: Spearman with ties, skill-set overlap vs chance, activated overlap, compare_runs."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.analysis.compare import (
    TaskComparison,
    activated_overlap,
    compare_runs,
    hypergeometric_pmf,
    skill_overlap,
)
from skillneuron_lens.errors import ResultFileError
from skillneuron_lens.stats.correlation import rankdata, spearman, spearman_per_layer
from tests.helpers.results import HOOK, make_result
from tests.helpers.tiny_models import tiny_gpt2, toy_texts


# ---- Spearman: brute-force references ---------------------------------------------------------
def brute_ranks(values):
    return [
        1 + sum(other < value for other in values) + (sum(other == value for other in values) - 1) / 2
        for value in values
    ]


def brute_pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def test_rankdata_averages_ties_like_the_brute_force():
    rng = random.Random(0)
    values = [float(rng.randint(0, 6)) for _ in range(40)]
    assert rankdata(torch.tensor(values)).tolist() == brute_ranks(values)
    assert rankdata(torch.tensor([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_spearman_hand_value_and_brute_force():
    # ranks of b: 1, 2, 3.5, 5, 3.5 -> r = 8 / sqrt(10 * 9.5)
    assert spearman(torch.tensor([1.0, 2, 3, 4, 5]), torch.tensor([5.0, 6, 7, 8, 7])) == pytest.approx(
        8 / math.sqrt(95), abs=1e-12
    )
    rng = random.Random(1)
    x = [round(rng.random(), 1) for _ in range(60)]
    y = [round(v + rng.gauss(0, 0.3), 1) for v in x]
    expected = brute_pearson(brute_ranks(x), brute_ranks(y))
    assert spearman(torch.tensor(x), torch.tensor(y)) == pytest.approx(expected, abs=1e-12)


def test_spearman_matches_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    generator = torch.Generator().manual_seed(2)
    x = torch.randint(0, 9, (3, 50), generator=generator).double()
    y = x + torch.randint(0, 5, (3, 50), generator=generator)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x.flatten(), y.flatten())[0], abs=1e-12)


def test_spearman_edge_cases_and_per_layer():
    x = torch.tensor([[0.5, 0.7, 0.6], [0.9, 0.55, 0.8]])
    assert spearman(x, x.exp()) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, torch.ones_like(x)))
    y = torch.tensor([[0.6, 0.7, 0.5], [0.9, 0.8, 0.55]])
    per_layer = spearman_per_layer(make_result(x), make_result(y))
    assert per_layer.tolist() == pytest.approx([spearman(x[0], y[0]), spearman(x[1], y[1])])
    assert spearman(make_result(x), make_result(y)) == pytest.approx(spearman(x, y))
    with pytest.raises(snl.SkillNeuronError, match="shape"):
        spearman(x, y[:, :2])
    with pytest.raises(snl.SkillNeuronError, match="NaN"):
        spearman(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]))


# ---- skill-set overlap: exact null by enumeration ---------------------------------------------
def test_hypergeometric_pmf_matches_enumeration():
    fixed = {0, 1}
    counts = [0] * 3
    for subset in itertools.combinations(range(6), 3):
        counts[len(fixed & set(subset))] += 1
    expected = torch.tensor(counts, dtype=torch.float64) / sum(counts)
    assert torch.allclose(hypergeometric_pmf(6, 2, 3), expected, atol=1e-12)


def enumerate_null(mask_a, counts_b):
    """Every layer-matched set with ``counts_b`` per layer: the exact Jaccard null against ``mask_a``."""
    width = mask_a.shape[1]
    per_layer = [list(itertools.combinations(range(width), c)) for c in counts_b]
    values = []
    for choice in itertools.product(*per_layer):
        mask_b = torch.zeros_like(mask_a)
        for row, members in enumerate(choice):
            mask_b[row, list(members)] = True
        values.append(float((mask_a & mask_b).sum() / (mask_a | mask_b).sum()))
    return values


def test_skill_overlap_against_the_enumerated_null():
    mask_a = torch.tensor([[1, 1, 0, 0, 0], [0, 0, 1, 0, 0]], dtype=torch.bool)
    mask_b = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 1, 1, 0]], dtype=torch.bool)
    set_a, set_b = snl.NeuronSet(mask_a, (0, 1), HOOK), snl.NeuronSet(mask_b, (0, 1), HOOK)
    overlap = skill_overlap(set_a, set_b, n_draws=20_000, seed=3)
    observed = 2 / 5
    assert overlap.jaccard == pytest.approx(observed)
    assert overlap.per_layer.tolist() == pytest.approx([1 / 3, 1 / 2])
    null = enumerate_null(mask_a, [2, 2])
    exact_p = sum(v >= observed - 1e-12 for v in null) / len(null)
    assert overlap.p_value_exact == pytest.approx(exact_p, abs=1e-12)
    assert overlap.null_mean == pytest.approx(sum(null) / len(null), abs=0.005)
    assert overlap.p_value == pytest.approx(exact_p, abs=0.015)
    assert overlap.expected_intersection == pytest.approx(2 * 2 / 5 + 1 * 2 / 5)


def test_skill_overlap_is_seeded_and_checks_its_inputs():
    generator = torch.Generator().manual_seed(0)
    scores_a = 0.5 + 0.5 * torch.rand(3, 200, generator=generator)
    scores_b = 0.5 + 0.5 * torch.rand(3, 200, generator=generator)
    a, b = make_result(scores_a), make_result(scores_b)
    first = skill_overlap(a, b, 0.05, n_draws=300, seed=7)
    assert first.to_dict() == skill_overlap(a, b, 0.05, n_draws=300, seed=7).to_dict()
    assert skill_overlap(a, b, 0.05, n_draws=300, seed=8).null_mean != first.null_mean
    same = skill_overlap(a, a, 0.05, n_draws=300)
    assert same.jaccard == 1.0 and same.p_value == pytest.approx(1 / 301) and same.p_value_exact < 1e-12
    with pytest.raises(snl.SkillNeuronError, match="layers"):
        skill_overlap(a, make_result(scores_b, layers=(3, 4, 5)), 0.05)
    with pytest.raises(snl.SkillNeuronError, match="fraction="):
        skill_overlap(a, b, None)
    with pytest.raises(snl.SkillNeuronError, match="n_draws"):
        skill_overlap(a, b, 0.05, n_draws=0)


# ---- activated overlap ------------------------------------------------------------------------
def test_activated_overlap_from_baselines_and_tensors():
    base_a = torch.tensor([[0.2, -0.1, 0.3, 0.0], [1.0, 2.0, -3.0, 0.1]])
    base_b = torch.tensor([[0.1, 0.4, -0.3, 0.0], [1.0, -2.0, -3.0, 0.2]])
    # activated: a = {0, 2, 4, 5, 7}, b = {0, 1, 4, 7}: overlap 3 of union 6
    a, b = make_result(torch.full((2, 4), 0.6), base_a), make_result(torch.full((2, 4), 0.6), base_b)
    assert activated_overlap(a, b) == pytest.approx(0.5)
    assert activated_overlap(base_a, base_b) == pytest.approx(0.5)
    # above 0.15: a = {0, 2, 4, 5}, b = {1, 4, 7}
    assert activated_overlap(base_a, base_b, threshold=0.15) == pytest.approx(1 / 6)
    assert activated_overlap(-base_a.abs() - 1, -base_b.abs() - 1) == 1.0
    with pytest.raises(snl.SkillNeuronError, match="shape"):
        activated_overlap(base_a, base_b[:, :3])


# ---- compare_runs -----------------------------------------------------------------------------
def three_results():
    generator = torch.Generator().manual_seed(5)
    base = 0.5 + 0.4 * torch.rand(2, 100, generator=generator)
    similar = (base + 0.05 * torch.rand(2, 100, generator=generator)).clamp(max=1.0)
    other = 0.5 + 0.4 * torch.rand(2, 100, generator=generator)
    baselines = [torch.randn(2, 100, generator=generator) for _ in range(3)]
    return {
        "sst2": make_result(base, baselines[0]),
        "imdb": make_result(similar, baselines[1]),
        "agnews": make_result(other, baselines[2]),
    }


def test_compare_runs_matrices():
    results = three_results()
    comparison = compare_runs(results, fraction=0.1, n_draws=200)
    assert comparison.names == ("sst2", "imdb", "agnews")
    for name in ("spearman", "jaccard", "activated_jaccard", "jaccard_null_mean"):
        matrix = getattr(comparison, name)
        assert matrix.shape == (3, 3) and torch.allclose(matrix, matrix.T)
    assert torch.diagonal(comparison.spearman).tolist() == pytest.approx([1.0] * 3)
    assert torch.diagonal(comparison.jaccard).tolist() == [1.0] * 3
    assert torch.isnan(torch.diagonal(comparison.jaccard_p_value)).all()
    assert comparison.spearman[0, 1] == pytest.approx(spearman(results["sst2"], results["imdb"]))
    assert comparison.spearman[0, 1] > 0.8 > abs(float(comparison.spearman[0, 2]))
    assert comparison.jaccard[0, 1] > comparison.jaccard[0, 2]
    assert comparison.jaccard_p_value_exact[0, 1] < 0.01
    assert comparison.spearman_per_layer.shape == (3, 3, 2)
    assert comparison.spearman_per_layer[0, 2].tolist() == pytest.approx(
        spearman_per_layer(results["sst2"], results["agnews"]).tolist()
    )
    overlap = skill_overlap(results["imdb"], results["agnews"], 0.1, n_draws=200)
    assert comparison.jaccard_p_value[1, 2] == pytest.approx(overlap.p_value)
    assert comparison.activated_jaccard[0, 2] == pytest.approx(
        activated_overlap(results["sst2"], results["agnews"])
    )
    assert comparison.matrix("spearman")["imdb"]["sst2"] == pytest.approx(float(comparison.spearman[0, 1]))


def test_compare_save_load_roundtrip(tmp_path):
    comparison = compare_runs(three_results(), fraction=0.1, n_draws=50)
    comparison.save(tmp_path / "cmp")
    written = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert written["names"] == ["sst2", "imdb", "agnews"]
    assert written["jaccard_p_value"][0][0] is None  # NaN is stored as null
    assert written["spearman"][0][1] == pytest.approx(float(comparison.spearman[0, 1]))
    loaded = TaskComparison.load(tmp_path / "cmp")
    assert loaded.names == comparison.names and loaded.fraction == 0.1
    assert torch.allclose(loaded.spearman_per_layer, comparison.spearman_per_layer, equal_nan=True)
    with pytest.raises(FileExistsError):
        comparison.save(tmp_path / "cmp")
    comparison.save(tmp_path / "cmp", overwrite=True)
    (tmp_path / "cmp" / "compare.safetensors").write_bytes(b"broken")
    with pytest.raises(ResultFileError, match="damaged"):
        TaskComparison.load(tmp_path / "cmp")


def test_compare_runs_refuses_mismatched_results():
    results = three_results()
    scores = torch.full((2, 100), 0.6)
    with pytest.raises(snl.SkillNeuronError, match="layers"):
        compare_runs({"a": results["sst2"], "b": make_result(scores, layers=(4, 5))})
    with pytest.raises(snl.SkillNeuronError, match="hook"):
        compare_runs({"a": results["sst2"], "b": make_result(scores, hook="blocks.{layer}.mlp.hook_pre")})
    with pytest.raises(snl.SkillNeuronError, match="width"):
        compare_runs({"a": results["sst2"], "b": make_result(torch.full((2, 50), 0.6))})
    other_model = make_result(scores, fingerprint={"weights_sha256": "def"})
    with pytest.raises(snl.SkillNeuronError, match="different models"):
        compare_runs({"a": results["sst2"], "b": other_model})
    assert compare_runs({"a": results["sst2"], "b": other_model}, n_draws=10, allow_different_models=True)
    with pytest.raises(snl.SkillNeuronError, match="at least two"):
        compare_runs({"a": results["sst2"]})


@pytest.mark.models
def test_compare_runs_on_a_tiny_model():
    model = tiny_gpt2()
    texts, labels = toy_texts(80, seed=0)
    flipped = [1 - label for label in labels]
    shuffled = random.Random(1).sample(labels, len(labels))
    common = dict(positions="mean", recording=snl.RecordingConfig(batch_size=16, progress=False))
    results = {
        name: snl.compute_predictivity(model, (texts[:50], y[:50]), (texts[50:], y[50:]), **common)
        for name, y in (("task", labels), ("flipped", flipped), ("shuffled", shuffled))
    }
    comparison = compare_runs(results, fraction=0.1, n_draws=100)
    # flipping labels keeps every neuron's predictivity (max(Acc, 1 - Acc)): identical rankings
    assert comparison.spearman[0, 1] == pytest.approx(1.0)
    assert comparison.spearman[0, 1] > comparison.spearman[0, 2]
    assert comparison.fingerprint == results["task"].fingerprint


def test_similarity_table_example_reports_the_closest_pair_per_comparison(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    results = three_results()
    compare_runs(results, fraction=0.1, n_draws=20).save(tmp_path / "seed0")
    swapped = {"sst2": results["sst2"], "imdb": results["agnews"], "agnews": results["imdb"]}
    compare_runs(swapped, fraction=0.1, n_draws=20).save(tmp_path / "seed1")  # "imdb" is now the far task
    script = Path(__file__).resolve().parents[2] / "examples" / "similarity_table.py"
    dirs = [str(tmp_path / "seed0"), str(tmp_path / "seed1")]
    completed = subprocess.run(
        [sys.executable, str(script), *dirs, "--pair", "sst2,imdb"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "spearman: imdb is sst2's most similar task in 1 of 2 (imdb, agnews)" in completed.stdout
    assert "jaccard: sst2 is imdb's most similar task in 1 of 2 (sst2, agnews)" in completed.stdout
    first = next(line for line in completed.stdout.splitlines() if line.startswith("sst2 - imdb"))
    expected = f"{float(compare_runs(results, fraction=0.1, n_draws=20).spearman[0, 1]):.3f}"
    assert expected in first
    bad = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "seed0"), "--pair", "sst2,mnli"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert bad.returncode != 0 and "--pair needs two of the task names" in bad.stderr
