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
                  colors: dict[str, Any] | None = None, linestyles: dict[str, str] | None = None) -> Any:
    """Line plot of several named curves against one x axis (DVH, learning curves, ...).

    The legend is placed outside the axes, to the right (constrained layout keeps it inside the figure), so it
    never covers a curve.

    Args:
        x: the common x values.
        curves: name → y values (same length as ``x``), drawn in this order.
        title, x_label, y_label: texts.
        colors: name → any matplotlib colour; curves without one take the next colour of the property cycle not
            already given to another curve.
        linestyles: name → matplotlib line style (default solid).

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    plt = _pyplot()
    from matplotlib.colors import to_rgb

    colors, linestyles = colors or {}, linestyles or {}
    taken = {to_rgb(c) for c in colors.values()}
    cycle = [c for c in plt.rcParams["axes.prop_cycle"].by_key().get("color", []) if to_rgb(c) not in taken]
    width = 6.4 + (1.6 if curves else 0.0)
    fig, ax = plt.subplots(figsize=(width, 4.2), layout="constrained")
    for name, y in curves.items():
        color = colors.get(name)
        if color is None and cycle:
            color = cycle.pop(0)
        ax.plot(x, y, label=name, color=color, linestyle=linestyles.get(name, "-"))
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if curves:
        fig.legend(loc="outside right upper")
    return fig
