"""The paper's setting in one call: tune several seeds, score neurons per run, combine the runs.

:func:`tune_runs` trains one :class:`~skillneuron_lens.tuning.classifier.TunedClassifier` per seed, measures
its test accuracy, computes predictivity at the soft-prompt slots (or the label slot) with the tuned
parts in place, and combines the runs (mean, or min, as the paper).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skillneuron_lens.errors import SkillNeuronError
from skillneuron_lens.models.adapter import DEFAULT_HOOK
from skillneuron_lens.predictivity.compute import DEFAULT_PERMUTATIONS
from skillneuron_lens.predictivity.result import PredictivityResult, combine_runs
from skillneuron_lens.record.recorder import RecordingConfig
from skillneuron_lens.stats.significance import RunAggregation
from skillneuron_lens.tuning.classifier import ClassifierConfig, TunedClassifier
from skillneuron_lens.tuning.soft_prompt import Region
from skillneuron_lens.tuning.training import TrainConfig, train_classifier

__all__ = ["TunedRuns", "tune_runs"]


@dataclass
class TunedRuns:
    """Everything :func:`tune_runs` produced.

    Attributes:
        classifiers: One trained classifier per run (seed).
        results: Each run's predictivity.
        combined: The runs combined (``run_aggregation`` mean or min).
        test_accuracies: Each run's test accuracy (``None`` without a test split).
        dev_accuracies: Each run's best dev accuracy during training.
    """

    classifiers: list[TunedClassifier]
    results: list[PredictivityResult]
    combined: PredictivityResult
    test_accuracies: list[float | None]
    dev_accuracies: list[float]

    @property
    def mean_test_accuracy(self) -> float | None:
        """Mean test accuracy over runs (``None`` without a test split)."""
        values = [value for value in self.test_accuracies if value is not None]
        return sum(values) / len(values) if values else None


def tune_runs(
    model: Any,
    task: Any,
    classifier: ClassifierConfig,
    training: TrainConfig,
    *,
    runs: int = 3,
    region: Region | None = None,
    positions: Any = None,
    hook: str = DEFAULT_HOOK,
    layers: Sequence[int] | None = None,
    aggregation: RunAggregation = "mean",
    balance: bool | None = None,
    progress: bool = True,
    n_permutations: int = DEFAULT_PERMUTATIONS,
) -> TunedRuns:
    """Tune ``runs`` classifiers (seeds ``seed``, ``seed + 1``, ...) and score every neuron for each.

    Args:
        model: Any supported TransformerLens model (stays frozen).
        task: A :class:`~skillneuron_lens.tasks.task.Task` with train and dev splits (test optional).
        classifier: The classifier settings; its ``seed`` is the first run's seed.
        training: The training settings; its ``seed`` is offset by the run index too.
        runs: Number of tuning runs.
        region: Where to read neurons (default: prompt slots with a prompt, else the label slot).
        positions: Positions inside the region (default: every prompt slot, or 0).
        hook: Hook template of the neurons.
        layers: Layers to record.
        aggregation: How runs combine: ``"mean"`` or ``"min"``.
        balance: Class-balance the predictivity splits (default: off for binary tasks, on otherwise);
            see :func:`~skillneuron_lens.predictivity.compute.compute_predictivity`.
        progress: Show progress bars.
        n_permutations: Shuffled dev-label copies scored per run (the chance band); 0 for none.

    Returns:
        The classifiers, per-run and combined predictivity (scored on the test split too, when the task
        has one), and accuracies.
    """
    if runs < 1:
        raise SkillNeuronError(f"runs must be at least 1, got {runs}.")
    splits = getattr(task, "splits", {})
    test = splits.get("test")
    classifiers: list[TunedClassifier] = []
    results: list[PredictivityResult] = []
    test_accuracies: list[float | None] = []
    dev_accuracies: list[float] = []
    for run in range(runs):
        settings = dataclasses.replace(classifier, seed=classifier.seed + run)
        tuned = TunedClassifier(model, settings)
        run_training = dataclasses.replace(training, seed=training.seed + run, progress=progress)
        history = train_classifier(tuned, task.train, task.dev, run_training)
        dev_accuracies.append(max(entry["dev_accuracy"] for entry in history))
        test_accuracies.append(None if test is None else tuned.accuracy(test, progress=progress))
        results.append(
            tuned.predictivity(
                task.train, task.dev, region=region, positions=positions, hook=hook, layers=layers,
                recording=RecordingConfig(batch_size=settings.batch_size, progress=progress),
                seed=settings.seed, balance=balance, test=test,
                n_permutations=n_permutations,
            )
        )
        classifiers.append(tuned)
    combined = combine_runs(results, how=aggregation)
    return TunedRuns(classifiers, results, combined, test_accuracies, dev_accuracies)
