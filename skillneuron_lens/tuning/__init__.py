"""Tuning.

The paper's prompt-tuning setting (soft prompt, BitFit, adapters, linear head or verbalizer read-outs) and
training.
"""

from skillneuron_lens.tuning.classifier import (
    TENSOR_FILE,
    ClassifierConfig,
    HeadKind,
    PromptedInputs,
    TunedClassifier,
)
from skillneuron_lens.tuning.parts import (
    ADAPTER_SITE,
    BITFIT_SITES,
    METHODS,
    Adapter,
    HookList,
    Method,
    TunableParts,
    hook_output_shapes,
    random_vocabulary_ids,
    repeat_to_length,
)
from skillneuron_lens.tuning.pipeline import (
    TunedRuns,
    tune_runs,
)
from skillneuron_lens.tuning.readouts import (
    FEATURE_HOOK,
    LinearReadout,
    LogisticHead,
    VerbalizerReadout,
    label_word_ids,
    lm_head_is_pretrained,
    pooled_features,
)
from skillneuron_lens.tuning.soft_prompt import (
    REGIONS,
    PromptedBatch,
    PromptLayout,
    Region,
    splice_prompt,
    token_embeddings,
)
from skillneuron_lens.tuning.training import (
    TrainConfig,
    frozen,
    train_classifier,
)

__all__ = [
    "FEATURE_HOOK",
    "ADAPTER_SITE",
    "Adapter",
    "BITFIT_SITES",
    "ClassifierConfig",
    "HeadKind",
    "HookList",
    "LinearReadout",
    "LogisticHead",
    "METHODS",
    "Method",
    "PromptLayout",
    "PromptedBatch",
    "PromptedInputs",
    "REGIONS",
    "Region",
    "TENSOR_FILE",
    "TrainConfig",
    "TunableParts",
    "TunedClassifier",
    "TunedRuns",
    "VerbalizerReadout",
    "frozen",
    "hook_output_shapes",
    "label_word_ids",
    "lm_head_is_pretrained",
    "pooled_features",
    "random_vocabulary_ids",
    "repeat_to_length",
    "splice_prompt",
    "token_embeddings",
    "train_classifier",
    "tune_runs",
]
