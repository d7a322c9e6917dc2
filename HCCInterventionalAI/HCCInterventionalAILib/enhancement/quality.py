"""Image-quality and safety metrics for enhanced images: SNR, CNR, PSNR, noise power spectrum, difference map,
and a hallucination check (changes larger than noise explains).

Definitions:

* ``SNR = mean(ROI) / sd(ROI)``; ``CNR = |mean(A) − mean(B)| / sd(B)`` with B the background ROI (the usual
  CT definitions, e.g. Verdun et al., Phys Med 2015).
* ``PSNR = 20 log10(range / RMSE)`` against a reference image, ``range`` fixed by the caller (HU window).
* 2D noise power spectrum from ``M`` square ROIs of a noise-only image (ICRU Report 87, 2012; Dobbins,
  Handbook of Medical Imaging 2000): ``NPS(fx, fy) = Δx Δy / (Nx Ny) · ⟨|DFT(ROI − mean ROI)|²⟩``; its integral
  over frequency equals the noise variance (Parseval).
* Hallucination check: the difference ``d = output − input`` of a denoiser should be (minus) noise; its local
  mean over a Gaussian window, ``m = G_σ ∗ d``, is then small and has a robust spread ``s = 1.4826 · MAD(m)``
  over the analysed region. Connected regions where ``|m| > k s`` (default k = 5) and at least ``min_voxels``
  voxels are changes the noise does not explain: structure that the network added or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "HallucinationReport",
    "cnr",
    "difference_map",
    "hallucination_check",
    "local_change",
    "noise_power_spectrum",
    "psnr",
    "revert_flagged",
    "snr",
]


def _roi(image: np.ndarray, roi: np.ndarray, what: str) -> np.ndarray:
    roi = np.asarray(roi, dtype=bool)
    if roi.shape != np.shape(image):
        raise ValueError(f"The {what} ROI {roi.shape} does not match the image {np.shape(image)}")
    if roi.sum() < 2:
        raise ValueError(f"The {what} ROI needs at least 2 voxels")
    return np.asarray(image, dtype=np.float64)[roi]


def snr(image: np.ndarray, roi: np.ndarray) -> float:
    """``mean / sd`` in the ROI."""
    values = _roi(image, roi, "signal")
    return float(values.mean() / values.std(ddof=1))


def cnr(image: np.ndarray, roi: np.ndarray, background: np.ndarray) -> float:
    """``|mean(ROI) − mean(background)| / sd(background)``."""
    a, b = _roi(image, roi, "lesion"), _roi(image, background, "background")
    return float(abs(a.mean() - b.mean()) / b.std(ddof=1))


def psnr(image: np.ndarray, reference: np.ndarray, data_range: float, region: np.ndarray | None = None) -> float:
    """``20 log10(data_range / RMSE)`` against ``reference`` (in ``region`` when given)."""
    diff = np.asarray(image, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    if region is not None:
        diff = diff[np.asarray(region, dtype=bool)]
    rmse = float(np.sqrt(np.mean(diff**2)))
    return float("inf") if rmse == 0 else float(20.0 * np.log10(data_range / rmse))


def difference_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``after − before`` (float32): what the enhancement changed."""
    return (np.asarray(after, dtype=np.float32) - np.asarray(before, dtype=np.float32)).astype(np.float32)


