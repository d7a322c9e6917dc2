"""How volumes look: window/level, colour tables, thresholds for overlays, slice-view layers.

Everything here sets MRML display, colour and slice-composite nodes only, so it works the same in the
Slicer GUI (the views follow the nodes) and headless (the settings are saved in the scene bundle).
"""

from __future__ import annotations

from typing import Any

from .headless import ensure_scene
from .naming import unique_node_name

__all__ = ["color_node", "set_slice_view_layers", "show_volume"]

_COLOR_NODE_CLASS = "vtkMRMLColorNode"


def _find_color_node(scene: Any, name: str) -> Any:
    wanted = name.strip().lower()
    for index in range(scene.GetNumberOfNodesByClass(_COLOR_NODE_CLASS)):
        node = scene.GetNthNodeByClass(index, _COLOR_NODE_CLASS)
        if (node.GetName() or "").lower() == wanted or node.GetID() == name:
            return node
    return None


def color_node(scene: Any, name: str) -> Any:
    """A colour table node by name ("Grey", "Rainbow", "Iron", "PET-Heat", "Inferno", "Viridis", ...).

    Slicer's tables are looked up by name (case-insensitive) or node ID. Slicer ships perceptual tables
    such as "Inferno" and "Viridis" as files, which headless MRML lacks; for those the same 256-colour
    table is built from matplotlib's colormap of that name and added to the scene once.

    Raises:
        KeyError: no such colour table in the scene, and no matplotlib colormap of that name.
    """
    scene = ensure_scene(scene)
    node = _find_color_node(scene, name)
    if node is not None:
        return node
    try:
        import matplotlib

        colormap = matplotlib.colormaps[name.strip().lower()]
    except (ImportError, KeyError):
        available = sorted(
            {
                scene.GetNthNodeByClass(i, _COLOR_NODE_CLASS).GetName()
                for i in range(scene.GetNumberOfNodesByClass(_COLOR_NODE_CLASS))
            }
        )
        raise KeyError(f"No colour table named '{name}'; available: {', '.join(available)}") from None
    table = scene.AddNewNodeByClass("vtkMRMLColorTableNode", unique_node_name(scene, name.strip()))
    table.SetTypeToUser()
    table.SetNumberOfColors(256)
    for index in range(256):
        red, green, blue, alpha = colormap(index / 255.0)
        table.SetColor(index, f"{name.strip()} {index}", red, green, blue, alpha)
    table.SetDescription(f"matplotlib colormap '{colormap.name}' (256 colours)")
    return table


def show_volume(
    node: Any,
    *,
    window: float | None = None,
    level: float | None = None,
    color: str | None = None,
    threshold: float | tuple[float, float] | None = None,
    opacity: float | None = None,
    interpolate: bool | None = None,
) -> Any:
    """Set how a volume node is displayed, through its display node only.

    Args:
        node: a scalar (or labelmap) volume node in a scene.
        window: intensity window width (e.g. 400 HU for soft tissue); set together with ``level``.
        level: intensity window centre (e.g. 40 HU). Without both, Slicer's automatic window/level is kept.
        color: colour table name, see :func:`color_node` (e.g. "Inferno" or "Rainbow" for a dose map).
        threshold: show only voxels at or above this value (an overlay that hides zero dose), or within
            ``(lower, upper)``.
        opacity: display-node opacity in [0, 1].
        interpolate: linear interpolation in slice views (False shows voxels as blocks).

    Returns:
        The volume display node.

    Raises:
        ValueError: only one of window/level given, or an opacity outside [0, 1].
    """
    if (window is None) != (level is None):
        raise ValueError("Give both window and level, or neither (automatic window/level)")
    if opacity is not None and not 0.0 <= opacity <= 1.0:
        raise ValueError(f"Opacity must be within [0, 1], got {opacity}")
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    was_modifying = display.StartModify()
    try:
        if color is not None:
            display.SetAndObserveColorNodeID(color_node(node.GetScene(), color).GetID())
        if window is not None and hasattr(display, "SetWindowLevel"):
            display.SetAutoWindowLevel(False)
            display.SetWindowLevel(float(window), float(level))
        if threshold is not None and hasattr(display, "SetApplyThreshold"):
            if isinstance(threshold, tuple):
                lower, upper = (float(t) for t in threshold)
            else:
                lower = float(threshold)
                upper = max(lower, float(node.GetImageData().GetScalarRange()[1])) if node.GetImageData() else lower
            display.SetAutoThreshold(False)
            display.SetThreshold(lower, upper)
            display.SetApplyThreshold(True)
        if opacity is not None:
            display.SetOpacity(float(opacity))
        if interpolate is not None and hasattr(display, "SetInterpolate"):
            display.SetInterpolate(bool(interpolate))
    finally:
        display.EndModify(was_modifying)
    return display


def set_slice_view_layers(
    scene: Any,
    *,
    background: Any = None,
    foreground: Any = None,
    label: Any = None,
    foreground_opacity: float | None = None,
) -> int:
    """Show volumes in every slice view (what ``slicer.util.setSliceViewerLayers`` does, via MRML only).

    Args:
        scene: the MRML scene (``None``: ``slicer.mrmlScene``).
        background, foreground, label: volume nodes for those layers; None leaves a layer unchanged.
        foreground_opacity: opacity of the foreground layer (e.g. 0.5 for a dose overlay on CT).

    Returns:
        The number of slice views updated (0 headless, where there are no views).
    """
    scene = ensure_scene(scene)
    composites = [
        scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode")
        for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode"))
    ]
    for composite in composites:
        if background is not None:
            composite.SetBackgroundVolumeID(background.GetID())
        if foreground is not None:
            composite.SetForegroundVolumeID(foreground.GetID())
        if label is not None:
            composite.SetLabelVolumeID(label.GetID())
        if foreground_opacity is not None:
            composite.SetForegroundOpacity(float(foreground_opacity))
    return len(composites)
