"""Dependencies inside Slicer (issue 11).

1. Static (AST): loading a module file (``*/[A-Z]*.py`` of the three module folders) imports no heavy
   dependency (torch, MONAI, SimpleITK, pandas, SciPy, pyradiomics, scikit-learn): neither the module file nor,
   transitively, any of our library modules it imports at load time has such an import outside a function body
   (``if TYPE_CHECKING:`` blocks do not run and are ignored).
2. ``slicer_helpers``: requirements go through ``slicer.pydeps.pip_ensure`` with torch excluded from the
   dependency walk; a user who declines gets a ``RequirementsDeclinedError`` naming the packages; PyTorch comes
   from the PyTorch extension's ``PyTorchUtilsLogic.installTorch`` (never pip); pyradiomics is installed with
   ``--no-build-isolation`` after its build requirements. Slicer is replaced by a stand-in module whose
   ``pip_ensure`` has the signature of Slicer's ``Base/Python/slicer/pydeps.py`` (Slicer main) and, like it,
   raises ``RuntimeError("User declined package installation")`` when the dialog is cancelled.
"""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

import pytest

from HCCInterventionalAILib import slicer_helpers
from HCCInterventionalAILib.slicer_helpers import RequirementsDeclinedError

ROOT = Path(__file__).resolve().parents[1]
MODULE_FOLDERS = ("HCCInterventionalAI", "Y90Dosimetry", "AblationSimulator")
HEAVY = {"torch", "monai", "SimpleITK", "pandas", "scipy", "radiomics", "pyradiomics", "sklearn"}
FIRST_PARTY = {"HCCInterventionalAILib", "Y90DosimetryLib", "AblationSimulatorLib"}


def _load_time_imports(tree: ast.Module) -> list[tuple[ast.stmt, int]]:
    """Import statements that run when the file is loaded: not inside functions or ``if TYPE_CHECKING:``."""
    found = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append((node, node.lineno))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit([n for n in getattr(node, field, []) if isinstance(n, ast.stmt)]
                          + [s for h in getattr(node, field, []) if isinstance(h, ast.ExceptHandler)
                             for s in h.body])

    visit(tree.body)
    return found


