"""Registration of a DSA mask frame to every frame of a run (2D, log-intensity images).

Two backends, both returning backward displacement fields ``v_t`` (pixels, (row, col)) such that
``mask(x + v_t(x)) ≈ frame_t(x)``:

* ``"torch"`` (default): all frames at once on the CPU or GPU. A rigid transform (rotation about the image
  centre + translation) and, for ``"deformable"``, a free-form cubic B-spline field on a 16×16 control grid
  (Rueckert et al., IEEE TMI 1999), fitted coarse-to-fine (from ~32 to ~128 pixels) with Adam (Kingma & Ba 2015) on a Charbonnier (robust L2)
  intensity difference (Charbonnier et al., ICIP 1994) so that the iodine, absent from the mask, pulls little.
* ``"gauss-newton"`` (fastest on a CPU): per frame in a thread pool, phase correlation then Gauss–Newton rigid and
  B-spline fits on downsampled images, fields evaluated at full resolution (:mod:`.registration_gn`).
* ``"simpleitk"``: per frame, an ``Euler2DTransform`` fitted by ``ImageRegistrationMethod`` (mean squares,
  regular-step gradient descent), then for ``"deformable"`` ``FastSymmetricForcesDemonsRegistrationFilter``
  (Vercauteren et al., NeuroImage 2009) at 1/4 resolution; the classical reference.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..progress import Progress

__all__ = ["BACKENDS", "bspline_basis", "noise_sd", "register_mask", "resolve_backend", "warp_frames"]

#: Registration backends; "auto" = "gauss-newton" for rigid motion, "torch" for deformable (see resolve_backend).
BACKENDS = ("auto", "torch", "gauss-newton", "simpleitk")


def resolve_backend(backend: str, motion: str) -> str:
    """The backend that runs: "auto" picks "gauss-newton" for rigid motion (as accurate as the torch fit on the
    synthetic runs of the tests and independent of torch's thread pool) and "torch" otherwise; others pass through.

    Raises:
        ValueError: an unknown backend.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        return "gauss-newton" if motion == "rigid" else "torch"
    return backend

Motion = Literal["none", "rigid", "deformable"]


def _torch_device(device: str | None):
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _pixel_grid(rows: int, cols: int, torch, device):
    r = torch.arange(rows, dtype=torch.float32, device=device)
    c = torch.arange(cols, dtype=torch.float32, device=device)
    return torch.meshgrid(r, c, indexing="ij")


def _sample(image, displacement, torch):
    """``image(x + displacement)``; image (n,1,h,w), displacement (n,2,h,w) in pixels of this grid."""
    import torch.nn.functional as F

    n, _, h, w = image.shape
    rr, cc = _pixel_grid(h, w, torch, image.device)
    y = (rr + displacement[:, 0]) * (2.0 / max(h - 1, 1)) - 1.0
    x = (cc + displacement[:, 1]) * (2.0 / max(w - 1, 1)) - 1.0
    grid = torch.stack((x, y), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _rigid_field(params, h: int, w: int, scale: float, torch):
    """Displacement (n,2,h,w) in pixels of this grid for rigid params (n,3) = (rotation px at edge, drow, dcol)
    expressed in full-resolution pixels (``scale`` = this grid / full grid)."""
    rr, cc = _pixel_grid(h, w, torch, params.device)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    theta = params[:, 0] / (0.5 * max(h, w) / scale)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    dy, dx = rr - cy, cc - cx
    u_row = (cos - 1.0) * dy + sin * dx + params[:, 1, None, None] * scale
    u_col = -sin * dy + (cos - 1.0) * dx + params[:, 2, None, None] * scale
    return torch.stack((u_row, u_col), dim=1)


def noise_sd(image: np.ndarray) -> float:
    """Noise standard deviation of a 2D image (Immerkær, CVIU 1996).

    ``σ = sqrt(π/2) · Σ|I ∗ N| / (6 (W − 2)(H − 2))`` with the Laplacian-difference mask
    ``N = [[1, −2, 1], [−2, 4, −2], [1, −2, 1]]``, which cancels smooth structure.
    """
    from scipy.ndimage import convolve

    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    response = convolve(np.asarray(image, dtype=np.float64), kernel)[1:-1, 1:-1]
    rows, cols = image.shape
    return float(np.sqrt(np.pi / 2.0) * np.abs(response).sum() / (6.0 * (cols - 2) * (rows - 2)))


#: Finest level of the torch backend (pixels along the longer side).
TORCH_FINEST_SIZE = 128


def _levels(rows: int, cols: int) -> list[int]:
    """Downsampling factors coarse-to-fine: the coarsest level is about 32 pixels, the finest about
    :data:`TORCH_FINEST_SIZE`."""
    size = max(rows, cols)
    finest = max(1, 2 ** int(np.floor(np.log2(max(size / TORCH_FINEST_SIZE, 1.0)))))
    coarsest = max(finest, 2 ** int(np.floor(np.log2(max(size / 32.0, 1.0)))))
    levels, factor = [], coarsest
    while factor >= finest:
        levels.append(factor)
        factor //= 2
    return levels


def bspline_basis(length: int, controls: int) -> np.ndarray:
    """Uniform cubic B-spline basis (length × controls) spanning ``0 … length − 1``.

    ``B(u) = (4 − 6u² + 3|u|³)/6`` for ``|u| < 1``, ``(2 − |u|)³/6`` for ``1 ≤ |u| < 2`` (Rueckert et al., IEEE
    TMI 1999); control ``j`` sits at ``(j − 1)·d`` with ``d = (length − 1)/(controls − 3)``, so the rows sum to 1.
    """
    spacing = max(length - 1, 1) / (controls - 3)
    u = np.arange(length)[:, None] / spacing - (np.arange(controls)[None, :] - 1.0)
    a = np.abs(u)
    return np.where(a < 1, (4 - 6 * a**2 + 3 * a**3) / 6, np.where(a < 2, (2 - a) ** 3 / 6, 0.0)).astype(np.float32)


def _register_torch(mask: np.ndarray, frames: np.ndarray, motion: Motion, device: str | None,
                    progress: Progress | None, initial_rigid: np.ndarray | None = None,
                    steps: tuple[int, int] | None = None) -> np.ndarray:
    """Batched torch registration (see the module docstring).

    ``initial_rigid`` (n, 3) = (θ, t_row, t_col) per frame (full-resolution pixels, e.g. from
    :func:`~.registration_gn.rigid_params`) starts the fit from a known rigid transform: the rigid Adam stages are
    then skipped (``steps`` = (rigid, free-form) steps of the first level, default (0, 30); later levels and the
    refinement pass take (0, 15) and (5, 15))."""
    import torch
    import torch.nn.functional as F

    dev = _torch_device(device)
    n, rows, cols = frames.shape
    fixed_full = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(dev)[:, None]
    moving_full = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)).to(dev)[None, None]
    rigid = torch.zeros((n, 3), device=dev)
    if initial_rigid is not None:
        start = np.asarray(initial_rigid, dtype=np.float32).copy()
        start[:, 0] *= 0.5 * max(rows, cols)  # θ → rotation in pixels at the edge (this backend's parameter)
        rigid = torch.from_numpy(start).to(dev)
    rigid.requires_grad_(True)
    grid_size = 16
    free = torch.zeros((n, 2, grid_size, grid_size), device=dev, requires_grad=True)
    levels = _levels(rows, cols)
    noise = noise_sd(mask)

    def fit(fixed, moving, factor: int, stages, weights=None, lr: float = 0.3):
        h, w = fixed.shape[-2:]
        basis_rows = torch.from_numpy(bspline_basis(h, grid_size)).to(dev)
        basis_cols = torch.from_numpy(bspline_basis(w, grid_size)).to(dev)
        eps = 0.5 * max(noise / factor, 1e-4)  # averaging factor² pixels divides the noise sd by factor
        diff = None
        for stage, parameter, steps in stages:
            if steps <= 0:
                continue
            if stage == "free":  # the rigid part does not change in this stage: computed once
                with torch.no_grad():
                    fixed_rigid = _rigid_field(rigid, h, w, 1.0 / factor, torch)
            optimiser = torch.optim.Adam([parameter], lr=lr * factor)
            for step in range(steps):
                for group in optimiser.param_groups:  # linear decay to 10 % over the stage
                    group["lr"] = lr * factor * (1.0 - 0.9 * step / max(steps - 1, 1))
                optimiser.zero_grad()
                field = _rigid_field(rigid, h, w, 1.0 / factor, torch) if stage == "rigid" else fixed_rigid
                if motion == "deformable":
                    field = field + torch.einsum("hg,ncgk,wk->nchw", basis_rows, free, basis_cols) / factor
                diff = _sample(moving, field, torch) - fixed
                residual = torch.sqrt(diff * diff + eps * eps)
                loss = (residual * weights).sum() / weights.sum() if weights is not None else residual.mean()
                if stage == "free":  # first-difference smoothness of the control grid (pixels²)
                    smooth = (free[:, :, 1:] - free[:, :, :-1]).pow(2).mean() + (free[..., 1:] - free[..., :-1]).pow(2).mean()
                    loss = loss + 1e-4 * smooth
                loss.backward()
                optimiser.step()
        if diff is None:  # no steps at this level
            with torch.no_grad():
                field = _rigid_field(rigid, h, w, 1.0 / factor, torch)
                if motion == "deformable":
                    field = field + torch.einsum("hg,ncgk,wk->nchw", basis_rows, free, basis_cols) / factor
                diff = _sample(moving, field, torch) - fixed
        return diff.detach()

    def iodine_free(diff, factor: int):
        """Weights 0 where the 3×3-smoothed mask − frame difference is a positive outlier (iodine is positive
        there and absent from the mask): above its median + 3 robust sd (1.4826 · MAD, per frame), dilated by
        one pixel; 1 elsewhere."""
        smoothed = F.avg_pool2d(diff, 3, stride=1, padding=1, count_include_pad=False)
        flat = smoothed.flatten(1)
        median = flat.median(dim=1).values
        spread = 1.4826 * (flat - median[:, None]).abs().median(dim=1).values
        floor = max(noise / factor, 1e-4) / 3.0
        threshold = median + 3.0 * torch.clamp(spread, min=floor)
        iodine = smoothed > threshold[:, None, None, None]
        return (F.max_pool2d(iodine.float(), 3, stride=1, padding=1) == 0).float()

    # Coarse to fine. Iodine is in the frames, not in the mask, and would pull the fit: from the second level
    # on, the pixels that the previous level found to hold iodine are left out; a last pass refines with the
    # finest level's own iodine map.
    weights = None
    for level_index, factor in enumerate(levels + [levels[-1]]):
        refine = level_index == len(levels)
        fixed = F.avg_pool2d(fixed_full, factor) if factor > 1 else fixed_full
        moving = (F.avg_pool2d(moving_full, factor) if factor > 1 else moving_full).expand(n, -1, -1, -1)
        if weights is not None:
            weights = F.interpolate(weights, size=fixed.shape[-2:], mode="nearest")
            if float(weights.mean()) < 0.2:  # implausible (gross misalignment): do not mask
                weights = None
        if initial_rigid is None:
            steps_level = (10, 15) if refine or level_index > 0 else (30, 30)
        else:
            steps_level = (5, 15) if refine else (0, 15) if level_index > 0 else (steps or (0, 30))
        stages = [("rigid", rigid, steps_level[0])] + ([("free", free, steps_level[1])] if motion == "deformable" else [])
        diff = fit(fixed, moving, factor, stages, weights, lr=0.1 if refine else 0.3)
        weights = iodine_free(diff, factor)
        if progress is not None:
            progress.update((level_index + 1) / (len(levels) + 1), f"registration level 1/{factor}")
    with torch.no_grad():
        field = _rigid_field(rigid, rows, cols, 1.0, torch)
        if motion == "deformable":
            basis_rows = torch.from_numpy(bspline_basis(rows, grid_size)).to(dev)
            basis_cols = torch.from_numpy(bspline_basis(cols, grid_size)).to(dev)
            field = field + torch.einsum("hg,ncgk,wk->nchw", basis_rows, free, basis_cols)
    return field.cpu().numpy()


