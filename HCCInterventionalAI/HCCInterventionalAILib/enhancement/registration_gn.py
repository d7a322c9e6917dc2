"""Fast mask-to-frame registration for DSA: multi-resolution Gauss–Newton on downsampled images, fields applied at
full resolution, frames in a thread pool (the ``"gauss-newton"`` backend of :func:`~.registration.register_mask`).

Per frame, on block-averaged log images (finest level ≈ 128 pixels, a coarser one at half that):

1. translation from phase correlation (Kuglin & Hines, Proc IEEE Int Conf Cybernetics and Society 1975) on the
   coarse level, Hann-windowed, with a parabolic sub-pixel peak;
2. rigid transform (rotation about the image centre + translation) by Gauss–Newton / Lucas–Kanade forward-additive
   iterations (Lucas & Kanade, IJCAI 1981; Baker & Matthews, IJCV 2004) on both levels;
3. for ``"deformable"``, a cubic B-spline displacement on a 16×16 control grid (Rueckert et al., IEEE TMI 1999)
   fitted by Gauss–Newton with a first-difference (membrane) penalty, as in fast parametric elastic registration
   (Kybic & Unser, IEEE TIP 2003). The separable basis makes the normal equations two matrix products per block:
   ``H = Σ_y (B_r ⊙ B_r)[y]ᵀ · (W · (B_c ⊙ B_c))[y]``.

Every iteration re-weights the pixels (iteratively re-weighted least squares): iodine is in the frame and not in
the mask, so pixels where the 3×3-smoothed ``mask − frame`` difference is a positive outlier (above the median + 3
robust sd, 1.4826·MAD) are left out, dilated by one pixel, and the rest get Huber weights (k = 1 robust sd; Huber,
Ann Math Stat 1964). The fitted fields are evaluated at full resolution (rigid: analytically; B-spline: two small
matrix products), so the subtraction keeps the full detector resolution.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from ..progress import Progress

__all__ = ["GRID_SIZE", "phase_correlation", "register_mask_gn", "rigid_params"]

#: B-spline control points per axis.
GRID_SIZE = 16
#: Finest working size (pixels along the longer side).
FINEST_SIZE = 128
#: Huber threshold in robust standard deviations of the difference (1.0 gave the smallest residuals on the
#: synthetic runs of the tests among 0.25–2; Testing/test_enhancement_dsa.py).
HUBER_K = 1.0
#: Iodine: smoothed difference above the median + IODINE_K robust sd, dilated IODINE_DILATION pixels.
IODINE_K = 3.0
IODINE_DILATION = 1
#: Ridge on the B-spline controls relative to the mean data-term diagonal (keeps controls outside the image finite).
RIDGE = 1e-6


def _block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return image.astype(np.float32, copy=False)
    rows, cols = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    view = image[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    return view.mean(axis=(1, 3), dtype=np.float32)


def _factors(rows: int, cols: int) -> list[int]:
    """Downsampling factors, coarse to fine: the finest brings the longer side to about :data:`FINEST_SIZE`."""
    size = max(rows, cols)
    finest = max(1, 2 ** int(round(np.log2(max(size / FINEST_SIZE, 1.0)))))
    return [finest * 2, finest] if size / finest >= 96 else [finest]


def phase_correlation(fixed: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """Shift ``s`` (rows, cols) with ``fixed(x) ≈ moving(x − s)``, from the normalised cross-power spectrum.

    ``R = F·M* / |F·M*|`` has its inverse-FFT peak at ``s`` (Kuglin & Hines 1975); both images are Hann-windowed
    and the peak is refined by a parabola through its neighbours along each axis. The window biases the sub-pixel
    part towards zero (the result is right to the nearest pixel): an initialiser for the Gauss–Newton fit.
    """
    window = np.outer(np.hanning(fixed.shape[0]), np.hanning(fixed.shape[1])).astype(np.float32)
    f = np.fft.rfft2((fixed - fixed.mean()) * window)
    m = np.fft.rfft2((moving - moving.mean()) * window)
    cross = f * np.conj(m)
    surface = np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-12), s=fixed.shape)
    peak = np.unravel_index(int(np.argmax(surface)), surface.shape)
    shift = []
    for axis, (index, length) in enumerate(zip(peak, surface.shape, strict=True)):
        before = list(peak)
        after = list(peak)
        before[axis] = (index - 1) % length
        after[axis] = (index + 1) % length
        a, b, c = surface[tuple(before)], surface[peak], surface[tuple(after)]
        denominator = a - 2 * b + c
        offset = 0.5 * (a - c) / denominator if abs(denominator) > 1e-12 else 0.0
        value = index + float(np.clip(offset, -0.5, 0.5))
        shift.append(value - length if value > length / 2 else value)
    return shift[0], shift[1]


def _rigid(params: np.ndarray, rr: np.ndarray, cc: np.ndarray, centre: tuple[float, float], factor: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rigid displacement (level pixels) and its derivatives by θ; params = (θ, t_row, t_col) with t in full-res px."""
    theta, t_row, t_col = params
    dy, dx = rr - centre[0], cc - centre[1]
    cos, sin = np.cos(theta), np.sin(theta)
    u_row = (cos - 1.0) * dy + sin * dx + t_row / factor
    u_col = -sin * dy + (cos - 1.0) * dx + t_col / factor
    return u_row, u_col, -sin * dy + cos * dx, -cos * dy - sin * dx


