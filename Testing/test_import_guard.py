"""Importing the libraries pulls in no GUI, no MRML/VTK and no deep-learning framework.

Each check runs in a FRESH interpreter (``sys.modules`` of the test process is polluted by other tests):
it imports the packages and every submodule found by walking them with ``pkgutil``, one by one, and
blames each forbidden top-level module that appears in ``sys.modules`` on the first library module that
brought it in. Those must be imported lazily, inside the functions
that need them: the libraries also run outside Slicer (CLI, tests, CI) where Qt and MRML are absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

PACKAGES = [
    "HCCInterventionalAILib",
    "HCCInterventionalAILib.imaging",
    "HCCInterventionalAILib.models",
    "HCCInterventionalAILib.scene",
    "HCCInterventionalAILib.sample",
    "AblationSimulatorLib",
    "Y90DosimetryLib",
]
FORBIDDEN = ["qt", "ctk", "slicer", "vtk", "vtkmodules", "torch", "monai", "trame", "wslink"]

#: Submodules that exist to run *inside* a framework and may import it at the top (none today).
ALLOWED: dict[str, set[str]] = {}

SCRIPT = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    packages, forbidden = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    names, errors = [], {}
    for package in packages:
        try:
            module = importlib.import_module(package)
        except Exception as error:  # report, do not hide
            errors[package] = f"{type(error).__name__}: {error}"
            continue
        names.append(package)
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=package + ".",
                                          onerror=lambda name: errors.setdefault(name, "walk failed")):
            names.append(info.name)
    names = sorted(set(names))
    offenders = {}
    for name in names:  # a forbidden module is blamed on the first library module that brought it in
        try:
            importlib.import_module(name)
        except Exception as error:
            errors[name] = f"{type(error).__name__}: {error}"
        loaded = {m.split(".")[0] for m in sys.modules}
        bad = sorted(f for f in forbidden if f in loaded and not any(f in v for v in offenders.values()))
        if bad:
            offenders[name] = bad
    print(json.dumps({"modules": names, "offenders": offenders, "errors": errors}))
    """
)


@pytest.fixture(scope="module")
def report():
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(PACKAGES), json.dumps(FORBIDDEN)],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_libraries_import(report):
    assert not report["errors"], f"Library modules that fail to import headless: {report['errors']}"
    for package in PACKAGES:
        assert package in report["modules"]


def test_no_gui_mrml_or_torch_at_import(report):
    offenders = {
        name: [f for f in bad if f not in ALLOWED.get(name, set())]
        for name, bad in report["offenders"].items()
    }
    offenders = {name: bad for name, bad in offenders.items() if bad}
    assert not offenders, (
        "These library modules import GUI/MRML/torch at import time; import them inside the functions that "
        f"need them: {offenders}"
    )
