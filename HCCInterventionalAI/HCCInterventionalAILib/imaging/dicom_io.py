"""DICOM image series and DICOM SEG, in and out.

Reading uses SimpleITK/GDCM (slices sorted along the slice normal, spacing from the slice positions,
values rescaled with each slice's Rescale Slope/Intercept, so CT comes out in HU). Writing uses pydicom and
produces one single-frame instance per slice with Image Position/Orientation (Patient), Pixel Spacing and
Rescale Slope/Intercept, which GDCM, Slicer and pydicom read back to the same geometry.

DICOM defines a volume's slice axis as the cross product of the row and column directions, so a grid whose
direction matrix is left-handed (det = -1, e.g. slices stored head-to-feet) comes back from a write/read
round trip with its k axis reversed: the same voxels at the same physical positions, stored the other way.
"""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from ..progress import Progress, ProgressCallback, as_progress
from .checks import require_finite
from .intensity import HU_WINDOWS
from .segmentation import Segmentation
from .sitk import from_sitk
from .terminology import Code, Terminology
from .volume import Geometry, Volume

__all__ = [
    "DicomSeriesError",
    "DicomSliceGapError",
    "DicomSliceGapWarning",
    "DicomSeriesInfo",
    "SLICE_SPACING_TOLERANCE_MM",
    "SLICE_SPACING_TOLERANCE_RELATIVE",
    "list_dicom_series",
    "series_uid_of_file",
    "read_dicom_series",
    "write_dicom_series",
    "read_dicom_seg",
]

