"""An abdominal CT that cuts off the lungs must not make the lung mass (and so the lung dose) wrong silently."""

from __future__ import annotations

import numpy as np
import pytest

from HCCInterventionalAILib.imaging.volume import Geometry, Volume
from HCCInterventionalAILib.sample import make_sample_patient
from Y90DosimetryLib import plan_treatment


@pytest.fixture(scope="module")
def case():
    patient = make_sample_patient(seed=3, size="small")
    seg = patient.spect_truth_segmentation
    hu = np.full(patient.spect.shape, 40, dtype=np.int16)  # soft tissue everywhere ...
    hu[seg.mask("Lung")] = -750  # ... and uniformly aerated lung
    return patient, seg, Volume(hu, patient.spect.geometry, name="CT", modality="CT", units="HU")


def _lung_mass(result) -> float:
    return float(result.compartments.set_index("kind").loc["lung", "mass_kg"])


def test_cropped_ct_extrapolates_lung_mass_and_warns(case):
    """With uniform lung density, the mass from a CT covering only the caudal part of the lungs, extrapolated by
    the covered part's mean density, equals the mass from a CT covering all of it (same voxels, same HU)."""
    patient, seg, ct = case
    lung_slices = np.flatnonzero(seg.mask("Lung").any(axis=(1, 2)))
    keep = int(lung_slices[len(lung_slices) // 2])  # cut through the middle of the lungs
    g = ct.geometry
    cropped = Volume(ct.array[:keep], Geometry((keep, *g.shape[1:]), g.spacing, g.origin, g.direction), name="CT")
    kwargs = dict(method="partition", microsphere="glass", dose_method="none")
    full = plan_treatment(patient.spect, seg, ct=ct, **kwargs)
    partial = plan_treatment(patient.spect, seg, ct=cropped, **kwargs)
    assert not any("covers only" in w for w in full.warnings)
    assert any("covers only" in w and "lung" in w for w in partial.warnings)
    assert _lung_mass(partial) == pytest.approx(_lung_mass(full), rel=0.01)
    assert partial.prescription.lung.dose_gy == pytest.approx(full.prescription.lung.dose_gy, rel=0.01)


def test_lung_segment_cut_by_the_field_of_view_is_extended_and_flagged(small_patient):
    """The sample CT reaches only the lung bases, so its 'Lung' segment holds about a third of the lungs. Counting
    only that region underestimated the simulated 8% lung shunt as 3%; the plan must flag the cut segment and
    extend the lung region, giving the simulated value within 15% (SPECT blur and the approximate cranial region)."""
    patient = small_patient
    truth_lsf = patient.parameters["lung_shunt_fraction"]
    cut = plan_treatment(patient.spect, patient.truth, method="partition", microsphere="glass",
                         dose_method="none")
    assert any("field of view" in w and "Lung" in w for w in cut.warnings)
    assert cut.lung_shunt.lung_shunt_fraction == pytest.approx(truth_lsf, rel=0.15)
    whole = plan_treatment(patient.spect, patient.spect_truth_segmentation, method="partition",
                           microsphere="glass", dose_method="none")
    assert not any("field of view" in w for w in whole.warnings)
    assert whole.lung_shunt.lung_shunt_fraction == pytest.approx(truth_lsf, rel=0.05)
