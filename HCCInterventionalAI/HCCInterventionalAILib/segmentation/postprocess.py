"""Clean-up of segmentation masks: largest connected component, hole filling, tumours inside the liver.

All operations use :mod:`scipy.ndimage` with 26-connectivity in 3D (face, edge and corner neighbours), the
usual choice for organ masks, and return new arrays (inputs are never modified).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["connected_components", "fill_holes", "largest_component", "remove_small_components", "tumour_inside_liver"]

def _structure(ndim: int) -> np.ndarray:
    return ndimage.generate_binary_structure(ndim, ndim)


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label the 26-connected (8 in 2D) components of ``mask``: (labels 1..n, n)."""
    mask = np.asarray(mask, dtype=bool)
    labels, count = ndimage.label(mask, structure=_structure(mask.ndim))
    return labels, int(count)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected component of ``mask`` (an empty mask stays empty)."""
    labels, count = connected_components(mask)
    if count <= 1:
        return labels > 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def remove_small_components(mask: np.ndarray, min_voxels: int) -> np.ndarray:
    """``mask`` without the connected components smaller than ``min_voxels``."""
    labels, count = connected_components(mask)
    if count == 0:
        return labels > 0
    sizes = np.bincount(labels.ravel())
    keep = sizes >= int(min_voxels)
    keep[0] = False
    return keep[labels]


def fill_holes(mask: np.ndarray, *, per_slice: bool = False) -> np.ndarray:
    """Fill cavities not connected to the mask's outside (in 3D, or also slice by slice along k).

    Args:
        mask: boolean mask ``(k, j, i)``.
        per_slice: also fill holes in each axial slice (closes vessels that enter the organ in 3D).
    """
    filled = ndimage.binary_fill_holes(np.asarray(mask, dtype=bool))
    if per_slice and filled.ndim == 3:
        for k in range(filled.shape[0]):
            if filled[k].any():
                filled[k] = ndimage.binary_fill_holes(filled[k])
    return filled


def tumour_inside_liver(tumour: np.ndarray, liver: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep tumour voxels only inside the liver, and make the liver include them.

    Our convention (as Slicer's and the sample patient's): ``Liver`` is the whole organ, tumours included;
    ``Tumour`` is a subset of it.

    Returns:
        (tumour ∩ liver, liver ∪ (tumour ∩ liver)) — the second is the liver itself by construction.
    """
    tumour = np.asarray(tumour, dtype=bool)
    liver = np.asarray(liver, dtype=bool)
    if tumour.shape != liver.shape:
        from ..imaging.volume import GeometryMismatchError

        raise GeometryMismatchError(f"Tumour mask {tumour.shape} and liver mask {liver.shape} differ in shape")
    return tumour & liver, liver.copy()
