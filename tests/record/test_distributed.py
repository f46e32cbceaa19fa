"""Two torch.distributed processes, each taking half the examples, give the one-process answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import skillneuron_lens as snl  # noqa: E402
from tests.helpers.recording import QUIET
from tests.helpers.tiny_models import tiny_gpt2, toy_texts  # noqa: E402

pytestmark = pytest.mark.models


def _worker(rank: int, world: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        result = snl.compute_predictivity(
            tiny_gpt2(), toy_texts(40, 1), toy_texts(30, 2), positions="mean", distributed=True,
            recording=QUIET, test=toy_texts(26, 3), n_permutations=12,
        )
        result.save(Path(out) / f"rank{rank}")
    finally:
        dist.destroy_process_group()


def test_sharded_processes_match_one_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    alone = snl.compute_predictivity(
        tiny_gpt2(), toy_texts(40, 1), toy_texts(30, 2), positions="mean", recording=QUIET,
        test=toy_texts(26, 3), n_permutations=12,
    )
    for rank in range(2):
        shared = snl.PredictivityResult.load(tmp_path / f"rank{rank}")
        assert torch.equal(shared.accuracy, alone.accuracy)
        assert torch.equal(shared.n_train, alone.n_train) and torch.equal(shared.n_dev, alone.n_dev)
        # the evidence merges exactly too: counts, p-values, the permutation null, held-out scores
        for name in ("firing", "n_dev_positive", "near_baseline", "held_out_accuracy", "n_held_out",
                     "null_run_predictivity"):
            assert torch.equal(getattr(shared, name), getattr(alone, name)), name
        assert torch.equal(shared.p_value, alone.p_value)
        # Each rank batches other examples together, so float32 activations may differ in the last
        # bits (seen on HookedTransformer); the sums themselves merge exactly (test_recording).
        torch.testing.assert_close(shared.baseline, alone.baseline, rtol=1e-5, atol=1e-6)


def test_distributed_without_a_process_group_is_a_clear_error():
    with pytest.raises(snl.SkillNeuronError, match="torch.distributed to be initialised"):
        snl.compute_predictivity(
            tiny_gpt2(), toy_texts(10, 1), toy_texts(10, 2), distributed=True, recording=QUIET
        )
