"""Small 2D CNN score on the slice with the largest tumour cross-section, and Grad-CAM (torch/MONAI, lazy).

Preprocessing follows the DELICAITE study (An et al., 2025; also Lin et al., Int. J. Surg. 2025):

1. the axial slice with the largest tumour area;
2. CT window W250/L40 (``clip((HU − (40 − 125))/250, 0, 1)``);
3. crop to the liver's bounding box on that slice (whole-liver crop, ``margin_mm`` around it);
4. resample in-plane to 0.72 × 0.72 mm (linear, SimpleITK-free ``scipy.ndimage.zoom``);
5. resize to 224 × 224 (bilinear) and z-score (``(x − mean)/SD`` of the crop).

The network is a four-block CNN (3×3 convolution, batch norm, ReLU, 2×2 max-pool; 16–32–64–128 channels;
global average pooling; one logit). Grad-CAM (Selvaraju et al., ICCV 2017) comes from MONAI's ``GradCAM`` on the
last convolutional block. No trained weights ship with the package: a model trained here on synthetic images
is a demonstration only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import PredictionInputError

__all__ = ["largest_tumour_slice", "preprocess_slice", "make_small_cnn", "train_cnn", "cnn_scores", "grad_cam",
           "TARGET_LAYER"]

#: Name of the layer Grad-CAM reads (the last convolutional block of :func:`make_small_cnn`).
TARGET_LAYER = "features.3"


def largest_tumour_slice(tumour_mask: np.ndarray) -> int:
    """Index ``k`` of the axial slice (array ``[k, j, i]``) with the most tumour voxels.

    Raises:
        PredictionInputError: the mask is not 3D or holds no tumour.
    """
    mask = np.asarray(tumour_mask) > 0
    if mask.ndim != 3:
        raise PredictionInputError(f"The tumour mask must be 3D (got {mask.ndim} dimensions).")
    areas = mask.sum(axis=(1, 2))
    if areas.max() == 0:
        raise PredictionInputError("The tumour mask is empty; select a segment that holds the lesion.")
    return int(np.argmax(areas))


def preprocess_slice(ct_hu: np.ndarray, spacing_ij_mm: Sequence[float], liver_mask: np.ndarray,
                     tumour_mask: np.ndarray, *, level: float = 40.0, width: float = 250.0,
                     target_spacing_mm: float = 0.72, size: int = 224, margin_mm: float = 5.0) -> np.ndarray:
    """The network input for one lesion (see module docstring).

    Args:
        ct_hu: CT in HU, array ``[k, j, i]``.
        spacing_ij_mm: in-plane spacing ``(i, j)`` in mm (the first two of a Volume's spacing).
        liver_mask: liver mask on the CT grid (the crop).
        tumour_mask: tumour mask on the CT grid (chooses the slice).
        level: window level (HU).
        width: window width (HU).
        target_spacing_mm: in-plane spacing after resampling.
        size: output rows and columns.
        margin_mm: margin around the liver's bounding box.

    Returns:
        float32 array ``(size, size)`` with mean 0 and SD 1 (or all zeros for a constant crop).

    Raises:
        PredictionInputError: shapes differ, empty masks, no liver on the chosen slice, bad spacing.
    """
    from scipy import ndimage

    from ..imaging.intensity import window

    ct = np.asarray(ct_hu, dtype=np.float32)
    liver, tumour = np.asarray(liver_mask) > 0, np.asarray(tumour_mask) > 0
    if ct.ndim != 3 or liver.shape != ct.shape or tumour.shape != ct.shape:
        raise PredictionInputError("The CT, liver mask and tumour mask must be 3D arrays of the same shape.")
    spacing_i, spacing_j = (float(s) for s in spacing_ij_mm)
    if min(spacing_i, spacing_j, target_spacing_mm) <= 0:
        raise PredictionInputError("Spacings must be positive.")
    k = largest_tumour_slice(tumour)
    region = liver[k] | tumour[k]
    rows, cols = np.nonzero(region)
    margin_j, margin_i = int(round(margin_mm / spacing_j)), int(round(margin_mm / spacing_i))
    r0, r1 = max(rows.min() - margin_j, 0), min(rows.max() + margin_j + 1, ct.shape[1])
    c0, c1 = max(cols.min() - margin_i, 0), min(cols.max() + margin_i + 1, ct.shape[2])
    crop = window(ct[k, r0:r1, c0:c1], level, width)
    resampled = ndimage.zoom(crop, (spacing_j / target_spacing_mm, spacing_i / target_spacing_mm), order=1)
    resized = ndimage.zoom(resampled, (size / resampled.shape[0], size / resampled.shape[1]), order=1)
    resized = resized[:size, :size]
    if resized.shape != (size, size):  # rounding in zoom: pad the last row/column by edge values
        resized = np.pad(resized, ((0, size - resized.shape[0]), (0, size - resized.shape[1])), mode="edge")
    sd = float(resized.std())
    return ((resized - resized.mean()) / sd if sd > 0 else np.zeros_like(resized)).astype(np.float32)


def make_small_cnn(channels: Sequence[int] = (16, 32, 64, 128)) -> Any:
    """The small CNN (torch ``nn.Module``): ``features`` (conv blocks) → global average pool → one logit."""
    import torch
    from torch import nn

    blocks, previous = [], 1
    for out in channels:
        blocks.append(nn.Sequential(nn.Conv2d(previous, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(),
                                    nn.MaxPool2d(2)))
        previous = out

    class SmallCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*blocks)
            self.head = nn.Linear(previous, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pooled = self.features(x).mean(dim=(2, 3))
            return self.head(pooled)

    return SmallCNN()


def train_cnn(images: np.ndarray, labels: np.ndarray, *, epochs: int = 10, batch_size: int = 32,
              learning_rate: float = 1e-3, seed: int = 0, device: str = "cpu",
              channels: Sequence[int] = (16, 32, 64, 128)) -> tuple[Any, list[float]]:
    """Train the small CNN with binary cross-entropy (Adam), random horizontal/vertical flips as augmentation.

    Args:
        images: ``(n, H, W)`` preprocessed slices.
        labels: ``(n,)`` 0/1 outcomes.
        epochs: passes over the data.
        batch_size: minibatch size.
        learning_rate: Adam step size.
        seed: torch and numpy seed.
        device: "cpu" or "cuda".
        channels: channels of the four convolutional blocks.

    Returns:
        ``(model in eval mode, mean training loss per epoch)``.

    Raises:
        PredictionInputError: shapes do not match or one class only.
    """
    import torch

    images = np.asarray(images, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float32)
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise PredictionInputError("images must be (n, H, W) and labels (n,).")
    if labels.min() == labels.max():
        raise PredictionInputError("The CNN needs images of both outcome classes.")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = make_small_cnn(channels).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_function = torch.nn.BCEWithLogitsLoss()
    x_all = torch.from_numpy(images[:, None]).to(device)
    y_all = torch.from_numpy(labels[:, None]).to(device)
    history = []
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(images))
        losses = []
        for start in range(0, len(order), batch_size):
            index = torch.from_numpy(order[start:start + batch_size]).to(device)
            x = x_all[index]
            if rng.random() < 0.5:
                x = torch.flip(x, dims=(3,))
            if rng.random() < 0.5:
                x = torch.flip(x, dims=(2,))
            optimiser.zero_grad()
            loss = loss_function(model(x), y_all[index])
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)))
    return model.eval(), history


def cnn_scores(model: Any, images: np.ndarray, device: str = "cpu") -> np.ndarray:
    """The deep-learning score: the CNN's logit per image (higher = event more likely)."""
    import torch

    with torch.no_grad():
        x = torch.from_numpy(np.asarray(images, dtype=np.float32)[:, None]).to(device)
        return model(x).cpu().numpy()[:, 0]


def grad_cam(model: Any, images: np.ndarray, device: str = "cpu", target_layer: str = TARGET_LAYER) -> np.ndarray:
    """Grad-CAM maps (MONAI ``GradCAM``), upsampled to the image size, in [0, 1].

    Args:
        model: the CNN.
        images: ``(n, H, W)`` preprocessed slices.
        device: "cpu" or "cuda".
        target_layer: layer whose activations and gradients make the map (default: the last block, 14 × 14
            for a 224 × 224 input; use an earlier block for small images).
    """
    import torch
    from monai.visualize import GradCAM

    # MONAI's default post-processing maps (min, max) to (1, 0), i.e. it flips the map; scale to (0, 1) here.
    cam = GradCAM(nn_module=model, target_layers=target_layer, postprocessing=lambda maps: maps)
    x = torch.from_numpy(np.asarray(images, dtype=np.float32)[:, None]).to(device)
    maps = cam(x=x, class_idx=0).detach().cpu().numpy()[:, 0]
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0).astype(np.float32)
