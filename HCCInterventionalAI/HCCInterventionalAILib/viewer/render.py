"""VTK scenes of the viewer: three slice views and a 3D view of one :class:`~.data.ViewerData`.

Everything is put on one axis-aligned grid in the LPS patient frame (the background image's, reoriented;
the dose is resampled onto it linearly, segments by nearest neighbour with the project's resamplers), so that
each slice view is a plane of constant i, j or k:

- **background**: grey levels through a window (CT: abdomen window W 400 / L 40 HU; other images: 1st to
  99th percentile);
- **dose**: a colour map (matplotlib's ``turbo``) over the dose window ``[low, high]`` Gy, transparent below
  ``low`` and saturated above ``high``, blended with opacity ``dose_opacity``, and its colour bar;
- **outlines**: each segment's surface cut by the slice plane, drawn in the segment's colour;
- **3D**: the segment surfaces (discrete flying edges, windowed-sinc smoothing) in their colours.

Views follow the radiological convention of Slicer: axial seen from the feet and coronal from the front
(patient's left on the screen's right), sagittal seen from the patient's left (anterior on the left).
Layers are separate renderers sharing one camera (background, dose, outlines), so overlays are always drawn
on top without depth tricks. VTK is imported inside functions only.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..imaging.segmentation import Segmentation
    from ..imaging.volume import Geometry, Volume
    from .data import ViewerData

__all__ = [
    "CT_WINDOW",
    "DOSE_COLORMAP",
    "ORIENTATIONS",
    "SliceView",
    "ViewerScene",
    "build_scene",
    "default_dose_window",
    "dose_colors",
]

#: Abdomen window (width, level) in HU for CT backgrounds.
CT_WINDOW = (400.0, 40.0)
#: Matplotlib colour map of the dose overlay.
DOSE_COLORMAP = "turbo"
#: Slice orientations: name -> (array axis fixed in the slice, camera direction of projection, view up) in LPS.
ORIENTATIONS: dict[str, tuple[int, tuple[float, float, float], tuple[float, float, float]]] = {
    "axial": (0, (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),  # from the feet, anterior up
    "coronal": (1, (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),  # from the front, superior up
    "sagittal": (2, (-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),  # from the patient's left, superior up
}
_TABLE_SIZE = 256
_TRANSLUCENT_3D = {"body": 0.12, "skin": 0.12, "liver": 0.45, "lung": 0.3, "lungs": 0.3}


def _vtk() -> Any:
    """The VTK classes the viewer uses, from their own modules (``import vtk`` loads all of VTK: 2 s more)."""
    from types import SimpleNamespace

    import vtkmodules.vtkInteractionStyle  # noqa: F401  (interactor styles)
    import vtkmodules.vtkRenderingFreeType  # noqa: F401  (text of the colour bar)
    import vtkmodules.vtkRenderingOpenGL2  # noqa: F401  (the OpenGL render window)
    import vtkmodules.vtkRenderingUI  # noqa: F401  (the platform interactor)
    from vtkmodules.vtkCommonCore import vtkLookupTable
    from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPlane, vtkPolyData
    from vtkmodules.vtkFiltersCore import vtkCutter, vtkPolyDataNormals, vtkWindowedSincPolyDataFilter
    from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D
    from vtkmodules.vtkImagingCore import vtkImageMapToColors
    from vtkmodules.vtkInteractionStyle import vtkInteractorStyleImage, vtkInteractorStyleTrackballCamera
    from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor
    from vtkmodules.vtkRenderingCore import (
        vtkActor,
        vtkCamera,
        vtkImageActor,
        vtkPolyDataMapper,
        vtkRenderer,
        vtkRenderWindow,
        vtkRenderWindowInteractor,
    )

    return SimpleNamespace(**{cls.__name__: cls for cls in (
        vtkLookupTable, vtkImageData, vtkPlane, vtkPolyData, vtkCutter, vtkPolyDataNormals,
        vtkWindowedSincPolyDataFilter, vtkDiscreteFlyingEdges3D, vtkImageMapToColors, vtkInteractorStyleImage,
        vtkInteractorStyleTrackballCamera, vtkScalarBarActor, vtkActor, vtkCamera, vtkImageActor, vtkPolyDataMapper,
        vtkRenderer, vtkRenderWindow, vtkRenderWindowInteractor)})


def dose_colors(n: int = _TABLE_SIZE) -> np.ndarray:
    """The dose colour map as ``n`` RGB rows in 0–1 (matplotlib's ``turbo``, low to high dose)."""
    from matplotlib import colormaps

    return np.asarray(colormaps[DOSE_COLORMAP](np.linspace(0.0, 1.0, n))[:, :3], dtype=float)


def default_dose_window(dose: np.ndarray) -> tuple[float, float]:
    """Initial dose window (Gy): high = 99.9th percentile of the doses above 1% of the maximum (so one hot voxel
    does not wash out the map, and a low-dose tail does not saturate it), low = 10% of high."""
    finite = dose[np.isfinite(dose)]
    peak = float(finite.max()) if finite.size else 0.0
    if peak <= 0:
        return 0.0, 1.0
    high = float(np.percentile(finite[finite >= 0.01 * peak], 99.9))
    return 0.1 * high, high


def _background_window(volume: Volume) -> tuple[float, float]:
    """(width, level) of the grey-level window."""
    if volume.modality.upper() == "CT" or volume.units.upper() == "HU":
        return CT_WINDOW
    values = volume.array[np.isfinite(volume.array)]
    if values.size == 0:
        return 1.0, 0.0
    low, high = (float(v) for v in np.percentile(values, [1.0, 99.0]))
    if high <= low:
        low, high = float(values.min()), float(values.max()) + 1.0
    return high - low, 0.5 * (high + low)


def _axis_aligned(volume: Volume) -> Volume:
    """The volume on an axis-aligned LPS grid (reoriented; resampled only if oblique)."""
    from ..imaging.resample import reorient, resample_to_geometry
    from ..imaging.volume import Geometry

    volume = reorient(volume, "LPS")
    if volume.geometry.is_oblique:
        geometry = Geometry(volume.shape, volume.spacing, volume.origin, np.eye(3))
        volume = resample_to_geometry(volume, geometry, "linear")
    return volume


def _image_data(array: np.ndarray, geometry: Geometry, name: str = "values") -> Any:
    from vtkmodules.util import numpy_support

    vtk = _vtk()

    image = vtk.vtkImageData()
    image.SetDimensions(*geometry.shape[::-1])
    image.SetSpacing(*geometry.spacing)
    image.SetOrigin(*geometry.origin)
    values = numpy_support.numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True)
    values.SetName(name)
    image.GetPointData().SetScalars(values)
    return image


