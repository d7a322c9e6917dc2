"""Absurd geometry is refused before any image is allocated; one non-finite check for the whole project;
no import cycle in the imaging layer.

Reference values are hand calculations given in each test (sizes in bytes = voxels × bytes per voxel).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

import HCCInterventionalAILib.imaging as imaging
from HCCInterventionalAILib.imaging.checks import NonFiniteError, require_finite
from HCCInterventionalAILib.imaging.dicom_io import write_dicom_series
from HCCInterventionalAILib.imaging.intensity import window
from HCCInterventionalAILib.imaging.io import ImageReadError, read_volume
from HCCInterventionalAILib.imaging.resample import (
    ResampleSizeError,
    resample_mask,
    resample_to_geometry,
    resample_to_spacing,
)
from HCCInterventionalAILib.imaging.volume import Geometry, GeometryError, Volume


# --------------------------------------------------------------------------------------------------------
# Geometry validation
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"spacing": (1.0, 1.0, 1e5)}, "outside"),  # the 1e5 mm voxels
        ({"spacing": (1.0, 0.0, 1.0)}, "positive"),
        ({"spacing": (1.0, -2.0, 1.0)}, "positive"),
        ({"spacing": (1.0, float("nan"), 1.0)}, "finite"),
        ({"spacing": (1.0, float("inf"), 1.0)}, "finite"),
        ({"spacing": (1e-7, 1.0, 1.0)}, "outside"),
        ({"spacing": (1.0, 1.0)}, "3 numbers"),
        ({"spacing": "abc"}, "3 numbers"),
        ({"shape": (0, 4, 4)}, "positive whole"),
        ({"shape": (4, -1, 4)}, "positive whole"),
        ({"shape": (4, 2.5, 4)}, "positive whole"),
        ({"shape": (4, 4)}, "3 numbers"),
        ({"shape": (200_000, 4, 4)}, r"spans 2e\+05 mm"),  # 200,000 slices × 1 mm = 200 m > 100 m
        ({"origin": (0.0, float("nan"), 0.0)}, "origin"),
        ({"origin": (0.0, 0.0, 1e9)}, "origin"),
        ({"direction": np.diag([1.0, 2.0, 1.0])}, "orthonormal"),
        ({"direction": np.full((3, 3), np.nan)}, "orthonormal"),
        ({"direction": [[1, 0], [0, 1]]}, "orthonormal"),
    ],
)
def test_absurd_geometry_is_a_geometry_error(kwargs, words):
    arguments = {"shape": (4, 4, 4), **kwargs}
    with pytest.raises(GeometryError, match=words) as error:
        Geometry(**arguments)
    assert isinstance(error.value, ValueError)


def test_limits_themselves_are_accepted():
    """0.1 µm and 1 m voxels are the documented bounds; a whole-body 512 × 512 × 2000 grid is fine."""
    Geometry((4, 4, 4), (1e-4, 1e3, 1.0))
    Geometry((2000, 512, 512), (0.98, 0.98, 1.0), (-250.0, -250.0, -1900.0))


def test_file_with_1e5_mm_spacing_is_refused_naming_the_file(tmp_path):
    """A NRRD whose header says 1e5 mm voxels: ImageReadError naming file and spacing, no ITK traceback."""
    image = sitk.Image([8, 8, 4], sitk.sitkInt16)
    image.SetSpacing((1.0, 1.0, 1e5))
    path = tmp_path / "absurd.nrrd"
    sitk.WriteImage(image, str(path))
    with pytest.raises(ImageReadError, match=r"absurd\.nrrd.*100000") as error:
        read_volume(path)
    assert isinstance(error.value.__cause__, GeometryError)


# --------------------------------------------------------------------------------------------------------
# Resampling size limits
# --------------------------------------------------------------------------------------------------------
def _small_volume() -> Volume:
    return Volume(np.ones((4, 5, 6), dtype=np.float32), Geometry((4, 5, 6), (2.0, 2.0, 2.0)), name="small")


def test_resampling_onto_a_huge_grid_is_refused_before_allocation():
    """4096³ float32 = 2^36 × 4 bytes = 256 GiB > 8 GiB: refused at once (no allocation, no ITK error)."""
    target = Geometry((4096, 4096, 4096), (0.01, 0.01, 0.01))
    with pytest.raises(ResampleSizeError, match=r"256 GiB \(4096 × 4096 × 4096 voxels of 4 bytes\)"):
        resample_to_geometry(_small_volume(), target)  # an attempted allocation would raise MemoryError instead


def test_size_limit_is_exact():
    """10 × 10 × 10 float32 = 4,000 bytes: allowed with max_bytes=4000, refused with 3999."""
    target = Geometry((10, 10, 10), (1.0, 1.0, 1.0))
    assert resample_to_geometry(_small_volume(), target, max_bytes=4000).shape == (10, 10, 10)
    with pytest.raises(ResampleSizeError):
        resample_to_geometry(_small_volume(), target, max_bytes=3999)
    # nearest keeps the dtype: float64 input → 8 bytes per voxel = 8,000 bytes.
    doubles = _small_volume().with_array(np.ones((4, 5, 6)))
    with pytest.raises(ResampleSizeError, match="8 bytes"):
        resample_to_geometry(doubles, target, "nearest", max_bytes=7999)


def test_resample_to_spacing_with_a_tiny_spacing_is_refused():
    """12 × 10 × 8 mm field of view at 1 µm voxels: 12,000 × 10,000 × 8,000 voxels ≈ 3.6 TB: refused."""
    with pytest.raises(ResampleSizeError, match="GiB"):
        resample_to_spacing(_small_volume(), 1e-3)
    with pytest.raises(GeometryError, match="outside"):
        resample_to_spacing(_small_volume(), 1e5)
    with pytest.raises(GeometryError, match="positive"):
        resample_to_spacing(_small_volume(), 0.0)


def test_resample_mask_with_absurd_subsampling_is_refused():
    """A 10 µm mask onto 100 mm voxels needs 10,000 sub-samples per axis per target voxel: refused."""
    source = Geometry((3, 3, 3), (0.01, 0.01, 0.01))
    mask = np.ones(source.shape, dtype=bool)
    with pytest.raises(ResampleSizeError, match="sub-voxel"):
        resample_mask(mask, source, Geometry((2, 2, 2), (100.0, 100.0, 100.0)))


# --------------------------------------------------------------------------------------------------------
# One non-finite check, one exception type
# --------------------------------------------------------------------------------------------------------
def test_require_finite_counts_and_names():
    """[nan, 1, -inf, 2, inf]: 3 bad values, 1 NaN and 2 infinite, of 5."""
    require_finite(np.arange(4))  # integers cannot be NaN
    require_finite([1.0, 2.0])
    with pytest.raises(NonFiniteError, match=r"Found 3 NaN/infinite values \(1 NaN, 2 infinite, of 5\) in the dose"):
        require_finite(np.array([np.nan, 1.0, -np.inf, 2.0, np.inf]), "dose")
    volume = Volume.from_array(np.array([[[1.0, np.nan]]]), name="ct")
    with pytest.raises(NonFiniteError, match="volume 'ct'"):
        require_finite(volume)
    with pytest.raises(NonFiniteError, match="volume 'ct'"):
        volume.require_finite()

    class Custom(NonFiniteError):
        pass

    with pytest.raises(Custom):
        require_finite(float("nan"), "x", error=Custom)
    with pytest.raises(TypeError):
        require_finite(1.0, error=ValueError)


def test_every_library_raises_the_same_non_finite_error(tmp_path):
    """Imaging, Y-90 counts/CT/dose/gamma/BED/RT Dose all raise NonFiniteError (Y-90 ones also Y90InputError)."""
    from Y90DosimetryLib.compare import gamma_index
    from Y90DosimetryLib.counts import checked_counts
    from Y90DosimetryLib.dvh import dose_statistics
    from Y90DosimetryLib.errors import NonFiniteValuesError, Y90InputError
    from Y90DosimetryLib.radiobiology import bed_permanent_implant
    from Y90DosimetryLib.rtdose import write_rtdose
    from Y90DosimetryLib.tissue import density_from_hu

    bad = np.ones((3, 4, 5))
    bad[1, 2, 3] = np.nan
    bad_volume = Volume.from_array(bad, name="bad", units="Gy")
    good_volume = Volume.from_array(np.ones((3, 4, 5)), name="good", units="Gy")
    calls = {
        "resample": lambda: resample_to_geometry(bad_volume, Geometry((2, 2, 2))),
        "window": lambda: window(bad, 40, 400),
        "write_dicom_series": lambda: write_dicom_series(bad_volume.with_array(bad, units="HU"), tmp_path / "d"),
        "checked_counts": lambda: checked_counts(bad_volume),
        "density_from_hu": lambda: density_from_hu(bad),
        "dose_statistics": lambda: dose_statistics(bad),
        "gamma_index": lambda: gamma_index(good_volume, bad_volume),
        "bed": lambda: bed_permanent_implant(bad, 2.5, 2.5),
        "write_rtdose": lambda: write_rtdose(bad_volume, tmp_path / "rd.dcm"),
    }
    for name, call in calls.items():
        with pytest.raises(NonFiniteError, match="1 NaN/infinite value") as error:
            call()
        if name not in ("resample", "window", "write_dicom_series"):
            assert isinstance(error.value, NonFiniteValuesError) and isinstance(error.value, Y90InputError), name
    assert imaging.NonFiniteError is NonFiniteError


# --------------------------------------------------------------------------------------------------------
# Import structure
# --------------------------------------------------------------------------------------------------------
def _relative_imports(path: Path) -> set[str]:
    """Sibling modules a file imports with ``from .x import ...`` anywhere in it (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_imaging_modules_import_each_other_without_cycles():
    """Depth-first search for a cycle in the graph of sibling imports (io ↔ dicom_io was one)."""
    folder = Path(imaging.__file__).parent
    graph = {p.stem: _relative_imports(p) & {q.stem for q in folder.glob("*.py")} for p in folder.glob("*.py")}
    graph.pop("__init__")
    assert "io" not in graph["dicom_io"] and "sitk" in graph["dicom_io"] and "sitk" in graph["io"]
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in graph.get(module, ()):
            if state.get(imported) == 1:
                pytest.fail(f"import cycle: {' -> '.join([*path, imported])}")
            if imported not in state:
                visit(imported, [*path, imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
