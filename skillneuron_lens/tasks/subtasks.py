"""Binary subtasks: how a task's labels become the 0/1 targets the paper's metric needs.

The paper's predictivity is defined for binary labels. A task with more classes is split into
binary subtasks, each scored separately:

* ``"binary"`` — a 2-class task as it is (the default for 2 classes; not re-balanced, as the paper).
* ``"paper"`` — the paper's scheme for 3 classes: ``pn`` (class 0 vs class 2; class 1 left out) and
  ``neu`` (class 1 vs the rest); for 4 classes, as the reference code: ``pn`` = class 1 vs 3,
  ``neu`` = class 2 vs the rest. Each subtask is class-balanced by seeded down-sampling.
* ``"ovr"`` — one-vs-rest, one class-balanced subtask per class (the natural extension).

Targets are ``1`` (positive), ``0`` (negative) or ``-1`` (not part of the subtask).

Balancing keeps ``min(#pos, #neg)`` examples of each side, drawn at random with a seed. (The reference
code keeps the first ``min - 1`` of each side in dataset order, an off-by-one.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Int

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "SCHEMES",
    "Subtask",
    "subtasks_for",
    "describe_subtasks",
    "subtask_targets",
]

SCHEMES = ("binary", "paper", "ovr")


@dataclass(frozen=True)
class Subtask:
    """One binary subtask: which classes are positive and which are negative."""

    name: str
    positive: tuple[int, ...]
    negative: tuple[int, ...]


def subtasks_for(n_classes: int, scheme: str | None = None) -> list[Subtask]:
    """The binary subtasks of a task with ``n_classes`` classes under a scheme.

    Args:
        n_classes: Number of classes (at least 2).
        scheme: ``"binary"``, ``"paper"`` or ``"ovr"``; ``None`` picks ``"binary"`` for two
            classes, ``"paper"`` for three and ``"ovr"`` otherwise.

    Returns:
        The subtasks, in a fixed order (the paper's ``pn`` before ``neu``).

    Raises:
        SkillNeuronError: For fewer than two classes or a scheme that does not fit.
    """
    if n_classes < 2:
        raise SkillNeuronError(f"A task needs at least 2 classes, got {n_classes}.")
    if scheme is None:
        scheme = "binary" if n_classes == 2 else "paper" if n_classes == 3 else "ovr"
    if scheme == "binary":
        if n_classes != 2:
            raise SkillNeuronError(
                f"scheme='binary' needs 2 classes, the task has {n_classes}. Use 'paper' (3 or 4 "
                "classes) or 'ovr'."
            )
        return [Subtask("binary", positive=(1,), negative=(0,))]
    if scheme == "paper":
        if n_classes == 3:
            pn, neutral = (0, 2), 1
        elif n_classes == 4:
            pn, neutral = (1, 3), 2
        else:
            raise SkillNeuronError(
                f"The paper's scheme is defined for 3 or 4 classes, the task has {n_classes}. Use "
                "scheme='ovr' (one-vs-rest)."
            )
        rest = tuple(c for c in range(n_classes) if c != neutral)
        return [
            Subtask("pn", positive=(pn[1],), negative=(pn[0],)),
            Subtask("neu", positive=(neutral,), negative=rest),
        ]
    if scheme == "ovr":
        return [
            Subtask(
                f"class {c} vs rest",
                positive=(c,),
                negative=tuple(o for o in range(n_classes) if o != c),
            )
            for c in range(n_classes)
        ]
    raise SkillNeuronError(f"Unknown scheme {scheme!r}; use one of {list(SCHEMES)}.")


def describe_subtasks(label_names: Sequence[str], scheme: str | None = None) -> str:
    """The binary subtasks of a task in words, with its label names.

    Args:
        label_names: The task's label names; the index is the label id.
        scheme: As :func:`subtasks_for`.

    Returns:
        E.g. ``"pn = positive vs negative (neutral left out); neu = neutral vs negative+positive"``.
    """

    def named(classes: tuple[int, ...]) -> str:
        return "+".join(label_names[c] for c in classes)

    parts = []
    for subtask in subtasks_for(len(label_names), scheme):
        left_out = [label_names[c] for c in range(len(label_names))
                    if c not in subtask.positive + subtask.negative]
        out = f" ({', '.join(left_out)} left out)" if left_out else ""
        parts.append(f"{subtask.name} = {named(subtask.positive)} vs {named(subtask.negative)}{out}")
    return "; ".join(parts)


def _balance(target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    positives = (target == 1).nonzero().flatten()
    negatives = (target == 0).nonzero().flatten()
    keep = min(len(positives), len(negatives))
    balanced = torch.full_like(target, -1)
    for side, value in ((positives, 1), (negatives, 0)):
        chosen = side[torch.randperm(len(side), generator=generator)[:keep]]
        balanced[chosen] = value
    return balanced


def subtask_targets(
    labels: Sequence[int] | torch.Tensor,
    subtasks: Sequence[Subtask],
    *,
    balance: bool,
    seed: int = 0,
    split_name: str = "split",
    require_both_classes: bool = True,
) -> Int[torch.Tensor, "example subtask"]:
    """Binary targets of every example for every subtask.

    Args:
        labels: Integer class labels.
        subtasks: From :func:`subtasks_for`.
        balance: Down-sample each subtask's larger side to the smaller one.
        seed: Seed of the balancing draw.
        split_name: Used in error messages.
        require_both_classes: Raise when a subtask lacks one side in this split.

    Returns:
        ``1`` / ``0`` / ``-1`` per example and subtask.

    Raises:
        SkillNeuronError: If a subtask has only one class in this split.
    """
    label_tensor = torch.as_tensor(labels, dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed)
    columns = []
    for subtask in subtasks:
        target = torch.full_like(label_tensor, -1)
        target[torch.isin(label_tensor, torch.tensor(subtask.positive))] = 1
        target[torch.isin(label_tensor, torch.tensor(subtask.negative))] = 0
        n_pos, n_neg = int((target == 1).sum()), int((target == 0).sum())
        if require_both_classes and (n_pos == 0 or n_neg == 0):
            raise SkillNeuronError(
                f"The {split_name} split has a single class for subtask {subtask.name!r} "
                f"({n_pos} positive, {n_neg} negative examples). Predictivity needs both classes: "
                "add examples of the missing class (or sample the split stratified)."
            )
        columns.append(_balance(target, generator) if balance and n_pos and n_neg else target)
    return torch.stack(columns, dim=1)
