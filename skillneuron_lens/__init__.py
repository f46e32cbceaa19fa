"""skillneuron-lens: find, score and test skill neurons in TransformerLens models.

After Wang et al., "Finding Skill Neurons in Pre-trained Transformer-based Language Models"
(EMNLP 2022). Import as ``import skillneuron_lens as snl``.
"""

from skillneuron_lens.accumulators import MeanAccumulator, ThresholdAccuracyAccumulator
from skillneuron_lens.adapter import DEFAULT_HOOK, ModelAdapter, TokenBatch
from skillneuron_lens.classifier import ClassifierConfig, TunedClassifier
from skillneuron_lens.compare import (
    OverlapResult,
    TaskComparison,
    activated_overlap,
    compare_runs,
    skill_overlap,
    spearman,
    spearman_per_layer,
)
from skillneuron_lens.errors import (
    HookNotFoundError,
    MissingPackageError,
    ResultFileError,
    SkillNeuronError,
)
from skillneuron_lens.fingerprint import model_fingerprint
from skillneuron_lens.interventions import neuron_means, neuron_pool, perturb, perturbation_hooks
from skillneuron_lens.mantel import mantel_test
from skillneuron_lens.models import KNOWN_MODELS, load_model
from skillneuron_lens.neurons import NeuronSet
from skillneuron_lens.perturbation import PerturbationCurve, bootstrap_ci, perturbation_curve, sign_flip_test
from skillneuron_lens.plotting import (
    activation_histogram,
    layer_distribution,
    neuron_activations,
    neuron_baseline,
    perturbation_curves,
    position_layer_heatmap,
    predictivity_heatmap,
    similarity_matrix,
    skill_counts,
)
from skillneuron_lens.positions import PositionSpec
from skillneuron_lens.predictivity import (
    PredictivityResult,
    combine_runs,
    compute_predictivity,
    predictivity_from_activations,
)
from skillneuron_lens.pruning import (
    PruningInfo,
    baseline_means_from_result,
    count_parameters,
    load_pruned,
    prune_model,
    pruned_neuron_indices,
    pruning_info,
    save_pruned,
    token_mean_activations,
)
from skillneuron_lens.recording import Recorder, RecordingConfig
from skillneuron_lens.report import load_perturbation, write_report
from skillneuron_lens.specificity import CrossTaskMatrix, cross_task_matrix
from skillneuron_lens.subtasks import Subtask, subtasks_for
from skillneuron_lens.task_loaders import TASKS, list_tasks, load_task
from skillneuron_lens.tasks import (
    Split,
    Task,
    make_splits,
    task_from_dataframe,
    task_from_files,
    task_from_hf_dataset,
    task_from_lists,
)
from skillneuron_lens.training import TrainConfig, train_classifier

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_HOOK",
    "KNOWN_MODELS",
    "Split",
    "TASKS",
    "Task",
    "list_tasks",
    "load_model",
    "load_task",
    "make_splits",
    "task_from_dataframe",
    "task_from_files",
    "task_from_hf_dataset",
    "task_from_lists",
    "HookNotFoundError",
    "MeanAccumulator",
    "MissingPackageError",
    "ModelAdapter",
    "NeuronSet",
    "PositionSpec",
    "PredictivityResult",
    "Recorder",
    "RecordingConfig",
    "ResultFileError",
    "SkillNeuronError",
    "Subtask",
    "ThresholdAccuracyAccumulator",
    "TokenBatch",
    "__version__",
    "combine_runs",
    "compute_predictivity",
    "model_fingerprint",
    "predictivity_from_activations",
    "subtasks_for",
    "ClassifierConfig",
    "TunedClassifier",
    "OverlapResult",
    "TaskComparison",
    "activated_overlap",
    "compare_runs",
    "skill_overlap",
    "spearman",
    "spearman_per_layer",
    "mantel_test",
    "neuron_means",
    "neuron_pool",
    "perturb",
    "perturbation_hooks",
    "CrossTaskMatrix",
    "PerturbationCurve",
    "bootstrap_ci",
    "cross_task_matrix",
    "perturbation_curve",
    "sign_flip_test",
    "activation_histogram",
    "layer_distribution",
    "neuron_activations",
    "neuron_baseline",
    "perturbation_curves",
    "position_layer_heatmap",
    "predictivity_heatmap",
    "similarity_matrix",
    "skill_counts",
    "PruningInfo",
    "baseline_means_from_result",
    "count_parameters",
    "load_pruned",
    "prune_model",
    "pruned_neuron_indices",
    "pruning_info",
    "save_pruned",
    "token_mean_activations",
    "load_perturbation",
    "write_report",
    "TrainConfig",
    "train_classifier",
]
