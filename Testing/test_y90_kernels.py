"""Y-90 dose kernels against the published voxel S-values (Lanconelli et al., Phys Med Biol 2012;57:517).

The reference tables are read in place from ``../shared/data/y90/voxel-s-values`` (never copied).
Expected point-source dose from a table: D(Δ) = S(Δ)[mGy/(MBq·s)] · 1e-3 Gy/mGy · A[MBq] · τ[s] with
τ = T½/ln 2 = 64.1 h/ln 2 = 332 915 s (complete decay in place).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_y90_support import MEAN_LIFE_S, SVALUE_DIR, needs_svalues, svalue_files

from HCCInterventionalAILib.imaging.volume import Volume
from Y90DosimetryLib import Y90InputError, dose_kernel, kernel_convolution_dose, local_deposition_dose
from Y90DosimetryLib.kernels import (
    fit_radial_kernel,
    mirror_octant,
    radial_kernel_model,
    read_svalue_table,
)

FILES = svalue_files()
MEDIUM_DENSITY = {"soft": 1.04, "bone": 1.85}  # g/ml, the media of the tables (data SOURCE.md, ICRU)


def test_mirror_octant_by_hand():
    """Octant [[[a, b], [b, c]], [[b, c], [c, d]]] → 3×3×3 with the centre a and corners d."""
    a, b, c, d = 8.0, 4.0, 2.0, 1.0
    octant = np.array([[[a, b], [b, c]], [[b, c], [c, d]]])
    full = mirror_octant(octant)
    assert full.shape == (3, 3, 3)
    assert full[1, 1, 1] == a
    assert full[0, 1, 1] == full[2, 1, 1] == full[1, 0, 1] == full[1, 1, 2] == b
    assert full[0, 0, 0] == full[2, 2, 2] == full[0, 2, 0] == d
    assert full.sum() == a + 6 * b + 12 * c + 8 * d


@needs_svalues
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_tables_parse_and_are_symmetric(path):
    table = read_svalue_table(path)
    assert table.octant.shape == (6, 6, 6)
    assert table.medium in ("soft", "bone") and f"{table.voxel_size_mm:g}mm" in path.name
    assert table.octant[0, 0, 0] == table.octant.max()
    for axes in ((1, 0, 2), (0, 2, 1), (2, 1, 0)):
        np.testing.assert_allclose(table.octant, table.octant.transpose(axes), rtol=1e-12)


def _point_source(size: float, medium: str, method: str):
    """1 GBq in the centre voxel of a 15³ grid of the medium; returns (dose volume, centre index)."""
    shape = (15, 15, 15)
    activity = np.zeros(shape)
    activity[7, 7, 7] = 1.0
    volume = Volume.from_array(activity, spacing=(size,) * 3, name="point", units="GBq")
    dose = kernel_convolution_dose(volume, density=MEDIUM_DENSITY[medium], backend="numpy",
                                   kernel=dose_kernel((size,) * 3, medium=medium, method=method,
                                                      tables_dir=SVALUE_DIR if method == "table" else None))
    return dose, 7


@needs_svalues
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_point_source_reproduces_the_svalue_table(path):
    """Every kernel voxel holding ≥ 1% of the centre S-value is reproduced within 2% (FFT convolution with the
    tabulated kernel, dose constant 49.67, kernel normalised to complete absorption)."""
    table = read_svalue_table(path)
    dose, c = _point_source(table.voxel_size_mm, table.medium, "table")
    assert dose.metadata["kernel"]["method"] == "table"
    expected = table.full() * 1e-3 * 1e3 * MEAN_LIFE_S  # S·(Gy/mGy)·(MBq per GBq)·τ
    n = expected.shape[0] // 2
    got = dose.array[c - n:c + n + 1, c - n:c + n + 1, c - n:c + n + 1]
    significant = expected >= 0.01 * expected.max()
    np.testing.assert_allclose(got[significant], expected[significant], rtol=0.02)


@needs_svalues
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_radial_model_reproduces_each_table(path):
    """The radial model computed for the table's voxel size (without using the table) reproduces it:
    soft tissue within 2% (fit), bone within 3.5% (density scaling 1.04 → 1.85 g/ml of the soft-tissue fit)."""
    table = read_svalue_table(path)
    dose, c = _point_source(table.voxel_size_mm, table.medium, "radial-model")
    assert dose.metadata["kernel"]["method"] == "radial-model"
    expected = table.full() * 1e-3 * 1e3 * MEAN_LIFE_S
    n = expected.shape[0] // 2
    got = dose.array[c - n:c + n + 1, c - n:c + n + 1, c - n:c + n + 1]
    significant = expected >= 0.01 * expected.max()
    tolerance = 0.02 if table.medium == "soft" else 0.035
    np.testing.assert_allclose(got[significant], expected[significant], rtol=tolerance)


@pytest.mark.parametrize("spacing, method", [
    ((4.42, 4.42, 4.42), "auto"),
    ((4.42, 4.42, 2.5), "radial-model"),   # the Taranis SPECT grid
    ((2.21, 2.21, 2.21), "radial-model"),
    ((3.0, 5.0, 4.0), "radial-model"),
])
def test_large_uniform_activity_gives_local_deposition_inside(spacing, method, monkeypatch):
    """Uniform activity over a 40³-voxel block: the kernel dose ≥ 14 mm (beyond the 12 mm beta range plus a
    voxel) from the block's surface equals the local-deposition dose K·A/(ρV) within 1%."""
    if SVALUE_DIR.is_dir():
        monkeypatch.setenv("HCCAI_Y90_SVALUE_DIR", str(SVALUE_DIR))
    activity = np.zeros((46, 46, 46))
    activity[3:43, 3:43, 3:43] = 1e-3
    volume = Volume.from_array(activity, spacing=spacing, name="uniform", units="GBq")
    kernel_dose = kernel_convolution_dose(volume, backend="numpy", kernel_method=method)
    ldm = local_deposition_dose(volume)
    margins = [3 + int(np.ceil(14.0 / s)) for s in spacing[::-1]]
    interior = tuple(slice(m, 46 - m) for m in margins)
    np.testing.assert_allclose(kernel_dose.array[interior], ldm.array[interior], rtol=0.01)
    # and energy is conserved: the grid holds all emitted energy (activity ≥ 3 voxels from the edge of 46)
    assert kernel_dose.array.sum() == pytest.approx(ldm.array.sum(), rel=0.02)


