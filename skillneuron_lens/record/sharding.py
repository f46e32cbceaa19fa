"""Sharing passes among ``torch.distributed`` processes: which batches are this process's, and merging.

Every pass that several processes share is cut into the batches one process would run, and process
``rank`` takes batches ``rank``, ``rank + world_size``, ... (whole batches, so each forward pass sees
the batch and the padding of the one-process run, and gives bit for bit the same activations). What the
processes computed is then merged: accumulators by :meth:`all_reduce`, per-example results (such as
predictions) by :func:`merge_shards`.
"""

from __future__ import annotations

import torch
from jaxtyping import Int

from skillneuron_lens.errors import SkillNeuronError

__all__ = ["merge_shards", "owns_batch", "process_rank"]


def process_rank() -> tuple[int, int]:
    """This process's rank and the world size of the initialised ``torch.distributed`` group.

    Returns:
        ``(rank, world_size)``; ``(0, 1)`` when no process group is initialised.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def owns_batch(batch_index: int) -> bool:
    """Whether this process runs batch ``batch_index`` (counted from 0) of a shared pass.

    Outside a process group every batch is this process's.
    """
    rank, world_size = process_rank()
    return batch_index % world_size == rank


def merge_shards(rows: Int[torch.Tensor, " example"]) -> Int[torch.Tensor, " example"]:
    """Per-example integer results of a shared pass, merged: each row from the process that ran it.

    Args:
        rows: This process's results, ``-1`` on the rows of batches it did not run (results are ``>= 0``).

    Returns:
        The results of all processes, every row filled (``rows`` itself outside a process group).

    Raises:
        SkillNeuronError: If a row is left unfilled by every process, or filled by several (the processes
            did not agree on the batches).
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return rows
    merged = rows.clamp(min=-1).to(torch.int64) + 1  # 0 marks a row this process did not run
    fillers = (merged > 0).to(torch.int64)
    dist.all_reduce(merged, op=dist.ReduceOp.SUM)
    dist.all_reduce(fillers, op=dist.ReduceOp.SUM)
    if not bool((fillers == 1).all()):
        raise SkillNeuronError(
            "The processes did not share the batches of a pass out once each: every process must run the "
            "same examples, in the same order and batch size (start them with the same command)."
        )
    return (merged - 1).to(rows.dtype)
