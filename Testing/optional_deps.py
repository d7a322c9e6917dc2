"""Skip helpers for optional dependencies, one wording everywhere.

Call them at the top of a test module (``slicer, vtk = require_mrml()``) to skip the whole module, or inside a
test or fixture to skip just that one. A plain module (not ``conftest.py``, which pytest does not want imported)
so test files can import it; ``Testing/conftest.py`` uses it for the shared fixtures.
"""

from __future__ import annotations

from types import ModuleType

import pytest

__all__ = ["require_highdicom", "require_mrml", "require_torch"]


def require_mrml() -> tuple[ModuleType, ModuleType]:
    """``(slicer, vtk)`` from slicer-core (the real MRML library), or skip.

    Returns:
        The ``slicer`` and ``vtk`` modules.
    """
    slicer = pytest.importorskip("slicer", reason="needs the MRML library: pip install slicer-core (dev extra)")
    vtk = pytest.importorskip("vtk", reason="needs VTK (comes with slicer-core)")
    if not hasattr(slicer, "vtkMRMLScene"):  # pragma: no cover - a foreign package named 'slicer'
        pytest.skip("the installed 'slicer' package has no MRML classes", allow_module_level=True)
    return slicer, vtk


def require_torch() -> tuple[ModuleType, ModuleType]:
    """``(torch, monai)`` (extra 'ai'), or skip.

    Returns:
        The ``torch`` and ``monai`` modules.
    """
    torch = pytest.importorskip("torch", reason="torch is not installed (extra 'ai')")
    monai = pytest.importorskip("monai", reason="MONAI is not installed (extra 'ai')")
    return torch, monai


def require_highdicom() -> ModuleType:
    """``highdicom`` (DICOM SEG), or skip.

    Returns:
        The ``highdicom`` module.
    """
    return pytest.importorskip("highdicom", reason="highdicom is not installed")
