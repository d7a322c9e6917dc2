"""Volume nodes ⇄ :class:`~HCCInterventionalAILib.imaging.volume.Volume`, with exact geometry.

A volume node keeps its voxels in a ``vtkImageData`` (origin 0, spacing 1) and its geometry in the IJK→RAS
matrix; a :class:`Volume` keeps the same voxels as a (k, j, i) array and its geometry in LPS. The
conversion is a matrix identity (``Geometry.ijk_to_ras``), so oblique directions survive unchanged, and
values are copied bit for bit. Modality, units and metadata travel as node attributes, which Slicer saves
with the scene.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..imaging.volume import Geometry, Volume
from ._vtk import array_from_image, image_from_array, matrix_from_vtk, matrix_to_vtk, node_to_world_matrix
from .headless import ensure_scene
from .naming import add_node

__all__ = ["ATTRIBUTE_PREFIX", "node_ijk_to_ras", "node_to_volume", "volume_to_node"]

#: Prefix of the node attributes that carry a Volume's modality, units and metadata.
ATTRIBUTE_PREFIX = "HCCAI."
_MODALITY, _UNITS, _METADATA = (ATTRIBUTE_PREFIX + key for key in ("Modality", "Units", "Metadata"))

_SCALAR_CLASS = "vtkMRMLScalarVolumeNode"
_LABELMAP_CLASS = "vtkMRMLLabelMapVolumeNode"


def _label_array(volume: Volume) -> np.ndarray:
    array = volume.array
    if array.dtype.kind == "b":
        return array.astype(np.uint8)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise ValueError(f"Volume '{volume.name}' holds non-integer values and cannot become a labelmap")
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        for dtype in (np.uint8, np.int16, np.uint16, np.int32):
            if np.iinfo(dtype).min <= low and high <= np.iinfo(dtype).max:
                return array.astype(dtype)
        raise ValueError(f"Volume '{volume.name}' has label values outside the 32-bit integer range")
    return array


def volume_to_node(
    scene: Any,
    volume: Volume,
    name: str | None = None,
    *,
    labelmap: bool = False,
    overwrite_node: Any = None,
) -> Any:
    """Put a :class:`Volume` into the scene as a scalar or labelmap volume node.

    Args:
        scene: the MRML scene (``None``: ``slicer.mrmlScene``).
        volume: the image; its array is deep-copied.
        name: node name; defaults to ``volume.name``. A new node always gets a name no other node has
            (``"Dose"``, ``"Dose_1"``, ...).
        labelmap: create a ``vtkMRMLLabelMapVolumeNode`` (integer labels) instead of a scalar volume.
        overwrite_node: update this existing node in place (its display settings are kept) instead of
            adding a new one; it is renamed only when ``name`` is given.

    Returns:
        The volume node, with a default display node.

    Raises:
        TypeError: ``overwrite_node`` is of the other kind (scalar vs labelmap).
        ValueError: voxel values that the node type cannot hold.
    """
    scene = ensure_scene(scene)
    class_name = _LABELMAP_CLASS if labelmap else _SCALAR_CLASS
    array = _label_array(volume) if labelmap else volume.array
    if overwrite_node is not None:
        if overwrite_node.GetClassName() != class_name:
            raise TypeError(
                f"Cannot overwrite {overwrite_node.GetClassName()} '{overwrite_node.GetName()}' "
                f"with a {'labelmap' if labelmap else 'scalar'} volume"
            )
        node = overwrite_node
        if name:
            node.SetName(name)
    else:
        node = add_node(scene, class_name, name or volume.name or "Volume")

    was_modifying = node.StartModify()
    try:
        image = image_from_array(array, node.GetImageData())
        node.SetIJKToRASMatrix(matrix_to_vtk(volume.geometry.ijk_to_ras()))
        node.SetAndObserveImageData(image)
        node.SetAttribute(_MODALITY, volume.modality or "")
        node.SetAttribute(_UNITS, volume.units or "")
        node.SetAttribute(_METADATA, json.dumps(volume.metadata, default=str, sort_keys=True))
        image.Modified()
        node.StorableModified()
    finally:
        node.EndModify(was_modifying)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node


def node_ijk_to_ras(node: Any) -> np.ndarray:
    """The node's IJK→RAS matrix in world coordinates (a linear parent transform applied).

    Raises:
        ValueError: the node is under a non-linear transform.
    """
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    ijk_to_ras = matrix_from_vtk(matrix)
    to_world = node_to_world_matrix(node, "Volume")
    return ijk_to_ras if to_world is None else to_world @ ijk_to_ras


def node_to_volume(node: Any) -> Volume:
    """Read a scalar or labelmap volume node into a :class:`Volume` (voxels copied).

    A linear parent transform is applied to the geometry (as hardening it would, without touching the
    node); a non-linear one is refused. Modality, units and metadata come from the node attributes
    written by :func:`volume_to_node`, or stay empty.

    Raises:
        ValueError: no voxel data, vector/tensor voxels, a non-linear parent transform, or a transform
            that scales or shears the grid (not representable as spacing + orthonormal directions).
    """
    if node is None or not node.IsA("vtkMRMLScalarVolumeNode"):
        kind = "None" if node is None else node.GetClassName()
        raise ValueError(f"Expected a scalar or labelmap volume node, got {kind}")
    image = node.GetImageData()
    if image is None:
        raise ValueError(f"Volume node '{node.GetName()}' has no voxel data")
    array = array_from_image(image)
    try:
        geometry = Geometry.from_ijk_to_ras(node_ijk_to_ras(node), array.shape)
    except ValueError as error:
        if "non-linear" in str(error):
            raise
        raise ValueError(
            f"Volume '{node.GetName()}' (with its parent transforms) is not a grid of orthonormal "
            f"axes: {error}; harden and resample it first"
        ) from error
    metadata_text = node.GetAttribute(_METADATA)
    try:
        metadata = json.loads(metadata_text) if metadata_text else {}
    except json.JSONDecodeError:
        metadata = {"raw": metadata_text}
    return Volume(
        array,
        geometry,
        name=node.GetName() or "Volume",
        modality=node.GetAttribute(_MODALITY) or "",
        units=node.GetAttribute(_UNITS) or "",
        metadata=metadata,
    )
