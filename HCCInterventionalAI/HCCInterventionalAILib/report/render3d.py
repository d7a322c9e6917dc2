"""Off-screen 3D pictures of segmentations (PNG bytes) for the HTML reports.

Each segment's boolean mask becomes a surface (flying edges on the mask cropped to its bounding box and
padded, optionally smoothed) that is placed in LPS with the grid's IJK→LPS matrix, so oblique grids are
right. The camera looks from anterior with the patient's head up, as radiologists view a 3D anterior view:
the patient's right is on the image left.

VTK is imported inside the functions (the library imports no VTK at import time). Rendering needs an
OpenGL context: Slicer's own in its GUI; elsewhere (headless servers, CI) VTK tries X, then EGL, then
OSMesa. A failed context can crash the process inside VTK instead of raising, so outside Slicer's GUI a
tiny render is first tried in a child interpreter (once per process, about a second); when that fails,
:func:`render_segmentation_png` logs the reason and returns ``None``. Set ``HCCAI_OFFSCREEN_3D=0`` to
switch 3D pictures off.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..imaging.segmentation import Segmentation

__all__ = [
    "MAX_VOXELS",
    "VIEWS",
    "offscreen_rendering_status",
    "last_render_problem",
    "render_segmentation_png",
    "segment_surface",
    "default_opacity",
]

logger = logging.getLogger(__name__)

#: Masks (cropped to their bounding box) with more voxels than this are averaged over blocks first.
MAX_VOXELS = 4_000_000

#: Segments drawn see-through by default, so what lies inside them (tumours, vessels) shows.
TRANSLUCENT_KEYWORDS = ("liver", "body", "skin", "lung", "spleen", "kidney", "stomach", "heart", "bone")
OPAQUE_KEYWORDS = ("tumor", "tumour", "lesion", "nodule", "hcc", "ablation", "vein", "artery", "aorta", "cava")
TRANSLUCENT_OPACITY = 0.3

BACKGROUND = (0.08, 0.09, 0.11)

#: Camera directions in LPS (x → patient left, y → posterior, z → head): view → (camera position relative to
#: the focal point, view-up). "anterior" looks along +y with the head up, so the patient's right is on the left.
VIEWS = {
    "anterior": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "posterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "right": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "left": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "inferior": ((0.0, 0.0, -1.0), (0.0, -1.0, 0.0)),
}

_PROBE = r"""
import sys
try:
    from vtkmodules import vtkRenderingOpenGL2  # noqa: F401  (registers the OpenGL factory overrides)
    from vtkmodules.vtkFiltersSources import vtkSphereSource
    from vtkmodules.vtkRenderingCore import (vtkActor, vtkPolyDataMapper, vtkRenderWindow, vtkRenderer,
                                             vtkWindowToImageFilter)
except Exception as error:
    print("FAIL VTK rendering modules do not import:", error)
    sys.exit(0)
