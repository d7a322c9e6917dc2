"""DVH metrics, BED of a permanent Y-90 implant and EUD against hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_y90_support import HALF_LIFE_H

from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.volume import Volume
from Y90DosimetryLib import (
    MissingStructureError,
    Y90InputError,
    bed_permanent_implant,
    cumulative_dvh,
    dose_statistics,
    dose_statistics_table,
    dvh_table,
    eqd2,
    equivalent_uniform_dose,
)
from Y90DosimetryLib.dvh import dose_at_volume, volume_at_dose
from Y90DosimetryLib.radiobiology import tissue_bed

ONE_TO_HUNDRED = np.arange(1.0, 101.0)


@pytest.mark.parametrize("percent, expected", [(2, 99.0), (50, 51.0), (70, 31.0), (90, 11.0), (98, 3.0),
                                               (100, 1.0), (0.5, 100.0)])
def test_dose_at_volume_on_one_to_hundred(percent, expected):
    """Voxels of 1, 2, …, 100 Gy: the hottest 70% are 31…100 Gy, so D70 = 31 Gy (D_x = d_(⌈x·N/100⌉), descending)."""
    assert dose_at_volume(ONE_TO_HUNDRED, percent) == expected


@pytest.mark.parametrize("threshold, expected", [(100, 1.0), (50, 51.0), (0, 100.0), (100.5, 0.0), (205, 0.0)])
def test_volume_at_dose(threshold, expected):
    assert volume_at_dose(ONE_TO_HUNDRED, threshold) == expected


def test_cumulative_dvh():
    dvh = cumulative_dvh(ONE_TO_HUNDRED, bin_width_gy=1.0)
    assert dvh["volume_%"].iloc[0] == 100.0
    assert np.all(np.diff(dvh["volume_%"]) <= 0)
    assert dvh.loc[dvh["dose_Gy"] == 50.0, "volume_%"].item() == 51.0
    assert dvh["volume_%"].iloc[-1] == 1.0  # at 100 Gy


def test_bed_by_hand():
    """Normal liver, D = 100 Gy, α/β = 2.5 Gy, T_rep = 2.5 h, T½ = 64.1 h:
    BED = 100·(1 + 100·2.5/((2.5 + 64.1)·2.5)) = 100·(1 + 100/66.6) = 250.150 Gy.
    Tumour, D = 200 Gy, α/β = 10 Gy, T_rep = 1.5 h: BED = 200·(1 + 200·1.5/(65.6·10)) = 291.463 Gy."""
    assert bed_permanent_implant(100.0, 2.5, 2.5) == pytest.approx(250.1502, abs=1e-4)
    assert bed_permanent_implant(200.0, 10.0, 1.5) == pytest.approx(291.4634, abs=1e-4)
    assert tissue_bed(100.0, "normal_liver") == pytest.approx(250.1502, abs=1e-4)
    assert tissue_bed(200.0, "hcc_tumour") == pytest.approx(291.4634, abs=1e-4)


@pytest.mark.parametrize("dose, ab, trep", [(50.0, 2.5, 2.5), (120.0, 10.0, 1.5), (300.0, 3.0, 0.5)])
def test_bed_equals_dales_rate_form(dose, ab, trep):
    """Dale 1985 in decay constants: BED = D·(1 + D·λ/((μ + λ)·α/β)), λ = ln2/T_phys, μ = ln2/T_rep."""
    lam, mu = math.log(2) / HALF_LIFE_H, math.log(2) / trep
    assert bed_permanent_implant(dose, ab, trep) == pytest.approx(dose * (1 + dose * lam / ((mu + lam) * ab)))
    voxels = np.array([0.0, dose, 2 * dose])
    np.testing.assert_allclose(bed_permanent_implant(voxels, ab, trep),
                               [0.0, bed_permanent_implant(dose, ab, trep), bed_permanent_implant(2 * dose, ab, trep)])


def test_eqd2():
    """EQD2 = BED/(1 + 2/(α/β)): 250.15/(1 + 0.8) = 138.97 Gy."""
    assert eqd2(250.1502, 2.5) == pytest.approx(138.9723, abs=1e-4)


def test_eud():
    """Uniform dose: EUD = D. Two equal voxels {0, 100 Gy}, α = 0.01/Gy: EUD = −ln((1 + e^−1)/2)/0.01 = 37.988 Gy
    (≤ mean 50 Gy: cold spots dominate)."""
    assert equivalent_uniform_dose(np.full(10, 80.0), 0.01) == pytest.approx(80.0)
    assert equivalent_uniform_dose(np.array([0.0, 100.0]), 0.01) == pytest.approx(37.988, abs=1e-3)
    assert equivalent_uniform_dose(np.array([0.0, 100.0]), 0.01, weights=np.array([3.0, 1.0])) == pytest.approx(
        -math.log((3 + math.exp(-1)) / 4) / 0.01)
    assert equivalent_uniform_dose(np.array([1e5, 1e5 + 10]), 1.0) == pytest.approx(1e5 + 0.0, abs=1.0)  # no overflow
    with pytest.raises(Y90InputError):
        equivalent_uniform_dose(np.array([]), 0.01)
    with pytest.raises(Y90InputError):
        equivalent_uniform_dose(np.array([1.0]), 0.0)


def test_dose_statistics_with_radiobiology():
    dose = Volume.from_array(ONE_TO_HUNDRED.reshape(4, 5, 5), spacing=(2.0, 2.0, 2.0), units="Gy")
    stats = dose_statistics(dose, name="T", tissue="hcc_tumour")
    assert stats.mean_gy == pytest.approx(50.5)
    assert stats.d_gy["D70"] == 31.0 and stats.v_percent["V100"] == 1.0
    assert stats.volume_ml == pytest.approx(100 * 0.008)
    assert stats.mean_bed_gy == pytest.approx(np.mean(bed_permanent_implant(ONE_TO_HUNDRED, 10.0, 1.5)))
    assert stats.eud_gy == pytest.approx(equivalent_uniform_dose(ONE_TO_HUNDRED, 0.005))
    assert stats.eud_gy < stats.mean_gy
    row = stats.row()
    assert row["D70_Gy"] == 31.0 and row["V205_%"] == 0.0 and row["radiobiology"] == "hcc_tumour"


def test_tables_per_structure_and_empty_structures():
    dose = Volume.from_array(ONE_TO_HUNDRED.reshape(4, 5, 5), spacing=(2.0, 2.0, 2.0), units="Gy")
    seg = Segmentation(dose.geometry)
    hot = dose.array >= 51
    seg.add("Tumor 1", hot)
    seg.add("liver", np.ones(dose.shape, bool))
    seg.add("empty", np.zeros(dose.shape, bool))
    table, warnings = dose_statistics_table(dose, seg, tissues={"Tumor 1": "hcc_tumour", "liver": "normal_liver"})
    assert list(table["structure"]) == ["Tumor 1", "liver"]
    assert table.set_index("structure").loc["Tumor 1", "mean_Gy"] == pytest.approx(75.5)
    assert any("empty" in w for w in warnings)
    with pytest.raises(MissingStructureError):
        dose_statistics_table(dose, seg, skip_empty=False)
    curves = dvh_table(dose, seg)
    assert set(curves["structure"]) == {"Tumor 1", "liver"}
    assert curves.groupby("structure")["dose_Gy"].max().nunique() == 1  # shared dose axis


# -- bad inputs: clear Y90InputErrors --------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda: dose_statistics(np.array([-1.0, -1.0, 5.0])),          # D50 was −1 Gy
    lambda: dose_at_volume(np.array([-1.0, 2.0]), 50),
    lambda: volume_at_dose(np.array([-1.0, 2.0]), 1.0),
    lambda: cumulative_dvh(np.array([-0.5, 2.0])),
    lambda: dose_statistics(np.array([1.0, np.nan])),
    lambda: dose_at_volume(ONE_TO_HUNDRED, float("nan")),
    lambda: dose_at_volume(ONE_TO_HUNDRED, 0.0),
    lambda: dose_at_volume(ONE_TO_HUNDRED, 100.5),
    lambda: volume_at_dose(ONE_TO_HUNDRED, float("nan")),          # silently 0% before
    lambda: volume_at_dose(ONE_TO_HUNDRED, -5.0),
    lambda: cumulative_dvh(ONE_TO_HUNDRED, bin_width_gy=0.0),
    lambda: cumulative_dvh(ONE_TO_HUNDRED, bin_width_gy=float("inf")),
    lambda: cumulative_dvh(ONE_TO_HUNDRED, bin_width_gy=1e-9),     # 1e11 bins: refused, not a MemoryError
    lambda: cumulative_dvh(ONE_TO_HUNDRED, max_dose_gy=-1.0),
    lambda: dose_statistics(ONE_TO_HUNDRED, voxel_volume_ml=-0.1),
])
def test_dvh_statistics_refuse_meaningless_input(call):
    with pytest.raises(Y90InputError):
        call()


def test_empty_structure_is_a_missing_structure_error():
    with pytest.raises(MissingStructureError):
        dose_at_volume(np.array([]), 50)


@pytest.mark.parametrize("call", [
    lambda: bed_permanent_implant(-1.0, 2.5, 2.5),
    lambda: bed_permanent_implant(100.0, float("nan"), 2.5),
    lambda: bed_permanent_implant(100.0, float("inf"), 2.5),
    lambda: bed_permanent_implant(100.0, 2.5, float("inf")),        # BED = NaN before
    lambda: bed_permanent_implant(100.0, 2.5, 2.5, 0.0),
    lambda: bed_permanent_implant(1e200, 2.5, 2.5),                  # D² overflows
    lambda: eqd2(-5.0, 2.5),
    lambda: eqd2(float("nan"), 2.5),
    lambda: eqd2(100.0, 0.0),
    lambda: eqd2(np.array([100.0, -1.0]), 3.0),
    lambda: equivalent_uniform_dose(np.array([-10.0, 10.0]), 0.01),
    lambda: equivalent_uniform_dose(np.array([10.0, np.nan]), 0.01),
    lambda: equivalent_uniform_dose(np.array([10.0]), float("inf")),
    lambda: equivalent_uniform_dose(np.array([10.0, 20.0]), 0.01, weights=np.array([1.0, np.inf])),
    lambda: equivalent_uniform_dose(np.array([10.0, 20.0]), 0.01, weights=np.array([0.0, 0.0])),
    lambda: equivalent_uniform_dose(np.array([1e308, 1e308]), 10.0),  # α·D overflows
])
def test_radiobiology_refuses_meaningless_input(call):
    with pytest.raises(Y90InputError):
        call()


def test_eqd2_of_arrays_by_hand():
    """EQD2 = BED/(1 + 2/(α/β)) element-wise: α/β = 3 Gy → ×0.6: [0, 100, 250] → [0, 60, 150] Gy."""
    np.testing.assert_allclose(eqd2(np.array([0.0, 100.0, 250.0]), 3.0), [0.0, 60.0, 150.0])