def _segment_surface(mask: np.ndarray, geometry: Geometry, smooth: bool) -> Any:
    """A closed surface of a binary mask (cropped to its bounding box, padded by one empty voxel)."""
    from ..imaging.volume import Geometry as GeometryClass

    vtk = _vtk()

    where = np.nonzero(mask)
    low = np.maximum(np.min(where, axis=1) - 1, 0)
    high = np.minimum(np.max(where, axis=1) + 2, mask.shape)
    box = np.zeros(tuple(int(h - lo + 2) for lo, h in zip(low, high, strict=True)), dtype=np.uint8)
    box[1:-1, 1:-1, 1:-1] = mask[low[0]:high[0], low[1]:high[1], low[2]:high[2]]
    origin = np.asarray(geometry.origin) + (np.asarray(low[::-1]) - 1) * np.asarray(geometry.spacing)
    image = _image_data(box, GeometryClass(box.shape, geometry.spacing, tuple(origin)))
    edges = vtk.vtkDiscreteFlyingEdges3D()
    edges.SetInputData(image)
    edges.SetValue(0, 1)
    edges.ComputeNormalsOff()
    output = edges.GetOutputPort()
    if smooth:
        smoother = vtk.vtkWindowedSincPolyDataFilter()
        smoother.SetInputConnection(output)
        smoother.SetNumberOfIterations(15)
        smoother.SetPassBand(0.1)
        smoother.NormalizeCoordinatesOn()
        smoother.BoundarySmoothingOff()
        output = smoother.GetOutputPort()
    normals = vtk.vtkPolyDataNormals()
    normals.SetInputConnection(output)
    normals.SplittingOff()
    normals.Update()
    surface = vtk.vtkPolyData()
    surface.DeepCopy(normals.GetOutput())
    return surface