def noise_power_spectrum(
    noise: np.ndarray,
    pixel_mm: tuple[float, float] = (1.0, 1.0),
    roi_size: int = 32,
    region: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2D noise power spectrum of a noise-only image or stack (slices along the first axis).

    Args:
        noise: noise-only image (rows, cols) or stack (k, rows, cols), e.g. the difference of two scans or a
            denoiser's difference map, in HU.
        pixel_mm: (row, col) pixel size.
        roi_size: side of the square ROIs (non-overlapping tiles).
        region: optional mask; only tiles fully inside it are used.

    Returns:
        (radial frequencies 1/mm, radial NPS HU²·mm², 2D NPS (roi_size², centred), the number of ROIs).

    Raises:
        ValueError: no complete ROI fits.
    """
    stack = np.asarray(noise, dtype=np.float64)
    stack = stack[None] if stack.ndim == 2 else stack
    inside = None if region is None else np.asarray(region, dtype=bool).reshape(stack.shape)
    dy, dx = pixel_mm
    spectra = []
    n = roi_size
    for k in range(stack.shape[0]):
        for r in range(0, stack.shape[1] - n + 1, n):
            for c in range(0, stack.shape[2] - n + 1, n):
                if inside is not None and not inside[k, r:r + n, c:c + n].all():
                    continue
                tile = stack[k, r:r + n, c:c + n]
                spectra.append(np.abs(np.fft.fft2(tile - tile.mean())) ** 2)
    if not spectra:
        raise ValueError(f"No complete {n}×{n} ROI fits in the noise image/region")
    nps2d = np.fft.fftshift(np.mean(spectra, axis=0)) * dx * dy / (n * n)
    fy = np.fft.fftshift(np.fft.fftfreq(n, d=dy))
    fx = np.fft.fftshift(np.fft.fftfreq(n, d=dx))
    radius = np.hypot(*np.meshgrid(fy, fx, indexing="ij"))
    step = min(1.0 / (n * dy), 1.0 / (n * dx))
    bins = np.arange(0.0, radius.max() + step, step)
    index = np.digitize(radius.ravel(), bins) - 1
    radial = np.array([nps2d.ravel()[index == i].mean() if np.any(index == i) else np.nan for i in range(len(bins))])
    keep = np.isfinite(radial)
    return bins[keep] + step / 2, radial[keep], nps2d, np.array(len(spectra))


def local_change(before: np.ndarray, after: np.ndarray, sigma_px: float = 1.5,
                 region: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Local mean of the change, ``m = G_σ ∗ (after − before)`` (in-plane Gaussian, per slice), and its robust
    spread ``s = 1.4826 · MAD(m)`` over ``region`` (all voxels when None)."""
    from scipy.ndimage import gaussian_filter

    diff = difference_map(before, after)
    sigma = (0.0, sigma_px, sigma_px) if diff.ndim == 3 else (sigma_px, sigma_px)
    mean = gaussian_filter(diff, sigma=sigma)
    values = mean[np.asarray(region, dtype=bool)] if region is not None else mean.ravel()
    if values.size == 0:  # an empty region: nothing to measure, and nothing can be flagged in it
        return mean, float("inf")
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    return mean, max(spread, 1e-6)


@dataclass
class HallucinationReport:
    """Regions where the enhancement changed the image more than noise explains.

    Attributes:
        flagged: True when at least one region was found.
        threshold: ``k · s`` in image units (HU).
        spread: robust spread ``s`` of the local change.
        regions: one dict per region: ``voxels``, ``centroid_ijk`` (array index order k, j, i), ``mean_change``
            (HU, local mean at the region), ``peak_z`` (largest ``|m| / s``).
        mask: the flagged voxels.
    """

    flagged: bool
    threshold: float
    spread: float
    regions: list[dict] = field(default_factory=list)
    mask: np.ndarray | None = None

    def to_dict(self) -> dict:
        return {"flagged": self.flagged, "threshold": self.threshold, "spread": self.spread, "regions": self.regions}


def hallucination_check(
    before: np.ndarray,
    after: np.ndarray,
    *,
    region: np.ndarray | None = None,
    k: float = 5.0,
    sigma_px: float = 1.5,
    min_voxels: int = 8,
) -> HallucinationReport:
    """Flag regions where ``after`` differs from ``before`` more than noise explains.

    Args:
        before: the input image (noisy).
        after: the enhanced image.
        region: where to look (e.g. the body or the liver); everywhere when None.
        k: threshold in robust standard deviations of the local change.
        sigma_px: Gaussian window of the local mean (pixels, in-plane).
        min_voxels: smallest region reported.

    Returns:
        The :class:`HallucinationReport`.
    """
    from scipy.ndimage import center_of_mass, label

    mean, spread = local_change(before, after, sigma_px, region)
    candidate = np.abs(mean) > k * spread
    if region is not None:
        candidate &= np.asarray(region, dtype=bool)
    labels, count = label(candidate)
    regions = []
    for index in range(1, count + 1):
        voxels = labels == index
        size = int(voxels.sum())
        if size < min_voxels:
            candidate[voxels] = False
            continue
        regions.append({
            "voxels": size,
            "centroid_ijk": [float(v) for v in center_of_mass(voxels)],
            "mean_change": float(mean[voxels].mean()),
            "peak_z": float(np.abs(mean[voxels]).max() / spread),
        })
    regions.sort(key=lambda r: -r["voxels"])
    return HallucinationReport(bool(regions), float(k * spread), float(spread), regions, candidate)


def revert_flagged(before: np.ndarray, after: np.ndarray, report: HallucinationReport, *, margin_px: int = 2,
                   sigma_px: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Structure guard: keep the input where the hallucination check flagged the change.

    ``before + w · (after − before)`` with ``w = 1 − G_σ ∗ D(F)``: ``F`` the flagged voxels, ``D`` an in-plane
    dilation by ``margin_px`` (the flagged core is where the local mean exceeds the threshold; the change it averages
    reaches further), ``G_σ`` an in-plane Gaussian for a soft border. Voxels far from any flagged region keep the
    enhancement unchanged (w = 1); an output without flags is returned as it is.

    Args:
        before: the input image.
        after: the enhanced image.
        report: :func:`hallucination_check` of ``after`` against ``before`` (its ``mask``).
        margin_px: dilation of the flagged voxels, pixels in-plane.
        sigma_px: Gaussian softening of the border, pixels in-plane.

    Returns:
        (guarded image float32, w float32).
    """
    from scipy.ndimage import binary_dilation, gaussian_filter

    after = np.asarray(after, dtype=np.float32)
    if not report.flagged or report.mask is None:
        return after.copy(), np.ones(after.shape, dtype=np.float32)
    flagged = np.asarray(report.mask, dtype=bool)
    structure = np.zeros((3,) * flagged.ndim, dtype=bool)
    structure[(1,) * (flagged.ndim - 2) + (slice(None), slice(None))] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    grown = binary_dilation(flagged, structure=structure, iterations=margin_px) if margin_px > 0 else flagged
    sigma = (0.0,) * (flagged.ndim - 2) + (sigma_px, sigma_px)
    weight = np.clip(1.0 - gaussian_filter(grown.astype(np.float32), sigma=sigma), 0.0, 1.0)
    weight[flagged] = 0.0
    guarded = np.asarray(before, dtype=np.float32) + weight * difference_map(before, after)
    return guarded.astype(np.float32), weight.astype(np.float32)
