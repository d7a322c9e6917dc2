"""Sample data of the extension in Slicer's Sample Data module: pure data plus one registration function.

Registered (category :data:`SAMPLE_CATEGORY`):

* ``HCCAI_SyntheticPatient``: the built-in SYNTHETIC patient, generated on this computer when the user clicks
  it (nothing is downloaded);
* ``HCCAI_Y90_Patient1_PET`` and ``HCCAI_Y90_Patient2_MAASPECT``: real anonymised Y-90 cases from the public
  sample-image repository of the SlicerRadioembolizationDosimetry extension
  (https://github.com/4burakfe/SlicerRadioembolizationDosimetry_SampleImages, MIT licence, Copyright (c) 2025
  Burak Demir). The URLs are pinned to commit :data:`UPSTREAM_COMMIT` and every file carries its SHA-256
  checksum, which Slicer verifies after the download; files are downloaded only when the user clicks the case,
  and the licence is shown (status bar and log) before the download starts.

The checksums were computed from that commit's files (patient 2: equal to the copies in the project's shared
reference data). The cases' CT/MRI (``patient_2_CT.nrrd``, ``patient_1_MRI.nrrd``) are not registered: their
checksums could not be computed here.

This module imports only the standard library; ``SampleData`` and ``slicer`` are imported inside the functions.

Example (the module file, after Slicer has started)::

    slicer.app.connect("startupCompleted()", lambda: register_sample_data(
        thumbnail_file_name=module_resource_path(__file__, "Icons/HCCInterventionalAI.png"),
        load_synthetic_patient=lambda: HCCInterventionalAILogic().loadSamplePatient()))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SAMPLE_CATEGORY",
    "SYNTHETIC_SAMPLE_NAME",
    "UPSTREAM_COMMIT",
    "UPSTREAM_LICENSE",
    "UPSTREAM_REPOSITORY",
    "Y90_SAMPLE_CASES",
    "SampleCase",
    "SampleFile",
    "register_sample_data",
    "sample_data_source_arguments",
]

SAMPLE_CATEGORY = "HCC Interventional AI"
SYNTHETIC_SAMPLE_NAME = "HCCAI_SyntheticPatient"
UPSTREAM_REPOSITORY = "4burakfe/SlicerRadioembolizationDosimetry_SampleImages"
#: HEAD of the upstream repository on 2025-07-13 ("Update README.md"), the version whose files were checked.
UPSTREAM_COMMIT = "778cb39e09cac0c4f4803e3240bf01054bd629b9"
UPSTREAM_LICENSE = ("MIT License, Copyright (c) 2025 Burak Demir "
                    f"(https://github.com/{UPSTREAM_REPOSITORY}/blob/{UPSTREAM_COMMIT}/LICENSE)")


@dataclass(frozen=True)
class SampleFile:
    """One downloadable file of a sample case.

    Attributes:
        file_name: the file's name in the upstream repository (and in Slicer's download cache).
        sha256: its SHA-256 digest (hex).
        node_name: the node it is loaded into.
        load_file_type: Slicer's reader ("VolumeFile", "SegmentationFile").
    """

    file_name: str
    sha256: str
    node_name: str
    load_file_type: str

    @property
    def url(self) -> str:
        return f"https://raw.githubusercontent.com/{UPSTREAM_REPOSITORY}/{UPSTREAM_COMMIT}/{self.file_name}"

    @property
    def checksum(self) -> str:
        """In Slicer's ``<algo>:<digest>`` form."""
        return f"SHA256:{self.sha256}"


@dataclass(frozen=True)
class SampleCase:
    """A sample case of several files, shown as one entry in the Sample Data module."""

    sample_name: str
    description: str
    files: tuple[SampleFile, ...]
    license: str = UPSTREAM_LICENSE