def _register_simpleitk(mask: np.ndarray, frames: np.ndarray, motion: Motion, progress: Progress | None) -> np.ndarray:
    import SimpleITK as sitk
    from scipy.ndimage import zoom

    n, rows, cols = frames.shape
    moving = sitk.GetImageFromArray(mask.astype(np.float32))
    fields = np.zeros((n, 2, rows, cols), dtype=np.float32)
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float64)
    for t in range(n):
        fixed = sitk.GetImageFromArray(frames[t].astype(np.float32))
        method = sitk.ImageRegistrationMethod()
        method.SetMetricAsMeanSquares()
        method.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-3, 100)
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetInitialTransform(sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler2DTransform()),
                                   inPlace=False)
        method.SetInterpolator(sitk.sitkLinear)
        transform = method.Execute(fixed, moving)
        # Euler2D maps fixed (x, y) = (col, row) points to moving points.
        points = np.stack([cc.ravel(), rr.ravel()], axis=1)
        mapped = np.array([transform.TransformPoint(p) for p in points[:: max(rows * cols // 4096, 1)]])
        # Rigid → fit the exact affine from the sampled points (cheap and exact for a rigid map).
        sample = points[:: max(rows * cols // 4096, 1)]
        design = np.c_[sample, np.ones(len(sample))]
        coefficients, *_ = np.linalg.lstsq(design, mapped, rcond=None)
        full = np.c_[points, np.ones(len(points))] @ coefficients
        fields[t, 0] = (full[:, 1] - rr.ravel()).reshape(rows, cols)
        fields[t, 1] = (full[:, 0] - cc.ravel()).reshape(rows, cols)
        if motion == "deformable":
            factor = 4
            warped = warp_frames(mask, fields[t:t + 1])[0]
            small_fixed = frames[t, ::factor, ::factor].astype(np.float32)
            small_moving = warped[::factor, ::factor].astype(np.float32)
            demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
            demons.SetNumberOfIterations(30)
            demons.SetStandardDeviations(2.0)
            residual = sitk.GetArrayFromImage(demons.Execute(sitk.GetImageFromArray(small_fixed),
                                                             sitk.GetImageFromArray(small_moving)))
            zoomed = [zoom(residual[..., k] * factor, (rows / residual.shape[0], cols / residual.shape[1]), order=1)
                      for k in (1, 0)]
            fields[t] += np.stack(zoomed)  # composition approximated by addition (small residual field)
        if progress is not None:
            progress.update((t + 1) / n, f"registered frame {t + 1}/{n}")
    return fields


def register_mask(
    mask: np.ndarray,
    frames: np.ndarray,
    motion: Motion = "deformable",
    *,
    backend: Literal["auto", "torch", "gauss-newton", "simpleitk"] = "torch",
    device: str | None = None,
    progress: Progress | None = None,
    skip_index: int | None = None,
) -> np.ndarray:
    """Backward displacement fields that register the mask image to each frame.

    Args:
        mask: log-intensity mask image (rows, cols).
        frames: log-intensity frames (n, rows, cols).
        motion: "rigid" or "deformable" ("none" returns zeros).
        backend: "torch" (all frames at once, CPU/GPU), "gauss-newton" (per frame in threads, CPU),
            "simpleitk" (per frame, classical reference) or "auto" (:func:`resolve_backend`).
        device: torch device ("cpu", "cuda", None = CUDA when available).
        progress: optional progress reporter.
        skip_index: a frame whose field is zero without registering it (the mask frame; "gauss-newton" only).

    Returns:
        Fields (n, 2, rows, cols) in pixels (row, col): ``mask(x + v_t(x)) ≈ frame_t(x)``.

    Raises:
        ValueError: unknown motion model or backend.
    """
    if motion not in ("none", "rigid", "deformable"):
        raise ValueError(f"motion must be 'none', 'rigid' or 'deformable', got {motion!r}")
    if motion == "none":
        return np.zeros((frames.shape[0], 2, *frames.shape[1:]), dtype=np.float32)
    backend = resolve_backend(backend, motion)
    if backend == "torch":
        initial = None
        if motion == "deformable":  # rigid start from the fast Gauss–Newton fit (CPU): the Adam rigid stages are skipped
            from .registration_gn import rigid_params

            initial = rigid_params(mask, frames)
        return _register_torch(mask, frames, motion, device, progress, initial_rigid=initial)
    if backend == "gauss-newton":
        from .registration_gn import register_mask_gn

        return register_mask_gn(mask, frames, motion, progress=progress,
                                skip=None if skip_index is None else (lambda t: t == skip_index))
    if backend == "simpleitk":
        return _register_simpleitk(mask, frames, motion, progress)
    raise ValueError(f"backend must be 'torch', 'gauss-newton' or 'simpleitk', got {backend!r}")


def warp_frames(image: np.ndarray, fields: np.ndarray, threads: int = 1) -> np.ndarray:
    """``image(x + v_t(x))`` for each field (bilinear, edge values outside): (n, rows, cols) float32.

    Args:
        image: the image (rows, cols).
        fields: backward fields (n, 2, rows, cols), pixels.
        threads: fields warped at once (SciPy releases the GIL while it interpolates).
    """
    from scipy.ndimage import map_coordinates

    rows, cols = image.shape
    grid = np.mgrid[0:rows, 0:cols].astype(np.float32)
    source = image.astype(np.float32, copy=False)

    def warp(field: np.ndarray) -> np.ndarray:
        return map_coordinates(source, grid + field, order=1, mode="nearest")

    if threads <= 1 or len(fields) <= 1:
        return np.stack([warp(field) for field in fields])
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return np.stack(list(pool.map(warp, fields)))
