"""Enhancement results into an MRML scene: DSA frames as a sequence (with a browser), denoised CT and difference
map as new volumes, numbers as tables. Used by the module logic and the demo step; never overwrites a node."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..imaging.volume import Geometry, Volume

__all__ = ["result_to_scene"]


def _dsa_to_scene(scene: Any, result: Any, name: str, pixel_spacing_mm: tuple[float, float]) -> dict[str, Any]:
    import pandas as pd

    from ..scene import add_node, dataframe_to_table_node, volume_to_node

    geometry = Geometry((1, *result.dsa.shape[1:]), (pixel_spacing_mm[1], pixel_spacing_mm[0], 1.0), (0.0, 0.0, 0.0),
                        np.eye(3))
    sequence = add_node(scene, "vtkMRMLSequenceNode", f"{name} DSA")
    sequence.SetIndexName("time")
    sequence.SetIndexUnit("s")
    frames = []
    for index, frame in enumerate(result.dsa):
        node = volume_to_node(scene, Volume(frame[None].astype(np.float32), geometry, name=f"{name} DSA {index}",
                                            units="log"))
        sequence.SetDataNodeAtValue(node, f"{float(result.times_s[index]):.3f}")
        frames.append(node)
    # The sequence keeps its own copies; the per-frame nodes are removed, one proxy stays via the browser.
    for node in frames:
        scene.RemoveNode(node)
    browser = add_node(scene, "vtkMRMLSequenceBrowserNode", f"{name} DSA browser")
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    nodes: dict[str, Any] = {"sequence": sequence, "browser": browser}
    summary = {k: v for k, v in result.to_dict().items() if not isinstance(v, (dict, list))}
    nodes["table"] = dataframe_to_table_node(scene, pd.DataFrame([summary]), f"{name} DSA summary")
    if result.curve is not None:
        curve = pd.DataFrame({"time_s": result.curve.times_s, "mean_iodine": result.curve.mean})
        nodes["curve"] = dataframe_to_table_node(scene, curve, f"{name} time-intensity curve")
    return nodes


def _denoise_to_scene(scene: Any, result: Any, name: str) -> dict[str, Any]:
    import pandas as pd

    from ..scene import dataframe_to_table_node, volume_to_node

    numbers = {k: v for k, v in result.to_dict().items() if not isinstance(v, (dict, list))}
    numbers["hallucination_flagged"] = result.hallucination.flagged
    numbers["hallucination_regions"] = len(result.hallucination.regions)
    return {
        "denoised": volume_to_node(scene, result.denoised, f"{name} denoised"),
        "difference": volume_to_node(scene, result.difference, f"{name} difference"),
        "table": dataframe_to_table_node(scene, pd.DataFrame([numbers]), f"{name} denoising quality"),
    }


def result_to_scene(scene: Any, result: Any, *, name: str = "Enhancement",
                    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0)) -> dict[str, Any]:
    """Add a :class:`~.pipeline.DSAResult` or :class:`~.pipeline.DenoiseResult` to ``scene`` as new nodes.

    Args:
        scene: the MRML scene.
        result: the result.
        name: node-name prefix (names are made unique).
        pixel_spacing_mm: DSA pixel spacing (row, col).

    Returns:
        The new nodes by role.
    """
    from .pipeline import DenoiseResult, DSAResult

    if isinstance(result, DSAResult):
        return _dsa_to_scene(scene, result, name, pixel_spacing_mm)
    if isinstance(result, DenoiseResult):
        return _denoise_to_scene(scene, result, name)
    raise TypeError(f"result_to_scene takes a DSAResult or DenoiseResult, got {type(result).__name__}")