Y90_SAMPLE_CASES: tuple[SampleCase, ...] = (
    SampleCase(
        "HCCAI_Y90_Patient1_PET",
        "Y-90 PET after radioembolization (about 1400 MBq of Y-90 microspheres) with its segmentation",
        (
            SampleFile("patient_1_Y90_PET.nrrd",
                       "4f1f195ccb0dcd3c4c9fc967ed0c2e4bf9ac5985db02d951d64772d69979e55b",
                       "Patient1_Y90_PET", "VolumeFile"),
            SampleFile("patient_1_Segmentation.seg.nrrd",
                       "550ceea296c7eab81f1dc7fb4ccf2f647fe223ba310eb2bd2dd0d0050aca739b",
                       "Patient1_Segmentation", "SegmentationFile"),
        ),
    ),
    SampleCase(
        "HCCAI_Y90_Patient2_MAASPECT",
        "Pre-treatment 99mTc-MAA SPECT with liver, tumour and perfused-volume segmentation",
        (
            SampleFile("patient_2_SPECT.nrrd",
                       "5647f8109babdc8655b217da6952cd5aafde3df2598a0dab52b2ad60208dc86b",
                       "Patient2_MAA_SPECT", "VolumeFile"),
            SampleFile("patient_2_Segmentation.seg.nrrd",
                       "49e0eae32ad99464a66ae1fab48a9343d9068b5633e5a6f260640bc9b5666abe",
                       "Patient2_Segmentation", "SegmentationFile"),
        ),
    ),
)


def sample_data_source_arguments(case: SampleCase, thumbnail_file_name: str | None = None) -> dict[str, Any]:
    """Keyword arguments of ``SampleDataLogic.registerCustomSampleDataSource`` for ``case``."""
    return {
        "category": SAMPLE_CATEGORY,
        "sampleName": case.sample_name,
        "uris": [f.url for f in case.files],
        "fileNames": [f.file_name for f in case.files],
        "nodeNames": [f.node_name for f in case.files],
        "checksums": [f.checksum for f in case.files],
        "loadFileTypes": [f.load_file_type for f in case.files],
        "thumbnailFileName": thumbnail_file_name,
    }


def _show_licence_then_download(case: SampleCase, logic_class: Any) -> Callable[[Any], Any]:
    def download(source: Any) -> Any:
        message = f"{case.sample_name}: {case.description}. Licence: {case.license}"
        logging.info(message)
        try:
            import slicer

            slicer.util.showStatusMessage(message, 10000)
        except (ImportError, AttributeError):  # pragma: no cover - without the application
            pass
        return logic_class().downloadFromSource(source)

    return download


def register_sample_data(
    logic_class: Any = None,
    thumbnail_file_name: str | None = None,
    load_synthetic_patient: Callable[[], Any] | None = None,
) -> list[str]:
    """Register the extension's sample data in Slicer's Sample Data module (nothing is downloaded here).

    Args:
        logic_class: ``SampleData.SampleDataLogic`` (imported from Slicer when None).
        thumbnail_file_name: icon shown on the Sample Data buttons.
        load_synthetic_patient: generates the synthetic patient into the scene when its button is clicked;
            without it, the synthetic patient is not registered.

    Returns:
        The registered sample names.
    """
    if logic_class is None:
        from SampleData import SampleDataLogic as logic_class
    names = []
    if load_synthetic_patient is not None:
        logic_class.registerCustomSampleDataSource(
            category=SAMPLE_CATEGORY,
            sampleName=SYNTHETIC_SAMPLE_NAME,
            # Not downloaded: the custom downloader generates the patient. Slicer's own custom-downloader
            # source gives a placeholder URI and file name in the same way.
            uris=["local:hccai-synthetic-patient"],
            fileNames=["HCCAI_SyntheticPatient.generated"],
            nodeNames=[None],
            customDownloader=lambda source: load_synthetic_patient(),
            thumbnailFileName=thumbnail_file_name,
        )
        names.append(SYNTHETIC_SAMPLE_NAME)
    for case in Y90_SAMPLE_CASES:
        logic_class.registerCustomSampleDataSource(
            **sample_data_source_arguments(case, thumbnail_file_name),
            customDownloader=_show_licence_then_download(case, logic_class),
        )
        names.append(case.sample_name)
    return names
