"""Models.

The backend, device, device map and dtype of a load (backends); the offline default models and their
cache (offline); loading by name or from a folder (load); one adapter over every TransformerLens model
class (adapter); model fingerprints (fingerprint); neuron sites: which hook's axes are the neurons (sites).
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
from skillneuron_lens.models.backends import (
    BACKENDS,
    DEVICE_MAPS,
    DTYPES,
    detect_backend,
    resolve_backend,
    resolve_device,
    resolve_device_map,
    resolve_dtype,
    transformer_lens_version,
)
from skillneuron_lens.models.fingerprint import (
    model_fingerprint,
    same_model,
)
from skillneuron_lens.models.load import (
    load_model,
)
from skillneuron_lens.models.offline import (
    CACHE_ENV_VAR,
    KNOWN_MODELS,
    cache_dir,
    offline_checkpoint,
)
from skillneuron_lens.models.sites import (
    NeuronSite,
    head_coordinates,
    neuron_coordinates,
    neuron_label,
)

__all__ = [
    "BACKENDS",
    "CACHE_ENV_VAR",
    "DEFAULT_HOOK",
    "DEVICE_MAPS",
    "DTYPES",
    "HookFn",
    "KNOWN_MODELS",
    "ModelAdapter",
    "NeuronSite",
    "PaddingSide",
    "StopForward",
    "TokenBatch",
    "cache_dir",
    "detect_backend",
    "head_coordinates",
    "hook_templates",
    "load_model",
    "model_fingerprint",
    "neuron_coordinates",
    "neuron_label",
    "offline_checkpoint",
    "resolve_backend",
    "resolve_device",
    "resolve_device_map",
    "resolve_dtype",
    "same_model",
    "transformer_lens_version",
]
