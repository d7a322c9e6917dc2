"""Writing the SYNTHETIC sample patient to files (``hccai sample``): NRRD, NIfTI or DICOM.

DICOM output marks the data as synthetic in every object: Patient's Name ``SYNTHETIC^HCCAI``, Patient ID
``HCCAI-SYNTHETIC-<seed>``, Patient Identity Removed ``YES`` and a Patient Comments / Image Comments sentence
saying that the images are a computer-generated phantom. All objects share one study and one frame of reference
(the generator's patient frame), so viewers overlay them:

- each CT phase: a CT Image Storage series (one file per slice) in its own folder (``ct-<phase>/``);
- the 99mTc-MAA SPECT: one multi-frame NM Image Storage file (``maa-spect/NM00001.dcm``) written with pydicom,
  geometry in the NM Detector Information Sequence (Image Position/Orientation) and Spacing Between Slices as the
  NM Image IOD specifies (DICOM PS3.3 C.8.4), counts stored exactly as 16-bit integers when they are integral;
- the ground-truth segmentation: a binary DICOM SEG (``truth-seg.dcm``, highdicom) referencing the portal venous
  CT series, one segment per structure with its coded category/type and display colour.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.volume import Volume

__all__ = ["FORMATS", "SYNTHETIC_COMMENT", "SYNTHETIC_PATIENT_NAME", "write_nm_image", "write_sample_patient"]

#: Output formats of :func:`write_sample_patient`.
FORMATS = ("nrrd", "nii.gz", "dicom")
SYNTHETIC_PATIENT_NAME = "SYNTHETIC^HCCAI"
SYNTHETIC_COMMENT = ("SYNTHETIC data: a computer-generated phantom from HCC Interventional AI (not a real patient, "
                     "not for clinical use).")
NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
#: The CT phase the DICOM SEG references (all phases share one grid).
SEG_REFERENCE_PHASE = "portal venous"


def _stem(phase: str) -> str:
    return f"ct-{phase.replace(' ', '-')}"


def _synthetic_attributes(seed: int) -> dict[str, Any]:
    return {
        "PatientName": SYNTHETIC_PATIENT_NAME,
        "PatientID": f"HCCAI-SYNTHETIC-{seed}",
        "PatientIdentityRemoved": "YES",
        "DeidentificationMethod": "Synthetic phantom: no patient data",
        "PatientComments": SYNTHETIC_COMMENT,
        "ImageComments": SYNTHETIC_COMMENT,
    }


def write_sample_patient(patient: Any, folder: str | Path, fmt: str = "nrrd") -> list[Path]:
    """Write the sample patient's CT phases, MAA SPECT and ground-truth segmentation into ``folder``.

    Args:
        patient: a :class:`~.patient.SamplePatient`.
        folder: destination folder (created; usually the staging folder of
            :func:`HCCInterventionalAILib.outputs.atomic_output`).
        fmt: ``"nrrd"`` or ``"nii.gz"`` (one file per volume and ``truth.seg.nrrd``, the whole-lung truth of
            :meth:`~.patient.SamplePatient.truth_whole_field`, so that Y-90 planning on the files measures the same
            lungs as the library and the demo), or ``"dicom"`` (see the module docstring; the DICOM SEG references
            the CT slices, so it holds only the lung bases the CT shows).

    Returns:
        The paths written (files, or DICOM series folders), CT phases first.

    Raises:
        ValueError: an unknown format.
        ImportError: DICOM output without highdicom (the ``dicom`` extra), needed for the DICOM SEG.
    """
    from ..imaging.io import write_segmentation, write_volume

    if fmt not in FORMATS:
        raise ValueError(f"Unknown sample format '{fmt}': use {', '.join(FORMATS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "dicom":
        return _write_dicom(patient, folder)
    written = [write_volume(volume, folder / f"{_stem(phase)}.{fmt}") for phase, volume in patient.ct.items()]
    written.append(write_volume(patient.spect, folder / f"maa-spect.{fmt}"))
    written.append(write_segmentation(patient.truth_whole_field(), folder / "truth.seg.nrrd"))
    return written


def _write_dicom(patient: Any, folder: Path) -> list[Path]:
    try:
        import highdicom  # noqa: F401
    except ImportError as error:
        raise ImportError("Writing the sample as DICOM (the segmentation as DICOM SEG) needs highdicom: "
                          "pip install 'hcc-interventional-ai[dicom]'") from error
    from pydicom.uid import generate_uid

    from ..imaging.dicom_io import write_dicom_series

    seed = int(patient.parameters.get("seed", 0))
    attributes = _synthetic_attributes(seed)
    study_uid, frame_uid = generate_uid(), generate_uid()
    written: list[Path] = []
    reference_files: list[Path] = []
    for number, (phase, volume) in enumerate(patient.ct.items(), start=1):
        stem = _stem(phase)
        files = write_dicom_series(
            volume, folder / stem, modality="CT", patient_name=SYNTHETIC_PATIENT_NAME,
            patient_id=attributes["PatientID"], series_description=f"SYNTHETIC CT {phase}", study_uid=study_uid,
            series_number=number, frame_of_reference_uid=frame_uid, attributes=attributes)
        written.append(folder / stem)
        if phase == SEG_REFERENCE_PHASE or not reference_files:
            reference_files = files
    nm_folder = folder / "maa-spect"
    nm_folder.mkdir()
    write_nm_image(patient.spect, nm_folder / "NM00001.dcm", study_uid=study_uid, frame_of_reference_uid=frame_uid,
                   series_number=len(patient.ct) + 1, series_description="SYNTHETIC 99mTc-MAA SPECT",
                   attributes=attributes)
    written.append(nm_folder)
    written.append(_write_seg(patient.truth, reference_files, folder / "truth-seg.dcm", len(patient.ct) + 2,
                              attributes))
    return written


def _flip_to_right_handed(volume: Volume) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Array (k, j, i), origin and direction with k along row × column, as DICOM slice stacks require."""
    geometry = volume.geometry
    axes = geometry.direction_matrix.copy()
    array = np.asarray(volume.array)
    origin = np.asarray(geometry.origin, dtype=float)
    if np.dot(np.cross(axes[:, 0], axes[:, 1]), axes[:, 2]) < 0:
        origin = geometry.physical_points(np.array([[0.0, 0.0, float(geometry.shape[0] - 1)]]))[0]
        axes[:, 2] = -axes[:, 2]
        array = array[::-1]
    return np.ascontiguousarray(array), origin, axes


