"""The cross-task perturbation matrix: exact accuracies, kept correctness, paired tests, options."""

import json

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.analysis.specificity import CrossTaskMatrix, cross_task_matrix
from skillneuron_lens.stats.resampling import sign_flip_test
from skillneuron_lens.stats.significance import adjust_p_values
from tests.analysis.test_perturbation import WIDTH, FakeNeurons, make_task

TASKS = {"a": [(0, 1)] * 5 + [(1, 2)] * 5, "b": [(1, 6)] * 4 + [(0, 1)] * 1 + [(0, 9)] * 5}
SETS = {
    "a": snl.NeuronSet.from_list([(0, 1), (1, 2)], layers=(0, 1), n_neurons=WIDTH),
    "b": snl.NeuronSet.from_list([(1, 6), (0, 9)], layers=(0, 1), n_neurons=WIDTH),
    "random 1": snl.NeuronSet.from_list([(0, 3), (1, 4)], layers=(0, 1), n_neurons=WIDTH),
    "random 2": snl.NeuronSet.from_list([(0, 9), (1, 5)], layers=(0, 1), n_neurons=WIDTH),
}


@pytest.fixture(scope="module")
def fake():
    return FakeNeurons()


@pytest.fixture(scope="module")
def tasks(fake):
    return {name: make_task(fake, depends) for name, depends in TASKS.items()}


@pytest.fixture(scope="module")
def matrix(fake, tasks):
    evaluators = {name: evaluate for name, (evaluate, _, _) in tasks.items()}
    return cross_task_matrix(
        fake, SETS, evaluators, mode="zero", controls=("random 1", "random 2"), progress=False
    )


def test_accuracies_and_correctness_match_a_hand_computed_reference(matrix, tasks):
    for j, (_, reference, _) in enumerate(tasks.values()):
        expected = torch.stack([reference(neurons) for neurons in SETS.values()])
        assert torch.equal(matrix.correct[j], expected)
        assert torch.equal(matrix.clean_correct[j], torch.ones(len(expected[0]), dtype=torch.bool))
        assert torch.equal(matrix.accuracy[:, j], expected.double().mean(dim=1))
    assert torch.equal(matrix.clean_accuracy, torch.ones(2, dtype=torch.float64))
    drop = matrix.drop
    assert float(drop[0, 0]) > float(drop[0, 1]) and float(drop[1, 1]) > float(drop[1, 0])  # task-specific
    assert len(matrix.table()) == 8


def test_paired_test_and_specificity_use_the_sign_flip_test(matrix, tasks):
    _, reference, _ = tasks["b"]
    own = reference(SETS["b"]).double()
    randoms = torch.stack([reference(SETS["random 1"]), reference(SETS["random 2"])]).double().mean(dim=0)
    statistic, p_value, _ = sign_flip_test(randoms - own, n_permutations=10000, seed=0)
    assert matrix.paired_test("b", "b", ["random 1", "random 2"]) == pytest.approx((statistic, p_value))
    assert statistic == pytest.approx((1.0 + 0.5) / 2 - 0.1)  # own set breaks 9 of 10; randoms 0 and 5
    tests = {(t["task"], t["against"]): t for t in matrix.specificity()}
    assert set(tests) == {("a", "random"), ("a", "b"), ("b", "random"), ("b", "a")}
    assert tests[("b", "random")]["p_value"] == pytest.approx(p_value)
    assert tests[("a", "b")]["difference"] == pytest.approx(1.0 - 0.0)  # a: own set breaks all, b's none
    assert tests[("a", "b")]["p_value"] == pytest.approx(1 / 2**10)  # exact: all 10 differences positive


def test_save_and_load_keep_correctness_controls_and_tests(matrix, tmp_path):
    path = matrix.save(tmp_path / "m.json")
    payload = json.loads(path.read_text())
    assert payload["controls"] == ["random 1", "random 2"]
    assert len(payload["tests"]) == 4
    loaded = CrossTaskMatrix.load(path)
    assert loaded.perturbed_tasks == matrix.perturbed_tasks and loaded.controls == matrix.controls
    assert torch.equal(loaded.accuracy, matrix.accuracy)
    assert all(torch.equal(x, y) for x, y in zip(loaded.correct, matrix.correct, strict=True))
    assert loaded.specificity() == matrix.specificity()
    with pytest.raises(FileExistsError):
        matrix.save(path)


def test_a_matrix_without_correctness_loads_but_cannot_be_tested(matrix, tmp_path):
    payload = matrix.to_dict()
    for key in ("correct", "clean_correct", "tests", "controls"):
        payload.pop(key)
    (tmp_path / "old.json").write_text(json.dumps(payload))
    old = CrossTaskMatrix.load(tmp_path / "old.json")
    assert torch.equal(old.accuracy, matrix.accuracy) and old.correct == ()
    with pytest.raises(snl.SkillNeuronError, match="without per-example correctness"):
        old.paired_test("a", "a", ["b"])
    payload["correct"] = {"a": ["01x"], "b": ["1"]}
    payload["clean_correct"] = {"a": "1", "b": "1"}
    (tmp_path / "bad.json").write_text(json.dumps(payload))
    with pytest.raises(snl.ResultFileError, match="string of 0 and 1"):
        CrossTaskMatrix.load(tmp_path / "bad.json")