def test_radial_model_shape_and_x90():
    """F(0) = 0, F(12 mm) = 1, monotone; X90 (radius holding 90% of the energy) of Y-90 in water ≈ 5.3 mm
    (Berger, MIRD Pamphlet 7, 1971; Cross et al. 1992) — the fit to the voxel tables gives it within 0.15 mm."""
    model = radial_kernel_model()
    r = np.linspace(0, 12, 241)
    f = model.cumulative_fraction(r)
    assert f[0] == 0.0 and f[-1] == pytest.approx(1.0)
    assert np.all(np.diff(f) >= 0)
    assert model.radius_for_fraction(0.9) == pytest.approx(5.3, abs=0.15)
    # scaling theorem: in bone (1.85 g/ml) the same fraction is reached at r·1.04/1.85
    assert model.cumulative_fraction(3.0 * 1.04 / 1.85, 1.85) == pytest.approx(model.cumulative_fraction(3.0))


def test_anisotropic_kernel_is_consistent_under_axis_swaps():
    """A kernel for voxels (a, b, c) is the (k,j,i)-transposed kernel for (c, b, a); it sums to 1 and is
    symmetric under reflection of each axis."""
    k1 = dose_kernel((4.0, 4.0, 2.5), method="radial-model").array
    k2 = dose_kernel((2.5, 4.0, 4.0), method="radial-model").array
    np.testing.assert_allclose(k1, k2.transpose(2, 1, 0), atol=1e-12)
    assert k1.sum() == pytest.approx(1.0)
    for axis in range(3):
        np.testing.assert_allclose(k1, np.flip(k1, axis), atol=1e-12)


def test_kernel_errors():
    with pytest.raises(Y90InputError):
        dose_kernel((4.0, 4.0, 4.0), method="table", tables_dir="/nonexistent")
    with pytest.raises(Y90InputError):
        dose_kernel((4.0, 0.0, 4.0))
    with pytest.raises(Y90InputError):
        dose_kernel((4.0, 4.0, 4.0), medium="lead")
    with pytest.raises(Y90InputError):
        dose_kernel((0.05, 0.05, 0.05))


@pytest.mark.slow
@needs_svalues
def test_refit_reproduces_the_stored_radial_model():
    """Re-fitting the 13 soft-tissue tables gives the preset's model: voxel kernels agree within 0.5%."""
    tables = [read_svalue_table(p) for p in FILES if p.name.endswith("soft.txt")]
    model, report = fit_radial_kernel(tables)
    assert max(report["max_relative_error_by_voxel_mm"].values()) < 0.015
    stored = radial_kernel_model()
    for spacing in ((4.42,) * 3, (4.42, 4.42, 2.5), (2.21,) * 3):
        np.testing.assert_allclose(model.voxel_kernel(spacing), stored.voxel_kernel(spacing), rtol=5e-3, atol=1e-6)
