"""DICOM RT Dose export and import of a dose Volume (pydicom; no other DICOM toolkit needed).

The file is a multi-frame RT Dose instance (SOP class 1.2.840.10008.5.1.4.1.1.481.2) with 32-bit unsigned
pixels; dose[Gy] = DoseGridScaling × pixel value. Geometry follows DICOM PS3.3 C.7.6.2 / C.8.8.3:
ImagePositionPatient = centre of the first voxel (LPS mm), ImageOrientationPatient = direction cosines of the
rows (i axis) and columns (j axis), PixelSpacing = [row spacing (j), column spacing (i)], and
GridFrameOffsetVector = offsets of each frame along the normal i × j, starting at 0 and increasing (frames
are reordered when the volume's k axis points against the normal).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from HCCInterventionalAILib.imaging.checks import require_finite

from .errors import NonFiniteValuesError, Y90InputError

if TYPE_CHECKING:  # pragma: no cover
    from HCCInterventionalAILib.imaging.volume import Volume

__all__ = ["write_rtdose", "read_rtdose", "RT_DOSE_STORAGE"]

RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
_MAX_UINT32 = 2**32 - 1


def _ds(value: float) -> str:
    """A DICOM decimal string (≤ 16 characters)."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.6e}"


def write_rtdose(
    dose: Volume,
    path: str | Path,
    *,
    reference: Any | None = None,
    patient_name: str = "Anonymous",
    patient_id: str = "HCCAI-Y90",
    series_description: str = "Y-90 absorbed dose",
    dose_summation_type: str = "PLAN",
    comment: str | None = None,
) -> Path:
    """Write a dose volume (Gy) as a DICOM RT Dose file.

    Args:
        dose: dose Volume in Gy (non-negative, finite).
        path: output file.
        reference: optional pydicom Dataset of the source image series (SPECT/CT); its patient and study
            identifiers and frame of reference are copied so the dose registers with it in a viewer.
        dose_summation_type: "PLAN" for predicted doses; use "RECORD" for a post-treatment (delivered) dose.
        comment: DoseComment (e.g. method and dose constant); default from the volume's metadata.

    Returns:
        The written path.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    array = np.asarray(dose.array, dtype=float)
    if dose.units and dose.units.lower() not in ("gy", "gray"):
        raise Y90InputError(f"RT Dose export needs a dose in Gy, got units '{dose.units}'")
    require_finite(array, f"dose '{dose.name}' for RT Dose export", error=NonFiniteValuesError)
    if (array < 0).any():
        raise Y90InputError("Dose must be finite and non-negative for RT Dose export")

    geometry = dose.geometry
    direction = geometry.direction_matrix
    row_dir, col_dir, k_dir = direction[:, 0], direction[:, 1], direction[:, 2]
    normal = np.cross(row_dir, col_dir)
    origin = np.asarray(geometry.origin, dtype=float)
    dz = geometry.spacing[2]
    if float(normal @ k_dir) < 0:  # k runs against the normal: store frames in reverse so offsets increase
        array = array[::-1]
        origin = origin + k_dir * dz * (geometry.shape[0] - 1)
    offsets = [i * dz for i in range(geometry.shape[0])]

    max_dose = float(array.max())
    scaling = max_dose / _MAX_UINT32 if max_dose > 0 else 1.0
    pixels = np.round(array / scaling).astype(np.uint32)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RT_DOSE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    now = _dt.datetime.now()
    ds.SOPClassUID = RT_DOSE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTDOSE"
    ds.Manufacturer = "HCC Interventional AI"
    ds.ContentDate = ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.ContentTime = ds.InstanceCreationTime = now.strftime("%H%M%S")
    for keyword, default in (("PatientName", patient_name), ("PatientID", patient_id), ("PatientBirthDate", ""),
                             ("PatientSex", ""), ("StudyInstanceUID", None), ("StudyDate", ""), ("StudyTime", ""),
                             ("StudyID", ""), ("AccessionNumber", ""), ("ReferringPhysicianName", ""),
                             ("FrameOfReferenceUID", None)):
        value = getattr(reference, keyword, None) if reference is not None else None
        if value is None:
            value = dose.metadata.get(keyword) if isinstance(dose.metadata, dict) else None
        setattr(ds, keyword, value if value is not None else (default if default is not None else generate_uid()))
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SeriesDescription = series_description
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [_ds(v) for v in origin]
    ds.ImageOrientationPatient = [_ds(v) for v in (*row_dir, *col_dir)]
    ds.PixelSpacing = [_ds(geometry.spacing[1]), _ds(geometry.spacing[0])]
    ds.SliceThickness = _ds(dz)
    ds.GridFrameOffsetVector = [_ds(v) for v in offsets]
    ds.FrameIncrementPointer = pydicom.tag.Tag(0x3004, 0x000C)
    ds.NumberOfFrames = int(geometry.shape[0])
    ds.Rows, ds.Columns = int(geometry.shape[1]), int(geometry.shape[2])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = dose_summation_type
    ds.DoseGridScaling = _ds(scaling)
    method = dose.metadata.get("method") if isinstance(dose.metadata, dict) else None
    ds.DoseComment = str(comment or method or "Y-90 dose")[:64]
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def read_rtdose(path: str | Path) -> Volume:
    """Read an RT Dose file into a dose Volume (Gy, LPS geometry).

    Requires uniform frame spacing along the normal of the image plane (as written by :func:`write_rtdose`).
    """
    import pydicom

    from HCCInterventionalAILib.imaging.volume import Geometry, Volume

    ds = pydicom.dcmread(str(path))
    if ds.SOPClassUID != RT_DOSE_STORAGE:
        raise Y90InputError(f"{path} is not an RT Dose instance (SOP class {ds.SOPClassUID})")
    frames = ds.pixel_array.astype(float).reshape(int(ds.NumberOfFrames), int(ds.Rows), int(ds.Columns))
    dose = frames * float(ds.DoseGridScaling)
    orientation = np.asarray([float(v) for v in ds.ImageOrientationPatient])
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    offsets = np.asarray([float(v) for v in ds.GridFrameOffsetVector]) if len(frames) > 1 else np.zeros(1)
    origin = np.asarray([float(v) for v in ds.ImagePositionPatient]) + normal * offsets[0]
    steps = np.diff(offsets)
    if steps.size and not np.allclose(steps, steps[0], rtol=1e-4, atol=1e-4):
        raise Y90InputError(f"{path}: non-uniform frame spacing is not supported")
    dz = float(steps[0]) if steps.size else float(getattr(ds, "SliceThickness", 1.0) or 1.0)
    k_dir = normal if dz > 0 else -normal
    spacing = (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]), abs(dz))
    geometry = Geometry(dose.shape, spacing, tuple(origin), np.column_stack([row_dir, col_dir, k_dir]))
    metadata = {k: str(getattr(ds, k, "")) for k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID",
                                                      "FrameOfReferenceUID", "DoseSummationType", "DoseComment")}
    return Volume(dose, geometry, name=str(getattr(ds, "SeriesDescription", "RT Dose")), modality="RTDOSE",
                  units="Gy", metadata=metadata)
