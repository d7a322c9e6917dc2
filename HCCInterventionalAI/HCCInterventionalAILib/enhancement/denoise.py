"""Self-supervised CT denoising trained on the user's own noisy scan (Noise2Self, no weights needed).

Noise2Self (Batson & Royer, ICML 2019): a function ``f`` is J-invariant when ``f(x)_J`` does not depend on
``x_J``; for noise independent between pixels, minimising ``‖f(x)_J − x_J‖²`` over such ``f`` minimises the
error to the clean image plus a constant, so a network can be trained on the noisy image alone. J-invariance
is enforced by masking: around the pixels on a random phase of a 4×4 grid, a 3×3 block is replaced by the mean
of the ring of 16 pixels just outside it, and the loss is taken on the grid pixels only. The block, not the single
pixel of the original, is masked because filtered back-projection noise is correlated between adjacent pixels
(on the simulated low-dose sample patient about +0.47 to the next column and below 0.2 two pixels away;
``test_fbp_noise_is_correlated_only_between_adjacent_pixels``): a network that sees a pixel's neighbours learns to
copy its noise from them. Hiding the neighbourhood correlated with the loss pixel is the structured-noise blind spot
of Broaddus et al. (ISBI 2020). The network is 2.5-D: it sees the slice and its two neighbours (noise of slice-by-slice reconstruction is independent between slices), and predicts the slice.
At inference the same masking is applied for each of the 16 grid phases and each pixel is taken from the
pass in which it was masked, so the output is J-invariant as trained ("J-invariant reconstruction").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress
from .lowdose import require_ct

__all__ = ["DenoiserState", "Noise2SelfSettings", "denoise_volume", "train_noise2self"]

#: HU → network units: (HU − centre) / scale.
_HU_CENTRE, _HU_SCALE = 40.0, 200.0
_GRID = 4


@dataclass
class Noise2SelfSettings:
    """Training settings (defaults train in seconds on a CPU for a small volume).

    Attributes:
        iterations: optimiser steps.
        batch_size: patches per step.
        patch_size: patch side (pixels); whole slices when larger than the slice.
        width: feature channels of the network.
        depth: hidden 3×3 convolution layers.
        learning_rate: Adam learning rate.
        blind_radius: half-width of the masked block around each loss pixel: 1 (default) hides the 8 neighbours
            too, as filtered back-projection noise is correlated between adjacent pixels; 0 is the original
            single-pixel masking (for noise independent between pixels). 0 or 1 (the 4×4 grid leaves the ring
            just outside a 3×3 block unmasked).
        seed: random seed (patch positions, mask phases, initial weights).
        device: torch device ("cpu", "cuda"; None = CUDA when available).
    """

    iterations: int = 1000
    batch_size: int = 4
    patch_size: int = 48
    width: int = 16
    depth: int = 4
    learning_rate: float = 1e-3
    blind_radius: int = 1
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        if self.blind_radius not in (0, 1):
            raise ValueError(f"blind_radius must be 0 or 1 (4×4 masking grid), got {self.blind_radius}")


@dataclass
class DenoiserState:
    """A trained denoiser: weights (CPU tensors) and what produced them."""

    state_dict: dict[str, Any]
    settings: Noise2SelfSettings
    final_loss: float
    seconds: float
    history: list[float] = field(default_factory=list)


def _network(width: int, depth: int):
    import torch.nn as nn

    layers: list[Any] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True)]
    for _ in range(depth - 1):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
    last = nn.Conv2d(width, 1, 3, padding=1)
    nn.init.zeros_(last.weight)  # start as the 4-neighbour mean (a plain smoothing filter); learn corrections
    nn.init.zeros_(last.bias)
    layers.append(last)
    return nn.Sequential(*layers)


def _stack(array: np.ndarray) -> np.ndarray:
    """(k, j, i) → (k, 3, j, i): each slice with its neighbours (edge slices repeated), in network units."""
    normalised = (np.asarray(array, dtype=np.float32) - _HU_CENTRE) / _HU_SCALE
    padded = np.concatenate([normalised[:1], normalised, normalised[-1:]])
    return np.stack([padded[:-2], padded[1:-1], padded[2:]], axis=1)


def _mask_centre(batch, phase: tuple[int, int], blind_radius: int, torch):
    """Blind-spot masking of the centre slice on grid phase (r, c): around each grid pixel (one in 4×4) the
    (2·radius + 1)² block is replaced by the mean of the square ring just outside it (radius 0: Noise2Self's
    interpolation masking of single pixels); returns (input, grid-pixel mask). The loss is taken on the grid pixels,
    which then see no pixel within ``blind_radius`` of themselves."""
    import torch.nn.functional as F

    _, _, h, w = batch.shape
    r = int(blind_radius)
    centres = torch.zeros((1, 1, h, w), dtype=batch.dtype, device=batch.device)
    centres[..., phase[0]::_GRID, phase[1]::_GRID] = 1
    side = 2 * r + 3
    ring = torch.ones((side, side), dtype=batch.dtype, device=batch.device)
    ring[1:-1, 1:-1] = 0
    centre = batch[:, 1:2]
    ring_mean = F.conv2d(F.pad(centre, (r + 1,) * 4, mode="reflect"), (ring / ring.sum())[None, None])
    box = torch.ones((1, 1, 2 * r + 1, 2 * r + 1), dtype=batch.dtype, device=batch.device)
    fill = F.conv2d(F.pad(ring_mean * centres, (r,) * 4), box)  # each block gets its own centre's ring mean
    block = F.conv2d(F.pad(centres, (r,) * 4), box) > 0
    masked_centre = torch.where(block, fill, centre)
    return torch.cat([batch[:, :1], masked_centre, batch[:, 2:]], dim=1), centres[0, 0].bool()


def train_noise2self(
    ct: Volume,
    settings: Noise2SelfSettings | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> DenoiserState:
    """Train a Noise2Self denoiser on one noisy CT.

    Args:
        ct: the noisy CT (HU).
        settings: training settings.
        progress: progress reporter or callback; raises ``Cancelled``.

    Returns:
        The trained :class:`DenoiserState`.

    Raises:
        NotCTError: the input is not a CT in HU.
    """
    import time

    import torch

    require_ct(ct)
    settings = settings or Noise2SelfSettings()
    reporter = as_progress(progress)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    device = torch.device(settings.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data = torch.from_numpy(_stack(ct.array)).to(device)
    k, _, h, w = data.shape
    ph, pw = min(settings.patch_size, h), min(settings.patch_size, w)
    net = _network(settings.width, settings.depth).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, settings.iterations)
    history: list[float] = []
    start = time.perf_counter()
    for step in range(settings.iterations):
        ks = rng.integers(0, k, settings.batch_size)
        ys = rng.integers(0, h - ph + 1, settings.batch_size)
        xs = rng.integers(0, w - pw + 1, settings.batch_size)
        batch = torch.stack([data[a, :, b:b + ph, c:c + pw] for a, b, c in zip(ks, ys, xs, strict=True)])
        if rng.random() < 0.5:
            batch = batch.flip(-1)
        phase = (int(rng.integers(_GRID)), int(rng.integers(_GRID)))
        inputs, mask = _mask_centre(batch, phase, settings.blind_radius, torch)
        output = inputs[:, 1:2] + net(inputs)
        loss = ((output - batch[:, 1:2]) ** 2)[..., mask].mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        history.append(float(loss.item()))
        if step % 10 == 0 or step == settings.iterations - 1:
            reporter.update((step + 1) / settings.iterations, f"Noise2Self training {step + 1}/{settings.iterations}")
    state = {key: value.detach().cpu() for key, value in net.state_dict().items()}
    final = float(np.mean(history[-20:])) if history else float("nan")
    return DenoiserState(state, settings, final, time.perf_counter() - start, history)


def denoise_volume(
    ct: Volume,
    state: DenoiserState | None = None,
    *,
    settings: Noise2SelfSettings | None = None,
    slices_per_batch: int = 8,
    device: str | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> tuple[Volume, DenoiserState]:
    """Denoise a CT with a Noise2Self network (trained on this scan when ``state`` is None).

    Inference runs slice batches through the fully convolutional network (a sliding window along the slice
    axis), on CUDA when available, as J-invariant reconstruction: 16 masked passes, each pixel taken from the pass
    in which it was hidden. (One unmasked pass would be faster but is worse than the noisy input: a network
    trained never to see the blind spot treats its noise as signal when shown it;
    ``test_single_unmasked_pass_would_be_worse_than_the_input``.)

    Args:
        ct: the noisy CT (HU).
        state: a trained denoiser; None trains one on ``ct`` first.
        settings: training settings when ``state`` is None.
        slices_per_batch: slices per inference batch.
        device: torch device for inference (None: CUDA when available).
        progress: progress reporter or callback.

    Returns:
        (denoised CT as a new float32 volume on the same grid, the denoiser used).

    Raises:
        NotCTError: the input is not a CT in HU.
    """
    import torch

    require_ct(ct)
    reporter = as_progress(progress)
    if state is None:
        state = train_noise2self(ct, settings, reporter.sub(0.0, 0.7))
        reporter = reporter.sub(0.7, 1.0)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net = _network(state.settings.width, state.settings.depth).to(dev)
    net.load_state_dict(state.state_dict)
    net.eval().to(memory_format=torch.channels_last)  # NHWC convolutions are faster on the CPU
    stacked = _stack(ct.array)
    out = np.empty(ct.array.shape, dtype=np.float32)
    phases = [(r, c) for r in range(_GRID) for c in range(_GRID)]
    starts = list(range(0, stacked.shape[0], slices_per_batch))
    with torch.no_grad():
        for index, first in enumerate(starts):
            batch = torch.from_numpy(stacked[first:first + slices_per_batch]).to(dev)
            batch = batch.contiguous(memory_format=torch.channels_last)
            result = torch.zeros_like(batch[:, 1:2])
            for phase in phases:
                inputs, mask = _mask_centre(batch, phase, state.settings.blind_radius, torch)
                result = torch.where(mask, inputs[:, 1:2] + net(inputs), result)
            out[first:first + slices_per_batch] = result[:, 0].cpu().numpy() * _HU_SCALE + _HU_CENTRE
            reporter.update((index + 1) / len(starts), "denoising")
    metadata = dict(ct.metadata)
    metadata.update({"denoised": "Noise2Self (self-supervised on this scan)", "j_invariant": True})
    return ct.with_array(out, name=f"{ct.name} (denoised)", modality="CT", units="HU", metadata=metadata), state