def _resolve(module: str) -> Path | None:
    top = module.split(".")[0]
    if top not in FIRST_PARTY:
        return None
    folder = ROOT / top.removesuffix("Lib")
    base = folder.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    """Dotted name of a file under a module folder: Y90Dosimetry/Y90DosimetryLib/dvh.py -> Y90DosimetryLib.dvh."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts[1:])
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _heavy_imports(path: Path, seen: set[Path] | None = None, chain: tuple[str, ...] = ()) -> list[str]:
    """Heavy imports reached at load time from ``path``, as 'file:line name (via ...)'."""
    seen = set() if seen is None else seen
    if path in seen:
        return []
    seen.add(path)
    problems = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    own = _module_name(path)
    for node, line in _load_time_imports(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif node.level:  # relative import inside a library package
            package = own if is_package else own.rsplit(".", 1)[0]
            for _ in range(node.level - 1):
                package = package.rsplit(".", 1)[0]
            base = f"{package}.{node.module}" if node.module else package
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] in HEAVY:
                via = f" (via {' -> '.join(chain)})" if chain else ""
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}{via}")
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__, a/b/c
                target = _resolve(".".join(parts[:depth]))
                if target is not None:
                    problems += _heavy_imports(target, seen, (*chain, str(path.relative_to(ROOT))))
    return problems


def _module_files() -> list[Path]:
    files = [path for folder in MODULE_FOLDERS for path in sorted((ROOT / folder).glob("[A-Z]*.py"))]
    assert len(files) >= 3
    return files


@pytest.mark.parametrize("path", _module_files(), ids=lambda p: p.name)
def test_module_file_loads_no_heavy_dependency(path: Path) -> None:
    problems = _heavy_imports(path)
    assert problems == [], "heavy imports at module load time:\n" + "\n".join(problems)


def test_static_check_finds_a_heavy_import(tmp_path: Path) -> None:
    """The checker itself: a top-level ``import scipy.ndimage`` and one under ``try`` are found; one inside a
    function or under ``if TYPE_CHECKING:`` is not."""
    source = ("import os\nimport scipy.ndimage\ntry:\n    from torch import nn\nexcept ImportError:\n    pass\n"
              "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pandas\n"
              "def f():\n    import monai\n")
    names = [ast.unparse(node) for node, _ in _load_time_imports(ast.parse(source))]
    assert names == ["import os", "import scipy.ndimage", "from torch import nn", "from typing import TYPE_CHECKING"]


# ---------------------------------------------------------------------------------------------------------
# slicer_helpers with a stand-in Slicer
# ---------------------------------------------------------------------------------------------------------
class _StandIn:
    """A ``slicer`` module with ``util``, ``i18n`` and ``pydeps``, recording what the helpers ask for."""

    def __init__(self, accept: bool, with_pydeps: bool = True) -> None:
        self.calls: list[tuple] = []
        self.accept = accept
        slicer = types.ModuleType("slicer")
        slicer.util = types.SimpleNamespace(confirmOkCancelDisplay=self._confirm, pip_install=self._pip_install)
        i18n = types.ModuleType("slicer.i18n")
        i18n.tr = lambda text: text
        slicer.i18n = i18n
        self.modules = {"slicer": slicer, "slicer.i18n": i18n}
        if with_pydeps:
            pydeps = types.ModuleType("slicer.pydeps")
            pydeps.pip_ensure = self._pip_ensure
            slicer.pydeps = pydeps
            self.modules["slicer.pydeps"] = pydeps

    def _confirm(self, text: str, windowTitle: str = "") -> bool:
        self.calls.append(("confirm", text))
        return self.accept

    def _pip_install(self, requirements) -> None:
        self.calls.append(("pip_install", list(requirements)))

    def _pip_ensure(self, requirements, constraints=None, skip_packages=None, prompt_install=True,
                    prompt_restart=True, requester=None, skip_in_testing=True, show_progress=True):
        self.calls.append(("pip_ensure", [str(r) for r in requirements], skip_packages, requester))
        if not self.accept:
            raise RuntimeError("User declined package installation")
        return None


@pytest.fixture
def requirements_file(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\npandas>=2.0  # tables\n\nmonai>=1.3\n")
    return path


def _install(monkeypatch: pytest.MonkeyPatch, stand_in: _StandIn) -> None:
    for name, module in stand_in.modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def test_requirements_go_through_pip_ensure_without_torch(monkeypatch, requirements_file) -> None:
    pytest.importorskip("packaging.requirements")
    stand_in = _StandIn(accept=True)
    _install(monkeypatch, stand_in)
    slicer_helpers.ensure_python_requirements(str(requirements_file), requester="Y-90 Dosimetry")
    assert stand_in.calls == [("pip_ensure", ["pandas>=2.0", "monai>=1.3"], ["torch", "torchvision"],
                               "Y-90 Dosimetry")]


def test_declining_gives_a_clear_message(monkeypatch, requirements_file) -> None:
    pytest.importorskip("packaging.requirements")
    _install(monkeypatch, _StandIn(accept=False))
    with pytest.raises(RequirementsDeclinedError, match=r"Y-90 Dosimetry cannot run without .*pandas>=2\.0, "
                                                        r"monai>=1\.3\. They were not installed"):
        slicer_helpers.ensure_python_requirements(str(requirements_file), requester="Y-90 Dosimetry")


def test_old_slicer_asks_then_installs_only_missing(monkeypatch, tmp_path) -> None:
    """Without ``slicer.pydeps``: a package installed here (pytest) is not asked for; a missing one is."""
    path = tmp_path / "requirements.txt"
    path.write_text("pytest>=7\nno-such-package-hccai>=1\n")
    stand_in = _StandIn(accept=True, with_pydeps=False)
    _install(monkeypatch, stand_in)
    slicer_helpers.ensure_python_requirements(str(path), requester="X")
    assert [c[0] for c in stand_in.calls] == ["confirm", "pip_install"]
    assert stand_in.calls[1] == ("pip_install", ["no-such-package-hccai>=1"])
    stand_in.calls.clear()
    stand_in.accept = False
    with pytest.raises(RequirementsDeclinedError, match="no-such-package-hccai"):
        slicer_helpers.ensure_python_requirements(str(path), requester="X")
    assert stand_in.calls[-1][0] == "confirm"


def test_torch_in_a_requirements_file_is_refused(tmp_path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("monai>=1.3\nTorch>=2.6\n")
    with pytest.raises(ValueError, match="PyTorch extension"):
        slicer_helpers.read_requirements(str(path))
    for shipped in sorted(ROOT.glob("*/Resources/requirements*.txt")):
        slicer_helpers.read_requirements(str(shipped))  # none of ours names torch


def test_pytorch_comes_from_the_pytorch_extension(monkeypatch) -> None:
    stand_in = _StandIn(accept=True)
    _install(monkeypatch, stand_in)
    monkeypatch.delitem(sys.modules, "PyTorchUtils", raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "PyTorch" not in p])
    with pytest.raises(RequirementsDeclinedError, match="install 'PyTorch' from the Extensions Manager"):
        slicer_helpers.ensure_pytorch("HCC Interventional AI")

    installs: list[dict] = []

    class Logic:  # PyTorchUtilsLogic's methods used (SlicerPyTorch, PyTorchUtils.py)
        def torchInstalled(self) -> bool:
            return False

        def installTorch(self, askConfirmation=False, forceComputationBackend=None, torchVersionRequirement=None,
                         torchvisionVersionRequirement=None):
            installs.append({"askConfirmation": askConfirmation, "torchVersionRequirement": torchVersionRequirement})
            return None  # the user cancelled

    monkeypatch.setitem(sys.modules, "PyTorchUtils", types.SimpleNamespace(PyTorchUtilsLogic=Logic))
    with pytest.raises(RequirementsDeclinedError, match="torch>=2.6"):
        slicer_helpers.ensure_pytorch("HCC Interventional AI")
    assert installs == [{"askConfirmation": True, "torchVersionRequirement": ">=2.6"}]
    assert not any(c[0] in ("pip_install", "pip_ensure") for c in stand_in.calls)


def test_pyradiomics_is_built_without_build_isolation(monkeypatch) -> None:
    monkeypatch.setattr(slicer_helpers, "_missing", lambda requirements: list(requirements))
    stand_in = _StandIn(accept=True)
    _install(monkeypatch, stand_in)
    slicer_helpers.ensure_pyradiomics("Radiomics")
    assert stand_in.calls[1:] == [("pip_install", ["setuptools", "wheel", "versioneer"]),
                                  ("pip_install", ["--no-build-isolation", "pyradiomics>=3.0.1"])]
    stand_in.calls.clear()
    stand_in.accept = False
    with pytest.raises(RequirementsDeclinedError, match="pyradiomics"):
        slicer_helpers.ensure_pyradiomics("Radiomics")
    assert [c[0] for c in stand_in.calls] == ["confirm"]
