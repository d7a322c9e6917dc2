"""Shared test fixtures.

* ``sample_patient`` / ``small_patient``: the standard and the small synthetic patient (seed 7), generated once
  per test session. Their arrays are made read-only so a test that modifies them in place fails instead of
  silently changing what later tests see; copy first (``volume.array.copy()``) to modify.
* ``mrml_scene``: a fresh REAL ``vtkMRMLScene`` (slicer-core) with the module logics registered, released after
  the test; skips without slicer-core.
* ``headless`` (+ ``hcc``, ``y90``, ``ablation``, ``gui``, ``sample``): the Slicer modules loaded headless on a real
  scene through the stand-ins of ``Testing/slicer_stubs.py``; see there for what is and is not real.

Skip helpers for optional dependencies are in ``Testing/optional_deps.py`` (importable from test modules).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from optional_deps import require_mrml


def _read_only(patient: Any) -> Any:
    """Make every voxel array and mask of a sample patient read-only (it is shared by the whole session)."""
    for volume in [*patient.ct.values(), patient.spect, patient.spect_truth, patient.tissues]:
        volume.array.flags.writeable = False
    for segmentation in (patient.truth, patient.spect_truth_segmentation):
        for segment in segmentation:
            segment.mask.flags.writeable = False
    return patient


@pytest.fixture(scope="session")
def sample_patient():
    """The standard synthetic patient, seed 7 (CT 192×192×100 of 2×2×3 mm; a few seconds to generate)."""
    from HCCInterventionalAILib.sample import make_sample_patient

    return _read_only(make_sample_patient(seed=7))


@pytest.fixture(scope="session")
def small_patient():
    """The small synthetic patient, seed 7 (CT 96×96×48 of 4×4×6 mm, SPECT 64×64×50 of 8.84 mm)."""
    from HCCInterventionalAILib.sample import make_sample_patient

    return _read_only(make_sample_patient(seed=7, size="small"))


@pytest.fixture
def mrml_scene() -> Iterator[Any]:
    """A new real MRML scene (module logics registered, see ``scene.new_scene``), released afterwards."""
    require_mrml()
    from HCCInterventionalAILib.scene import new_scene, release_scene

    scene = new_scene()
    yield scene
    release_scene(scene)


# -- the Slicer modules headless (Testing/slicer_stubs.py) ---------------------------------------------------
@pytest.fixture
def headless(monkeypatch):
    """Stand-ins installed and a fresh real scene as ``slicer.mrmlScene``; all undone afterwards."""
    require_mrml()
    import slicer_stubs

    env = slicer_stubs.install(monkeypatch)
    yield env
    env.close()


@pytest.fixture
def hcc(headless):
    """The HCCInterventionalAI module file, loaded headless."""
    return headless.load("HCCInterventionalAI")


@pytest.fixture
def y90(headless, hcc):
    """The Y90Dosimetry module file, loaded headless (after HCCInterventionalAI, as in Slicer)."""
    return headless.load("Y90Dosimetry")


@pytest.fixture
def ablation(headless):
    """The AblationSimulator module file, loaded headless."""
    return headless.load("AblationSimulator")


@pytest.fixture
def sample(hcc):
    """The small synthetic patient's nodes in the headless scene (not shown: no layout headless)."""
    return hcc.HCCInterventionalAILogic().loadSamplePatient(seed=7, size="small", show=False)


@pytest.fixture
def gui(headless):
    """The widget stand-ins on top of ``headless``; returns the fake ``slicer.app``."""
    import slicer_stubs

    return slicer_stubs.install_gui(headless)