def test_target_options_apply_only_when_that_task_is_measured(fake, tasks):
    evaluators = {name: evaluate for name, (evaluate, _, _) in tasks.items()}
    ones, zeros = torch.ones(2, WIDTH), torch.zeros(2, WIDTH)
    # Every fake neuron is 1: replacing by a mean of 1 changes nothing, by 0 breaks the example.
    matrix = cross_task_matrix(
        fake,
        {"a": SETS["a"]},
        evaluators,
        mode="mean",
        progress=False,
        target_options={"a": {"mean": ones}, "b": {"mean": zeros}},
    )
    assert float(matrix.accuracy[0, 0]) == 1.0  # task a measured with mean 1: untouched
    assert float(matrix.accuracy[0, 1]) == pytest.approx(0.9)  # task b with mean 0: its (0, 1) example breaks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"controls": ("random 9",)}, r"controls \['random 9'\] are not among the neuron sets"),
        ({"target_options": {"c": {}}}, r"target_options names \['c'\]"),
        ({"mode": "zero", "std": 0.1}, "does not use std="),
    ],
)
def test_bad_settings_fail_before_any_evaluation(fake, kwargs, message):
    evaluate, _, calls = make_task(fake, TASKS["a"])
    options = {"mode": "gaussian", **kwargs}
    with pytest.raises(snl.SkillNeuronError, match=message):
        cross_task_matrix(fake, SETS, {"a": evaluate}, progress=False, **options)
    assert calls == []


def test_paired_test_names_unknown_rows_and_tasks(matrix):
    with pytest.raises(snl.SkillNeuronError, match="'c' is not a row"):
        matrix.paired_test("a", "c", ["b"])
    with pytest.raises(snl.SkillNeuronError, match="'c' is not an evaluated task"):
        matrix.paired_test("c", "a", ["b"])
    with pytest.raises(snl.SkillNeuronError, match="against is empty"):
        matrix.paired_test("a", "a", [])


def test_specificity_adjusts_its_p_values_together(matrix):
    tests = matrix.specificity()
    p_values = torch.tensor([t["p_value"] for t in tests], dtype=torch.float64)
    assert [t["p_holm"] for t in tests] == adjust_p_values(p_values, "holm").tolist()
    n = len(tests)  # Holm by hand: the smallest p-value times the number of tests, capped at 1
    smallest = min(range(n), key=lambda i: tests[i]["p_value"])
    assert tests[smallest]["p_holm"] == pytest.approx(min(1.0, n * tests[smallest]["p_value"]))


def test_loading_rejects_a_matrix_that_does_not_fit_its_names_or_its_correctness(matrix, tmp_path):
    transposed = matrix.to_dict()
    transposed["accuracy"] = matrix.accuracy.T.tolist()  # [2, 4] where [4, 2] is expected
    (tmp_path / "t.json").write_text(json.dumps(transposed))
    with pytest.raises(snl.ResultFileError, match=r"accuracy has shape \(2, 4\), expected \(4, 2\)"):
        CrossTaskMatrix.load(tmp_path / "t.json")
    tampered = matrix.to_dict()
    tampered["accuracy"][0][0] = 0.5
    (tmp_path / "a.json").write_text(json.dumps(tampered))
    with pytest.raises(snl.ResultFileError, match="does not match the per-example correctness"):
        CrossTaskMatrix.load(tmp_path / "a.json")
    tampered = matrix.to_dict()
    tampered["clean_accuracy"][1] = 0.5
    (tmp_path / "b.json").write_text(json.dumps(tampered))
    with pytest.raises(snl.ResultFileError, match="does not match the per-example correctness"):
        CrossTaskMatrix.load(tmp_path / "b.json")
    clashing = matrix.to_dict()
    clashing["controls"] = ["b"]
    (tmp_path / "c.json").write_text(json.dumps(clashing))
    with pytest.raises(snl.ResultFileError, match=r"controls \['b'\] are also evaluated tasks"):
        CrossTaskMatrix.load(tmp_path / "c.json")


@pytest.mark.parametrize(
    ("target_options", "message"),
    [
        ({"a": {"seed": 1}}, "without seed"),
        ({"a": [1]}, "must be a dict"),
        ({"a": {"colour": 1}}, "Bad mode options for task 'a'"),
    ],
)
def test_bad_target_options_are_named(fake, target_options, message):
    evaluate, _, calls = make_task(fake, TASKS["a"])
    with pytest.raises(snl.SkillNeuronError, match=message):
        cross_task_matrix(
            fake, SETS, {"a": evaluate}, mode="zero", target_options=target_options, progress=False
        )
    assert calls == []


def test_controls_cannot_be_evaluated_tasks(fake):
    evaluate, _, calls = make_task(fake, TASKS["a"])
    with pytest.raises(snl.SkillNeuronError, match="also evaluated tasks"):
        cross_task_matrix(fake, SETS, {"a": evaluate}, mode="zero", controls=("a",), progress=False)
    assert calls == []


def test_a_row_cannot_be_compared_with_itself(matrix):
    with pytest.raises(snl.SkillNeuronError, match="includes 'a' itself"):
        matrix.paired_test("a", "a", ["a", "b"])
