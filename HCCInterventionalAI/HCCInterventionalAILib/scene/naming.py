"""Node names that never collide: every result node the bridge creates gets a name of its own."""

from __future__ import annotations

import re
from typing import Any

from .headless import ensure_scene

__all__ = ["add_node", "unique_node_name"]

_SUFFIX = re.compile(r"^(?P<stem>.*?)_(?P<number>\d+)$")


def _name_taken(scene: Any, name: str) -> bool:
    """True when a node that users see (not a hidden display, storage or built-in colour node) has the name."""
    nodes = scene.GetNodesByName(name)
    return any(not nodes.GetItemAsObject(i).GetHideFromEditors() for i in range(nodes.GetNumberOfItems()))


def unique_node_name(scene: Any, base: str) -> str:
    """A node name based on ``base`` that no data node in the scene has yet.

    ``"Dose"`` stays ``"Dose"`` when free, otherwise becomes ``"Dose_1"``, ``"Dose_2"``, ... (the first
    free one). A base that already ends in ``_<n>`` continues from there, so ``"Dose_1"`` gives
    ``"Dose_2"`` rather than ``"Dose_1_1"``. Hidden nodes (display, storage, Slicer's colour tables such
    as "Labels") do not count: they are never taken for data.

    Args:
        scene: the MRML scene (``None``: ``slicer.mrmlScene``).
        base: the wanted name; blank names become ``"Node"``.

    Returns:
        The free name.
    """
    scene = ensure_scene(scene)
    base = (base or "").strip() or "Node"
    if not _name_taken(scene, base):
        return base
    match = _SUFFIX.match(base)
    stem, number = (match["stem"], int(match["number"])) if match else (base, 0)
    while True:
        number += 1
        candidate = f"{stem}_{number}"
        if not _name_taken(scene, candidate):
            return candidate


def add_node(scene: Any, class_name: str, name: str) -> Any:
    """Add a new node of a MRML class under a unique name (see :func:`unique_node_name`).

    Raises:
        ValueError: the scene cannot create nodes of that class.
    """
    scene = ensure_scene(scene)
    node = scene.AddNewNodeByClass(class_name, unique_node_name(scene, name))
    if node is None:
        raise ValueError(f"This MRML scene cannot create '{class_name}' nodes (is its module logic registered?)")
    return node
