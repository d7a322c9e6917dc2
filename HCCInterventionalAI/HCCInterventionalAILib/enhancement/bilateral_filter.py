"""Trainable bilateral filter layers in pure PyTorch (CPU and GPU), with the parameter names of ldct-benchmark.

Wagner F, Thies M, Gu M, Huang Y, Pechmann S, Patwari M, Ploner S, Aust O, Uderhardt S, Schett G, Christiansen S,
Maier A. "Ultralow-parameter denoising: Trainable bilateral filter layers in computed tomography", Medical Physics
2022;49(8):5107–5120. A bilateral filter (Tomasi & Manduchi, ICCV 1998) whose four widths are trained by
back-propagation; ldct-benchmark (Eulig et al., Medical Physics 2024) stacks three such layers and publishes the
trained widths with a SHA-256 digest (``ldctbench/hub/checkpoints.json``, entry ``bilateral``).

One layer maps a volume ``I`` (axes x, y, z = the tensor's last three axes) to

    ``O(p) = Σ_q w(p, q) I(q) / Σ_q w(p, q)``,
    ``w(p, q) = exp(−Δx²/(2σ_x²)) · exp(−Δy²/(2σ_y²)) · exp(−Δz²/(2σ_z²)) · exp(−(I(p) − I(q))²/(2σ_r²))``,

over the neighbours ``q = p + Δ`` of a window of half-width ``h = ⌊w/2⌋`` per axis, ``w = max(⌈5σ⌉ | 1, 5)``
(``⌈5σ⌉`` made odd by setting its lowest bit; at least 5 taps), neighbours outside the volume left out of both sums
(no padding: the weights are renormalised at the border). The spatial kernels are not normalised (the ratio needs
no normalisation). This is the definition of the authors' C++/CUDA layer (``bilateralfilter_torch`` 1.1.0,
``BilateralFilter3d``; parameters ``sigma_x``, ``sigma_y``, ``sigma_z``, ``color_sigma``), written here again in
torch so that it runs on any device; gradients with respect to the input and the four widths come from autograd
(the window size, a whole number, is held fixed while differentiating, as in the original).

ldct-benchmark applies the three layers to single slices (N, 1, rows, cols) with a z axis of length one, so
``sigma_z`` has no effect there; x is the rows axis and y the columns axis.
"""

from __future__ import annotations

import functools
import math
from typing import Any

__all__ = ["bilateral_filter_3d", "bilateral_half_window", "build_bilateral_denoiser"]

#: ldct-benchmark's initial widths (its ``bilateral`` method): spatial 0.5 px, range 0.01 (normalised units).
_SIGMA_SPATIAL_INIT, _SIGMA_RANGE_INIT = 0.5, 0.01


def bilateral_half_window(sigma: float) -> int:
    """Half-width ``h = ⌊w/2⌋`` of the window, ``w = max(⌈5σ⌉ | 1, 5)`` with ``5σ`` in single precision.

    Args:
        sigma: spatial width in voxels (a negative value acts by its square in the weights; its window is 5 taps).

    Returns:
        The half-width (2 for σ ≤ 1, 3 for 1 < σ ≤ 1.4, …).
    """
    import numpy as np

    taps = max(int(math.ceil(float(np.float32(5.0) * np.float32(sigma)))) | 1, 5)
    return taps // 2


