"""DSA on SYNTHETIC angiographic runs with known iodine and known motion (HCCInterventionalAILib.enhancement).

The reference is the simulator's analytic forward model: frames are Poisson counts with mean
``I0 · exp(−(A(x + u_t) + D_t))``, so after perfect registration ``log(mask) − log(frame) = D_t`` up to noise,
and the delta method gives the noise: ``Var(log N) ≈ 1/E[N]`` for Poisson counts N, hence
``sd(DSA_t) ≈ sqrt(1/E[I_mask] + 1/E[I_t])``.
"""

from __future__ import annotations

import numpy as np
import pytest
from torch_threads import one_torch_thread  # noqa: F401  (autouse: torch on one thread)

from HCCInterventionalAILib.enhancement import (
    DisplayImageError,
    EnhancementInputError,
    FrameSizeMismatchError,
    TooFewFramesError,
    load_run,
    select_mask_frame,
    simulate_angio_run,
    subtract_run,
    time_intensity_curve,
)
from HCCInterventionalAILib.enhancement.registration import bspline_basis, warp_frames
from HCCInterventionalAILib.progress import Cancelled, CancelToken, Progress

SHAPE = (192, 192)
MARGIN = 12  # border pixels excluded from residuals (structures enter/leave the field of view with motion)


def _background_residual(run, dsa):
    """RMS of (DSA − true iodine) over background pixels (outside vessels and tumour) of frames 1…n−1."""
    keep = ~run.vessel_mask & ~run.tumour_mask
    core = np.zeros_like(keep)
    core[MARGIN:-MARGIN, MARGIN:-MARGIN] = True
    return float(np.sqrt(np.mean(((dsa - run.iodine)[1:][:, keep & core]) ** 2)))


@pytest.fixture(scope="module")
def motion_results():
    """Plain, rigid and deformable DSA, and the perfectly registered reference, on a rigid and a deformable run."""
    out = {}
    for kind in ("rigid", "deformable"):
        run = simulate_angio_run(n_frames=10, shape=SHAPE, motion=kind, seed=3)
        logs = np.log(run.frames)
        reference = warp_frames(logs[0], run.displacement) - logs  # mask moved by the TRUE motion
        out[kind] = {
            "run": run,
            "reference": _background_residual(run, reference),
            "none": _background_residual(run, subtract_run(run.frames, 0, "none")),
            "rigid": _background_residual(run, subtract_run(run.frames, 0, "rigid")),
            "deformable_dsa": subtract_run(run.frames, 0, "deformable"),
        }
        out[kind]["deformable"] = _background_residual(run, out[kind]["deformable_dsa"])
    return out


def test_noise_free_subtraction_equals_the_analytic_iodine():
    """Without noise or motion, log(I0 e^{−A}) − log(I0 e^{−(A+D)}) = D exactly (float32 rounding only)."""
    run = simulate_angio_run(n_frames=6, shape=(96, 96), motion="none", noise=False, arrival_s=0.5, seed=1)
    dsa = subtract_run(run.frames, 0, "none")
    assert dsa.shape == run.frames.shape and dsa.dtype == np.float32
    assert run.iodine.max() > 0.2
    np.testing.assert_allclose(dsa, run.iodine, atol=2e-5)


def test_iodine_recovered_with_the_poisson_noise_predicted_by_the_delta_method():
    """Noisy run, no motion: mean error ≈ 0 in the vessels, and the error sd equals the delta-method prediction
    sqrt(1/E[I_mask] + 1/E[I_t]) within 5 %."""
    run = simulate_angio_run(n_frames=8, shape=(128, 128), motion="none", arrival_s=0.3, seed=2)
    dsa = subtract_run(run.frames, 0, "none")
    expected = run.i0 * np.exp(-(run.background[None] + run.iodine))
    predicted_sd = np.sqrt(np.mean(1.0 / expected[0] + 1.0 / expected[1:]))
    error = (dsa - run.iodine)[1:]
    assert abs(float(error[:, run.vessel_mask].mean())) < 0.003  # iodine is unbiased in the vessels
    assert float(error.std()) == pytest.approx(predicted_sd, rel=0.05)
    peak_frame = int(np.argmax(run.iodine.max(axis=(1, 2))))
    vessels = run.iodine[peak_frame] > 0.1
    assert float(dsa[peak_frame][vessels].mean()) == pytest.approx(float(run.iodine[peak_frame][vessels].mean()), rel=0.03)


def test_rigid_compensation_on_a_rigidly_moving_run(motion_results):
    """Respiratory translation (±5.8 px): plain subtraction leaves edge artefacts (residual ≈ 0.16 log units);
    rigid compensation brings the background residual within 25 % of the perfectly registered reference (≈ 0.022,
    noise only) and below 20 % of the plain residual."""
    r = motion_results["rigid"]
    assert r["none"] > 5 * r["reference"]
    assert r["rigid"] < 0.2 * r["none"]
    assert r["rigid"] < 1.25 * r["reference"]


