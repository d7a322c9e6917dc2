"""The scene bridge: MRML nodes ⇄ the library's plain objects (Volume, Segmentation, DataFrame, points).

Only this package touches MRML. It works inside 3D Slicer (on ``slicer.mrmlScene`` or any scene) and
headless with the ``slicer-core`` wheel (:func:`new_scene` sets up the logics Slicer's application would).
Importing it imports neither ``slicer`` nor ``vtk``; the functions do, when called.

Example (headless)::

    from HCCInterventionalAILib.scene import new_scene, volume_to_node, save_bundle
    scene = new_scene()
    node = volume_to_node(scene, ct_volume)
    save_bundle(scene, "case.mrb")
"""

from __future__ import annotations

from .bundle import load_bundle, save_bundle
from .display import color_node, set_slice_view_layers, show_volume
from .headless import application_logic, ensure_scene, inside_slicer, module_logic, new_scene, release_scene
from .markups import line_to_markups, markups_line_to_points, markups_to_points, points_to_markups
from .naming import add_node, unique_node_name
from .plots import dataframe_to_plot
from .segmentations import node_to_segmentation, segmentation_to_node
from .tables import dataframe_to_table_node, table_node_to_dataframe
from .volumes import node_to_volume, volume_to_node

__all__ = [
    "add_node",
    "application_logic",
    "color_node",
    "dataframe_to_plot",
    "dataframe_to_table_node",
    "ensure_scene",
    "inside_slicer",
    "line_to_markups",
    "load_bundle",
    "markups_line_to_points",
    "markups_to_points",
    "module_logic",
    "new_scene",
    "node_to_segmentation",
    "node_to_volume",
    "points_to_markups",
    "release_scene",
    "save_bundle",
    "segmentation_to_node",
    "set_slice_view_layers",
    "show_volume",
    "table_node_to_dataframe",
    "unique_node_name",
    "volume_to_node",
]