window = vtkRenderWindow()
window.SetOffScreenRendering(1)
window.SetSize(32, 32)
renderer = vtkRenderer()
window.AddRenderer(renderer)
sphere = vtkSphereSource()
mapper = vtkPolyDataMapper()
mapper.SetInputConnection(sphere.GetOutputPort())
actor = vtkActor()
actor.SetMapper(mapper)
renderer.AddActor(actor)
window.Render()
grab = vtkWindowToImageFilter()
grab.SetInput(window)
grab.Update()
lo, hi = grab.GetOutput().GetPointData().GetScalars().GetRange(0)
window.Finalize()
print(("OK " if hi > lo else "FAIL the test picture came out blank ") + window.GetClassName())
"""

_last_problem: str | None = None


def _inside_slicer_gui() -> bool:
    app = getattr(sys.modules.get("slicer"), "app", None)
    if app is None:
        return False
    try:
        return not app.commandOptions().noMainWindow
    except Exception:  # an unexpected Slicer API: fall back to the probe
        return False


@functools.lru_cache(maxsize=1)
def offscreen_rendering_status() -> tuple[bool, str]:
    """Whether VTK can render off-screen in this process, and which window class does it (or why not).

    Cached for the life of the process. Inside Slicer's GUI the answer is yes without trying; elsewhere a
    tiny render runs in a child interpreter, because a missing OpenGL/EGL/OSMesa library can crash VTK.
    """
    if os.environ.get("HCCAI_OFFSCREEN_3D", "").strip().lower() in {"0", "no", "off", "false"}:
        return False, "3D rendering is switched off (HCCAI_OFFSCREEN_3D=0)"
    if _inside_slicer_gui():
        return True, "vtkRenderWindow"
    try:
        completed = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120,
                                   stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        return False, f"could not start a test render ({type(error).__name__}: {error})"
    lines = completed.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    if completed.returncode == 0 and last.startswith("OK "):
        return True, last[3:].strip()
    if last.startswith("FAIL "):
        return False, last[5:].strip()
    hint = " (no OpenGL, EGL or OSMesa context could be created)" if completed.returncode < 0 else ""
    stderr = re.sub(r"\x1b\[[0-9;]*m", "", completed.stderr)  # VTK colours its log lines
    errors = [line for line in stderr.splitlines() if "WARN" in line or "ERR" in line]
    detail = f"; VTK said: {errors[-1].split('|')[-1].strip()}" if errors else ""
    return False, f"a test render exited with code {completed.returncode}{hint}{detail}"


def last_render_problem() -> str | None:
    """Why the last :func:`render_segmentation_png` call returned ``None`` (``None`` after a success)."""
    return _last_problem


def default_opacity(name: str) -> float:
    """See-through for large organs (liver, body, lung, ...), opaque for tumours, vessels and the rest."""
    key = name.strip().lower()
    if any(word in key for word in OPAQUE_KEYWORDS):
        return 1.0
    if any(word in key for word in TRANSLUCENT_KEYWORDS):
        return TRANSLUCENT_OPACITY
    return 1.0


# -- surfaces -----------------------------------------------------------------------------------------------
def _block_fraction(mask: np.ndarray, max_voxels: int) -> tuple[np.ndarray, int, tuple[int, int, int]]:
    """The mask cropped to its bounding box as a float32 occupancy image, block-averaged when too large.

    Returns (image in k, j, i order, stride, (i0, j0, k0) of the crop).
    """
    k_any, j_any, i_any = (np.flatnonzero(mask.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
    k0, j0, i0 = int(k_any[0]), int(j_any[0]), int(i_any[0])
    crop = mask[k0:k_any[-1] + 1, j0:j_any[-1] + 1, i0:i_any[-1] + 1]
    stride = max(1, int(np.ceil((crop.size / max_voxels) ** (1.0 / 3.0)))) if crop.size > max_voxels else 1
    if stride == 1:
        return crop.astype(np.float32), 1, (i0, j0, k0)
    padded_shape = [int(np.ceil(n / stride)) * stride for n in crop.shape]
    padded = np.zeros(padded_shape, dtype=np.float32)
    padded[: crop.shape[0], : crop.shape[1], : crop.shape[2]] = crop
    nk, nj, ni = (n // stride for n in padded_shape)
    blocks = padded.reshape(nk, stride, nj, stride, ni, stride).mean(axis=(1, 3, 5), dtype=np.float32)
    return blocks, stride, (i0, j0, k0)


def segment_surface(segmentation: Segmentation, name: str, *, smoothing: bool = True,
                    max_voxels: int = MAX_VOXELS) -> Any:
    """The closed surface (``vtkPolyData``, LPS millimetres) of one segment's mask.

    The surface is the 0.5 iso-surface of the mask's occupancy, so it runs half a voxel outside the
    outermost voxel centres (like Slicer's closed-surface representation). An empty mask gives an empty
    ``vtkPolyData``. Raises ``KeyError`` for an unknown segment.
    """
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData
    from vtkmodules.vtkCommonMath import vtkMatrix4x4
    from vtkmodules.vtkCommonTransforms import vtkTransform
    from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D, vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
    from vtkmodules.vtkFiltersGeneral import vtkTransformPolyDataFilter

    mask = segmentation.mask(name, allow_empty=True)
    if not mask.any():
        return vtkPolyData()
    occupancy, stride, (i0, j0, k0) = _block_fraction(mask, max_voxels)
    occupancy = np.pad(occupancy, 1)  # closes surfaces that touch the crop (or grid) border
    image = vtkImageData()
    image.SetDimensions(occupancy.shape[2], occupancy.shape[1], occupancy.shape[0])  # VTK: x = i fastest
    # Index-space placement: padded sample n is the centre of block n - 1, i.e. i0 + (n - 1)·s + (s - 1)/2.
    offset = (stride - 1) / 2.0 - stride
    image.SetOrigin(i0 + offset, j0 + offset, k0 + offset)
    image.SetSpacing(stride, stride, stride)
    scalars = numpy_to_vtk(occupancy.ravel(), deep=True)
    scalars.SetName("occupancy")
    image.GetPointData().SetScalars(scalars)

    contour = vtkFlyingEdges3D()
    contour.SetInputData(image)
    contour.SetValue(0, 0.5)
    contour.ComputeNormalsOff()
    contour.ComputeGradientsOff()
    contour.ComputeScalarsOff()
    last = contour
    if smoothing:
        smoother = vtkWindowedSincPolyDataFilter()
        smoother.SetInputConnection(contour.GetOutputPort())
        smoother.SetNumberOfIterations(20)
        smoother.SetPassBand(0.01)
        smoother.BoundarySmoothingOff()
        smoother.FeatureEdgeSmoothingOff()
        smoother.NonManifoldSmoothingOn()
        smoother.NormalizeCoordinatesOn()
        last = smoother

    matrix = vtkMatrix4x4()
    ijk_to_lps = segmentation.geometry.ijk_to_lps()
    for row in range(4):
        for col in range(4):
            matrix.SetElement(row, col, float(ijk_to_lps[row, col]))
    transform = vtkTransform()
    transform.SetMatrix(matrix)
    to_lps = vtkTransformPolyDataFilter()
    to_lps.SetInputConnection(last.GetOutputPort())
    to_lps.SetTransform(transform)

    normals = vtkPolyDataNormals()
    normals.SetInputConnection(to_lps.GetOutputPort())
    normals.SplittingOff()
    normals.ConsistencyOn()
    normals.SetFlipNormals(bool(np.linalg.det(ijk_to_lps[:3, :3]) < 0))  # a mirrored grid flips triangle winding
    normals.Update()
    surface = vtkPolyData()
    surface.ShallowCopy(normals.GetOutput())
    return surface


# -- rendering ----------------------------------------------------------------------------------------------
def _render_window(window_class: str) -> Any:
    from vtkmodules import vtkRenderingOpenGL2
    from vtkmodules.vtkRenderingCore import vtkRenderWindow

    # Instantiating the class the probe found working skips the factory's noisy failed attempts (X without
    # a display, ...). Inside Slicer, or for an unknown name, the factory picks.
    cls = getattr(vtkRenderingOpenGL2, window_class, None) if window_class != "vtkRenderWindow" else None
    return cls() if cls is not None else vtkRenderWindow()


def _resolve_names(segmentation: Segmentation, names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [s.name for s in segmentation if s.mask.any()]
    resolved = []
    for name in names:
        segment = segmentation.segments.get(name) or segmentation.find(name)
        if segment is None:
            logger.warning("3D view: no segment named '%s' in '%s'; skipped", name, segmentation.name)
        elif not segment.mask.any():
            logger.info("3D view: segment '%s' is empty; skipped", segment.name)
        else:
            resolved.append(segment.name)
    return resolved


def _opacity_of(name: str, opacity: float | Mapping[str, float] | None) -> float:
    if opacity is None:
        return default_opacity(name)
    if isinstance(opacity, Mapping):
        lowered = {k.strip().lower(): v for k, v in opacity.items()}
        return float(opacity.get(name, lowered.get(name.strip().lower(), default_opacity(name))))
    return float(opacity)


def _set_camera(renderer: Any, view: str) -> None:
    """Point the camera at the whole scene from the named side (a key of :data:`VIEWS`)."""
    position, up = VIEWS[view.strip().lower()]
    camera = renderer.GetActiveCamera()
    camera.SetFocalPoint(0.0, 0.0, 0.0)
    camera.SetPosition(*position)
    camera.SetViewUp(*up)
    renderer.ResetCamera()
    camera.Zoom(1.15)
    renderer.ResetCameraClippingRange()


def _fail(reason: str) -> None:
    global _last_problem
    _last_problem = reason
    logger.warning("3D view unavailable: %s", reason)


def render_segmentation_png(
    segmentation: Segmentation,
    *,
    names: Sequence[str] | None = None,
    size: tuple[int, int] = (640, 480),
    view: str = "anterior",
    opacity: float | Mapping[str, float] | None = None,
    smoothing: bool = True,
    background: tuple[float, float, float] = BACKGROUND,
) -> bytes | None:
    """A PNG picture of the segments' surfaces, rendered off-screen; ``None`` when it cannot be made here.

    Args:
        segmentation: the segments to draw (colours from ``segment.color``).
        names: which segments, in any case; default all non-empty ones. Unknown or empty ones are skipped.
        size: picture (width, height) in pixels.
        view: "anterior" (default: patient's right on the image left, head up), "posterior", "right",
            "left", "superior" or "inferior".
        opacity: one opacity for all segments, a mapping name → opacity (others get the default), or
            ``None``: see-through (0.3) for large organs such as liver, body and lung, opaque otherwise.
        smoothing: smooth the surfaces (windowed sinc) instead of showing voxel steps.
        background: RGB (0–1) of the background.

    Never raises for rendering problems: the reason is logged as a warning and kept for
    :func:`last_render_problem`. Bad arguments (an unknown ``view``) still raise ``ValueError``.
    """
    global _last_problem
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise ValueError(f"Picture size must be positive, got {size}")
    if view.strip().lower() not in VIEWS:
        raise ValueError(f"Unknown 3D view '{view}'; choose one of {', '.join(VIEWS)}")
    available, window_class = offscreen_rendering_status()
    if not available:
        _fail(window_class)
        return None
    selected = _resolve_names(segmentation, names)
    if not selected:
        _fail(f"no non-empty segments to draw in '{segmentation.name}'")
        return None
    window = None
    try:
        # The OpenGL module must be loaded BEFORE renderers and mappers are created: it registers the factory
        # overrides, without which they are abstract objects that draw nothing.
        from vtkmodules import vtkRenderingOpenGL2  # noqa: F401
        from vtkmodules.vtkIOImage import vtkPNGWriter
        from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer, vtkWindowToImageFilter

        renderer = vtkRenderer()
        renderer.SetBackground(*background)
        translucent = False
        for name in selected:
            surface = segment_surface(segmentation, name, smoothing=smoothing)
            if surface.GetNumberOfPoints() == 0:
                continue
            mapper = vtkPolyDataMapper()
            mapper.SetInputData(surface)
            mapper.ScalarVisibilityOff()
            actor = vtkActor()
            actor.SetMapper(mapper)
            prop = actor.GetProperty()
            prop.SetColor(*segmentation.segments[name].color)
            alpha = min(1.0, max(0.0, _opacity_of(name, opacity)))
            prop.SetOpacity(alpha)
            translucent |= alpha < 1.0
            prop.SetSpecular(0.2)
            prop.SetSpecularPower(20.0)
            prop.SetDiffuse(0.8)
            prop.SetAmbient(0.15)
            renderer.AddActor(actor)
        if translucent:
            renderer.SetUseDepthPeeling(1)
            renderer.SetMaximumNumberOfPeels(6)
            renderer.SetOcclusionRatio(0.05)
        renderer.SetUseFXAA(True)
        _set_camera(renderer, view)

        window = _render_window(window_class)
        window.SetOffScreenRendering(1)
        window.SetMultiSamples(0)
        window.SetAlphaBitPlanes(1)
        window.SetSize(width, height)
        window.AddRenderer(renderer)
        window.Render()

        grab = vtkWindowToImageFilter()
        grab.SetInput(window)
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOff()
        grab.Update()
        pixels = grab.GetOutput()
        dims = pixels.GetDimensions()
        if (dims[0], dims[1]) != (width, height):
            _fail(f"the render window gave a {dims[0]}×{dims[1]} picture instead of {width}×{height}")
            return None
        scalars = pixels.GetPointData().GetScalars()
        if all(scalars.GetRange(c)[0] == scalars.GetRange(c)[1] for c in range(3)):
            _fail(f"the rendered picture is blank ({window.GetClassName()} drew nothing)")
            return None
        writer = vtkPNGWriter()
        writer.WriteToMemoryOn()
        writer.SetInputData(pixels)
        writer.Write()
        png = bytes(memoryview(writer.GetResult()))
    except Exception as error:  # rendering is decoration: report the reason, never break the caller
        _fail(f"{type(error).__name__}: {error}")
        return None
    finally:
        if window is not None:
            window.Finalize()
    _last_problem = None
    return png
