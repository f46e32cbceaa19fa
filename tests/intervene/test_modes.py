"""The perturbation modes table: every mode's function on hand-made tensors, and the option checks."""

from __future__ import annotations

from typing import get_args

import pytest
import torch

import skillneuron_lens as snl
from skillneuron_lens.intervene.modes import (
    DEFAULT_STD,
    MODE_TABLE,
    MODES,
    OPTIONS,
    HookContext,
    Mode,
    ModeSettings,
    check_options,
    options_for,
    prepare_mode,
)

# old[b, p, n] = 100 b + 10 p + n: every entry tells where it came from
B, P, N = torch.arange(3)[:, None, None], torch.arange(4)[None, :, None], torch.arange(2)[None, None, :]
OLD = (100 * B + 10 * P + N).float()
POOL = torch.tensor([[-1.0, -2.0], [-3.0, -4.0], [-5.0, -6.0]])


def context(number=0.0, values=None, per_position=False, seed=0) -> HookContext:
    return HookContext(number, values, per_position, torch.Generator().manual_seed(seed), "blocks.0.hook")


def same_rows_as(new: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """For each [b, p], the index of the candidate row equal to new[b, p] (-1 if none)."""
    equal = (new[:, :, None, :] == candidates[None, None]).all(dim=-1)  # [b, p, candidate]
    return torch.where(equal.any(dim=-1), equal.float().argmax(dim=-1), torch.tensor(-1))


def expect_zero(new, old):
    assert torch.equal(new, torch.zeros(3, 4, 2))


def expect_mean(new, old):
    assert torch.equal(new, torch.tensor([7.0, -8.0]).expand(3, 4, 2))


def expect_gaussian(new, old):
    # std 0.5, one draw per example and neuron, broadcast over the 4 positions (seed 0, drawn by hand)
    noise = torch.randn((3, 1, 2), generator=torch.Generator().manual_seed(0)) * 0.5
    torch.testing.assert_close(new, old + noise, rtol=0, atol=0)
    assert bool((new - old != 0).all())


def expect_resample(new, old):
    # within the batch: example b takes the whole [pos, neuron] block of one other example
    sources = [int(new[b, 0, 0]) // 100 for b in range(3)]
    assert sorted(sources) == [0, 1, 2] and all(source != b for b, source in enumerate(sources))
    for b, source in enumerate(sources):
        assert torch.equal(new[b], old[source])


def expect_scale(new, old):
    assert torch.equal(new, old * 2.5)


def expect_clamp(new, old):
    assert torch.equal(new, torch.full((3, 4, 2), 3.0))


CASES = {
    "zero": (context(), expect_zero),
    "mean": (context(values=torch.tensor([7.0, -8.0])), expect_mean),
    "gaussian": (context(number=0.5), expect_gaussian),
    "resample": (context(), expect_resample),
    "scale": (context(number=2.5), expect_scale),
    "clamp": (context(values=torch.tensor([3.0, 3.0])), expect_clamp),
}


def test_the_table_lists_every_mode_once_and_only_known_options():
    assert MODES == tuple(get_args(Mode)) == tuple(MODE_TABLE)
    assert set(CASES) == set(MODES)  # a new mode needs a case below
    for name, row in MODE_TABLE.items():
        assert row.name == name and row.help
        assert set(row.options) <= set(OPTIONS)
    assert {name for row in MODE_TABLE.values() for name in row.options} == set(OPTIONS)  # none unread


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_function_on_a_hand_made_tensor(mode):
    hook_context, expect = CASES[mode]
    old = OLD.clone()
    new = MODE_TABLE[mode].new_values(old, hook_context)
    assert new.shape == old.shape
    assert torch.equal(old, OLD)  # the input is never changed in place
    expect(new, old)


def test_gaussian_per_position_draws_at_every_position_and_std_zero_changes_nothing():
    new = MODE_TABLE["gaussian"].new_values(OLD, context(number=1.0, per_position=True, seed=4))
    noise = torch.randn((3, 4, 2), generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(new, OLD + noise, rtol=0, atol=0)
    assert torch.equal(MODE_TABLE["gaussian"].new_values(OLD, context(number=0.0)), OLD)


def test_pooled_resampling_takes_one_pool_row_per_example_or_per_position():
    new = MODE_TABLE["resample"].new_values(OLD, context(values=POOL, seed=1))
    rows = same_rows_as(new, POOL)
    assert bool((rows >= 0).all())  # every value is a pool row
    assert bool((rows == rows[:, :1]).all())  # one row per example, broadcast over positions
    draws = torch.randint(3, (3, 1), generator=torch.Generator().manual_seed(1))
    assert torch.equal(rows, draws.expand(3, 4))
    per_position = MODE_TABLE["resample"].new_values(OLD, context(values=POOL, per_position=True, seed=1))
    expected = torch.randint(3, (3, 4), generator=torch.Generator().manual_seed(1))
    assert torch.equal(same_rows_as(per_position, POOL), expected)


def test_resampling_within_a_batch_of_one_is_refused():
    with pytest.raises(snl.SkillNeuronError, match=r"batch at blocks.0.hook holds one example.*pool="):
        MODE_TABLE["resample"].new_values(OLD[:1], context())


def test_fixed_values_without_values_is_refused():
    with pytest.raises(snl.SkillNeuronError, match="needs context.values"):
        MODE_TABLE["mean"].new_values(OLD, context())


def neuron_set() -> snl.NeuronSet:
    return snl.NeuronSet.from_list([(0, 1), (1, 0), (1, 2)], layers=(0, 1), n_neurons=3)


def test_prepare_turns_options_into_settings_and_narrows_them_to_one_hook():
    chosen = neuron_set()
    _, gaussian = prepare_mode("gaussian", {"std": None, "per_position": True}, chosen)
    assert gaussian == ModeSettings(number=DEFAULT_STD, per_position=True)
    _, scale = prepare_mode("scale", {"factor": 2}, chosen)
    assert scale.number == 2.0 and scale.values is None
    _, clamp = prepare_mode("clamp", {"value": 1.5}, chosen)
    assert clamp.values is not None and torch.equal(clamp.values, torch.full((2, 3), 1.5))
    mean = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    _, by_mean = prepare_mode("mean", {"mean": mean}, chosen)
    assert by_mean.values is not None and by_mean.values.dtype == torch.float32
    hook = by_mean.at_hook(1, torch.tensor([0, 2]), torch.Generator(), "h")
    assert hook.values is not None and hook.values.tolist() == [3.0, 5.0]  # row 1, neurons 0 and 2
    pool = torch.arange(12.0).reshape(2, 2, 3)
    _, pooled = prepare_mode("resample", {"pool": pool, "per_position": False}, chosen)
    hook = pooled.at_hook(0, torch.tensor([1]), torch.Generator(), "h")
    assert hook.values is not None and hook.values.tolist() == [[1.0], [7.0]]  # [sample, chosen]
    assert hook.per_position is False and hook.hook_name == "h"


@pytest.mark.parametrize(
    ("mode", "options", "message"),
    [
        ("noise", {}, r"Unknown perturbation mode 'noise'. Use one of \['zero', 'mean'"),
        ("zero", {"colour": 1}, r"Unknown perturbation option\(s\) colour=; the options are std, mean"),
        ("zero", {"std": 0.2}, r"mode='zero' does not use std=; it takes no options"),
        ("scale", {"value": 1, "std": 2}, r"does not use std=, value=; it takes factor\. Remove"),
        ("gaussian", {"pool": POOL}, r"does not use pool=; it takes per_position, std"),
    ],
)
def test_check_options_refuses_unknown_and_unused_options(mode, options, message):
    with pytest.raises(snl.SkillNeuronError, match=message):
        check_options(mode, options)


def test_none_and_a_false_flag_count_as_not_given():
    assert check_options("zero", {"std": None, "mean": None, "per_position": False}) is MODE_TABLE["zero"]
    with pytest.raises(snl.SkillNeuronError, match="does not use per_position="):
        check_options("zero", {"per_position": True})


def test_options_for_picks_what_the_mode_reads():
    flags = {"std": 0.2, "factor": 0.0, "value": 1.0}
    assert options_for("gaussian", flags) == {"std": 0.2}
    assert options_for("scale", flags) == {"factor": 0.0}
    assert options_for("clamp", flags) == {"value": 1.0}
    assert options_for("zero", flags) == {} and options_for("resample", flags) == {}
    assert [name for name, option in OPTIONS.items() if option.number] == ["std", "value", "factor"]
    with pytest.raises(snl.SkillNeuronError, match="Unknown perturbation mode"):
        options_for("noise", flags)
