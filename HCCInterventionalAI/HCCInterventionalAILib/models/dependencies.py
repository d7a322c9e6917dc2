"""Lazy imports of the heavy optional packages, with a message naming the extra to install.

Importing :mod:`HCCInterventionalAILib.models` never imports torch, MONAI or onnxruntime; functions that
need them call these helpers.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["import_monai", "import_onnxruntime", "import_torch"]

_AI_EXTRA = 'pip install "hcc-interventional-ai[ai]"'
_ONNX_EXTRA = 'pip install "hcc-interventional-ai[onnx]"'
_SLICER_HINT = " (in 3D Slicer, install PyTorch with the PyTorch extension)"


def _import(name: str, purpose: str, install: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise MissingDependencyError(f"{purpose} needs the '{name}' package: {install}") from error


def import_torch() -> ModuleType:
    """Return ``torch`` or raise :class:`MissingDependencyError` saying how to install it."""
    return _import("torch", "Running AI models", _AI_EXTRA + _SLICER_HINT)


def import_monai() -> ModuleType:
    """Return ``monai`` or raise :class:`MissingDependencyError` saying how to install it."""
    return _import("monai", "MONAI networks, bundles and sliding-window inference", _AI_EXTRA)


def import_onnxruntime() -> ModuleType:
    """Return ``onnxruntime`` or raise :class:`MissingDependencyError` saying how to install it."""
    return _import("onnxruntime", "ONNX models", _ONNX_EXTRA)
