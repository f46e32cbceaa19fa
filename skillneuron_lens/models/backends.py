"""Which TransformerLens model family, device and dtype a load uses, checked before anything loads.

Two model families are supported: ``"bridge"`` (:class:`transformer_lens.model_bridge.TransformerBridge`,
TransformerLens >= 3) and ``"hooked"`` (``HookedTransformer`` / ``HookedEncoder``, TransformerLens 2.x and
3.x); ``"auto"`` picks the bridge when the installed TransformerLens has it.
"""

from __future__ import annotations

import importlib.metadata

import torch

from skillneuron_lens.errors import SkillNeuronError

__all__ = [
    "BACKENDS",
    "DEVICE_MAPS",
    "DTYPES",
    "detect_backend",
    "resolve_backend",
    "resolve_device",
    "resolve_device_map",
    "resolve_dtype",
    "transformer_lens_version",
]

#: Accepted ``dtype`` strings and the torch dtypes they stand for.
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

#: Accepted ``backend`` values.
BACKENDS = ("auto", "bridge", "hooked")

#: Accepted ``device_map`` values: Hugging Face Accelerate's placements of one model over the devices
#: it sees (GPUs first, then the CPU): ``auto`` and ``balanced`` spread the layers evenly over the GPUs,
#: ``balanced_low_0`` keeps GPU 0 light, ``sequential`` fills GPU 0 first.
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")

_DEVICE_TYPES = ("cpu", "cuda")


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """Turn a dtype name or torch dtype into one of the supported torch dtypes.

    Args:
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` or the matching ``torch.dtype``.

    Returns:
        The torch dtype.

    Raises:
        SkillNeuronError: For any other value.
    """
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise SkillNeuronError(
        f"Unsupported dtype {dtype!r}; use one of {', '.join(DTYPES)} (or the torch dtype)."
    )


def resolve_device(device: str | torch.device) -> torch.device:
    """Check that ``device`` is a CPU or an available CUDA device.

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.

    Returns:
        The torch device.

    Raises:
        SkillNeuronError: For an unknown device, or a CUDA device this machine does not have.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise SkillNeuronError(
            f"Unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'."
        ) from exc
    if resolved.type not in _DEVICE_TYPES:
        raise SkillNeuronError(f"Unsupported device {device!r}; use 'cpu', 'cuda' or 'cuda:N'.")
    if resolved.type == "cuda":
        _check_cuda(device, resolved.index)
    return resolved


def _check_cuda(device: object, index: int | None) -> None:
    """Raise unless CUDA is available and has a device ``index``."""
    if not torch.cuda.is_available():
        raise SkillNeuronError(
            f"device={device!r} needs CUDA, but torch {torch.__version__} sees no CUDA GPU here; "
            "use device='cpu' (or install a CUDA build of torch on a machine with a GPU)."
        )
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise SkillNeuronError(
            f"device={device!r} does not exist: this machine has {count} CUDA device(s)."
        )


def _bridge_available() -> bool:
    """Whether the installed TransformerLens has ``TransformerBridge`` (TransformerLens >= 3)."""
    try:
        from transformer_lens.model_bridge import TransformerBridge  # noqa: F401
    except ImportError:
        return False
    return True


def _hooked_available() -> bool:
    """Whether the installed TransformerLens has ``HookedTransformer`` (TransformerLens < 4)."""
    try:
        from transformer_lens import HookedEncoder, HookedTransformer  # noqa: F401
    except ImportError:
        return False
    return True


def transformer_lens_version() -> str:
    """The installed TransformerLens version, for messages (``"(unknown version)"`` when not found)."""
    try:
        return importlib.metadata.version("transformer-lens")
    except importlib.metadata.PackageNotFoundError:
        return "(unknown version)"


def detect_backend() -> str:
    """Return the backend ``backend="auto"`` picks with the installed TransformerLens.

    Returns:
        ``"bridge"`` when ``TransformerBridge`` imports, else ``"hooked"``.

    Raises:
        SkillNeuronError: If neither model family imports.
    """
    if _bridge_available():
        return "bridge"
    if _hooked_available():
        return "hooked"
    raise SkillNeuronError(
        f"TransformerLens {transformer_lens_version()} has neither TransformerBridge nor HookedTransformer; "
        "install transformer-lens>=2.18."
    )


def resolve_backend(backend: str) -> str:
    """Check ``backend`` against the installed TransformerLens and resolve ``"auto"``.

    Args:
        backend: One of :data:`BACKENDS`.

    Returns:
        ``"bridge"`` or ``"hooked"``.

    Raises:
        SkillNeuronError: For an unknown backend, or one the installed TransformerLens lacks.
    """
    if backend not in BACKENDS:
        raise SkillNeuronError(f"Unknown backend {backend!r}; use one of {', '.join(BACKENDS)}.")
    if backend == "auto":
        return detect_backend()
    if backend == "bridge" and not _bridge_available():
        raise SkillNeuronError(
            f"backend='bridge' needs TransformerLens >= 3 (TransformerBridge); TransformerLens "
            f"{transformer_lens_version()} is installed. Use backend='hooked' or 'auto', or upgrade."
        )
    if backend == "hooked" and not _hooked_available():
        raise SkillNeuronError(
            f"backend='hooked' needs TransformerLens 2.x or 3.x (HookedTransformer, removed in "
            f"4.0); TransformerLens {transformer_lens_version()} is installed. Use backend='bridge' "
            "or 'auto'."
        )
    return backend


def resolve_device_map(device_map: str | None, backend: str, device: str | torch.device) -> str | None:
    """Check a ``device_map`` against the backend that will load the model and the ``device`` given.

    Args:
        device_map: One of :data:`DEVICE_MAPS`, or ``None`` for one device.
        backend: The resolved backend (``"bridge"`` or ``"hooked"``, see :func:`resolve_backend`).
        device: The ``device`` argument of the same load; with a device map it must be left at ``"cpu"``
            (the default), since the map places the model.

    Returns:
        ``device_map`` unchanged.

    Raises:
        SkillNeuronError: For an unknown map, a map with the hooked backend (TransformerLens 2.x has no
            device maps: it is the bridge that passes them to Hugging Face), or a map with a device.
    """
    if device_map is None:
        return None
    if not isinstance(device_map, str) or device_map not in DEVICE_MAPS:
        raise SkillNeuronError(
            f"Unknown device map {device_map!r}; use one of {', '.join(DEVICE_MAPS)} (or none, for one "
            "device)."
        )
    if backend != "bridge":
        raise SkillNeuronError(
            f"A device map (device_map={device_map!r}) needs the TransformerBridge backend, which "
            f"TransformerLens >= 3 has; the {backend!r} backend of TransformerLens "
            f"{transformer_lens_version()} does not support it. Upgrade TransformerLens (pip install "
            "'transformer-lens>=3'), or load on one device with device=... and no device map."
        )
    if str(device) != "cpu":
        raise SkillNeuronError(
            f"device={str(device)!r} and device_map={device_map!r} both place the model; pass one of "
            "them (with a device map, leave device at its default: the map decides)."
        )
    return device_map
