"""Property-based tests (hypothesis) of resampling: random grids, spacings, directions and arrays, including
absurd ones, give either a correct result or a documented error, never another exception.

Documented errors: :class:`GeometryError` (absurd grids; :class:`ResampleSizeError` is one),
:class:`NonFiniteError` (NaN/infinite values with linear/B-spline interpolation) and ``ValueError`` for an
unknown interpolation or a default value an integer image cannot hold.

Independent references for the results:

* linear interpolation is a convex combination of source values, so every output lies between the smallest
  and largest of the source values and the default value (floating-point tolerance);
* nearest-neighbour output values are source values or the default value;
* a target grid whose origin is moved by whole voxels along the source's own axes samples the source at its
  voxel centres, so the result is the source array shifted by that many voxels (``numpy`` slicing), for any
  (oblique, left-handed) direction; the same holds for masks.

Examples are derandomised (the same inputs on every run) and no example database is written.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (dev extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from HCCInterventionalAILib.imaging.checks import NonFiniteError  # noqa: E402
from HCCInterventionalAILib.imaging.resample import (  # noqa: E402
    resample_mask,
    resample_to_geometry,
    resample_to_spacing,
    spacing_geometry,
)
from HCCInterventionalAILib.imaging.volume import Geometry, GeometryError, Volume  # noqa: E402

SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

ABSURD = [0.0, -1.0, math.nan, math.inf, -math.inf, 1e5, 1e-7, 1e300]


def _quaternion_rotation(q: tuple[float, float, float, float]) -> np.ndarray:
    """Rotation matrix of the unit quaternion q / |q| (identity for |q| ≈ 0)."""
    w, x, y, z = q
    n = math.sqrt(w * w + x * x + y * y + z * z)
    if n < 1e-6:
        return np.eye(3)
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


unit = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)
spacings = st.one_of(
    st.floats(0.2, 8.0),
    st.floats(1e-4, 1e3),
    st.sampled_from(ABSURD),
)
sane_spacing = st.floats(0.3, 6.0)


@st.composite
def directions(draw, absurd: bool = True) -> np.ndarray:
    matrix = _quaternion_rotation(tuple(draw(unit) for _ in range(4)))
    if draw(st.booleans()):
        matrix = matrix @ np.diag([1.0, 1.0, -1.0])  # left-handed grid (e.g. slices stored head to feet)
    if absurd and draw(st.integers(0, 9)) == 0:
        matrix = matrix + draw(st.sampled_from([0.5, math.nan])) * np.eye(3)  # sheared / NaN
    return matrix


@st.composite
def geometries(draw, absurd: bool = True, max_size: int = 6) -> Geometry | tuple:
    """A Geometry, or (when its arguments are absurd) the arguments that Geometry must refuse."""
    shape = tuple(draw(st.integers(1, max_size)) for _ in range(3))
    if absurd and draw(st.integers(0, 19)) == 0:
        shape = (draw(st.sampled_from([0, -3, 10**9, 200_000])), *shape[1:])
    spacing = tuple(draw(spacings if absurd else sane_spacing) for _ in range(3))
    coordinate = st.floats(-500.0, 500.0)
    origin = tuple(draw(coordinate) for _ in range(3))
    if absurd and draw(st.integers(0, 19)) == 0:
        origin = (draw(st.sampled_from([math.nan, math.inf, 1e12])), *origin[1:])
    direction = draw(directions(absurd))
    try:
        return Geometry(shape, spacing, origin, direction)
    except GeometryError:
        return (shape, spacing, origin, direction)


DTYPES = [np.float32, np.float64, np.int16, np.uint8, np.bool_]


@st.composite
def volumes(draw, geometry: Geometry, finite: bool = False) -> Volume:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if dtype.kind == "f":
        elements = st.floats(-1e4, 1e4, width=32) if finite else st.one_of(
            st.floats(-1e4, 1e4, width=32), st.sampled_from([math.nan, math.inf, -math.inf])
        )
    else:
        elements = None
    array = draw(hnp.arrays(dtype, geometry.shape, elements=elements))
    return Volume(array, geometry, name="random")


def _documented(error: Exception) -> bool:
    if isinstance(error, (GeometryError, NonFiniteError)):
        return True
    return type(error) is ValueError and ("interpolation" in str(error) or "default_value" in str(error))


@given(data=st.data())
@settings(max_examples=900, **SETTINGS)
def test_resample_to_geometry_gives_a_result_or_a_documented_error(data):
    source = data.draw(geometries(max_size=5))
    target = data.draw(geometries(max_size=5))
    if not isinstance(source, Geometry) or not isinstance(target, Geometry):
        return  # Geometry itself refused the arguments (documented GeometryError)
    volume = data.draw(volumes(source))
    interpolation = data.draw(st.sampled_from(["linear", "nearest", "bspline", "Linear", "cubic"]))
    default = data.draw(st.one_of(st.sampled_from([0.0, -1000.0, 1.0, math.nan, 0.5]), st.floats(-1e4, 1e4)))
    try:
        result = resample_to_geometry(volume, target, interpolation, default)
    except Exception as error:  # noqa: BLE001 - the property is about which exceptions occur
        assert _documented(error), f"undocumented {type(error).__name__}: {error}"
        return
    assert result.geometry == target and result.shape == target.shape
    values = volume.array.astype(np.float64)
    out = result.array.astype(np.float64)
    if interpolation.lower() == "nearest":
        assert result.array.dtype == volume.array.dtype
        allowed = np.concatenate([np.unique(values), [np.float64(np.asarray(default).astype(volume.array.dtype))]])
        assert np.all(np.isin(out, allowed) | (np.isnan(out) & np.isnan(allowed).any()))
    elif interpolation.lower() == "linear":
        assert result.array.dtype == (np.float64 if volume.array.dtype == np.float64 else np.float32)
        bounds = [values.min(), values.max()] + ([default] if math.isfinite(default) else [])
        low, high = min(bounds), max(bounds)
        tolerance = 1e-4 * max(1.0, abs(low), abs(high))
        finite = out[np.isfinite(out)]
        assert np.all(finite >= low - tolerance) and np.all(finite <= high + tolerance)
        if math.isfinite(default):
            assert np.all(np.isfinite(out))


@given(data=st.data())
@settings(max_examples=450, **SETTINGS)
def test_whole_voxel_shifts_reproduce_the_array_on_any_oblique_grid(data):
    """Target = source moved by (di, dj, dk) voxels along its own axes → result[k, j, i] = source[k+dk, j+dj,
    i+di] inside, default outside; linear and nearest alike, any direction (rotations, reflections)."""
    source = data.draw(geometries(absurd=False, max_size=6))
    volume = data.draw(volumes(source, finite=True))
    shift = np.array([data.draw(st.integers(-3, 3)) for _ in range(3)])  # (di, dj, dk)
    target_shape = tuple(data.draw(st.integers(1, 6)) for _ in range(3))
    origin = source.physical_points(shift.astype(float))[0]
    target = Geometry(target_shape, source.spacing, tuple(origin), source.direction)
    interpolation = data.draw(st.sampled_from(["linear", "nearest"]))
    default = 1.0 if volume.array.dtype == np.bool_ else 7.0
    result = resample_to_geometry(volume, target, interpolation, default_value=default)
    expected = _shifted(volume.array.astype(np.float64), shift, target_shape, default)
    np.testing.assert_allclose(result.array.astype(np.float64), expected, rtol=1e-5, atol=1e-3)


def _shifted(array: np.ndarray, shift: np.ndarray, shape: tuple[int, int, int], default: float) -> np.ndarray:
    """expected[k, j, i] = array[k + dk, j + dj, i + di] where that index exists, else ``default``."""
    di, dj, dk = (int(v) for v in shift)
    k, j, i = np.indices(shape)
    sk, sj, si = k + dk, j + dj, i + di
    inside = (sk >= 0) & (sk < array.shape[0]) & (sj >= 0) & (sj < array.shape[1]) & (si >= 0) & (si < array.shape[2])
    expected = np.full(shape, default, dtype=array.dtype)
    expected[inside] = array[sk[inside], sj[inside], si[inside]]
    return expected


@given(data=st.data())
@settings(max_examples=350, **SETTINGS)
def test_resample_mask_gives_a_result_or_a_documented_error(data):
    source = data.draw(geometries(max_size=5))
    target = data.draw(geometries(max_size=5))
    if not isinstance(source, Geometry) or not isinstance(target, Geometry):
        return
    mask = data.draw(hnp.arrays(np.bool_, source.shape))
    threshold = data.draw(st.one_of(st.sampled_from([0.5, 1.0, 0.0, -1.0, math.nan]), st.floats(0.01, 1.0)))
    try:
        result = resample_mask(mask, source, target, threshold=threshold)
    except Exception as error:  # noqa: BLE001
        documented = isinstance(error, GeometryError) or (type(error) is ValueError and "threshold" in str(error))
        assert documented, f"undocumented {type(error).__name__}: {error}"
        return
    assert result.dtype == np.bool_ and result.shape == target.shape
    if not mask.any():
        assert not result.any()


@given(data=st.data())
@settings(max_examples=200, **SETTINGS)
def test_mask_whole_voxel_shift(data):
    """Same-spacing grid moved by whole voxels: the mask moves by the same voxels (numpy slicing)."""
    source = data.draw(geometries(absurd=False, max_size=6))
    mask = data.draw(hnp.arrays(np.bool_, source.shape))
    di, dj, dk = (data.draw(st.integers(-2, 2)) for _ in range(3))
    origin = source.physical_points(np.array([di, dj, dk], dtype=float))[0]
    target = Geometry(source.shape, source.spacing, tuple(origin), source.direction)
    result = resample_mask(mask, source, target)
    np.testing.assert_array_equal(result, _shifted(mask, np.array([di, dj, dk]), source.shape, False))


@given(data=st.data())
@settings(max_examples=300, **SETTINGS)
def test_resample_to_spacing_keeps_the_centre_or_refuses(data):
    """New grid: size round(extent / spacing) ≥ 1 per axis, same direction, same centre of the field of view
    (centre = origin + D · diag(spacing) · (size - 1) / 2, computed here by hand)."""
    source = data.draw(geometries(absurd=False, max_size=5))
    volume = Volume(np.zeros(source.shape, dtype=np.float32), source)
    spacing = data.draw(st.one_of(spacings, st.tuples(spacings, spacings, spacings)))
    try:
        # A 1 MiB limit: fine spacings over the field of view are refused (ResampleSizeError) instead of
        # allocating large grids, which also exercises the size check.
        result = resample_to_spacing(volume, spacing, max_bytes=2**20)
    except Exception as error:  # noqa: BLE001
        assert isinstance(error, GeometryError), f"undocumented {type(error).__name__}: {error}"
        return
    new = result.geometry
    assert new == spacing_geometry(source, spacing)
    np.testing.assert_allclose(new.direction_matrix, source.direction_matrix, atol=1e-12)

    def centre(g: Geometry) -> np.ndarray:
        size = np.asarray(g.shape[::-1], dtype=float)
        return np.asarray(g.origin) + g.direction_matrix @ (np.asarray(g.spacing) * (size - 1) / 2)

    extent = np.asarray(source.shape[::-1]) * np.asarray(source.spacing)
    np.testing.assert_allclose(centre(new), centre(source), atol=1e-6 * max(1.0, float(extent.max())) + 1e-6)
    expected_size = np.maximum(1, np.round(extent / np.asarray(new.spacing)))
    np.testing.assert_array_equal(np.asarray(new.shape[::-1]), expected_size)
