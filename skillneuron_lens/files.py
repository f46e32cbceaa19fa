"""Every name of a file or folder that skillneuron-lens writes, in one place.

Other tools read these names, so they never change: a new file gets a new constant here. Result
directories hold a ``*.safetensors`` file of tensors, :data:`CFG_FILE` with everything else, and the
marker :data:`MARKER_FILE` that says this tool wrote them (see :mod:`skillneuron_lens.io`).
"""

__all__ = [
    "CACHE_MARKER",
    "CFG_FILE",
    "CHECKPOINT_TENSORS",
    "COMPARE_PAGE",
    "COMPARE_SUMMARY",
    "COMPARE_TENSORS",
    "CROSS_TASK_PAGE",
    "CROSS_TASK_SUMMARY",
    "FIND_CONFIG",
    "MARKER_FILE",
    "PARTIAL_MARKER",
    "PARTIAL_RUN_SUFFIX",
    "PERTURBATION_FILE",
    "PREDICTIVITY_TENSORS",
    "PRUNE_SUMMARY",
    "PRUNING_TENSORS",
    "REPORT_FILE",
    "SUMMARY_FILE",
    "TUNED_RUN_PREFIX",
    "TUNED_TENSORS",
]

# ---- every result directory ----------------------------------------------------------------------
CFG_FILE = "cfg.json"
"""A result directory's configuration and metadata (JSON)."""
MARKER_FILE = ".skillneuron-lens.json"
"""Written last into every directory this tool makes: what wrote it, and a digest of its files."""

# ---- tensors of each kind of result --------------------------------------------------------------
PREDICTIVITY_TENSORS = "predictivity.safetensors"
"""A :class:`~skillneuron_lens.predictivity.PredictivityResult`'s tensors."""
TUNED_TENSORS = "tuned.safetensors"
"""A tuned classifier's trainable parts."""
PRUNING_TENSORS = "pruning.safetensors"
"""A pruned model's kept-neuron mask and the means that stand in for the removed neurons."""
COMPARE_TENSORS = "compare.safetensors"
"""A task comparison's matrices."""

# ---- a run directory made by ``skillneuron-lens find`` and the commands that read it -------------
SUMMARY_FILE = "summary.json"
"""What ``find`` measured: data, read-out accuracy, skill set, significance, held-out scores."""
FIND_CONFIG = "find_config.json"
"""The ``find`` options the run was made with (a versioned :class:`~skillneuron_lens.runs.FindConfig`)."""
REPORT_FILE = "report.html"
"""The self-contained HTML report."""
PERTURBATION_FILE = "perturbation.json"
"""Perturbation curves written by ``perturb`` (its default output name)."""
TUNED_RUN_PREFIX = "tuned-run"
"""Folders ``tuned-run0``, ``tuned-run1``, ... holding each tuned run's classifier."""
PRUNE_SUMMARY = "prune.json"
"""What ``prune`` measured: sizes, accuracies, timings."""
COMPARE_SUMMARY = "compare.json"
"""A task comparison's task names and numbers (JSON, beside :data:`COMPARE_TENSORS`)."""
COMPARE_PAGE = "compare.html"
"""The comparison's figures as a page."""
CROSS_TASK_SUMMARY = "cross_task.json"
"""The cross-task perturbation matrix written by ``cross-perturb``."""
CROSS_TASK_PAGE = "cross_task.html"
"""Its figure as a page."""

# ---- a run that has not finished yet (``find`` checkpoints, for ``find --resume``) -------------------
PARTIAL_RUN_SUFFIX = ".snl-partial"
"""The folder ``.<run name>.snl-partial`` beside a run directory holds its checkpoints until it is written."""
CHECKPOINT_TENSORS = "checkpoint.safetensors"
"""The accumulators of the passes done so far, with how far each got (in the file's metadata)."""
PARTIAL_MARKER = "progress.json"
"""A partial run's marker: what wrote it, the fingerprint of its options and data, how far it got."""

# ---- elsewhere -------------------------------------------------------------------------------------
CACHE_MARKER = "skillneuron_lens_cache.json"
"""Marks a model folder that this tool converted and cached."""
