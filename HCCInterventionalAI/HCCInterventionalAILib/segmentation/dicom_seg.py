"""Write a segmentation as a DICOM Segmentation object (binary) referencing its CT series, with highdicom.

Reading SEG back is :func:`HCCInterventionalAILib.imaging.dicom_io.read_dicom_seg` (also highdicom). Segment
labels, SNOMED CT category/type/region codes and display colours (RGB → CIELab) are written as DICOM
PS3.3 C.8.20 specifies (Herz C. et al., "highdicom: a Python library for standardized encoding of image
annotations and machine learning model outputs in pathology and radiology", J Digit Imaging 2022;35:1719-1737).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import __version__
from ..imaging.segmentation import Segmentation
from ..imaging.terminology import Code, lookup_terminology

__all__ = ["write_dicom_seg"]


def _coded(code: Code):
    from highdicom.sr import CodedConcept

    return CodedConcept(code.value, code.scheme, code.meaning)


def _source_datasets(source: str | Path | Sequence[str | Path]) -> list:
    import pydicom

    files = sorted(p for p in Path(source).iterdir() if p.is_file()) if isinstance(source, (str, Path)) else \
        [Path(p) for p in source]
    datasets = []
    for file in files:
        try:
            dataset = pydicom.dcmread(file)
        except Exception:  # noqa: BLE001 - skip files that are not DICOM
            continue
        if "PixelData" in dataset and "ImagePositionPatient" in dataset:
            if "SpecificCharacterSet" in dataset and not dataset.SpecificCharacterSet:
                del dataset.SpecificCharacterSet  # empty value (seen in vendor data): the default repertoire
            datasets.append(dataset)
    if not datasets:
        raise ValueError(f"No DICOM image slices found in {source}")
    return datasets


def write_dicom_seg(
    segmentation: Segmentation,
    source: str | Path | Sequence[str | Path],
    path: str | Path,
    *,
    series_description: str = "HCC Interventional AI segmentation",
    algorithm: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``segmentation`` (on the grid of the source series) as a binary DICOM SEG.

    Args:
        segmentation: segments on the grid of the source CT series (same shape and geometry).
        source: the folder of the CT series, or its files.
        path: the SEG file to write.
        series_description: Series Description of the SEG.
        algorithm: name of the algorithm that made it (segments are AUTOMATIC), None for MANUAL.
        overwrite: replace an existing file.

    Returns:
        The written path.

    Raises:
        ValueError: no slices, the segmentation is not on the series grid, no non-empty segment, or the file
            exists and ``overwrite`` is False.
    """
    import highdicom
    from highdicom.seg import SegmentAlgorithmTypeValues, SegmentDescription

    path = Path(path)
    if path.exists() and not overwrite:
        raise ValueError(f"{path} exists; pass overwrite=True to replace it")
    datasets = _source_datasets(source)
    from ..imaging.dicom_io import read_dicom_series

    folder = Path(source) if isinstance(source, (str, Path)) else Path(source[0]).parent
    series = read_dicom_series(folder)
    if not series.geometry.same_grid(segmentation.geometry):
        raise ValueError("The segmentation is not on the grid of the DICOM series; resample it onto the CT first")
    # Frame k of our (k, j, i) array is the slice whose position maps to continuous index k.
    positions = np.array([[float(v) for v in d.ImagePositionPatient] for d in datasets])
    slice_index = np.rint(series.geometry.continuous_index(positions)[:, 2]).astype(int)
    order = np.argsort(slice_index)
    datasets = [datasets[i] for i in order]
    if sorted(slice_index.tolist()) != list(range(series.shape[0])):
        raise ValueError("The DICOM slices do not map one-to-one onto the series grid")
    segments = [s for s in segmentation if s.mask.any()]
    if not segments:
        raise ValueError(f"'{segmentation.name}' has no non-empty segment to write")
    descriptions = []
    identification = None
    if algorithm:
        from highdicom.content import AlgorithmIdentificationSequence
        from pydicom.sr.codedict import codes

        identification = AlgorithmIdentificationSequence(algorithm, codes.cid7162.ArtificialIntelligence, __version__)
    for number, segment in enumerate(segments, start=1):
        terminology = segment.terminology or lookup_terminology(segment.name)
        if terminology is None:
            raise ValueError(f"Segment '{segment.name}' has no terminology (category/type codes) for DICOM SEG")
        descriptions.append(SegmentDescription(
            segment_number=number,
            segment_label=segment.name,
            segmented_property_category=_coded(terminology.category),
            segmented_property_type=_coded(terminology.type),
            algorithm_type=SegmentAlgorithmTypeValues.AUTOMATIC if algorithm else SegmentAlgorithmTypeValues.MANUAL,
            algorithm_identification=identification,
            anatomic_regions=[_coded(terminology.region)] if terminology.region else None,
            display_color=highdicom.color.CIELabColor.from_rgb(*[int(round(255 * c)) for c in segment.color]),
        ))
    pixels = np.stack([s.mask for s in segments], axis=-1).astype(np.uint8)  # (frames, rows, columns, segments)
    seg = highdicom.seg.Segmentation(
        source_images=datasets,
        pixel_array=pixels,
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=highdicom.UID(),
        series_number=900,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
        manufacturer="HCC Interventional AI",
        manufacturer_model_name="HCCInterventionalAILib",
        software_versions=__version__,
        device_serial_number="0",
        series_description=series_description,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    seg.save_as(staging)
    staging.replace(path)
    return path
