"""Constant neurons on an imbalanced task: predictivity equal to the majority share.

The paper's predictivity is the dev accuracy of a neuron's threshold classifier. A neuron that sits
above (or below) its baseline on every example predicts one class for the whole dev split, so its
predictivity is exactly the share of the majority class, whatever the neuron computes. On a balanced
split that share is 0.5 and such neurons rank last; on a binary task with a large majority class (70%
negative tweets, say) they score 0.70 and can fill a layer's skill set. They then inflate overlaps
between tasks (the same always-on neurons tie at the top of every imbalanced task) and their ablation
can collapse a classifier to one class. This module finds them, so ``find`` and ``compare`` can say so.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import torch

from skillneuron_lens.neurons.sets import NeuronSet
from skillneuron_lens.predictivity.result import PredictivityResult
from skillneuron_lens.tasks.subtasks import subtask_targets, subtasks_for

__all__ = [
    "WARN_SHARE",
    "majority_share",
    "scored_majority_share",
    "skill_neurons_at_share",
    "warn_about_constant_neurons",
]

WARN_SHARE = 0.6
"""Majority share from which ``find`` warns before scoring (a constant neuron then scores 0.6)."""


def majority_share(labels: Sequence[int]) -> float:
    """Share of the most common label, in ``[0, 1]`` (0.0 for no labels)."""
    if not labels:
        return 0.0
    return max(Counter(int(label) for label in labels).values()) / len(labels)


def scored_majority_share(labels: Sequence[int], n_classes: int, balance: bool | None) -> float | None:
    """What a neuron that predicts one side for every dev example scores, when that can rank.

    Predictivity is averaged over the binary subtasks of the task (one for a binary task), each scored on
    the dev examples it covers, so such a neuron scores the mean of the subtasks' majority shares.

    Args:
        labels: The dev split's labels.
        n_classes: Number of classes of the task.
        balance: As ``compute_predictivity`` takes it: ``True`` balances every subtask, ``None`` (auto)
            balances multi-class subtasks only, ``False`` none.

    Returns:
        The score, or ``None`` where the subtasks are balanced (constant neurons then score 0.5) or
        there are no labels.
    """
    if not labels or balance is True or (balance is None and n_classes > 2):
        return None
    targets = subtask_targets(labels, subtasks_for(n_classes), balance=False, require_both_classes=False)
    shares = [majority_share([int(t) for t in column if t >= 0]) for column in targets.T]
    return sum(shares) / len(shares)


def skill_neurons_at_share(
    result: PredictivityResult, share: float, *, fraction: float, tolerance: float = 1e-6
) -> NeuronSet:
    """The top-``fraction`` skill neurons whose predictivity equals ``share``.

    Args:
        result: Predictivity of a binary task scored without class balancing.
        share: The majority share of the dev split the predictivity was scored on.
        fraction: Per-layer fraction of the skill set (as ``NeuronSet.top``).
        tolerance: Largest difference from ``share`` that counts as equal (accuracies over a few
            thousand examples are multiples of ``1 / n_dev``, far coarser than this).

    Returns:
        The members of the skill set at exactly the majority share that predict one class for every dev
        example (where the result recorded firing counts, that is checked directly: a neuron can score
        the majority share by chance). Empty when ``share`` is at most 0.5, where such neurons cannot rank.
    """
    skill = NeuronSet.top(result, fraction=fraction)
    if share <= 0.5:
        return NeuronSet(torch.zeros_like(skill.mask), skill.layers, skill.hook)
    at_share = (result.predictivity - share).abs() <= tolerance
    if result.firing is not None:  # recorded since significance: check constancy itself, not only the score
        firing = result.at_best_slot(result.firing)
        dev_size = result.n_dev[:, :, None, None]
        at_share &= ((firing == 0) | (firing == dev_size)).all(dim=0).all(dim=0)
    return NeuronSet(skill.mask & at_share, skill.layers, skill.hook)


def warn_about_constant_neurons(name: str, result: PredictivityResult, share: float, fraction: float) -> int:
    """Log a warning when the skill set holds neurons at exactly the majority share.

    Args:
        name: What the warning names (a command or a run).
        result: The run's predictivity.
        share: The majority share of the dev split it was scored on.
        fraction: Per-layer fraction of the skill set.

    Returns:
        How many skill neurons sit at the majority share.
    """
    constant = len(skill_neurons_at_share(result, share, fraction=fraction))
    if constant:
        total = len(NeuronSet.top(result, fraction=fraction))
        logging.getLogger("skillneuron_lens").warning(_message(name, constant, total, share))
    return constant


def _message(name: str, constant: int, total: int, share: float) -> str:
    return (
        f"{name}: {constant} of the {total} skill neurons score exactly {share:.3f}, the dev split's "
        "majority share: they predict the same side for every example, and they look predictive only "
        "because the task is imbalanced. Such neurons rank the same in every imbalanced task, so they "
        "inflate overlaps between tasks, and ablating them can collapse the classifier to one class. "
        "Re-run find with --balance on to score predictivity on class-balanced splits."
    )