#: SOP classes written by :func:`write_dicom_series`, by modality.
SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "PT": "1.2.840.10008.5.1.4.1.1.128",  # Positron Emission Tomography Image Storage
}
#: Modalities of DICOM objects that are not image series (ignored when a folder's series is picked).
NON_IMAGE_MODALITIES = frozenset({"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "REG", "DOC"})
# DICOM PET Units (0054,1001) → our units strings.
_PET_UNITS = {"BQML": "Bq/ml", "CNTS": "counts", "GML": "g/ml", "PROPCNTS": "counts", "MGMINML": "mg/min/ml"}


#: Slice spacings of a series may differ from their median by this much (mm) or by
#: :data:`SLICE_SPACING_TOLERANCE_RELATIVE` × the median, whichever is larger, and still count as even
#: (DICOM positions are decimal strings of at most 16 characters; scanners round them to 0.01 mm or so).
SLICE_SPACING_TOLERANCE_MM = 0.01
SLICE_SPACING_TOLERANCE_RELATIVE = 0.01


class DicomSeriesError(ValueError):
    """A DICOM folder holds no image series, several series where one was expected, or unreadable files."""


class DicomSliceGapError(DicomSeriesError):
    """The slices of a series are not evenly spaced (a missing, extra or duplicated slice)."""


class DicomSliceGapWarning(UserWarning):
    """A series with unevenly spaced slices was resampled onto a regular grid (``allow_gaps=True``)."""


@dataclass(frozen=True)
class DicomSeriesInfo:
    """One series found in a folder."""

    series_uid: str
    modality: str
    description: str
    number_of_files: int


# --------------------------------------------------------------------------------------------------------
# Finding series
# --------------------------------------------------------------------------------------------------------
def _quietly(function: Any, *args: Any) -> Any:
    """Call a SimpleITK function with ITK's global warning output switched off (GDCM scans are noisy)."""
    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        return function(*args)
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def _require_directory(directory: Path) -> None:
    if not directory.exists():
        raise FileNotFoundError(f"No such DICOM folder: {directory}")
    if not directory.is_dir():
        raise DicomSeriesError(f"'{directory}' is a file; give the folder that holds the DICOM series")


def _header_of(file_name: str | Path) -> Any:
    import pydicom

    try:
        return pydicom.dcmread(str(file_name), stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError) as error:
        raise DicomSeriesError(f"'{file_name}' is not a readable DICOM file: {error}") from error


def list_dicom_series(directory: str | Path) -> list[DicomSeriesInfo]:
    """The DICOM series in a folder (not its subfolders), with modality, description and file count.

    Raises:
        FileNotFoundError: when the folder does not exist.
    """
    directory = Path(directory)
    _require_directory(directory)
    found = []
    for uid in _quietly(sitk.ImageSeriesReader.GetGDCMSeriesIDs, str(directory)):
        files = _quietly(sitk.ImageSeriesReader.GetGDCMSeriesFileNames, str(directory), uid)
        header = _header_of(files[0])
        found.append(
            DicomSeriesInfo(
                uid,
                str(header.get("Modality", "")).strip().upper(),
                str(header.get("SeriesDescription", "")).strip(),
                len(files),
            )
        )
    return found


def series_uid_of_file(path: str | Path) -> str:
    """The Series Instance UID of one DICOM file.

    Raises:
        DicomSeriesError: when the file is not DICOM or has no Series Instance UID.
    """
    header = _header_of(path)
    uid = str(header.get("SeriesInstanceUID", "")).strip()
    if not uid:
        raise DicomSeriesError(f"'{path}' has no Series Instance UID")
    return uid


def _describe(series: Sequence[DicomSeriesInfo]) -> str:
    return "; ".join(
        f"{s.series_uid} ({s.modality or '?'}, {s.number_of_files} files, '{s.description}')" for s in series
    )


def _pick_series(directory: Path, series_uid: str | None) -> DicomSeriesInfo:
    series = list_dicom_series(directory)
    if series_uid is not None:
        for info in series:
            if info.series_uid == series_uid:
                return info
        raise DicomSeriesError(
            f"No series with UID {series_uid} in '{directory}'; found: {_describe(series) or 'no DICOM series'}"
        )
    images = [s for s in series if s.modality not in NON_IMAGE_MODALITIES]
    if not images:
        raise DicomSeriesError(
            f"No DICOM image series in '{directory}' (subfolders are not searched)"
            + (f"; only non-image objects: {_describe(series)}" if series else "")
        )
    if len(images) > 1:
        raise DicomSeriesError(
            f"'{directory}' holds {len(images)} image series; pass series_uid= one of: {_describe(images)}"
        )
    return images[0]


# --------------------------------------------------------------------------------------------------------
# Reading a series
# --------------------------------------------------------------------------------------------------------
def _units_for(modality: str, header: Any) -> str:
    if modality == "CT":
        return "HU"
    if modality == "PT":
        code = str(header.get("Units", "")).strip().upper()
        return _PET_UNITS.get(code, code)
    if modality == "NM":
        return "counts"
    return ""


def _smallest_integer_type(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "iu" or array.size == 0 or array.dtype.itemsize <= 2:
        return array
    low, high = int(array.min()), int(array.max())
    for dtype in (np.int16, np.uint16):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return array.astype(dtype)
    return array


def read_dicom_series(
    directory: str | Path,
    series_uid: str | None = None,
    *,
    allow_gaps: bool = False,
    progress: Progress | ProgressCallback | None = None,
) -> Volume:
    """Read one DICOM image series from a folder into a volume.

    Slices are sorted along the slice normal and the slice spacing is taken from the slice positions (not
    from Slice Thickness). Values are rescaled with Rescale Slope/Intercept (CT in HU). Modality comes from
    the Modality tag; units are HU for CT, the Units tag for PET (e.g. Bq/ml), counts for NM.

    The slice positions (Image Position (Patient) projected on the slice axis) must be evenly spaced: a
    series with a missing or extra slice would otherwise be stacked with the average spacing, shifting
    every slice after the gap. Spacings may differ from their median by at most
    ``max(SLICE_SPACING_TOLERANCE_MM, SLICE_SPACING_TOLERANCE_RELATIVE × median)``.

    Args:
        directory: folder holding the series (subfolders are not searched).
        series_uid: Series Instance UID to read; needed when the folder holds several image series.
        allow_gaps: read a series with unevenly spaced slices anyway: it is resampled onto a regular grid
            with the median slice spacing (linear interpolation between the neighbouring acquired slices,
            rounded for integer images), a :class:`DicomSliceGapWarning` names each gap and
            ``metadata["slice_gaps"]`` lists them.
        progress: progress reporter or callback.

    Returns:
        The volume; ``metadata`` holds series/study/frame-of-reference UIDs, description and file count.

    Raises:
        FileNotFoundError: when the folder does not exist.
        DicomSeriesError: no image series, several series without ``series_uid``, an unknown UID, or
            files that GDCM cannot assemble into a volume.
        DicomSliceGapError: (a DicomSeriesError) unevenly spaced slices without ``allow_gaps``, or two
            slices at the same position.
    """
    progress = as_progress(progress)
    directory = Path(directory)
    _require_directory(directory)
    progress.update(0.0, "Scanning DICOM folder")
    info = _pick_series(directory, series_uid)
    if info.modality in NON_IMAGE_MODALITIES:
        hint = "; read it with read_segmentation()" if info.modality == "SEG" else ""
        raise DicomSeriesError(f"Series {info.series_uid} is a {info.modality} object, not an image series{hint}")
    files = _quietly(sitk.ImageSeriesReader.GetGDCMSeriesFileNames, str(directory), info.series_uid)
    header = _header_of(files[0])
    progress.update(0.1, f"Reading {len(files)} DICOM files")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()  # per-slice tags, for the slice positions
    if info.modality in ("PT", "NM"):
        reader.SetOutputPixelType(sitk.sitkFloat32)  # per-slice rescale slopes must not be truncated
    try:
        image = _quietly(reader.Execute)
    except RuntimeError as error:
        raise DicomSeriesError(f"Could not assemble series {info.series_uid} in '{directory}': {error}") from error
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:  # one multi-frame file (e.g. NM) is read as 4D
        image = sitk.Extract(image, [*image.GetSize()[:3], 0], [0, 0, 0, 0])
    if image.GetDimension() != 3:
        raise DicomSeriesError(f"Series {info.series_uid} is not a 3D image (dimension {image.GetDimension()})")
    metadata = {
        "source": str(directory),
        "format": "DICOM",
        "series_uid": info.series_uid,
        "study_uid": str(header.get("StudyInstanceUID", "")),
        "frame_of_reference_uid": str(header.get("FrameOfReferenceUID", "")),
        "series_description": info.description,
        "number_of_files": len(files),
    }
    volume = from_sitk(
        image,
        name=info.description or f"{info.modality or 'DICOM'} series",
        modality=info.modality,
        units=_units_for(info.modality, header),
        metadata=metadata,
        source=str(directory),
    )
    gaps = _slice_gaps(reader, files, volume.geometry)
    if gaps is not None:
        volume = _regularise(volume, gaps, info.series_uid, directory, allow_gaps)
    volume.array = _smallest_integer_type(volume.array)
    progress.update(1.0, "DICOM series read")
    return volume


@dataclass(frozen=True)
class _Gaps:
    offsets: np.ndarray  # slice positions along the k axis, mm from the first slice
    spacing: float  # median spacing
    irregular: list[int]  # indices i where offsets[i + 1] - offsets[i] is not the median spacing
    files: list[str]


def _slice_gaps(reader: sitk.ImageSeriesReader, files: Sequence[str], geometry: Geometry) -> _Gaps | None:
    """Irregular slice spacing of a series read by ``reader``, or None when the slices are evenly spaced."""
    if len(files) < 3:
        return None
    positions = []
    for index in range(len(files)):
        if not reader.HasMetaDataKey(index, "0020|0032"):
            return None  # no per-slice positions (e.g. a multi-frame file): GDCM's geometry is all there is
        try:
            positions.append([float(v) for v in reader.GetMetaData(index, "0020|0032").replace("\\", " ").split()])
        except ValueError:
            return None
    if any(len(p) != 3 for p in positions):
        return None
    offsets = (np.asarray(positions) - positions[0]) @ geometry.direction_matrix[:, 2]
    steps = np.diff(offsets)
    spacing = float(np.median(steps))
    tolerance = max(SLICE_SPACING_TOLERANCE_MM, SLICE_SPACING_TOLERANCE_RELATIVE * abs(spacing))
    irregular = [int(i) for i in np.flatnonzero(np.abs(steps - spacing) > tolerance)]
    if not irregular and spacing > 0:
        return None
    return _Gaps(offsets, spacing, irregular, [Path(f).name for f in files])


def _describe_gaps(gaps: _Gaps, first_position: np.ndarray, axis: np.ndarray) -> str:
    parts = []
    for i in gaps.irregular[:3]:
        step = gaps.offsets[i + 1] - gaps.offsets[i]
        start = first_position + gaps.offsets[i] * axis
        end = first_position + gaps.offsets[i + 1] * axis
        missing = round(step / gaps.spacing) - 1 if gaps.spacing > 0 else 0
        what = f"about {missing} slice(s) missing" if missing >= 1 else "an uneven step"
        parts.append(
            f"{step:.4g} mm between {gaps.files[i]} at ({', '.join(f'{v:.2f}' for v in start)}) and "
            f"{gaps.files[i + 1]} at ({', '.join(f'{v:.2f}' for v in end)}) mm LPS ({what})"
        )
    more = f" and {len(gaps.irregular) - 3} more" if len(gaps.irregular) > 3 else ""
    return "; ".join(parts) + more


def _regularise(volume: Volume, gaps: _Gaps, series_uid: str, directory: Path, allow_gaps: bool) -> Volume:
    """Raise on uneven slice spacing, or (``allow_gaps``) resample onto a regular grid with a warning."""
    geometry = volume.geometry
    axis = geometry.direction_matrix[:, 2]
    first = np.asarray(geometry.origin)
    stacked = (gaps.offsets[-1] - gaps.offsets[0]) / (len(gaps.offsets) - 1)
    if not gaps.spacing > 0 or np.any(np.diff(gaps.offsets) <= 0):
        duplicates = int(np.count_nonzero(np.abs(np.diff(gaps.offsets)) < SLICE_SPACING_TOLERANCE_MM))
        raise DicomSliceGapError(
            f"Series {series_uid} in '{directory}' has {duplicates} pair(s) of slices at the same position "
            "(duplicate or mixed acquisitions); keep one slice per position"
        )
    description = (
        f"Series {series_uid} in '{directory}' has unevenly spaced slices: expected {gaps.spacing:.4g} mm "
        f"(the median spacing) but found {_describe_gaps(gaps, first, axis)}"
    )
    if not allow_gaps:
        raise DicomSliceGapError(
            f"{description}. Stacking the slices would give a wrong spacing of {stacked:.4g} mm; "
            "pass allow_gaps=True to resample onto a regular grid (interpolating across the gaps)"
        )
    count = int(round(gaps.offsets[-1] / gaps.spacing)) + 1
    targets = np.arange(count) * gaps.spacing
    below = np.clip(np.searchsorted(gaps.offsets, targets, side="right") - 1, 0, len(gaps.offsets) - 2)
    weight = np.clip((targets - gaps.offsets[below]) / (gaps.offsets[below + 1] - gaps.offsets[below]), 0.0, 1.0)
    source = volume.array
    integer = source.dtype.kind in "iub"
    array = np.empty((count, *source.shape[1:]), dtype=source.dtype)
    for m in range(count):
        value = source[below[m]] * (1.0 - weight[m]) + source[below[m] + 1].astype(np.float64) * weight[m]
        array[m] = np.rint(value) if integer else value
    spacing = (geometry.spacing[0], geometry.spacing[1], float(gaps.spacing))
    regular = Geometry(array.shape, spacing, geometry.origin, geometry.direction)
    warnings.warn(
        f"{description}; resampled onto a regular grid of {count} slices {gaps.spacing:.4g} mm apart "
        f"({count - len(gaps.offsets)} slice(s) interpolated)",
        DicomSliceGapWarning,
        stacklevel=3,
    )
    metadata = dict(volume.metadata)
    metadata["slice_gaps"] = [
        {
            "after_file": gaps.files[i],
            "before_file": gaps.files[i + 1],
            "gap_mm": float(gaps.offsets[i + 1] - gaps.offsets[i]),
            "expected_mm": float(gaps.spacing),
        }
        for i in gaps.irregular
    ]
    return Volume(array, regular, name=volume.name, modality=volume.modality, units=volume.units, metadata=metadata)


# --------------------------------------------------------------------------------------------------------
# Writing a series
# --------------------------------------------------------------------------------------------------------
def _ds(value: float) -> str:
    """A DICOM Decimal String (at most 16 characters) as close to ``value`` as the format allows."""
    from pydicom.valuerep import format_number_as_ds

    return format_number_as_ds(float(value))


def _quantise(array: np.ndarray) -> tuple[np.ndarray, str, str]:
    """Stored 16-bit values and the Rescale Slope/Intercept that restore ``array``.

    Integer-valued data within 16 bits is stored exactly (slope 1); other data is spread over the uint16 range
    with slope = (max - min) / 65535, so the round-trip error is at most slope / 2.

    Returns:
        (stored int16/uint16 array, Rescale Slope, Rescale Intercept), the latter two as DICOM DS strings;
        readers compute ``stored * slope + intercept`` with these exact decimal values.
    """
    values = array.astype(np.uint8) if array.dtype == bool else array
    low, high = float(values.min()), float(values.max())
    integral = values.dtype.kind in "iu" or bool(np.array_equal(values, np.round(values)))
    if integral and -32768 <= low and high <= 32767:
        return values.astype(np.int16), "1", "0"
    if integral and high - low <= 65535:
        stored = (values.astype(np.int64) - int(low)).astype(np.uint16)
        return stored, "1", str(int(low))
    intercept_text = _ds(low)
    intercept = float(intercept_text)
    slope_text = _ds((high - intercept) / 65535.0) if high > intercept else "1"
    slope = float(slope_text)
    stored = np.clip(np.rint((values.astype(np.float64) - intercept) / slope), 0, 65535).astype(np.uint16)
    return stored, slope_text, intercept_text


def _dicom_units(units: str) -> str:
    inverse = {v.lower(): k for k, v in _PET_UNITS.items()}
    return inverse.get(units.strip().lower(), units.strip().upper() or "CNTS")


def write_dicom_series(
    volume: Volume,
    directory: str | Path,
    *,
    modality: str = "CT",
    patient_name: str = "Anonymous",
    patient_id: str = "HCCAI-0001",
    series_description: str | None = None,
    study_uid: str | None = None,
    series_number: int = 1,
    frame_of_reference_uid: str | None = None,
    attributes: dict[str, Any] | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> list[Path]:
    """Write a volume as a DICOM series, one file per k-slice, with exact (oblique) geometry.

    Each file carries Image Position (Patient) = LPS position of its first voxel, Image Orientation
    (Patient) = the i and j axis directions, Pixel Spacing = (j spacing, i spacing), Slice Thickness =
    k spacing, and Rescale Slope/Intercept (see :func:`_quantise`: integer HU are stored exactly).
    UIDs are fresh (``pydicom.uid.generate_uid``); a study UID can be given to add the series to a study.

    Args:
        volume: the volume (finite values).
        directory: destination folder; created if missing, must not already hold files.
        modality: "CT", "MR" or "PT" (selects the SOP class).
        patient_name, patient_id: patient module values (defaults are anonymous).
        series_description: defaults to the volume name.
        study_uid: Study Instance UID to use; a new one by default.
        series_number: Series Number.
        frame_of_reference_uid: Frame of Reference UID (to share one with other series); a new one by default.
        attributes: extra top-level attributes by keyword (e.g. ``{"PatientIdentityRemoved": "YES"}``).
        progress: progress reporter or callback.

    Returns:
        The written file paths, in k order.

    Raises:
        ValueError: unsupported modality, CT volume whose units are not HU, non-finite values, or a
            destination folder that already holds files.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    progress = as_progress(progress)
    modality = modality.strip().upper()
    if modality not in SOP_CLASSES:
        raise ValueError(
            f"Cannot write modality '{modality}' as a DICOM image series; supported: {', '.join(SOP_CLASSES)}"
        )
    if modality == "CT" and volume.units and volume.units.strip().upper() != "HU":
        raise ValueError(f"A CT series stores Hounsfield units, but volume '{volume.name}' is in '{volume.units}'")
    require_finite(volume)
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise ValueError(f"Destination folder '{directory}' is not empty; write each series into its own folder")
    directory.mkdir(parents=True, exist_ok=True)

    stored, slope_text, intercept_text = _quantise(volume.array)
    geometry = volume.geometry
    axes = geometry.direction_matrix
    study_uid = study_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), frame_of_reference_uid or generate_uid()
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    normal = np.cross(axes[:, 0], axes[:, 1])
    sop_class = SOP_CLASSES[modality]

    common = Dataset()
    common.SpecificCharacterSet = "ISO_IR 192"
    common.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    common.SOPClassUID = sop_class
    common.StudyDate = common.SeriesDate = common.ContentDate = date
    common.StudyTime = common.SeriesTime = common.ContentTime = time
    common.AccessionNumber = ""
    common.Modality = modality
    common.Manufacturer = "HCC Interventional AI"
    common.ReferringPhysicianName = ""
    common.SeriesDescription = series_description if series_description is not None else volume.name
    common.PatientName = patient_name
    common.PatientID = patient_id
    common.PatientBirthDate = ""
    common.PatientSex = ""
    common.StudyInstanceUID = study_uid
    common.SeriesInstanceUID = series_uid
    common.StudyID = "1"
    common.SeriesNumber = int(series_number)
    common.FrameOfReferenceUID = frame_uid
    common.PositionReferenceIndicator = ""
    common.ImageOrientationPatient = [_ds(v) for v in (*axes[:, 0], *axes[:, 1])]
    common.PixelSpacing = [_ds(geometry.spacing[1]), _ds(geometry.spacing[0])]  # row spacing (j), column (i)
    common.SliceThickness = _ds(geometry.spacing[2])
    common.SamplesPerPixel = 1
    common.PhotometricInterpretation = "MONOCHROME2"
    common.Rows, common.Columns = int(geometry.shape[1]), int(geometry.shape[2])
    common.BitsAllocated = 16
    common.BitsStored = 16
    common.HighBit = 15
    common.PixelRepresentation = 1 if stored.dtype == np.int16 else 0
    common.RescaleIntercept = intercept_text
    common.RescaleSlope = slope_text
    if modality == "CT":
        common.RescaleType = "HU"
        common.KVP = ""
        level, width = HU_WINDOWS["abdomen"]
        common.WindowCenter, common.WindowWidth = _ds(level), _ds(width)
    elif modality == "PT":
        common.Units = _dicom_units(volume.units)
        common.DecayCorrection = "NONE"
        common.CorrectedImage = []
    for keyword, value in (attributes or {}).items():
        setattr(common, keyword, value)

    paths = []
    corner_k = geometry.physical_points(np.array([[0.0, 0.0, float(k)] for k in range(geometry.shape[0])]))
    for k in progress.iterate(range(geometry.shape[0]), total=geometry.shape[0], message="Writing DICOM slices"):
        instance_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = instance_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.update(common)
        ds.file_meta = meta
        ds.SOPInstanceUID = instance_uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [_ds(v) for v in corner_k[k]]
        ds.SliceLocation = _ds(float(corner_k[k] @ normal))
        ds.PixelData = np.ascontiguousarray(stored[k]).astype(stored.dtype.newbyteorder("<")).tobytes()
        path = directory / f"{modality}{k + 1:05d}.dcm"
        _save(ds, path)
        paths.append(path)
    return paths


def _save(ds: Any, path: Path) -> None:
    try:
        ds.save_as(path, enforce_file_format=True)  # pydicom >= 3
    except TypeError:
        ds.is_little_endian, ds.is_implicit_VR = True, False  # pydicom 2.x
        ds.save_as(path, write_like_original=False)


# --------------------------------------------------------------------------------------------------------
# DICOM SEG
# --------------------------------------------------------------------------------------------------------
def _code(item: Any) -> Code:
    return Code(str(item.CodingSchemeDesignator), str(item.CodeValue), str(item.CodeMeaning))


def _segment_terminology(description: Any, color: tuple[float, float, float] | None) -> Terminology | None:
    try:
        category = _code(description.SegmentedPropertyCategoryCodeSequence[0])
        type_ = _code(description.SegmentedPropertyTypeCodeSequence[0])
    except (AttributeError, IndexError):
        return None
    region = None
    regions = description.get("AnatomicRegionSequence")
    if regions:
        region = _code(regions[0])
    return Terminology(category, type_, color or (0.5, 0.5, 0.5), region)


def _segment_color(description: Any) -> tuple[float, float, float] | None:
    lab = description.get("RecommendedDisplayCIELabValue")
    if lab is None:
        return None
    from highdicom.color import CIELabColor

    red, green, blue = CIELabColor.from_dicom_value(tuple(int(v) for v in lab)).to_rgb()
    return (red / 255.0, green / 255.0, blue / 255.0)


def read_dicom_seg(path: str | Path, *, name: str | None = None) -> Segmentation:
    """Read a DICOM Segmentation object (binary or fractional) with highdicom.

    The voxel grid is the one the SEG frames span, in LPS; fractional segments are thresholded at 0.5.
    Segment labels, recommended display colours (CIELab → RGB) and coded category/type/region are kept.

    Args:
        path: the SEG file.
        name: segmentation name (defaults to the Series Description).

    Returns:
        A :class:`Segmentation`.

    Raises:
        ImportError: when highdicom is not installed (extra ``dicom``).
        FileNotFoundError: when the file does not exist.
        DicomSeriesError: when the file is not a DICOM SEG or its frames do not form a regular 3D grid.
    """
    try:
        import highdicom
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("Reading DICOM SEG needs highdicom: pip install 'hcc-interventional-ai[dicom]'") from error

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such DICOM SEG file: {path}")
    try:
        seg = highdicom.seg.segread(str(path))
    except (ValueError, AttributeError, TypeError) as error:
        raise DicomSeriesError(f"'{path}' is not a DICOM Segmentation object: {error}") from error
    if not hasattr(seg, "get_volume"):  # pragma: no cover - depends on the installation
        raise ImportError("Reading DICOM SEG needs highdicom >= 0.24 (Segmentation.get_volume)")
    numbers = list(seg.segment_numbers)
    try:
        volume = seg.get_volume(combine_segments=False, segment_numbers=numbers)
    except (ValueError, RuntimeError) as error:
        raise DicomSeriesError(f"The frames of '{path}' do not form a regular 3D grid: {error}") from error
    # highdicom's affine maps (slice, row, column) indices to LPS; ours maps (i=column, j=row, k=slice).
    affine = np.asarray(volume.affine, dtype=float)
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = affine[:3, [2, 1, 0]]
    ijk_to_lps[:3, 3] = affine[:3, 3]
    array = np.asarray(volume.array)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    geometry = Geometry.from_ijk_to_lps(ijk_to_lps, array.shape[:3])
    result = Segmentation(geometry, name=name or str(seg.get("SeriesDescription", "")) or path.stem)
    for channel, number in enumerate(numbers):
        description = seg.get_segment_description(number)
        label = str(description.get("SegmentLabel", "") or f"Segment_{number}")
        if label in result:
            label = f"{label} ({number})"
        color = _segment_color(description)
        values = array[..., channel]
        mask = values >= 0.5 if np.issubdtype(values.dtype, np.floating) else values > 0
        result.add(label, mask, color=color, terminology=_segment_terminology(description, color))
    return result