def test_deformable_compensation_on_a_deforming_run(motion_results):
    """Respiration fading towards the spine + bowel peristalsis: rigid compensation cannot follow (residual ≥ 2.5 ×
    the reference); deformable brings it within 25 % of the reference and below 20 % of plain subtraction."""
    r = motion_results["deformable"]
    assert r["rigid"] > 2.5 * r["reference"]
    assert r["deformable"] < 0.2 * r["none"]
    assert r["deformable"] < 1.25 * r["reference"]
    assert r["deformable"] < 0.5 * r["rigid"]


def test_motion_compensated_iodine_in_the_vessels(motion_results):
    """In the moving vessels the compensated DSA recovers the true iodine at the peak frame within 10 %."""
    run, dsa = motion_results["deformable"]["run"], motion_results["deformable"]["deformable_dsa"]
    peak = int(np.argmax(run.iodine.max(axis=(1, 2))))
    vessels = run.iodine[peak] > 0.15
    assert vessels.sum() > 50
    assert float(dsa[peak][vessels].mean()) == pytest.approx(float(run.iodine[peak][vessels].mean()), rel=0.10)


@pytest.mark.parametrize("motion", ["none", "rigid", "deformable"])
def test_automatic_mask_is_the_last_contrast_free_frame(motion):
    """The selected mask holds ≤ 10 % of the peak iodine (the detection limit) and is not before the last
    contrast-free frame (the ideal mask)."""
    run = simulate_angio_run(n_frames=10, shape=(128, 128), motion=motion, seed=4, arrival_s=1.4)
    chosen = select_mask_frame(run.frames, motion)
    peak = float(run.iodine.max())
    assert run.iodine[chosen].max() <= 0.10 * peak
    assert chosen >= run.last_contrast_free_frame
    dsa = subtract_run(run.frames, "auto", motion)
    np.testing.assert_allclose(dsa[chosen], 0.0, atol=1e-5)


def test_time_intensity_curve_of_the_tumour_blush():
    """Tumour ROI (tumour minus vessels): the curve from the DSA matches the curve of the true iodine (peak within
    3 %); the peak time is the gamma-variate peak t0 + delay + tmax = 1.8 + 1.5 + 2.5 = 5.8 s within one frame."""
    run = simulate_angio_run(n_frames=22, shape=(128, 128), motion="none", seed=5)
    dsa = subtract_run(run.frames, 0, "none")
    from scipy.ndimage import binary_dilation

    roi = run.tumour_mask & ~binary_dilation(run.vessel_mask, iterations=2)
    measured = time_intensity_curve(dsa, roi, run.times_s)
    truth = time_intensity_curve(run.iodine, roi, run.times_s)
    assert measured.peak == pytest.approx(truth.peak, rel=0.03)
    assert abs(measured.time_to_peak_s - 5.8) <= 1.0 / 3.0 + 1e-9
    assert measured.area_under_curve == pytest.approx(truth.area_under_curve, rel=0.05)


def test_simpleitk_backend_agrees():
    """The classical backend (SimpleITK Euler2D per frame) also removes the rigid motion: residual within 25 % of
    the perfectly registered reference."""
    run = simulate_angio_run(n_frames=4, shape=(128, 128), motion="rigid", seed=6)
    logs = np.log(run.frames)
    reference = _background_residual(run, warp_frames(logs[0], run.displacement) - logs)
    residual = _background_residual(run, subtract_run(run.frames, 0, "rigid", backend="simpleitk"))
    assert residual < 1.25 * reference


