"""AblationSimulatorLib.applicator: geometry checked against hand calculations (given in each case)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from AblationSimulatorLib import Applicator, applicators_table
from AblationSimulatorLib.applicator import TABLE_COLUMNS


@pytest.mark.parametrize(
    ("tip", "entry", "length", "angle"),
    [
        # Purely axial (in-plane) approach from the patient's left: L = 50, the shaft lies in z = 0 → 0°.
        ((0.0, 0.0, 0.0), (50.0, 0.0, 0.0), 50.0, 0.0),
        # Purely cranio-caudal: L = 80 along S → 90°.
        ((10.0, 20.0, 30.0), (10.0, 20.0, 110.0), 80.0, 90.0),
        # 3-4-5 triangle: in-plane component 3 (P), out-of-plane 4 (S): L = 5, θ = atan(4/3) = 53.130102°.
        ((0.0, 0.0, 0.0), (0.0, 3.0, 4.0), 5.0, math.degrees(math.atan2(4.0, 3.0))),
        # Equal in-plane and out-of-plane components (1, 1, √2): L = 2, θ = atan(√2/√2) = 45°.
        ((1.0, 1.0, 1.0), (2.0, 2.0, 1.0 + math.sqrt(2.0)), 2.0, 45.0),
        # Needle heading cranially instead of caudally gives the same (unsigned) angle: 30° (sin 30° = 0.5).
        ((0.0, 0.0, 0.0), (math.sqrt(3.0) * 10.0, 0.0, -10.0), 20.0, 30.0),
    ],
)
def test_length_and_angle(tip, entry, length, angle):
    applicator = Applicator(tip, entry, "A")
    assert applicator.length_mm == pytest.approx(length, abs=1e-9)
    assert applicator.insertion_angle_deg == pytest.approx(angle, abs=1e-9)
    np.testing.assert_allclose(np.linalg.norm(applicator.direction_lps), 1.0, atol=1e-12)


def test_direction_points_from_entry_to_tip():
    # entry (0, 3, 4) → tip (0, 0, 0): direction = (0, −3, −4)/5 = (0, −0.6, −0.8) in LPS.
    applicator = Applicator((0, 0, 0), (0, 3, 4))
    np.testing.assert_allclose(applicator.direction_lps, [0.0, -0.6, -0.8], atol=1e-12)
    # In RAS the first two components flip sign: (0, 0.6, −0.8).
    np.testing.assert_allclose(applicator.direction_ras, [0.0, 0.6, -0.8], atol=1e-12)
    # 2 mm back from the tip towards the entry: (0, 1.2, 1.6).
    np.testing.assert_allclose(applicator.point_from_tip(2.0), [0.0, 1.2, 1.6], atol=1e-12)


def test_ras_round_trip():
    # RAS (10, −20, 5) is LPS (−10, 20, 5).
    applicator = Applicator.from_ras((10.0, -20.0, 5.0), (40.0, -20.0, 45.0), "Needle")
    assert applicator.tip_lps == (-10.0, 20.0, 5.0)
    assert applicator.entry_lps == (-40.0, 20.0, 45.0)
    assert applicator.tip_ras == (10.0, -20.0, 5.0)
    assert applicator.entry_ras == (40.0, -20.0, 45.0)
    # Δ = (30, 0, 40): L = 50, θ = atan(40/30) = 53.13°, the same in RAS and LPS.
    assert applicator.length_mm == pytest.approx(50.0)
    assert applicator.insertion_angle_deg == pytest.approx(math.degrees(math.atan2(40, 30)))


@pytest.mark.parametrize(
    ("tip", "entry"),
    [((0, 0, 0), (0, 0, 0)), ((0, 0, float("nan")), (1, 0, 0)), ((0, 0), (1, 0, 0)), ((0, 0, 0), (1, 0, float("inf")))],
)
def test_bad_input_is_refused(tip, entry):
    with pytest.raises(ValueError):
        Applicator(tip, entry)


def test_table():
    table = applicators_table([Applicator((0, 0, 0), (0, 3, 4), "A1"), Applicator.from_ras((1, 2, 3), (1, 2, 13), "A2")])
    assert list(table.columns) == TABLE_COLUMNS
    assert list(table["Applicator"]) == ["A1", "A2"]
    # A1 entry LPS (0, 3, 4) is RAS (0, −3, 4).
    assert tuple(table.loc[0, ["Entry R (mm)", "Entry A (mm)", "Entry S (mm)"]]) == (0.0, -3.0, 4.0)
    assert table.loc[1, "Length (mm)"] == pytest.approx(10.0)
    assert table.loc[1, "Angle to axial plane (deg)"] == pytest.approx(90.0)
    assert applicators_table([]).empty


def test_to_dict_is_json_ready():
    import json

    data = json.loads(json.dumps(Applicator((0, 0, 0), (0, 3, 4), "A").to_dict()))
    assert data["length_mm"] == pytest.approx(5.0)
    assert data["tip_ras"] == [0.0, 0.0, 0.0] or data["tip_ras"] == [-0.0, -0.0, 0.0]
