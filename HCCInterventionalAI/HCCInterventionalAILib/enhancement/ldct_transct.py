"""TransCT, the dual-path transformer low-dose-CT denoiser, with the parameter names of the ldct-benchmark checkpoint.

Zhang Z, Yu L, Liang X, Zhao W, Xing L. "TransCT: dual-path transformer for low dose computed tomography",
MICCAI 2021, LNCS 12906:55–64. The network is written here from the paper; its layer (parameter) names and sizes
follow the checkpoint the ``ldct-benchmark`` model hub publishes with a SHA-256 digest (Eulig et al., "Benchmarking
deep learning-based low-dose CT image denoising algorithms", Medical Physics 2024; package 0.0.15,
``ldctbench/hub/checkpoints.json``, entry ``transct``), so that state dict loads into it unchanged.

Architecture (input one 512×512 slice, ``x``):

1. Frequency split: ``x_L = G_σ ∗ x`` (an 11×11 Gaussian, σ = 1.5 px, mirrored borders), ``x_H = x − x_L``.
2. Low-frequency path (``conv_encoder_lf``): two 5×5 stride-2 convolutions (16, 32 maps; LeakyReLU 0.2) give a
   128² base; from it a 5×5 stride-2 convolution gives the content feature ``c1`` (64 maps, 64²) and another
   ``c2`` (256 maps, 32²); a separate branch of three 5×5 stride-2 convolutions (64, 128, 256 maps) gives the
   latent texture feature (256 maps of 16²) that the transformer encoder reads as 256 tokens of width 16² = 256.
3. Transformer encoder (``memory``): three layers, each multi-head self-attention (8 heads) plus the input, then a
   feed-forward ``Linear(256, 2048) → LeakyReLU → Linear(2048, 256) → LeakyReLU`` plus its input.
4. High-frequency path: space-to-depth by 16 (512² → 256 maps of 32², TensorFlow's channel order), three 3×3
   convolutions (256 maps; ``conv_encoder_hf``), read as 256 tokens of width 32² = 1024.
5. Transformer decoder (``decoder``): three layers, each self-attention (8 heads) plus input, cross-attention to
   the encoder memory (keys and values of width 256) plus input, feed-forward ``1024 → 8192 → 1024`` plus input.
6. Piecewise reconstruction (``combine``): tokens back to 256 maps of 32², ``+ c2``, two 3×3 convolutions plus their
   input, depth-to-space by 2 (→ 64 maps of 64²), ``+ c1``, two 3×3 convolutions plus their input, depth-to-space by
   8 (→ one 512² slice). The output is the denoised slice itself (not a residual).

The token widths (16² and 32²) are set by the slice size, so the network accepts **exactly 512×512** slices; any
other size is refused with a ``ValueError`` naming it. The blur, space-to-depth and depth-to-space have no
parameters; they are written here in torch (no torchvision needed): :func:`gaussian_blur_2d`,
:func:`space_to_depth`, :func:`depth_to_space`.

All tensors are (N, 1, 512, 512); torch is imported when a network is built or a function is called.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["TRANSCT_SLICE_SHAPE", "build_transct", "depth_to_space", "gaussian_blur_2d", "gaussian_kernel_1d",
           "space_to_depth"]

#: The only slice size (rows, cols) TransCT accepts (its token widths are (512/32)² and (512/16)²).
TRANSCT_SLICE_SHAPE: tuple[int, int] = (512, 512)

_BLUR_SIZE, _BLUR_SIGMA = 11, 1.5  # TransCT's frequency split (Zhang et al., MICCAI 2021, and ldct-benchmark)
_HEADS = 8
_SLOPE = 0.2


def gaussian_kernel_1d(size: int, sigma: float, *, dtype: Any = None, device: Any = None) -> Any:
    """Sampled, normalised 1-D Gaussian ``g[i] = exp(−d_i²/(2σ²)) / Σ_j exp(−d_j²/(2σ²))``, ``d_i = i − (size−1)/2``.

    Args:
        size: odd number of taps.
        sigma: standard deviation in pixels (> 0).
        dtype: torch dtype (default float32).
        device: torch device.

    Returns:
        A (size,) tensor summing to 1.

    Raises:
        ValueError: ``size`` is not a positive odd number or ``sigma`` is not positive.
    """
    import torch

    if size < 1 or size % 2 == 0:
        raise ValueError(f"A Gaussian kernel needs an odd positive size, got {size}")
    if not sigma > 0:
        raise ValueError(f"A Gaussian kernel needs a positive sigma, got {sigma}")
    half = (size - 1) / 2
    distance = torch.linspace(-half, half, size, dtype=dtype or torch.float32, device=device)
    kernel = torch.exp(-0.5 * (distance / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur_2d(x: Any, size: int = _BLUR_SIZE, sigma: float = _BLUR_SIGMA) -> Any:
    """Separable Gaussian blur of (N, C, H, W) images with mirrored borders (``a b c | b a``, no edge repeat).

    ``y = g ∗_rows (g ∗_cols x)`` with :func:`gaussian_kernel_1d` ``g``; each channel separately.

    Args:
        x: (N, C, H, W) float tensor, H and W larger than ``size // 2``.
        size: odd kernel size.
        sigma: standard deviation in pixels.

    Returns:
        The blurred tensor, same shape.
    """
    import torch

    channels = x.shape[1]
    g = gaussian_kernel_1d(size, sigma, dtype=x.dtype, device=x.device)
    half = size // 2
    padded = torch.nn.functional.pad(x, (half, half, half, half), mode="reflect")
    rows = torch.nn.functional.conv2d(padded, g.view(1, 1, size, 1).expand(channels, 1, size, 1), groups=channels)
    return torch.nn.functional.conv2d(rows, g.view(1, 1, 1, size).expand(channels, 1, 1, size), groups=channels)


def space_to_depth(x: Any, block: int) -> Any:
    """TensorFlow ``space_to_depth`` in NCHW: ``out[n, (i·b + j)·C + c, h, w] = x[n, c, h·b + i, w·b + j]``.

    Args:
        x: (N, C, H, W) tensor, H and W multiples of ``block``.
        block: block size b.

    Returns:
        (N, C·b², H/b, W/b).
    """
    n, c, h, w = x.shape
    blocks = x.reshape(n, c, h // block, block, w // block, block)  # n, c, h', i, w', j
    return blocks.permute(0, 3, 5, 1, 2, 4).reshape(n, block * block * c, h // block, w // block)


def depth_to_space(x: Any, block: int) -> Any:
    """TensorFlow ``depth_to_space`` in NCHW, the inverse of :func:`space_to_depth`:
    ``out[n, c, h·b + i, w·b + j] = x[n, (i·b + j)·C' + c, h, w]`` with ``C' = C/b²``.

    Args:
        x: (N, C, H, W) tensor, C a multiple of b².
        block: block size b.

    Returns:
        (N, C/b², H·b, W·b).
    """
    n, c, h, w = x.shape
    out_channels = c // (block * block)
    blocks = x.reshape(n, block, block, out_channels, h, w)  # n, i, j, c', h, w
    return blocks.permute(0, 3, 4, 1, 5, 2).reshape(n, out_channels, h * block, w * block)


@functools.lru_cache(maxsize=1)
def _classes() -> dict[str, type]:
    import torch
    from torch import nn

    def conv5_stride2(in_channels: int, out_channels: int) -> list[nn.Module]:
        return [nn.Conv2d(in_channels, out_channels, 5, stride=2, padding=2), nn.LeakyReLU(_SLOPE)]

    def conv3(channels: int, count: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for _ in range(count):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(_SLOPE)]
        return nn.Sequential(*layers)

    def feed_forward(width: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(width, 8 * width), nn.LeakyReLU(_SLOPE), nn.Linear(8 * width, width),
                             nn.LeakyReLU(_SLOPE))

    class LowFrequencyEncoder(nn.Module):
        """Content features c1 (64×64², stride 8), c2 (256×32², stride 16) and the latent texture (256×16²)."""

        def __init__(self) -> None:
            super().__init__()
            self.base_encoder = nn.Sequential(*conv5_stride2(1, 16), *conv5_stride2(16, 32))
            self.lc1 = nn.Sequential(*conv5_stride2(32, 64))
            self.lc2 = nn.Sequential(*conv5_stride2(64, 256))
            # (sic) the checkpoint's name for the texture branch
            self.transformer_endoder = nn.Sequential(*conv5_stride2(32, 64), *conv5_stride2(64, 128),
                                                     *conv5_stride2(128, 256))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            base = self.base_encoder(x)
            content_1 = self.lc1(base)
            return content_1, self.lc2(content_1), self.transformer_endoder(base)

    class EncoderLayer(nn.Module):
        """Self-attention + input, feed-forward + input."""

        def __init__(self, width: int) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(width, _HEADS, batch_first=True)
            self.ff = feed_forward(width)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            tokens = tokens + self.mha(tokens, tokens, tokens, need_weights=False)[0]
            return tokens + self.ff(tokens)

    class DecoderLayer(nn.Module):
        """Self-attention + input, cross-attention to the memory + input, feed-forward + input."""

        def __init__(self, width: int, memory_width: int) -> None:
            super().__init__()
            self.mha1 = nn.MultiheadAttention(width, _HEADS, batch_first=True)
            self.mha2 = nn.MultiheadAttention(width, _HEADS, kdim=memory_width, vdim=memory_width, batch_first=True)
            self.ff = feed_forward(width)

        def forward(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
            tokens = tokens + self.mha1(tokens, tokens, tokens, need_weights=False)[0]
            tokens = tokens + self.mha2(tokens, memory, memory, need_weights=False)[0]
            return tokens + self.ff(tokens)

    class Combine(nn.Module):
        """Piecewise reconstruction: + c2, residual convolutions, depth-to-space 2, + c1, convolutions, d2s 8."""

        def __init__(self) -> None:
            super().__init__()
            self.block1 = conv3(256, 2)
            self.block2 = conv3(64, 2)

        def forward(self, high: torch.Tensor, content_1: torch.Tensor, content_2: torch.Tensor) -> torch.Tensor:
            merged = high + content_2
            merged = depth_to_space(merged + self.block1(merged), 2) + content_1
            return depth_to_space(merged + self.block2(merged), 8)

    class TransCT(nn.Module):
        """TransCT (Zhang et al., MICCAI 2021) for 512×512 slices."""

        def __init__(self) -> None:
            super().__init__()
            rows, cols = TRANSCT_SLICE_SHAPE
            self.texture_width = (rows // 32) * (cols // 32)  # 256
            self.high_shape = (rows // 16, cols // 16)  # 32 × 32, token width 1024
            self.conv_encoder_lf = LowFrequencyEncoder()
            self.conv_encoder_hf = conv3(256, 3)
            self.memory = nn.Sequential(*(EncoderLayer(self.texture_width) for _ in range(3)))
            self.decoder = nn.ModuleList(DecoderLayer(self.high_shape[0] * self.high_shape[1], self.texture_width)
                                         for _ in range(3))
            self.combine = Combine()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[-2:]) != TRANSCT_SLICE_SHAPE:
                raise ValueError(f"TransCT takes (N, 1, 512, 512) slices, got {tuple(x.shape)}")
            low = gaussian_blur_2d(x)
            high = x - low
            content_1, content_2, texture = self.conv_encoder_lf(low)
            memory = self.memory(texture.flatten(2))  # 256 tokens of width 16²
            tokens = self.conv_encoder_hf(space_to_depth(high, 16)).flatten(2)  # 256 tokens of width 32²
            for layer in self.decoder:
                tokens = layer(tokens, memory)
            return self.combine(tokens.reshape(x.shape[0], 256, *self.high_shape), content_1, content_2)

    return {"TransCT": TransCT}


def build_transct() -> Any:
    """TransCT as in the paper and the ldct-benchmark checkpoint (fixed 512×512 slices, 79 347 520 parameters)."""
    return _classes()["TransCT"]()