def test_bspline_basis_is_a_partition_of_unity():
    """Cubic B-splines sum to 1 everywhere inside the grid (hand check: at a knot the weights are 1/6, 4/6, 1/6)."""
    basis = bspline_basis(97, 16)
    np.testing.assert_allclose(basis.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(sorted(basis[0][basis[0] > 0]), [1 / 6, 1 / 6, 4 / 6], atol=1e-6)


def test_progress_and_cancel():
    run = simulate_angio_run(n_frames=3, shape=(64, 64), motion="rigid", seed=7)
    seen = []
    subtract_run(run.frames, 0, "rigid", progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0 and all(b >= a for a, b in zip(seen, seen[1:], strict=False))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        subtract_run(run.frames, 0, "rigid", progress=Progress(None, token))


def test_bad_runs_are_refused_with_clear_errors(tmp_path):
    frame = np.full((32, 32), 1000.0, dtype=np.float32)
    with pytest.raises(TooFewFramesError, match="at least 2 frames"):
        subtract_run(frame[None])
    with pytest.raises(TooFewFramesError):
        subtract_run([frame])
    with pytest.raises(FrameSizeMismatchError, match="one size"):
        subtract_run([frame, np.ones((32, 30), dtype=np.float32)])
    with pytest.raises(DisplayImageError, match="8-bit"):
        subtract_run(np.zeros((3, 32, 32), dtype=np.uint8))
    with pytest.raises(EnhancementInputError, match="negative"):
        subtract_run(np.stack([frame, -frame]))
    with pytest.raises(EnhancementInputError, match="NaN"):
        subtract_run(np.stack([frame, frame * np.nan]))
    with pytest.raises(EnhancementInputError, match="outside"):
        subtract_run(np.stack([frame, frame]), mask_index=5)
    with pytest.raises(ValueError, match="motion"):
        subtract_run(np.stack([frame, frame]), motion="affine")
    # An 8-bit PNG stack on disk.
    import SimpleITK as sitk

    stack = tmp_path / "png_run"
    stack.mkdir()
    for index in range(3):
        sitk.WriteImage(sitk.GetImageFromArray(np.full((16, 16), 100 + index, dtype=np.uint8)), str(stack / f"{index:03d}.png"))
    with pytest.raises(DisplayImageError, match="8-bit"):
        load_run(stack)
    # 16-bit PNG frames of different sizes.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    sitk.WriteImage(sitk.GetImageFromArray(np.full((16, 16), 1000, dtype=np.uint16)), str(mixed / "a.png"))
    sitk.WriteImage(sitk.GetImageFromArray(np.full((16, 12), 1000, dtype=np.uint16)), str(mixed / "b.png"))
    with pytest.raises(FrameSizeMismatchError):
        load_run(mixed)


def test_multiframe_dicom_and_16_bit_stack_round_trip(tmp_path):
    """A 16-bit PNG stack and a multi-frame XA DICOM (written with pydicom) load as the same counts; the DICOM
    FrameTime (333 ms) gives the frame times."""
    import pydicom
    import SimpleITK as sitk
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    run = simulate_angio_run(n_frames=3, shape=(32, 32), motion="none", seed=8, i0=2e4)
    counts = np.clip(run.frames, 0, 65535).astype(np.uint16)
    stack = tmp_path / "stack"
    stack.mkdir()
    for index, frame in enumerate(counts):
        sitk.WriteImage(sitk.GetImageFromArray(frame), str(stack / f"{index:03d}.png"))
    np.testing.assert_array_equal(load_run(stack).frames, counts.astype(np.float32))

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.12.1"  # X-Ray Angiographic Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / "run.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality, ds.SOPClassUID, ds.SOPInstanceUID = "XA", meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns, ds.NumberOfFrames = 32, 32, 3
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.FrameTime = 333.0
    ds.PixelData = counts.tobytes()
    pydicom.dcmwrite(str(tmp_path / "run.dcm"), ds, enforce_file_format=True)
    loaded = load_run(tmp_path / "run.dcm")
    np.testing.assert_array_equal(loaded.frames, counts.astype(np.float32))
    np.testing.assert_allclose(loaded.times_s, [0.0, 0.333, 0.666])


# -- the Gauss–Newton backend (fast CPU path, registration_gn) ----------------------------------------------------
def test_phase_correlation_finds_a_known_shift():
    """128² crops of a smooth random image and of the image shifted by a known (rows, cols) shift (scipy.ndimage.shift;
    content enters and leaves the field of view, as with breathing): phase correlation, the initialiser of the
    Gauss–Newton fit, finds each shift to the nearest pixel."""
    from scipy.ndimage import gaussian_filter, shift

    from HCCInterventionalAILib.enhancement.registration_gn import phase_correlation

    rng = np.random.default_rng(0)
    large = gaussian_filter(rng.normal(size=(200, 200)), 3.0)
    crop = (slice(36, 164), slice(36, 164))
    for known in ((4.0, -6.0), (10.0, 3.0), (-7.0, 12.0)):
        found = phase_correlation(shift(large, known, order=1)[crop], large[crop])
        assert (round(found[0]), round(found[1])) == known


@pytest.fixture(scope="module")
def gn_results(motion_results):
    """Gauss–Newton rigid on the rigid run and deformable on the deforming run (the same runs as motion_results)."""
    out = {}
    for kind in ("rigid", "deformable"):
        run = motion_results[kind]["run"]
        out[kind] = _background_residual(run, subtract_run(run.frames, 0, kind, backend="gauss-newton"))
    return out


def test_gauss_newton_rigid_matches_the_perfect_reference(motion_results, gn_results):
    """Phase correlation + Gauss–Newton rigid fit on 1/2-resolution images, field applied at full resolution: the
    background residual is within 10 % of the perfectly registered reference (≈ 0.022, noise only) and below 20 % of
    plain subtraction."""
    r = motion_results["rigid"]
    assert gn_results["rigid"] < 1.10 * r["reference"]
    assert gn_results["rigid"] < 0.2 * r["none"]


def test_gauss_newton_deformable_is_the_fast_but_looser_option(motion_results, gn_results):
    """The Gauss–Newton B-spline fit removes most of the deformation (below 25 % of plain subtraction and below half
    the rigid residual) but stays further from the reference than the torch fit: within 45 % of it (measured 1.28×
    on this run; torch: within 25 %)."""
    r = motion_results["deformable"]
    assert gn_results["deformable"] < 0.25 * r["none"]
    assert gn_results["deformable"] < 0.5 * r["rigid"]
    assert gn_results["deformable"] < 1.45 * r["reference"]
