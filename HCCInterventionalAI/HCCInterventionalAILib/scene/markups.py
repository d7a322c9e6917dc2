"""Markups nodes ⇄ points and lines in LPS millimetres.

The library works in LPS (what DICOM, ITK and files use); markups nodes hold control points in RAS
(Slicer's world frame), so x and y change sign on the way in and out. Slicer 5 writes ``.mrk.json``
files in LPS again, which the storage node does by itself. Positions read back are world positions, so
a parent transform of the node (linear or not) is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..imaging.checks import require_finite
from ..imaging.volume import LPS_TO_RAS
from .headless import ensure_scene
from .naming import add_node

__all__ = ["line_to_markups", "markups_line_to_points", "markups_to_points", "points_to_markups"]


def _points(points_lps: Any, what: str) -> np.ndarray:
    points = np.asarray(points_lps, dtype=float)
    if points.ndim == 1 and points.size == 3:
        points = points.reshape(1, 3)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"{what} must be an (N, 3) array of LPS coordinates in mm, got shape {points.shape}")
    require_finite(points, f"{what} (LPS coordinates)")
    return points


def _add_control_points(node: Any, points_lps: np.ndarray, labels: Sequence[str] | None) -> None:
    if labels is not None and len(labels) != len(points_lps):
        raise ValueError(f"Got {len(labels)} labels for {len(points_lps)} points")
    was_modifying = node.StartModify()
    try:
        for index, ras in enumerate(points_lps @ LPS_TO_RAS):
            position = [float(c) for c in ras]
            if labels is None:
                node.AddControlPoint(position)
            else:
                node.AddControlPoint(position, str(labels[index]))
    finally:
        node.EndModify(was_modifying)


def points_to_markups(
    scene: Any,
    points_lps: Any,
    name: str,
    labels: Sequence[str] | None = None,
) -> Any:
    """Add a point list (``vtkMRMLMarkupsFiducialNode``) with one control point per LPS point.

    Args:
        scene: the MRML scene (``None``: ``slicer.mrmlScene``).
        points_lps: (N, 3) LPS coordinates in mm (a single (3,) point is accepted).
        name: node name, made unique in the scene.
        labels: one label per point; without them Slicer numbers the points ("<name>-1", ...).

    Returns:
        The markups node.

    Raises:
        ValueError: a wrong shape, non-finite coordinates, or a label count that does not match.
    """
    scene = ensure_scene(scene)
    points = _points(points_lps, "Points")
    node = add_node(scene, "vtkMRMLMarkupsFiducialNode", name)
    _add_control_points(node, points, labels)
    return node


def _world_points(node: Any) -> tuple[np.ndarray, list[str]]:
    count = node.GetNumberOfControlPoints()
    ras = np.zeros((count, 3))
    position = [0.0, 0.0, 0.0]
    for index in range(count):
        node.GetNthControlPointPositionWorld(index, position)
        ras[index] = position
    return ras @ LPS_TO_RAS, [node.GetNthControlPointLabel(index) for index in range(count)]


def markups_to_points(node: Any) -> tuple[np.ndarray, list[str]]:
    """World positions of a markups node's control points, in LPS mm, with their labels.

    Returns:
        ``(points, labels)``: an (N, 3) array and N labels.
    """
    if node is None or not node.IsA("vtkMRMLMarkupsNode"):
        raise ValueError(f"Expected a markups node, got {'None' if node is None else node.GetClassName()}")
    return _world_points(node)


def line_to_markups(
    scene: Any,
    start_lps: Any,
    end_lps: Any,
    name: str,
    *,
    labels: tuple[str, str] | None = None,
) -> Any:
    """Add a line (``vtkMRMLMarkupsLineNode``) from ``start_lps`` to ``end_lps``, e.g. applicator tip → entry.

    Args:
        scene: the MRML scene (``None``: ``slicer.mrmlScene``).
        start_lps: first point, LPS mm (the line's control point 0).
        end_lps: second point, LPS mm (control point 1).
        name: node name, made unique in the scene.
        labels: labels of the two points (e.g. ``("Tip", "Entry")``).

    Returns:
        The line node.
    """
    scene = ensure_scene(scene)
    points = np.vstack([_points(start_lps, "Line start"), _points(end_lps, "Line end")])
    if len(points) != 2:
        raise ValueError("A line needs exactly one start point and one end point")
    node = add_node(scene, "vtkMRMLMarkupsLineNode", name)
    _add_control_points(node, points, labels)
    return node


def markups_line_to_points(node: Any) -> tuple[np.ndarray, np.ndarray]:
    """The two end points of a line markup, in LPS mm (world positions).

    Returns:
        ``(start, end)``, each a (3,) array.

    Raises:
        ValueError: not a line node, or a line without both points placed.
    """
    if node is None or not node.IsA("vtkMRMLMarkupsLineNode"):
        raise ValueError(f"Expected a line markup, got {'None' if node is None else node.GetClassName()}")
    points, _ = _world_points(node)
    if len(points) != 2:
        raise ValueError(f"Line '{node.GetName()}' has {len(points)} control points; it needs 2")
    return points[0], points[1]
