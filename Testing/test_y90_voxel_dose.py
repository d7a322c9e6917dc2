"""Voxel dosimetry: counts → activity, local deposition, FFT convolution (scipy and torch), density correction."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from test_y90_support import K_CONVENTIONAL, box_phantom

from HCCInterventionalAILib.imaging.volume import GeometryMismatchError, Volume
from HCCInterventionalAILib.progress import Cancelled, CancelToken, Progress
from Y90DosimetryLib import (
    MissingStructureError,
    NegativeCountsError,
    Y90InputError,
    ZeroActivityError,
    activity_from_counts,
    dose_kernel,
    kernel_convolution_dose,
    local_deposition_dose,
)
from Y90DosimetryLib.tissue import density_from_hu, density_volume_from_ct
from Y90DosimetryLib.voxel_dose import fft_convolve, resolve_backend

HAS_TORCH = importlib.util.find_spec("torch") is not None


def _cuda() -> bool:
    if not HAS_TORCH:
        return False
    import torch

    return torch.cuda.is_available()


def test_local_deposition_by_hand():
    """1 GBq in one 4×4×4 mm voxel (0.064 ml) of liver (1.03 g/ml): m = 6.592e-5 kg,
    D = 49.67/6.592e-5 = 753 489 Gy; with density 0.3 g/ml (lung): 49.67/1.92e-5 = 2 586 979 Gy."""
    a = np.zeros((3, 3, 3))
    a[1, 1, 1] = 1.0
    volume = Volume.from_array(a, spacing=(4.0, 4.0, 4.0), units="GBq")
    dose = local_deposition_dose(volume)
    assert dose.array[1, 1, 1] == pytest.approx(753_489.1, rel=1e-6)
    assert dose.units == "Gy" and dose.modality == "RTDOSE"
    assert dose.metadata["dose_constant"]["value"] == K_CONVENTIONAL
    assert local_deposition_dose(volume, density=0.3).array[1, 1, 1] == pytest.approx(2_586_979.2, rel=1e-6)


def test_activity_from_counts_normalises_in_the_region():
    """Region = liver (3584 voxels, 377 600 counts): A_i = 2 GBq·c_i/377 600; outside the region A = 0."""
    spect, seg = box_phantom()
    liver = seg.mask("Liver")
    activity = activity_from_counts(spect, 2.0, region=liver)
    assert activity.array.sum() == pytest.approx(2.0)
    assert activity.array[~liver].sum() == 0.0
    assert activity.array[20, 10, 10] == pytest.approx(2.0 * 400 / 377_600)
    assert activity.metadata["counts_outside_region_fraction"] == pytest.approx(11_200 / 388_800)
    whole = activity_from_counts(spect, 2.0)
    assert whole.array.sum() == pytest.approx(2.0)
    assert whole.units == "GBq"


@pytest.mark.parametrize("call, error", [
    (lambda s, m: activity_from_counts(s, 0.0, region=m), ZeroActivityError),
    (lambda s, m: activity_from_counts(s, -1.0, region=m), ZeroActivityError),
    (lambda s, m: activity_from_counts(s, 1.0, region=np.zeros(s.shape, bool)), MissingStructureError),
    (lambda s, m: activity_from_counts(s.with_array(np.zeros(s.shape)), 1.0), ZeroActivityError),
    (lambda s, m: activity_from_counts(s.with_array(s.array - 50.0), 1.0), NegativeCountsError),
    (lambda s, m: activity_from_counts(s.with_array(np.where(m, np.nan, s.array)), 1.0), Y90InputError),
    (lambda s, m: activity_from_counts(s, 1.0, region=m[:-1]), GeometryMismatchError),
])
def test_bad_counts_raise(call, error):
    spect, seg = box_phantom()
    with pytest.raises(error):
        call(spect, seg.mask("Liver"))


@pytest.mark.parametrize("shape", [(20, 17, 23), (3, 5, 2), (1, 30, 9)])
def test_fft_convolution_equals_direct_summation(shape):
    """scipy FFT convolution = direct convolution sum (scipy.ndimage.convolve, zero padding, float64) to float32
    precision: |difference| ≤ 1e-6 × the largest value (float32 has a 6e-8 unit round-off; an FFT of n points
    accumulates about log2(n) of them). Grids smaller than the kernel (13×9×9) included: no wrap-around."""
    from scipy.ndimage import convolve

    rng = np.random.default_rng(3)
    array = rng.random(shape)
    kernel = dose_kernel((4.42, 4.42, 2.5), method="radial-model").array
    got, info = fft_convolve(array, kernel, "numpy")
    expected = convolve(array, kernel, mode="constant", cval=0.0)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * expected.max())
    assert info["backend"] == "numpy"


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torch_backend_on_cpu_equals_scipy():
    rng = np.random.default_rng(4)
    array = rng.random((24, 20, 22))
    kernel = dose_kernel((4.0, 4.0, 4.0), method="radial-model").array
    reference, _ = fft_convolve(array, kernel, "numpy")
    got, info = fft_convolve(array, kernel, "torch", "cpu")
    assert info == {"backend": "torch", "device": "cpu", "reason": "requested"}
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-6 * reference.max())  # both float32


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="CUDA not available")
def test_torch_backend_on_gpu_equals_scipy():
    """GPU (float32 cuFFT) and CPU (float64 scipy) kernel doses agree within 1e-5 of the maximum dose."""
    spect, seg = box_phantom(shape=(64, 64, 64))
    activity = activity_from_counts(spect, 2.0, region=seg.mask("Liver"))
    cpu = kernel_convolution_dose(activity, backend="numpy")
    gpu = kernel_convolution_dose(activity, backend="torch", device="cuda")
    assert gpu.metadata["fft"]["device"].startswith("cuda")
    np.testing.assert_allclose(gpu.array, cpu.array, atol=1e-5 * cpu.array.max())
    auto = kernel_convolution_dose(activity, backend="auto")
    assert auto.metadata["fft"]["backend"] == "torch"


@pytest.mark.skipif(_cuda(), reason="checks the CPU fallback")
def test_auto_backend_falls_back_to_scipy_without_cuda():
    backend, device, reason = resolve_backend("auto")
    assert backend == "numpy" and device is None and reason


def test_density_from_hu_calibration():
    """Piecewise linear through (−1000, 0.00121), (0, 1.0), (1600, 1.85):
    −700 HU → 0.00121 + 300·0.99879/1000 = 0.300847; 60 HU → 1 + 60·0.85/1600 = 1.031875; clamped beyond."""
    rho = density_from_hu(np.array([-2000.0, -1000.0, -700.0, 0.0, 60.0, 1600.0, 3000.0]))
    np.testing.assert_allclose(rho, [0.00121, 0.00121, 0.300847, 1.0, 1.031875, 1.85, 1.85], atol=1e-6)
    with pytest.raises(ValueError):
        density_from_hu(np.array([np.nan]))


def test_density_correction_scales_dose_by_mass():
    """Same uniform activity in lung (−700 HU, 0.3008 g/ml) and liver (60 HU, 1.0319 g/ml) halves of a block:
    well inside each half the kernel dose equals K·A/(ρV), so their ratio is 1.031875/0.300847 = 3.42989."""
    shape = (40, 30, 30)
    activity = np.zeros(shape)
    activity[3:37, 3:27, 3:27] = 1e-3
    hu = np.where(np.arange(shape[0])[:, None, None] < 20, -700.0, 60.0) * np.ones(shape)
    volume = Volume.from_array(activity, spacing=(3.0, 3.0, 3.0), units="GBq")
    ct = volume.with_array(hu, name="CT", units="HU", modality="CT")
    density = density_volume_from_ct(ct)
    dose = kernel_convolution_dose(volume, density=density, backend="numpy")
    ldm = local_deposition_dose(volume, density=density)
    lung_point, liver_point = (8, 15, 15), (31, 15, 15)
    assert dose.array[lung_point] / dose.array[liver_point] == pytest.approx(1.031875 / 0.300847, rel=1e-3)
    assert dose.array[liver_point] == pytest.approx(K_CONVENTIONAL * 1e-3 / (1.031875 * 0.027e-3), rel=1e-3)
    assert ldm.array[lung_point] == pytest.approx(dose.array[lung_point], rel=1e-3)
    with pytest.raises(GeometryMismatchError):
        kernel_convolution_dose(volume, density=Volume.from_array(np.ones((5, 5, 5))), backend="numpy")


def test_air_density_floor_and_edge_escape_are_reported():
    activity = np.zeros((10, 10, 10))
    activity[0, 5, 5] = 1.0  # at the grid edge: much of its energy leaves the grid
    volume = Volume.from_array(activity, spacing=(4.0, 4.0, 4.0), units="GBq")
    air = volume.with_array(np.full(activity.shape, 0.0012), units="g/ml")
    dose = kernel_convolution_dose(volume, density=air, backend="numpy")
    text = " ".join(dose.metadata["warnings"])
    assert "floored" in text and "outside the image grid" in text


def test_kernel_for_another_grid_is_refused_and_bad_activity_raises():
    volume = Volume.from_array(np.ones((8, 8, 8)), spacing=(4.0, 4.0, 4.0), units="GBq")
    with pytest.raises(Y90InputError):
        kernel_convolution_dose(volume, kernel=dose_kernel((3.0, 3.0, 3.0)), backend="numpy")
    with pytest.raises(Y90InputError):
        kernel_convolution_dose(volume.with_array(-np.ones((8, 8, 8))), backend="numpy")
    with pytest.raises(ZeroActivityError):
        local_deposition_dose(volume.with_array(np.zeros((8, 8, 8))))


def test_convolution_can_be_cancelled():
    token = CancelToken()
    token.cancel()
    volume = Volume.from_array(np.ones((8, 8, 8)), spacing=(4.0, 4.0, 4.0), units="GBq")
    with pytest.raises(Cancelled):
        kernel_convolution_dose(volume, backend="numpy", progress=Progress(None, token))
