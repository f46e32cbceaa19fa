"""One perturbation-curve class, one reader: files written by the two old classes still load.

The fixtures were written before the merge: ``perturbation_curve_v1.json`` by the old
``PerturbationCurve.save``, ``report_layout.json`` in a layout that only the old ``report.CurveData``
reader accepted (named curves, a one-row ``random``, missing and ``null`` entries, ``task`` as the name).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.analysis.curves import PerturbationCurve, load_perturbation
from skillneuron_lens.plot.perturbation import perturbation_curves
from skillneuron_lens.report import load_perturbation as report_load_perturbation

FIXTURES = Path(__file__).parents[1] / "fixtures" / "curves"
SAVED = FIXTURES / "perturbation_curve_v1.json"
LAYOUT = FIXTURES / "report_layout.json"


def as_lists(curve: PerturbationCurve, name: str):
    value = getattr(curve, name)
    return None if value is None else value.tolist()


def test_a_curve_saved_by_the_old_class_loads_with_every_value():
    curve = PerturbationCurve.load(SAVED)
    assert curve.fractions == (0.05, 0.1) and curve.clean_accuracy == 0.875
    assert curve.mode == "gaussian" and curve.name == ""
    assert as_lists(curve, "skill") == [0.75, 0.5]
    assert as_lists(curve, "random") == [[0.875, 0.75], [0.75, 0.875], [0.875, 0.875]]
    assert as_lists(curve, "bottom") == [0.875, 0.875]
    assert as_lists(curve, "skill_ci") == [[0.5, 1.0], [0.25, 0.75]]
    assert as_lists(curve, "p_values") == [0.25, 0.03125]
    assert curve.config["set_sizes"] == [2, 4] and curve.config["mode_options"] == {"std": 0.1}
    # derived: draws at most 0.75 at p=0.05 (one) and at most 0.5 at p=0.1 (none), of 3 draws
    assert curve.draw_p_values.tolist() == [2 / 4, 1 / 4]


def test_saving_a_loaded_curve_again_writes_the_same_bytes(tmp_path):
    PerturbationCurve.load(SAVED).save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == SAVED.read_bytes()


def test_the_one_reader_gives_the_same_curve_for_a_saved_file():
    (listed,) = load_perturbation(SAVED)
    assert report_load_perturbation is load_perturbation  # the report's name is the same function
    assert listed.to_dict() == PerturbationCurve.load(SAVED).to_dict()
    assert isinstance(listed, PerturbationCurve)


def test_a_layout_the_old_report_reader_accepted_still_loads():
    sst2, imdb = load_perturbation(LAYOUT)
    assert (sst2.name, imdb.name) == ("sst2", "imdb-task")  # the key, or the curve's own task entry
    assert sst2.mode == "zero" and imdb.mode == ""
    assert sst2.fractions == imdb.fractions == (0.01, 0.02)
    assert as_lists(sst2, "random") == [[0.88, 0.86]]  # one row [fraction] read as one draw
    assert as_lists(imdb, "random") == [[0.79, 0.78], [0.8, 0.77]]
    for name in ("bottom", "skill_ci", "random_ci", "bottom_ci", "p_values", "statistic"):
        assert getattr(sst2, name) is None, name
    assert as_lists(imdb, "bottom") == [0.8, 0.8] and as_lists(imdb, "p_values") == [0.5, 0.01]
    assert imdb.random_ci is None and imdb.bottom_ci is None and imdb.statistic is None
    assert imdb.draw_p_values.tolist() == [1 / 3, 1 / 3]  # no draw at or below 0.7 or 0.5, of 2 draws


def test_a_partial_curve_prints_draws_and_round_trips():
    sst2, imdb = load_perturbation(LAYOUT)
    row = sst2.table()[1]
    assert row["skill"] == 0.6 and row["random"] == 0.86 and row["draw_p_value"] == 0.5  # (1 + 0) / (1 + 1)
    assert row["bottom"] is None and row["skill_low"] is None and row["p_value"] is None
    assert imdb.table()[0]["skill_low"] == 0.6 and imdb.table()[0]["random_low"] is None
    again = PerturbationCurve.from_dict(json.loads(json.dumps(imdb.to_dict())))
    assert again.to_dict() == imdb.to_dict() and again.name == "imdb-task"
    assert "name" not in PerturbationCurve.load(SAVED).to_dict()  # written only when set
    names = [trace.name for trace in perturbation_curves(sst2).data]
    assert "skill neurons" in names and "bottom neurons" not in names


def test_a_curve_needs_its_four_entries_and_the_right_shapes():
    entry = json.loads(LAYOUT.read_text())["curves"]["imdb"]
    with pytest.raises(snl.SkillNeuronError, match="missing skill, random"):
        PerturbationCurve.from_dict({key: entry[key] for key in ("fractions", "clean_accuracy")})
    with pytest.raises(snl.SkillNeuronError, match=r"bottom has shape \(3,\), expected \(2,\)"):
        PerturbationCurve.from_dict({**entry, "bottom": [0.1, 0.2, 0.3]})
    with pytest.raises(snl.SkillNeuronError, match="not a perturbation curve"):
        PerturbationCurve.from_dict({**entry, "kind": "cross_task_matrix"})
    with pytest.raises(snl.SkillNeuronError, match="must be a JSON object"):
        PerturbationCurve.from_dict([entry])  # type: ignore[arg-type]
    with pytest.raises(snl.SkillNeuronError, match=r"random has shape \(2, 3\), expected \[draw, 2\]"):
        PerturbationCurve((0.1, 0.2), 1.0, skill=torch.ones(2), random=torch.ones(2, 3))