def _basis_at(positions: np.ndarray, length: int) -> np.ndarray:
    """The full-resolution cubic B-spline basis of :func:`~.registration.bspline_basis` (``length`` pixels,
    :data:`GRID_SIZE` controls) evaluated at full-resolution ``positions`` (e.g. the centres of level pixels)."""
    spacing = max(length - 1, 1) / (GRID_SIZE - 3)
    u = np.asarray(positions, dtype=np.float64)[:, None] / spacing - (np.arange(GRID_SIZE)[None, :] - 1.0)
    a = np.abs(u)
    return np.where(a < 1, (4 - 6 * a**2 + 3 * a**3) / 6, np.where(a < 2, (2 - a) ** 3 / 6, 0.0))


class _Level:
    """One resolution level of the mask: the image, its gradients, the pixel grid and the B-spline basis at its
    pixel centres (full-resolution position of level pixel ``x`` = ``factor·x + (factor − 1)/2``)."""

    def __init__(self, mask: np.ndarray, factor: int) -> None:
        self.factor = factor
        self.image = _block_mean(mask, factor)
        self.grad_row, self.grad_col = np.gradient(self.image)
        h, w = self.image.shape
        self.rr, self.cc = np.mgrid[0:h, 0:w].astype(np.float32)
        self.centre = ((mask.shape[0] - factor) / (2.0 * factor), (mask.shape[1] - factor) / (2.0 * factor))
        self.basis_rows = _basis_at(factor * np.arange(h) + (factor - 1) / 2.0, mask.shape[0])
        self.basis_cols = _basis_at(factor * np.arange(w) + (factor - 1) / 2.0, mask.shape[1])
        self.outer_rows = (self.basis_rows[:, :, None] * self.basis_rows[:, None, :]).reshape(h, -1)
        self.outer_cols = (self.basis_cols[:, :, None] * self.basis_cols[:, None, :]).reshape(w, -1)

    def sample(self, u_row: np.ndarray, u_col: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mask and its gradients at ``x + u`` (bilinear), and where ``x + u`` is inside the image."""
        from scipy.ndimage import map_coordinates

        coordinates = np.stack([self.rr + u_row, self.cc + u_col])
        h, w = self.image.shape
        inside = ((coordinates[0] >= 0) & (coordinates[0] <= h - 1) & (coordinates[1] >= 0)
                  & (coordinates[1] <= w - 1))
        values = [map_coordinates(image, coordinates, order=1, mode="nearest")
                  for image in (self.image, self.grad_row, self.grad_col)]
        return values[0], values[1], values[2], inside


def _weights(difference: np.ndarray, inside: np.ndarray, noise: float) -> np.ndarray:
    """IRLS weights: 0 on iodine (positive outliers of the smoothed difference, dilated) and outside the image,
    Huber (k = :data:`HUBER_K` robust sd) elsewhere."""
    from scipy.ndimage import binary_dilation, uniform_filter

    smoothed = uniform_filter(difference, 3)
    median = float(np.median(smoothed[inside])) if inside.any() else 0.0
    spread = max(1.4826 * float(np.median(np.abs(smoothed[inside] - median))) if inside.any() else 0.0, noise / 3.0)
    iodine = binary_dilation(smoothed > median + IODINE_K * spread, iterations=IODINE_DILATION)
    residual_sd = max(1.4826 * float(np.median(np.abs(difference[inside] - median))) if inside.any() else 0.0,
                      1e-6)
    k = HUBER_K * residual_sd
    magnitude = np.abs(difference - median)
    weights = np.where(magnitude <= k, 1.0, k / np.maximum(magnitude, 1e-12))
    weights[iodine | ~inside] = 0.0
    return weights


def _membrane(size: int) -> np.ndarray:
    """``Dᵀ D`` of first differences along both axes of a size×size grid (row-major)."""
    first = np.diff(np.eye(size), axis=0)
    one = first.T @ first
    eye = np.eye(size)
    return np.kron(one, eye) + np.kron(eye, one)


_MEMBRANE = _membrane(GRID_SIZE)


def _register_frame(levels: list[_Level], frame: np.ndarray, motion: str, noise: float,
                    iterations: tuple[int, int], smoothness: float) -> tuple[np.ndarray, np.ndarray]:
    """(rigid params θ, t_row, t_col in full-res px; B-spline controls (2, G, G) in full-res px) for one frame."""
    frames = [_block_mean(frame, level.factor) for level in levels]
    coarse = levels[0]
    shift = phase_correlation(frames[0], coarse.image)
    params = np.array([0.0, -shift[0] * coarse.factor, -shift[1] * coarse.factor])  # mask(x + t) ≈ frame(x)
    controls = np.zeros((2, GRID_SIZE, GRID_SIZE))
    g2 = GRID_SIZE * GRID_SIZE

    def displacement(level: _Level) -> tuple[np.ndarray, ...]:
        u_row, u_col, d_row, d_col = _rigid(params, level.rr, level.cc, level.centre, level.factor)
        if motion == "deformable":
            u_row = u_row + level.basis_rows @ controls[0] @ level.basis_cols.T / level.factor
            u_col = u_col + level.basis_rows @ controls[1] @ level.basis_cols.T / level.factor
        return u_row, u_col, d_row, d_col

    for level, fixed in zip(levels, frames, strict=True):  # rigid, coarse to fine
        scale = noise / level.factor
        for _ in range(iterations[0]):
            u_row, u_col, d_row, d_col = displacement(level)
            warped, g_row, g_col, inside = level.sample(u_row, u_col)
            difference = warped - fixed
            w = _weights(difference, inside, scale)
            jacobian = np.stack([g_row * d_row + g_col * d_col, g_row / level.factor, g_col / level.factor], axis=-1)
            jw = jacobian * w[..., None]
            hessian = np.einsum("hwi,hwj->ij", jw, jacobian) + 1e-9 * np.eye(3)
            step = np.linalg.solve(hessian, -np.einsum("hwi,hw->i", jw, difference))
            params = params + step
            if abs(step[0]) * max(level.rr.shape) < 1e-3 and np.hypot(step[1], step[2]) < 1e-3 * level.factor:
                break
    if motion != "deformable":
        return params, controls
    for level, fixed in zip(levels, frames, strict=True):  # B-spline on top of the rigid transform
        for _ in range(iterations[1]):
            u_row, u_col, _d_row, _d_col = displacement(level)
            warped, g_row, g_col, inside = level.sample(u_row, u_col)
            difference = warped - fixed
            w = _weights(difference, inside, noise / level.factor)
            gr, gc = g_row / level.factor, g_col / level.factor
            blocks = {}
            for key, image in (("rr", w * gr * gr), ("rc", w * gr * gc), ("cc", w * gc * gc)):
                inner = image @ level.outer_cols  # (h, G·G) = Σ_x W[y, x] Bc[x, j] Bc[x, l]
                full = level.outer_rows.T @ inner  # (G·G, G·G) indexed (i k), (j l)
                blocks[key] = full.reshape(GRID_SIZE, GRID_SIZE, GRID_SIZE, GRID_SIZE).transpose(0, 2, 1, 3).reshape(
                    g2, g2)
            rhs_row = level.basis_rows.T @ (w * gr * difference) @ level.basis_cols
            rhs_col = level.basis_rows.T @ (w * gc * difference) @ level.basis_cols
            hessian = np.block([[blocks["rr"], blocks["rc"]], [blocks["rc"].T, blocks["cc"]]])
            mean_diagonal = float(np.trace(hessian)) / (2 * g2)
            membrane = np.kron(np.eye(2), _MEMBRANE) * smoothness * mean_diagonal
            penalty = membrane + np.eye(2 * g2) * RIDGE * mean_diagonal
            rhs = -np.concatenate([rhs_row.ravel(), rhs_col.ravel()]) - membrane @ controls.ravel()
            step = np.linalg.solve(hessian + penalty, rhs)
            controls = controls + step.reshape(2, GRID_SIZE, GRID_SIZE)
            if np.abs(step).max() < 1e-3 * level.factor:
                break
    return params, controls


def register_mask_gn(
    mask: np.ndarray,
    frames: np.ndarray,
    motion: Literal["rigid", "deformable"] = "deformable",
    *,
    threads: int | None = None,
    progress: Progress | None = None,
    skip: Callable[[int], bool] | None = None,
    iterations: tuple[int, int] = (8, 5),
    smoothness: float = 0.002,
) -> np.ndarray:
    """Backward displacement fields registering the mask to each frame (``mask(x + v_t(x)) ≈ frame_t(x)``).

    Args:
        mask: log-intensity mask (rows, cols).
        frames: log-intensity frames (n, rows, cols).
        motion: "rigid" or "deformable".
        threads: frames registered at once (default: the CPU count, at most 8). NumPy/SciPy release the GIL in
            their inner loops, so threads share the work.
        progress: progress reporter (updated as frames finish; a cancellation stops the remaining frames).
        skip: frames whose field stays zero (the mask frame itself).
        iterations: Gauss–Newton iterations per level (rigid, B-spline).
        smoothness: membrane penalty relative to the mean diagonal of the data term.

    Returns:
        Fields (n, 2, rows, cols), float32, pixels (row, col).
    """
    from .registration import bspline_basis, noise_sd

    n, rows, cols = frames.shape
    factors = _factors(rows, cols)
    levels = [_Level(mask, factor) for factor in factors]
    noise = noise_sd(mask)
    fields = np.zeros((n, 2, rows, cols), dtype=np.float32)
    full_rr, full_cc = np.mgrid[0:rows, 0:cols].astype(np.float32)
    centre = ((rows - 1) / 2.0, (cols - 1) / 2.0)
    basis_rows, basis_cols = bspline_basis(rows, GRID_SIZE), bspline_basis(cols, GRID_SIZE)

    def work(t: int) -> None:
        if skip is not None and skip(t):
            return
        params, controls = _register_frame(levels, frames[t], motion, noise, iterations, smoothness)
        u_row, u_col, _d_row, _d_col = _rigid(params, full_rr, full_cc, centre, 1)
        fields[t, 0], fields[t, 1] = u_row, u_col
        if motion == "deformable":
            fields[t, 0] += basis_rows @ controls[0].astype(np.float32) @ basis_cols.T
            fields[t, 1] += basis_rows @ controls[1].astype(np.float32) @ basis_cols.T

    workers = max(1, min(threads or os.cpu_count() or 1, 8, n))
    with _one_blas_thread():
        return _run(work, n, workers, progress, fields)


def rigid_params(mask: np.ndarray, frames: np.ndarray, *, threads: int | None = None,
                 iterations: int = 8) -> np.ndarray:
    """Rigid transforms (n, 3) = (θ radians, t_row, t_col full-resolution pixels) registering the mask to each frame
    (phase correlation, then Gauss–Newton on two levels), e.g. to start another optimiser."""
    from .registration import noise_sd

    n, rows, cols = frames.shape
    levels = [_Level(mask, factor) for factor in _factors(rows, cols)]
    noise = noise_sd(mask)
    out = np.zeros((n, 3))

    def work(t: int) -> None:
        out[t] = _register_frame(levels, frames[t], "rigid", noise, (iterations, 0), 0.0)[0]

    with _one_blas_thread():
        _run(work, n, max(1, min(threads or os.cpu_count() or 1, 8, n)), None, out)
    return out


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """One BLAS thread while the frames run in our own threads: OpenBLAS threads inside several Python threads
    contend for the cores (measured here: a 512×512 solve 40× slower with 2 BLAS threads on a loaded 2-core
    machine). Uses threadpoolctl when it is installed (it comes with scikit-learn); otherwise BLAS is left alone."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - without scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _run(work: Callable[[int], None], n: int, workers: int, progress: Progress | None, fields: np.ndarray
         ) -> np.ndarray:
    if workers == 1:
        for t in range(n):
            work(t)
            if progress is not None:
                progress.update((t + 1) / n, f"registered frame {t + 1}/{n}")
        return fields
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(work, t) for t in range(n)]
        try:
            for done, future in enumerate(futures, start=1):
                future.result()
                if progress is not None:
                    progress.update(done / n, f"registered frame {done}/{n}")
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return fields