@dataclass
class SliceView:
    """One slice view: its render window, layers and the slice position (an index along its fixed axis)."""

    name: str
    axis: int
    window: Any
    renderers: list[Any]
    background_actor: Any | None
    dose_actor: Any | None
    scalar_bar: Any | None
    planes: list[Any]
    outline_actors: dict[str, Any]
    extent: tuple[int, int, int, int, int, int]
    geometry: Geometry
    index: int = 0

    @property
    def slices(self) -> int:
        """Number of slices along this view's axis."""
        return int(self.geometry.shape[self.axis])

    def set_index(self, index: int) -> None:
        """Show slice ``index`` (clamped to the grid)."""
        self.index = int(min(max(int(index), 0), self.slices - 1))
        ijk_axis = 2 - self.axis  # array axis (k, j, i) -> VTK axis (i, j, k)
        extent = list(self.extent)
        extent[2 * ijk_axis] = extent[2 * ijk_axis + 1] = self.index
        for actor in (self.background_actor, self.dose_actor):
            if actor is not None:
                actor.SetDisplayExtent(*extent)
        position = self.geometry.origin[ijk_axis] + self.index * self.geometry.spacing[ijk_axis]
        for plane in self.planes:
            origin = list(plane.GetOrigin())
            origin[ijk_axis] = position
            plane.SetOrigin(*origin)

    def reset_camera(self) -> None:
        """Fit the whole slice in the view, keeping the orientation."""
        camera = self.renderers[0].GetActiveCamera()
        _, direction, up = ORIENTATIONS[self.name]
        spacing, shape = np.asarray(self.geometry.spacing), np.asarray(self.geometry.shape[::-1])
        low = np.asarray(self.geometry.origin) - 0.5 * spacing
        high = low + shape * spacing
        centre = 0.5 * (low + high)
        ijk_axis = 2 - self.axis
        size = high - low
        camera.ParallelProjectionOn()
        camera.SetFocalPoint(*centre)
        camera.SetPosition(*(centre - 1000.0 * np.asarray(direction)))
        camera.SetViewUp(*up)
        in_plane = [a for a in range(3) if a != ijk_axis]
        vertical = next(a for a in in_plane if abs(up[a]) > 0.5)
        horizontal = next(a for a in in_plane if a != vertical)
        width, height = self.window.GetSize()
        aspect = width / height if height else 1.0
        camera.SetParallelScale(0.52 * max(size[vertical], size[horizontal] / max(aspect, 1e-3)))
        camera.SetClippingRange(1.0, 3000.0)

    def set_visible_segments(self, names: set[str]) -> None:
        for name, actor in self.outline_actors.items():
            actor.SetVisibility(name in names)


