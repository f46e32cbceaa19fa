"""Analysis: perturbation curves against controls, task specificity, and comparing tasks by their neurons."""

from skillneuron_lens.analysis.compare import (
    JSON_FILE,
    TENSOR_FILE,
    OverlapResult,
    ScoresLike,
    TaskComparison,
    activated_overlap,
    compare_runs,
    hypergeometric_pmf,
    skill_overlap,
)
from skillneuron_lens.analysis.curves import (
    DEFAULT_FRACTIONS,
    FORMAT_VERSION,
    Evaluator,
    PerturbationCurve,
    evaluate_correctness,
    load_perturbation,
    perturbation_curve,
)
from skillneuron_lens.analysis.specificity import (
    KIND,
    CrossTaskMatrix,
    cross_task_matrix,
)

__all__ = [
    "CrossTaskMatrix",
    "DEFAULT_FRACTIONS",
    "Evaluator",
    "FORMAT_VERSION",
    "JSON_FILE",
    "KIND",
    "OverlapResult",
    "PerturbationCurve",
    "ScoresLike",
    "TENSOR_FILE",
    "TaskComparison",
    "activated_overlap",
    "compare_runs",
    "cross_task_matrix",
    "evaluate_correctness",
    "hypergeometric_pmf",
    "load_perturbation",
    "perturbation_curve",
    "skill_overlap",
]
