"""skillneuron-lens: find, score and test skill neurons in TransformerLens models.

After Wang et al., "Finding Skill Neurons in Pre-trained Transformer-based Language Models"
(EMNLP 2022). Import as ``import skillneuron_lens as snl``.

The subpackages follow the method's flow, one room per step:

1. :mod:`~skillneuron_lens.tasks`: texts, labels and splits (readers, the catalog, subtasks);
2. :mod:`~skillneuron_lens.models`: loading, one adapter over every TransformerLens model class;
3. :mod:`~skillneuron_lens.record`: positions, hooks and the mergeable accumulators they fill;
4. :mod:`~skillneuron_lens.predictivity`: the paper's score per neuron, with its p-values;
5. :mod:`~skillneuron_lens.neurons`: skill neurons, significant neurons, random controls, evidence;
6. :mod:`~skillneuron_lens.intervene`: perturbation hooks and pruning;
7. :mod:`~skillneuron_lens.analysis`: perturbation curves, task specificity, task comparison;
8. :mod:`~skillneuron_lens.tuning`: the prompt-tuned classifier of the paper's setting;
9. :mod:`~skillneuron_lens.plot` and :mod:`~skillneuron_lens.report`: figures and the HTML report;
10. :mod:`~skillneuron_lens.runs`: a run as an object (``FindConfig``, ``find``, ``Run``);
11. :mod:`~skillneuron_lens.export`: a run for other tools (the Neuronpedia bulk-import layout);
12. :mod:`~skillneuron_lens.cli`: the command line, on top of the library.

:mod:`~skillneuron_lens.stats` holds every statistic (p-values, multiple testing, intervals, resampling,
correlation). The top level keeps what a notebook user types daily; everything else is one attribute
away (``snl.stats.mantel_test``, ``snl.plot.similarity_matrix``).
"""


from __future__ import annotations

import importlib
import warnings
from typing import Any

from skillneuron_lens import (  # noqa: E402  (subpackages as attributes)
    analysis,
    export,
    intervene,
    models,
    neurons,
    plot,
    predictivity,
    record,
    report,
    runs,
    stats,
    tasks,
    tuning,
)
from skillneuron_lens.analysis import (
    PerturbationCurve,
    TaskComparison,
    compare_runs,
    cross_task_matrix,
    perturbation_curve,
    skill_overlap,
)
from skillneuron_lens.errors import (
    SkillNeuronError,
)
from skillneuron_lens.intervene import (
    load_pruned,
    perturb,
    prune_model,
    save_pruned,
)
from skillneuron_lens.models import (
    ModelAdapter,
    load_model,
)
from skillneuron_lens.neurons import (
    NeuronSet,
)
from skillneuron_lens.plot import (
    activation_histogram,
    layer_distribution,
    perturbation_curves,
    predictivity_heatmap,
    skill_counts,
)
from skillneuron_lens.predictivity import (
    PredictivityResult,
    combine_runs,
    compute_predictivity,
    predictivity_from_activations,
)
from skillneuron_lens.record import (
    PositionSpec,
    Recorder,
    RecordingConfig,
    neuron_activations,
    neuron_means,
)
from skillneuron_lens.report import (
    write_report,
)
from skillneuron_lens.runs import (
    FindConfig,
    Run,
    find,
)
from skillneuron_lens.tasks import (
    Split,
    Task,
    list_tasks,
    load_task,
    make_splits,
    task_from_files,
    task_from_lists,
)
from skillneuron_lens.tuning import (
    ClassifierConfig,
    TrainConfig,
    TunedClassifier,
    train_classifier,
)

__version__ = "0.1.0"