@dataclass
class ViewerScene:
    """All views of the viewer and the state they share (dose window and opacity, visible segments)."""

    geometry: Geometry
    slice_views: dict[str, SliceView]
    view_3d: Any
    renderer_3d: Any
    surface_actors: dict[str, Any]
    segment_colors: dict[str, tuple[float, float, float]]
    background_names: list[str]
    dose_range: tuple[float, float] | None
    dose_window: tuple[float, float] | None
    dose_opacity: float = 0.5
    dose_lut: Any = None
    bar_lut: Any = None
    _backgrounds: dict[str, Any] = field(default_factory=dict)
    _background_windows: dict[str, tuple[float, float]] = field(default_factory=dict)

    def set_dose_window(self, low: float, high: float) -> None:
        """Colour doses from ``low`` to ``high`` Gy; lower doses are transparent, higher ones saturated."""
        if self.dose_lut is None:
            return
        low, high = float(low), float(high)
        if high <= low:
            high = low + 1e-6
        self.dose_window = (low, high)
        for lut in (self.dose_lut, self.bar_lut):
            lut.SetTableRange(low, high)
            lut.Build()

    def set_dose_opacity(self, opacity: float) -> None:
        self.dose_opacity = float(min(max(opacity, 0.0), 1.0))
        for view in self.slice_views.values():
            if view.dose_actor is not None:
                view.dose_actor.SetOpacity(self.dose_opacity)

    def set_dose_visible(self, visible: bool) -> None:
        for view in self.slice_views.values():
            for actor in (view.dose_actor, view.scalar_bar):
                if actor is not None:
                    actor.SetVisibility(bool(visible))

    def set_background(self, name: str) -> None:
        """Show background image ``name`` (one of :attr:`background_names`)."""
        image = self._backgrounds.get(name)
        if image is None:
            return
        width, level = self._background_windows[name]
        for view in self.slice_views.values():
            actor = view.background_actor
            if actor is not None:
                actor.GetMapper().SetInputData(image)
                actor.GetProperty().SetColorWindow(width)
                actor.GetProperty().SetColorLevel(level)

    def set_visible_segments(self, names: list[str] | set[str]) -> None:
        names = set(names)
        for view in self.slice_views.values():
            view.set_visible_segments(names)
        for name, actor in self.surface_actors.items():
            actor.SetVisibility(name in names)

    def render_all(self) -> None:
        for view in self.slice_views.values():
            view.window.Render()
        self.view_3d.Render()


def _lookup_tables(window: tuple[float, float]) -> tuple[Any, Any]:
    """(overlay table: transparent below the window, colour-bar table: opaque)."""
    vtk = _vtk()
    colors = dose_colors(_TABLE_SIZE)
    tables = []
    for transparent_below in (True, False):
        lut = vtk.vtkLookupTable()
        lut.SetNumberOfTableValues(_TABLE_SIZE)
        lut.SetTableRange(*window)
        for index, (r, g, b) in enumerate(colors):
            lut.SetTableValue(index, r, g, b, 1.0)
        lut.SetBelowRangeColor(0.0, 0.0, 0.0, 0.0)
        lut.SetUseBelowRangeColor(transparent_below)
        lut.SetAboveRangeColor(*colors[-1], 1.0)
        lut.SetUseAboveRangeColor(True)
        lut.Build()
        tables.append(lut)
    return tables[0], tables[1]


def _common_grid(data: ViewerData) -> tuple[Geometry, dict[str, Volume], Volume | None, Segmentation | None]:
    """The display grid and everything resampled onto it."""
    from ..imaging.resample import resample_segmentation, resample_to_geometry

    backgrounds = [_axis_aligned(volume) for volume in data.volumes]
    is_ct = [v.modality.upper() == "CT" or v.units.upper() == "HU" for v in backgrounds]
    order = [v for v, c in zip(backgrounds, is_ct, strict=True) if c]
    order += [v for v, c in zip(backgrounds, is_ct, strict=True) if not c]
    if order:
        geometry = order[0].geometry
    elif data.dose is not None:
        geometry = _axis_aligned(data.dose).geometry
    elif data.segmentation is not None:
        geometry = _axis_aligned(data.segmentation.to_labelmap()).geometry
    else:
        raise ValueError("Nothing to show in the slice views")
    shown: dict[str, Volume] = {}
    for volume in order:
        name = volume.name
        while name in shown:
            name += " "
        shown[name] = volume if volume.geometry.same_grid(geometry) else resample_to_geometry(volume, geometry)
    dose = None
    if data.dose is not None:
        dose = resample_to_geometry(data.dose.with_array(np.nan_to_num(data.dose.array).astype(np.float32)),
                                    geometry, "linear")
    seg = resample_segmentation(data.segmentation, geometry) if data.segmentation is not None else None
    return geometry, shown, dose, seg


