"""Report pictures: axial slices with segment outlines, image montages, maximum-intensity projections, curves.

Arrays are (k, j, i). Axial slices are shown in radiological convention (patient left on the image right) when the
volume's i axis points to patient left (+L in LPS), which is the usual DICOM/Slicer acquisition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..imaging.segmentation import Segmentation
from ..imaging.volume import Volume

__all__ = ["axial_montage", "projection_figure", "curves_figure", "best_axial_slice"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def best_axial_slice(mask: np.ndarray) -> int:
    """Index k of the axial slice with the largest cross-section of ``mask`` (middle slice if empty)."""
    areas = mask.reshape(mask.shape[0], -1).sum(axis=1)
    return int(np.argmax(areas)) if areas.any() else mask.shape[0] // 2


def _aspect(volume: Volume) -> float:
    return volume.spacing[1] / volume.spacing[0]


def axial_montage(
    panels: Sequence[tuple[str, Volume, tuple[float, float]]],
    k: int,
    segmentation: Segmentation | None = None,
    segments: Sequence[str] | None = None,
    overlay: Volume | None = None,
    overlay_label: str = "",
) -> Any:
    """A row of axial slices (title, volume, (level, width)) with optional segment outlines and a colour overlay
    (drawn on the last panel only, e.g. a dose map over CT).

    All volumes must share the grid of the first one (the caller resamples).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
    for index, (ax, (title, volume, (level, width))) in enumerate(zip(axes[0], panels, strict=True)):
        ax.imshow(volume.array[k], cmap="gray", vmin=level - width / 2, vmax=level + width / 2,
                  aspect=_aspect(volume), interpolation="nearest")
        if overlay is not None and index == len(panels) - 1:
            data = np.ma.masked_less_equal(overlay.array[k], 0)
            image = ax.imshow(data, cmap="inferno", alpha=0.6, aspect=_aspect(volume), interpolation="nearest")
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label=overlay_label)
        if segmentation is not None:
            for segment in segmentation:
                if segments is not None and segment.name not in segments:
                    continue
                if segment.mask[k].any():
                    ax.contour(segment.mask[k].astype(float), levels=[0.5], colors=[segment.color], linewidths=1.0)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    return fig


def projection_figure(volume: Volume, title: str, segmentation: Segmentation | None = None, cmap: str = "hot") -> Any:
    """Coronal maximum-intensity projection (e.g. for SPECT) with optional segment outlines."""
    plt = _pyplot()
    mip = volume.array.max(axis=1)  # project along j (anterior-posterior for axial acquisitions)
    fig, ax = plt.subplots(figsize=(4.5, 5))
    aspect = volume.spacing[2] / volume.spacing[0]
    ax.imshow(mip[::-1], cmap=cmap, aspect=aspect, interpolation="nearest")
    if segmentation is not None:
        for segment in segmentation:
            projection = segment.mask.any(axis=1)[::-1]
            if projection.any():
                ax.contour(projection.astype(float), levels=[0.5], colors=[segment.color], linewidths=1.0)
    ax.set_title(title)
    ax.axis("off")
    fig.tight_layout()
    return fig


def curves_figure(x: np.ndarray, curves: dict[str, np.ndarray], title: str, x_label: str, y_label: str,
                  colors: dict[str, Any] | None = None) -> Any:
    """Line plot of several named curves against one x axis (DVH, learning curves, ...)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, y in curves.items():
        ax.plot(x, y, label=name, color=(colors or {}).get(name))
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