# Names that left the top level in 0.2: still reachable here (with a FutureWarning), and from their home.
_MOVED: dict[str, str] = {
    "activated_overlap": "skillneuron_lens.analysis",
    "bootstrap_ci": "skillneuron_lens.stats",
    "count_parameters": "skillneuron_lens.intervene",
    "CrossTaskMatrix": "skillneuron_lens.analysis",
    "DEFAULT_HOOK": "skillneuron_lens.models",
    "HookNotFoundError": "skillneuron_lens.errors",
    "KNOWN_MODELS": "skillneuron_lens.models",
    "load_perturbation": "skillneuron_lens.analysis",
    "mantel_test": "skillneuron_lens.stats",
    "MeanAccumulator": "skillneuron_lens.record",
    "MissingPackageError": "skillneuron_lens.errors",
    "model_fingerprint": "skillneuron_lens.models",
    "neuron_baseline": "skillneuron_lens.plot",
    "neuron_pool": "skillneuron_lens.record",
    "OverlapResult": "skillneuron_lens.analysis",
    "perturbation_hooks": "skillneuron_lens.intervene",
    "position_layer_heatmap": "skillneuron_lens.plot",
    "pruned_neuron_indices": "skillneuron_lens.intervene",
    "pruning_info": "skillneuron_lens.intervene",
    "PruningInfo": "skillneuron_lens.intervene",
    "ResultFileError": "skillneuron_lens.errors",
    "sign_flip_test": "skillneuron_lens.stats",
    "similarity_matrix": "skillneuron_lens.plot",
    "spearman": "skillneuron_lens.stats",
    "spearman_per_layer": "skillneuron_lens.stats",
    "Subtask": "skillneuron_lens.tasks",
    "subtasks_for": "skillneuron_lens.tasks",
    "task_from_dataframe": "skillneuron_lens.tasks",
    "task_from_hf_dataset": "skillneuron_lens.tasks",
    "TASKS": "skillneuron_lens.tasks",
    "ThresholdAccuracyAccumulator": "skillneuron_lens.record",
    "TokenBatch": "skillneuron_lens.models",
}

# Names replaced in 0.2 by another call: asking for one says which.
_REPLACED: dict[str, str] = {
    "baseline_means_from_result": "result.mean_baselines(subtask=0)",
    "token_mean_activations": "skillneuron_lens.neuron_means(model, texts, per='token', layers=...)",
}


def __getattr__(name: str) -> Any:
    """Forward a name that moved off the top level to its new home, with a warning that says where."""
    if name in _REPLACED:
        raise AttributeError(f"skillneuron_lens.{name} was replaced by {_REPLACED[name]}.")
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'skillneuron_lens' has no attribute {name!r}")
    warnings.warn(
        f"skillneuron_lens.{name} moved to {home}.{name}; import it from there "
        "(the top-level name will be removed in a later release).",
        FutureWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), name)


__all__ = [
    "activation_histogram",
    "ClassifierConfig",
    "combine_runs",
    "compare_runs",
    "compute_predictivity",
    "cross_task_matrix",
    "find",
    "FindConfig",
    "layer_distribution",
    "list_tasks",
    "load_model",
    "load_pruned",
    "load_task",
    "make_splits",
    "ModelAdapter",
    "neuron_activations",
    "neuron_means",
    "NeuronSet",
    "perturb",
    "perturbation_curve",
    "perturbation_curves",
    "PerturbationCurve",
    "PositionSpec",
    "predictivity_from_activations",
    "predictivity_heatmap",
    "PredictivityResult",
    "prune_model",
    "Recorder",
    "RecordingConfig",
    "Run",
    "save_pruned",
    "skill_counts",
    "skill_overlap",
    "SkillNeuronError",
    "Split",
    "Task",
    "task_from_files",
    "task_from_lists",
    "TaskComparison",
    "train_classifier",
    "TrainConfig",
    "TunedClassifier",
    "write_report",
    "__version__",
    "analysis",
    "export",
    "intervene",
    "models",
    "neurons",
    "plot",
    "predictivity",
    "record",
    "runs",
    "stats",
    "tasks",
    "tuning",
    "report",
]