def build_scene(data: ViewerData, size: tuple[int, int] = (420, 420), *, offscreen: bool = True) -> ViewerScene:
    """Build the slice views and the 3D view of ``data``.

    Args:
        data: what :func:`~.data.gather` found (needs an image, a dose map or a segmentation).
        size: initial size in pixels of each render window (the browser resizes them).
        offscreen: render without a window (a server has no display).

    Returns:
        The :class:`ViewerScene`; call :meth:`ViewerScene.render_all` after changes.

    Raises:
        ValueError: ``data`` has no image, dose map or segmentation.
    """
    if offscreen and sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")  # no X server: EGL (or OSMesa)
    vtk = _vtk()

    geometry, backgrounds, dose, seg = _common_grid(data)
    images = {name: _image_data(volume.array, geometry) for name, volume in backgrounds.items()}
    windows = {name: _background_window(volume) for name, volume in backgrounds.items()}
    dose_image = _image_data(dose.array, geometry) if dose is not None else None
    dose_range = (float(np.min(dose.array)), float(np.max(dose.array))) if dose is not None else None
    window = default_dose_window(dose.array) if dose is not None else None
    dose_lut, bar_lut = _lookup_tables(window) if window is not None else (None, None)

    colors: dict[str, tuple[float, float, float]] = {}
    surfaces: dict[str, Any] = {}
    if seg is not None:
        for segment in seg:
            if not segment.mask.any():
                continue
            colors[segment.name] = tuple(float(c) for c in (segment.color or (0.8, 0.8, 0.2)))
            surfaces[segment.name] = _segment_surface(segment.mask, geometry, smooth=False)

    shape_ijk = geometry.shape[::-1]
    extent = (0, shape_ijk[0] - 1, 0, shape_ijk[1] - 1, 0, shape_ijk[2] - 1)
    slice_views: dict[str, SliceView] = {}
    first_background = next(iter(images), None)
    for name, (axis, _direction, _up) in ORIENTATIONS.items():
        render_window = vtk.vtkRenderWindow()
        render_window.SetOffScreenRendering(int(offscreen))
        render_window.SetSize(*size)
        render_window.SetNumberOfLayers(3)
        camera = vtk.vtkCamera()
        layers = []
        for layer in range(3):
            renderer = vtk.vtkRenderer()
            renderer.SetLayer(layer)
            renderer.SetActiveCamera(camera)
            renderer.SetBackground(0.0, 0.0, 0.0)
            render_window.AddRenderer(renderer)
            layers.append(renderer)
        interactor = vtk.vtkRenderWindowInteractor()
        interactor.SetRenderWindow(render_window)
        interactor.SetInteractorStyle(vtk.vtkInteractorStyleImage())
        interactor.EnableRenderOff()

        background_actor = None
        if first_background is not None:
            background_actor = vtk.vtkImageActor()
            background_actor.GetMapper().SetInputData(images[first_background])
            background_actor.GetProperty().SetColorWindow(windows[first_background][0])
            background_actor.GetProperty().SetColorLevel(windows[first_background][1])
            background_actor.GetProperty().SetInterpolationTypeToNearest()
            layers[0].AddActor(background_actor)
        dose_actor = scalar_bar = None
        if dose_image is not None:
            mapper = vtk.vtkImageMapToColors()
            mapper.SetInputData(dose_image)
            mapper.SetLookupTable(dose_lut)
            mapper.SetOutputFormatToRGBA()
            dose_actor = vtk.vtkImageActor()
            dose_actor.GetMapper().SetInputConnection(mapper.GetOutputPort())
            dose_actor.GetProperty().SetInterpolationTypeToLinear()
            dose_actor.SetOpacity(0.5)
            layers[1].AddActor(dose_actor)
            scalar_bar = vtk.vtkScalarBarActor()
            scalar_bar.SetLookupTable(bar_lut)
            scalar_bar.SetTitle("Gy")
            scalar_bar.SetNumberOfLabels(5)
            scalar_bar.SetLabelFormat("%.0f")
            scalar_bar.SetBarRatio(0.25)
            scalar_bar.GetPositionCoordinate().SetValue(0.87, 0.1)
            scalar_bar.SetWidth(0.12)
            scalar_bar.SetHeight(0.8)
            scalar_bar.SetDrawFrame(False)
            scalar_bar.UnconstrainedFontSizeOn()
            for text in (scalar_bar.GetLabelTextProperty(), scalar_bar.GetTitleTextProperty()):
                text.SetFontSize(13)
                text.ItalicOff()
                text.BoldOff()
                text.ShadowOff()
                text.SetColor(1.0, 1.0, 1.0)
            layers[2].AddViewProp(scalar_bar)
        planes, outlines = [], {}
        for segment_name, surface in surfaces.items():
            plane = vtk.vtkPlane()
            plane.SetOrigin(*geometry.origin)
            normal = [0.0, 0.0, 0.0]
            normal[2 - axis] = 1.0
            plane.SetNormal(*normal)
            cutter = vtk.vtkCutter()
            cutter.SetInputData(surface)
            cutter.SetCutFunction(plane)
            mapper = vtk.vtkPolyDataMapper()
            mapper.SetInputConnection(cutter.GetOutputPort())
            mapper.ScalarVisibilityOff()
            actor = vtk.vtkActor()
            actor.SetMapper(mapper)
            actor.GetProperty().SetColor(*colors[segment_name])
            actor.GetProperty().SetLineWidth(2.5)
            actor.GetProperty().LightingOff()
            layers[2].AddActor(actor)
            planes.append(plane)
            outlines[segment_name] = actor
        view = SliceView(name, axis, render_window, layers, background_actor, dose_actor, scalar_bar, planes,
                         outlines, extent, geometry)
        view.set_index(geometry.shape[axis] // 2)
        view.reset_camera()
        slice_views[name] = view

    window_3d = vtk.vtkRenderWindow()
    window_3d.SetOffScreenRendering(int(offscreen))
    window_3d.SetSize(*size)
    renderer_3d = vtk.vtkRenderer()
    renderer_3d.SetBackground(0.05, 0.05, 0.12)
    window_3d.AddRenderer(renderer_3d)
    interactor_3d = vtk.vtkRenderWindowInteractor()
    interactor_3d.SetRenderWindow(window_3d)
    interactor_3d.SetInteractorStyle(vtk.vtkInteractorStyleTrackballCamera())
    interactor_3d.EnableRenderOff()
    surface_actors = {}
    for segment_name, surface in surfaces.items():
        smoother = vtk.vtkWindowedSincPolyDataFilter()
        smoother.SetInputData(surface)
        smoother.SetNumberOfIterations(15)
        smoother.SetPassBand(0.1)
        smoother.NormalizeCoordinatesOn()
        normals = vtk.vtkPolyDataNormals()
        normals.SetInputConnection(smoother.GetOutputPort())
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputConnection(normals.GetOutputPort())
        mapper.ScalarVisibilityOff()
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*colors[segment_name])
        actor.GetProperty().SetOpacity(_TRANSLUCENT_3D.get(segment_name.lower(), 1.0))
        renderer_3d.AddActor(actor)
        surface_actors[segment_name] = actor
    camera = renderer_3d.GetActiveCamera()
    camera.SetFocalPoint(0.0, 0.0, 0.0)
    camera.SetPosition(0.0, -1.0, 0.0)  # from the front (anterior is -y in LPS)
    camera.SetViewUp(0.0, 0.0, 1.0)
    renderer_3d.ResetCamera()

    scene = ViewerScene(geometry, slice_views, window_3d, renderer_3d, surface_actors, colors, list(images),
                        dose_range, window, dose_lut=dose_lut, bar_lut=bar_lut, _backgrounds=images,
                        _background_windows=windows)
    return scene
