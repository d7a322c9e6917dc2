"""What each module's CMake ``SCRIPTS``/``RESOURCES`` lists must hold, from the files on disk.

Shared by ``Testing/test_module_packaging.py`` (which checks the lists) and ``Testing/update_cmake_lists.py``
(which rewrites them); a plain module so that the update script imports no test module (and no pytest).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["IGNORED_DIRS", "IGNORED_SUFFIXES", "MODULES", "ROOT", "expected_lists", "package_files"]

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["HCCInterventionalAI", "AblationSimulator", "Y90Dosimetry"]

#: Files that are never packaged.
IGNORED_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache"}
IGNORED_SUFFIXES = {".pyc", ".pyo"}


def package_files(folder: Path) -> list[Path]:
    """Every packaged file below ``folder`` (hidden folders, caches and byte-code excluded), sorted."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file()
        and not any(part in IGNORED_DIRS or part.startswith(".") for part in p.relative_to(folder).parts)
        and p.suffix not in IGNORED_SUFFIXES
    )


def expected_lists(module: str) -> tuple[list[str], list[str]]:
    """What SCRIPTS and RESOURCES must hold, from the files on disk (paths relative to the module folder)."""
    base = ROOT / module
    lib = base / f"{module}Lib"
    scripts = [f"{module}.py"] + [p.relative_to(base).as_posix() for p in package_files(lib) if p.suffix == ".py"]
    resources = [p.relative_to(base).as_posix() for p in package_files(base / "Resources")]
    resources += [p.relative_to(base).as_posix() for p in package_files(lib) if p.suffix != ".py"]
    return scripts, resources