def bilateral_filter_3d(x: Any, sigma_x: Any, sigma_y: Any, sigma_z: Any, sigma_r: Any) -> Any:
    """One bilateral filter layer on (N, 1, X, Y, Z) volumes (see the module docstring for the formula).

    Args:
        x: (N, 1, X, Y, Z) float tensor.
        sigma_x, sigma_y, sigma_z: spatial widths in voxels along the last three axes (floats or 0-d tensors).
        sigma_r: range width, in the units of ``x``.

    Returns:
        The filtered (N, 1, X, Y, Z) tensor (differentiable in ``x`` and the widths that are tensors).

    Raises:
        ValueError: ``x`` is not 5-D with one channel, or a width is zero or not finite.
    """
    import torch

    if x.ndim != 5 or x.shape[1] != 1:
        raise ValueError(f"A bilateral filter layer takes (N, 1, X, Y, Z) volumes, got shape {tuple(x.shape)}")
    sigmas = [torch.as_tensor(s, dtype=x.dtype, device=x.device) for s in (sigma_x, sigma_y, sigma_z, sigma_r)]
    for name, sigma in zip(("sigma_x", "sigma_y", "sigma_z", "sigma_r"), sigmas, strict=True):
        value = float(sigma.detach())
        if value == 0.0 or not math.isfinite(value):
            raise ValueError(f"Bilateral filter width {name} must be finite and non-zero, got {value}")
    sizes = x.shape[2:]
    # offsets beyond the axis length have no neighbour inside the volume: leave them out
    halves = [min(bilateral_half_window(float(s.detach())), n - 1) for s, n in zip(sigmas[:3], sizes, strict=True)]
    kernels = [torch.exp(-torch.arange(-h, h + 1, dtype=x.dtype, device=x.device) ** 2 / (2 * s * s))
               for h, s in zip(halves, sigmas[:3], strict=True)]
    range_constant = -1.0 / (2 * sigmas[3] * sigmas[3])
    # the voxel itself has weight 1 (both factors are exp(0)); every other pair (p, p + Δ) has one weight
    # w(p, p + Δ) = w(p + Δ, p), computed once for Δ and used for −Δ as well
    numerator = x.clone()
    denominator = torch.ones_like(x)
    ranges = [range(-h, h + 1) for h in halves]
    for offset in ((a, b, c) for a in ranges[0] for b in ranges[1] for c in ranges[2]):
        if offset <= (0, 0, 0):
            continue
        home = (Ellipsis, *(slice(max(0, -d), n - max(0, d)) for d, n in zip(offset, sizes, strict=True)))
        other = (Ellipsis, *(slice(max(0, d), n - max(0, -d)) for d, n in zip(offset, sizes, strict=True)))
        spatial = kernels[0][offset[0] + halves[0]] * kernels[1][offset[1] + halves[1]] * kernels[2][
            offset[2] + halves[2]]
        near, far = x[home], x[other]
        weight = torch.exp((near - far).square() * range_constant) * spatial
        numerator[home] += weight * far
        denominator[home] += weight
        numerator[other] += weight * near
        denominator[other] += weight
    return numerator / denominator


@functools.lru_cache(maxsize=1)
def _classes() -> dict[str, type]:
    import torch
    from torch import nn

    class BilateralFilter3d(nn.Module):
        """One trainable bilateral filter layer (Wagner et al., Med Phys 2022) with four scalar parameters."""

        def __init__(self, sigma_spatial: float = _SIGMA_SPATIAL_INIT, sigma_range: float = _SIGMA_RANGE_INIT) -> None:
            super().__init__()
            self.sigma_x = nn.Parameter(torch.tensor(float(sigma_spatial)))
            self.sigma_y = nn.Parameter(torch.tensor(float(sigma_spatial)))
            self.sigma_z = nn.Parameter(torch.tensor(float(sigma_spatial)))
            self.color_sigma = nn.Parameter(torch.tensor(float(sigma_range)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return bilateral_filter_3d(x, self.sigma_x, self.sigma_y, self.sigma_z, self.color_sigma)

    class TrainableBilateralDenoiser(nn.Module):
        """Three stacked bilateral filter layers applied to (N, 1, rows, cols) slices, as in ldct-benchmark."""

        def __init__(self, n_layers: int = 3) -> None:
            super().__init__()
            self.filters = nn.Sequential(*(BilateralFilter3d() for _ in range(n_layers)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.ndim != 4 or x.shape[1] != 1:
                raise ValueError(f"The bilateral denoiser takes (N, 1, rows, cols) slices, got {tuple(x.shape)}")
            return self.filters(x[..., None])[..., 0]

    return {"BilateralFilter3d": BilateralFilter3d, "TrainableBilateralDenoiser": TrainableBilateralDenoiser}


def build_bilateral_denoiser(n_layers: int = 3) -> Any:
    """Three trainable bilateral filter layers (12 parameters), as ldct-benchmark's ``bilateral`` method."""
    if int(n_layers) < 1:
        raise ValueError(f"The bilateral denoiser needs at least one layer, got {n_layers}")
    return _classes()["TrainableBilateralDenoiser"](n_layers=int(n_layers))
