"""Models.

Loading by name or from a folder, one adapter over every TransformerLens model class, model fingerprints.
"""

from skillneuron_lens.models.adapter import (
    DEFAULT_HOOK,
    HookFn,
    ModelAdapter,
    PaddingSide,
    StopForward,
    TokenBatch,
    hook_templates,
)
from skillneuron_lens.models.fingerprint import (
    model_fingerprint,
    same_model,
)
from skillneuron_lens.models.load import (
    BACKENDS,
    CACHE_ENV_VAR,
    DTYPES,
    KNOWN_MODELS,
    cache_dir,
    detect_backend,
    load_model,
    resolve_device,
    resolve_dtype,
)

__all__ = [
    "BACKENDS",
    "CACHE_ENV_VAR",
    "DEFAULT_HOOK",
    "DTYPES",
    "HookFn",
    "KNOWN_MODELS",
    "ModelAdapter",
    "PaddingSide",
    "StopForward",
    "TokenBatch",
    "cache_dir",
    "detect_backend",
    "hook_templates",
    "load_model",
    "model_fingerprint",
    "resolve_device",
    "resolve_dtype",
    "same_model",
]
