"""PredictivityResult.mean_baselines: the one constant per neuron taken from a result's baselines."""

from __future__ import annotations

import pytest
import torch

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.predictivity.result import PredictivityResult


@pytest.fixture(scope="module")
def result() -> PredictivityResult:
    generator = torch.Generator().manual_seed(0)
    # run, subtask, slot, layer, neuron
    baseline = torch.randn(2, 2, 3, 4, 5, generator=generator, dtype=torch.float64)
    return PredictivityResult(
        accuracy=torch.full_like(baseline, 0.5),
        baseline=baseline,
        n_train=torch.ones(2, 2, dtype=torch.long),
        n_dev=torch.ones(2, 2, dtype=torch.long),
        layers=(0, 1, 2, 3),
        hook="blocks.{layer}.mlp.hook_post",
        slot_names=("a", "b", "c"),
        subtask_names=("pn", "neu"),
    )


def test_one_subtask_averages_its_runs_and_slots(result):
    for subtask in (0, 1):
        manual = sum(result.baseline[run, subtask, slot] for run in range(2) for slot in range(3)) / 6
        chosen = result.mean_baselines(subtask=subtask)
        assert chosen.shape == (4, 5) and chosen.dtype == torch.float64
        torch.testing.assert_close(chosen, manual, rtol=0, atol=1e-12)


def test_default_averages_subtasks_too(result):
    cells = [result.baseline[r, s, k] for r in range(2) for s in range(2) for k in range(3)]
    torch.testing.assert_close(result.mean_baselines(), sum(cells) / 12, rtol=0, atol=1e-12)
    both = (result.mean_baselines(subtask=0) + result.mean_baselines(subtask=1)) / 2
    torch.testing.assert_close(result.mean_baselines(), both, rtol=0, atol=1e-12)


def test_out_of_range_subtask_names_the_subtasks(result):
    names = r"subtask=2 is out of range: the result has subtasks \['pn', 'neu'\]"
    with pytest.raises(SkillNeuronError, match=names):
        result.mean_baselines(subtask=2)
    with pytest.raises(SkillNeuronError, match="subtask=-1 is out of range"):
        result.mean_baselines(subtask=-1)
