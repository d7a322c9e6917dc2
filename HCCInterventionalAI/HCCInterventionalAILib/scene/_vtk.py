"""Small numpy ⇄ VTK conversions shared by the bridge modules (private; imports vtk lazily)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..imaging.volume import Geometry

__all__ = [
    "array_from_image",
    "array_on_extent",
    "geometry_from_oriented_image",
    "image_from_array",
    "matrix_from_vtk",
    "matrix_to_vtk",
    "node_to_world_matrix",
    "oriented_image",
    "vtk_compatible_array",
]


def matrix_to_vtk(matrix: np.ndarray) -> Any:
    """A ``vtkMatrix4x4`` holding a 4×4 numpy matrix."""
    import vtk

    matrix = np.asarray(matrix, dtype=float)
    result = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            result.SetElement(row, column, float(matrix[row, column]))
    return result


def matrix_from_vtk(matrix: Any) -> np.ndarray:
    """A 4×4 numpy copy of a ``vtkMatrix4x4``."""
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)], dtype=float)


def vtk_compatible_array(array: np.ndarray, what: str = "image") -> np.ndarray:
    """Cast to a voxel type Slicer can store and display, never changing a value.

    Booleans become uint8, float16 becomes float32, 64-bit integers become 32-bit ones when their
    values fit (Slicer does not display 64-bit integer volumes).

    Raises:
        ValueError: 64-bit integers outside the 32-bit range, or an unsupported dtype (complex, object).
    """
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.uint8)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if kind in "iu" and array.dtype.itemsize == 8:
        target = np.int32 if kind == "i" else np.uint32
        if array.size and (array.min() < np.iinfo(target).min or array.max() > np.iinfo(target).max):
            raise ValueError(f"The {what} holds 64-bit integers outside the 32-bit range, which Slicer cannot show")
        return array.astype(target)
    if kind not in "iuf":
        raise ValueError(f"The {what} has voxel type {array.dtype}, which Slicer cannot store")
    return array


def image_from_array(array: np.ndarray, image: Any = None) -> Any:
    """A ``vtkImageData`` (or fill ``image``) with a deep copy of a (k, j, i) array; origin 0, spacing 1."""
    import vtk
    from vtk.util import numpy_support

    array = np.ascontiguousarray(vtk_compatible_array(array))
    if array.ndim != 3:
        raise ValueError(f"Expected a 3D (k, j, i) array, got shape {array.shape}")
    if image is None:
        image = vtk.vtkImageData()
    image.SetOrigin(0.0, 0.0, 0.0)
    image.SetSpacing(1.0, 1.0, 1.0)
    image.SetDimensions(int(array.shape[2]), int(array.shape[1]), int(array.shape[0]))
    scalars = numpy_support.numpy_to_vtk(
        array.ravel(), deep=True, array_type=numpy_support.get_vtk_array_type(array.dtype)
    )
    scalars.SetName("ImageScalars")
    image.GetPointData().SetScalars(scalars)
    return image


def array_from_image(image: Any) -> np.ndarray:
    """A (k, j, i) numpy copy of a single-component ``vtkImageData``'s scalars.

    Raises:
        ValueError: no scalars, or more than one component per voxel.
    """
    from vtk.util import numpy_support

    scalars = image.GetPointData().GetScalars() if image is not None else None
    if scalars is None:
        raise ValueError("The image has no voxel data")
    if scalars.GetNumberOfComponents() != 1:
        raise ValueError(f"Expected one value per voxel, the image has {scalars.GetNumberOfComponents()} components")
    extent = image.GetExtent()
    shape = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    return numpy_support.vtk_to_numpy(scalars).reshape(shape).copy()


def oriented_image(ijk_to_ras: np.ndarray, shape: tuple[int, int, int], array: np.ndarray | None = None) -> Any:
    """A ``vtkOrientedImageData`` on a grid (IJK→RAS matrix + (k, j, i) shape), optionally holding voxels."""
    from .headless import import_slicer

    image = import_slicer().vtkOrientedImageData()
    if array is not None:
        image_from_array(array, image)
    else:
        image.SetDimensions(int(shape[2]), int(shape[1]), int(shape[0]))
    image.SetImageToWorldMatrix(matrix_to_vtk(ijk_to_ras))
    return image


def array_on_extent(image: Any, extent: tuple[int, ...]) -> np.ndarray:
    """The image's voxels placed into a zero (k, j, i) array covering ``extent`` (cropped or padded)."""
    source = array_from_image(image)
    own = image.GetExtent()
    shape = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    result = np.zeros(shape, dtype=source.dtype)
    target_slices, source_slices = [], []
    for axis in (2, 1, 0):  # k, j, i ↔ extent pairs 4-5, 2-3, 0-1
        low, high = max(extent[2 * axis], own[2 * axis]), min(extent[2 * axis + 1], own[2 * axis + 1])
        if low > high:
            return result
        target_slices.append(slice(low - extent[2 * axis], high - extent[2 * axis] + 1))
        source_slices.append(slice(low - own[2 * axis], high - own[2 * axis] + 1))
    result[tuple(target_slices)] = source[tuple(source_slices)]
    return result


def geometry_from_oriented_image(image: Any, local_to_world: np.ndarray | None = None) -> Geometry:
    """The :class:`Geometry` of a ``vtkOrientedImageData`` (its extent may start anywhere).

    Args:
        image: the oriented image; its image-to-world matrix maps IJK to RAS.
        local_to_world: a 4×4 RAS matrix applied on top (the segmentation's parent transform), if any.
    """
    import vtk

    image_to_world = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(image_to_world)
    ijk_to_ras = matrix_from_vtk(image_to_world)
    extent = image.GetExtent()
    start = ijk_to_ras @ np.array([extent[0], extent[2], extent[4], 1.0])
    ijk_to_ras[:3, 3] = start[:3]
    if local_to_world is not None:
        ijk_to_ras = local_to_world @ ijk_to_ras
    shape = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    return Geometry.from_ijk_to_ras(ijk_to_ras, shape)


def node_to_world_matrix(node: Any, what: str) -> np.ndarray | None:
    """The 4×4 RAS matrix of a node's parent transforms, None when it has none.

    Raises:
        ValueError: the node is under a non-linear (warping) transform; its data must be hardened or
            resampled in Slicer first.
    """
    import vtk

    parent = node.GetParentTransformNode()
    if parent is None:
        return None
    if not parent.IsTransformToWorldLinear():
        raise ValueError(
            f"{what} '{node.GetName()}' is under the non-linear transform '{parent.GetName()}'; harden the "
            "transform (Transforms module → Harden) or resample the data before using it here"
        )
    matrix = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(matrix)
    return matrix_from_vtk(matrix)
