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
    bootstrap_ci,
    perturbation_curve,
    sign_flip_test,
)
from skillneuron_lens.analysis.specificity import (
    KIND,
    CrossTaskMatrix,
    cross_task_matrix,
    holm,
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
    "bootstrap_ci",
    "compare_runs",
    "cross_task_matrix",
    "holm",
    "hypergeometric_pmf",
    "perturbation_curve",
    "sign_flip_test",
    "skill_overlap",
]
