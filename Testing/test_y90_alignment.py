"""A segmentation that does not lie on the images (mirrored left-right, shifted 5 cm, rotated 30°) must be refused,
not planned: on the sample patient such plans gave lung shunts of 29.7%, 13.8% and 11.4% against 8.6%."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from HCCInterventionalAILib.imaging.volume import Geometry, Volume
from Y90DosimetryLib import MisregistrationError, check_alignment, plan_treatment

PLAN = dict(method="partition", microsphere="glass", dose_method="none")


def _moved(segmentation, geometry, *, mirror: bool = False):
    moved = copy.deepcopy(segmentation)
    moved.geometry = geometry
    for segment in moved:
        segment.mask = np.ascontiguousarray(segment.mask[:, :, ::-1]) if mirror else segment.mask.copy()
    return moved


def _rotated_about_centre(geometry: Geometry, degrees: float) -> Geometry:
    """The same grid turned about the superior axis through its centre."""
    t = np.deg2rad(degrees)
    rotation = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    centre_index = (np.array(geometry.shape[::-1]) - 1) / 2.0
    centre = geometry.physical_points(centre_index)[0]
    direction = rotation @ geometry.direction_matrix
    origin = centre - direction @ (np.diag(geometry.spacing) @ centre_index)
    return Geometry(geometry.shape, geometry.spacing, tuple(origin), tuple(map(tuple, direction)))


@pytest.fixture(scope="module")
def cases(sample_patient):
    truth = sample_patient.truth.subset("Liver", "Tumor 1", "Tumor 2", "Lung")
    g = truth.geometry
    shifted = Geometry(g.shape, g.spacing, (g.origin[0] + 50.0, g.origin[1], g.origin[2]), g.direction)
    return {
        "mirrored left-right": _moved(truth, g, mirror=True),
        "shifted 5 cm": _moved(truth, shifted),
        "rotated 30°": _moved(truth, _rotated_about_centre(g, 30.0)),
    }


@pytest.mark.parametrize("case", ["mirrored left-right", "shifted 5 cm", "rotated 30°"])
def test_misregistered_segmentations_are_refused_with_an_override(sample_patient, cases, case):
    with pytest.raises(MisregistrationError, match="does not lie on the liver uptake") as error:
        plan_treatment(sample_patient.spect, cases[case], **PLAN)
    assert "allow_misregistration" in str(error.value)
    forced = plan_treatment(sample_patient.spect, cases[case], allow_misregistration=True, **PLAN)
    assert any(w.startswith("Alignment check overridden") for w in forced.warnings)
    assert forced.parameters["alignment"]["capture_ratio"] < 0.9


def test_registered_segmentations_pass(sample_patient):
    """The ground truth on the CT grid and on the SPECT grid both lie on the uptake: capture ratio 1 (the liver
    mask as placed captures at least as many counts as any shifted copy)."""
    for segmentation in (sample_patient.truth, sample_patient.spect_truth_segmentation):
        result = plan_treatment(sample_patient.spect, segmentation, ct=sample_patient.ct["portal venous"], **PLAN)
        alignment = result.parameters["alignment"]
        assert alignment["capture_ratio"] >= 0.99 and alignment["problems"] == []
        assert alignment["liver_soft_tissue_share"] > 0.95 and alignment["lung_aerated_share"] > 0.9


def test_ct_that_does_not_match_the_segmentation_is_refused(sample_patient):
    """A CT 6 cm off (cranially) puts the liver segment into the lung bases and air: refused on CT anatomy."""
    ct = sample_patient.ct["portal venous"]
    g = ct.geometry
    moved = Volume(ct.array, Geometry(g.shape, g.spacing, (g.origin[0], g.origin[1], g.origin[2] - 60.0),
                                      g.direction), name="shifted CT", modality="CT", units="HU")
    with pytest.raises(MisregistrationError, match="on the CT"):
        plan_treatment(sample_patient.spect, sample_patient.spect_truth_segmentation, ct=moved, **PLAN)


def test_capture_ratio_against_a_hand_made_image():
    """A uniform hot box and a box mask: mask on the box → 1; mask half off → 0.5 of the best (the box)."""
    counts = np.zeros((20, 20, 20))
    counts[5:15, 5:15, 5:15] = 1.0
    image = Volume(counts, Geometry((20, 20, 20), (2.0, 2.0, 2.0)), name="box")
    mask = counts > 0
    assert check_alignment(counts, image, mask).capture_ratio == pytest.approx(1.0)
    half = np.roll(mask, 5, axis=2)
    report = check_alignment(counts, image, half, allow=True)
    assert report.capture_ratio == pytest.approx(0.5)
    assert report.best_shift_mm == pytest.approx((-10.0, 0.0, 0.0))