def write_nm_image(
    volume: Volume,
    path: str | Path,
    *,
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    series_number: int = 1,
    series_description: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Path:
    """Write a SPECT volume as one multi-frame DICOM NM Image (reconstructed tomographic emission image).

    Frame f is slice k = f of the volume (NM Image IOD, DICOM PS3.3 A.5 and C.8.4.8): Frame Increment Pointer
    → Slice Vector (1..N), Number of Slices = N, Detector Information Sequence with Image Position (Patient) of the
    first frame and Image Orientation (Patient), Pixel Spacing (row, column) and Spacing Between Slices. Integral
    counts within 16 bits are stored exactly; other values with Rescale Slope/Intercept (error ≤ slope / 2).
    A left-handed grid is written with its k axis reversed (same voxels at the same positions).

    Args:
        volume: the SPECT (finite values).
        path: the file to write.
        study_uid, frame_of_reference_uid: to join an existing study / frame of reference (new ones by default).
        series_number, series_description: series identification (description defaults to the volume name).
        attributes: extra top-level attributes by keyword (e.g. the synthetic-data marks).

    Returns:
        ``path``.

    Raises:
        ValueError: non-finite values.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from ..imaging.dicom_io import _ds, _quantise, _save
    from ..imaging.intensity import require_finite

    require_finite(volume)
    array, origin, axes = _flip_to_right_handed(volume)
    stored, slope, intercept = _quantise(array)
    if stored.dtype == np.int16 and stored.min() >= 0:
        stored = stored.astype(np.uint16)  # NM pixel data is unsigned
    elif stored.dtype == np.int16:
        stored, slope, intercept = _quantise(array.astype(np.float64) + 0.5)  # force the unsigned branch
        intercept = _ds(float(intercept) - 0.5)
    spacing = volume.geometry.spacing
    now = datetime.datetime.now()
    instance_uid = generate_uid()

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = NM_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID, ds.SOPInstanceUID = NM_IMAGE_STORAGE, instance_uid
    ds.ImageType = ["DERIVED", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "", "", "1"
    ds.Modality = "NM"
    ds.Manufacturer = "HCC Interventional AI"
    ds.SeriesDescription = series_description if series_description is not None else volume.name
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Anonymous", "HCCAI-0001", "", ""
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber, ds.InstanceNumber = int(series_number), 1
    ds.FrameOfReferenceUID = frame_of_reference_uid or generate_uid()
    ds.PositionReferenceIndicator = ""
    # NM Image Pixel / Multi-frame / NM Multi-frame modules
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = int(array.shape[1]), int(array.shape[2])
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    ds.PixelSpacing = [_ds(spacing[1]), _ds(spacing[0])]  # row spacing (j), column spacing (i)
    ds.SliceThickness = ds.SpacingBetweenSlices = _ds(spacing[2])
    ds.NumberOfFrames = int(array.shape[0])
    ds.FrameIncrementPointer = 0x00540080  # Slice Vector
    ds.SliceVector = list(range(1, array.shape[0] + 1))
    ds.NumberOfSlices = int(array.shape[0])
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.Units = "CNTS" if volume.units in ("", "counts") else volume.units
    # NM Detector / Reconstruction modules: the tomographic geometry
    detector = Dataset()
    detector.ImagePositionPatient = [_ds(v) for v in origin]
    detector.ImageOrientationPatient = [_ds(v) for v in (*axes[:, 0], *axes[:, 1])]
    ds.DetectorInformationSequence = [detector]
    ds.NumberOfDetectors = 1
    ds.NumberOfRotations = 1
    rotation = Dataset()
    rotation.NumberOfFramesInRotation = int(array.shape[0])
    ds.RotationInformationSequence = [rotation]
    for keyword, value in (attributes or {}).items():
        setattr(ds, keyword, value)
    ds.PixelData = stored.astype(stored.dtype.newbyteorder("<")).tobytes()
    path = Path(path)
    _save(ds, path)
    return path


def _write_seg(truth: Any, reference_files: list[Path], path: Path, series_number: int,
               attributes: dict[str, Any]) -> Path:
    """Binary DICOM SEG of every segment of ``truth`` on the grid of the referenced CT series (highdicom)."""
    import highdicom
    import pydicom
    from pydicom.sr.coding import Code as DicomCode
    from pydicom.uid import generate_uid

    from .. import __version__

    sources = [pydicom.dcmread(str(file)) for file in reference_files]  # in k order, as written
    family = DicomCode("SYNTHETIC-PHANTOM", "99HCCAI", "Analytic synthetic phantom")
    algorithm = highdicom.AlgorithmIdentificationSequence(
        name="HCCAI synthetic phantom (analytic shapes rasterised)", family=family,
        version=__version__)
    descriptions, masks = [], []
    for number, segment in enumerate(truth, start=1):
        terminology = segment.terminology
        category = DicomCode(terminology.category.value, terminology.category.scheme, terminology.category.meaning) \
            if terminology else DicomCode("123037004", "SCT", "Anatomical Structure")
        type_ = DicomCode(terminology.type.value, terminology.type.scheme, terminology.type.meaning) \
            if terminology else DicomCode("85756007", "SCT", "Tissue")
        color = segment.color or (terminology.color if terminology else (0.5, 0.5, 0.5))
        descriptions.append(highdicom.seg.SegmentDescription(
            segment_number=number, segment_label=segment.name, segmented_property_category=category,
            segmented_property_type=type_, algorithm_type="AUTOMATIC", algorithm_identification=algorithm,
            display_color=highdicom.color.CIELabColor.from_rgb(*(int(round(255 * c)) for c in color))))
        masks.append(np.asarray(segment.mask, dtype=np.uint8))
    pixel_array = np.stack(masks, axis=-1)  # (frames = k, rows = j, columns = i, segments)
    seg = highdicom.seg.Segmentation(
        source_images=sources, pixel_array=pixel_array, segmentation_type="BINARY",
        segment_descriptions=descriptions, series_instance_uid=generate_uid(), series_number=series_number,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer="HCC Interventional AI",
        manufacturer_model_name="hccai sample", software_versions=__version__, device_serial_number="none",
        series_description="SYNTHETIC ground truth", content_label="TRUTH",
        content_description="Synthetic phantom truth", omit_empty_frames=True)
    for keyword in ("PatientIdentityRemoved", "DeidentificationMethod", "PatientComments", "ImageComments"):
        setattr(seg, keyword, attributes[keyword])
    seg.save_as(str(path))
    return path
