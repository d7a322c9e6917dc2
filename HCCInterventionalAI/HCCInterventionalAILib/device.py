"""Choosing the compute device, one behaviour for every capability (networks, dose convolution, training).

- ``auto`` picks CUDA, then Apple MPS, then the CPU, and logs why (``logging`` at INFO level), so a user who
  expected the GPU can see in the log what was missing.
- An explicitly requested device that is unknown (``tpu``) or not available here (``cuda`` on a CPU-only
  machine) is a :class:`DeviceUnavailableError` (a ``ValueError``) raised before any work, never a silent
  fallback to the CPU.
- :func:`check_device` validates a preference without importing torch unless a GPU was asked for, so command
  lines can refuse a bad ``--device`` within milliseconds.

Mixed precision (``torch.autocast``) is used on CUDA only, in float16 as MONAI and nnU-Net infer (more mantissa
than bfloat16; intensities are normalised, so the float16 range suffices).

Importing this module imports no torch; the functions that return ``torch.device`` objects do.
"""

from __future__ import annotations

import contextlib
import logging
import re
from types import ModuleType
from typing import Any

__all__ = [
    "DEVICE_CHOICES",
    "DeviceUnavailableError",
    "autocast",
    "check_device",
    "describe_device",
    "free_memory_bytes",
    "select_device",
]

logger = logging.getLogger(__name__)

#: What users may ask for (``cuda:N`` selects the N-th GPU).
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_VALID = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class DeviceUnavailableError(ValueError):
    """The requested compute device is unknown or not available on this machine (the message says why)."""


def _import_torch() -> ModuleType:
    from .models.dependencies import import_torch  # raises MissingDependencyError naming the extra to install

    return import_torch()


def _normalise(preference: Any) -> str:
    text = "auto" if preference is None else str(preference).strip().lower()
    if not _VALID.match(text):
        raise DeviceUnavailableError(f"Unknown device '{preference}': use auto, cpu, cuda, cuda:N or mps")
    return text


def _cuda_missing_reason(torch: Any) -> str:
    if not torch.backends.cuda.is_built():
        return f"this PyTorch build ({torch.__version__}) has no CUDA support"
    return "no CUDA device is visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides them)"


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def describe_device(device: Any) -> str:
    """Human-readable name, e.g. ``cuda:0 (NVIDIA H100, 79.1 GiB)`` or ``cpu (8 threads)``."""
    torch = _import_torch()
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        properties = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({properties.name}, {properties.total_memory / 2**30:.1f} GiB)"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def check_device(preference: Any = "auto") -> str:
    """Validate a device preference before any work, importing torch only when a GPU was requested.

    Args:
        preference: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` (any case), or a ``torch.device``.

    Returns:
        The normalised preference (``"auto"`` stays ``"auto"``: it never fails).

    Raises:
        DeviceUnavailableError: unknown name, or a GPU that is not available (PyTorch missing, no CUDA device,
            index out of range, no MPS).
    """
    text = _normalise(preference)
    if text in ("auto", "cpu"):
        return text
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise DeviceUnavailableError(
            f"Device '{text}' was requested but PyTorch is not installed (pip install 'hcc-interventional-ai[ai]'; "
            "in 3D Slicer, the PyTorch extension)") from error
    return str(select_device(text))


def select_device(preference: Any = "auto") -> Any:
    """Resolve a device preference to a ``torch.device``, logging the reason for the choice.

    Args:
        preference: ``"auto"`` (CUDA, then MPS, then CPU), ``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``
            or a ``torch.device``.

    Returns:
        The ``torch.device`` to run on.

    Raises:
        DeviceUnavailableError: the name is unknown, or an explicitly requested device is not available (with the
            reason).
        MissingDependencyError: PyTorch is not installed.
    """
    text = _normalise(preference)
    torch = _import_torch()
    if text == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda", torch.cuda.current_device())
            logger.info("Device auto: using %s (CUDA is available)", describe_device(device))
            return device
        cuda_reason = _cuda_missing_reason(torch)
        if _mps_available(torch):
            logger.info("Device auto: using Apple MPS (%s)", cuda_reason)
            return torch.device("mps")
        logger.info("Device auto: using the CPU because %s and Apple MPS is not available", cuda_reason)
        return torch.device("cpu")
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(f"CUDA was requested but {_cuda_missing_reason(torch)}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"{device} was requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif device.type == "mps" and not _mps_available(torch):
        raise DeviceUnavailableError("Apple MPS was requested but is not available on this machine")
    logger.info("Device: using %s as requested", device)
    return device


def autocast(device: Any, enabled: bool = True) -> contextlib.AbstractContextManager[Any]:
    """Mixed-precision context for inference on ``device``: autocast on CUDA, a no-op elsewhere."""
    torch = _import_torch()
    device = torch.device(device)
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.float16)


def free_memory_bytes(device: Any) -> int | None:
    """Free memory on a CUDA device in bytes, counting memory PyTorch holds but does not use (``None`` elsewhere)."""
    torch = _import_torch()
    device = torch.device(device)
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
