"""Sample Data registration (issue 11).

The registration code is called against a stand-in ``SampleDataLogic`` whose ``registerCustomSampleDataSource``
has EXACTLY the signature of Slicer's (``Modules/Scripted/SampleData/SampleData.py``, Slicer main, transcribed
below), so an unknown or misspelled keyword fails as it would in Slicer. The SHA-256 checksums are compared with
the real files in the shared reference data (``y90/taranis-sample``: patient 2), skipped where absent.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
from pathlib import Path

import pytest
from reference_data import TARANIS

from HCCInterventionalAILib import sample_data
from HCCInterventionalAILib.sample_data import (
    SAMPLE_CATEGORY,
    SYNTHETIC_SAMPLE_NAME,
    UPSTREAM_COMMIT,
    Y90_SAMPLE_CASES,
    register_sample_data,
)

# Slicer main, Modules/Scripted/SampleData/SampleData.py, SampleDataLogic.registerCustomSampleDataSource
SLICER_SIGNATURE = '''
def registerCustomSampleDataSource(category="Custom",
                                   sampleName=None, uris=None, fileNames=None, nodeNames=None,
                                   customDownloader=None, thumbnailFileName=None,
                                   loadFileTypes=None, loadFiles=None, loadFileProperties={},
                                   checksums=None,
                                   loadFileType=None):
    pass
'''


class StandInLogic:
    """Records registrations; ``registerCustomSampleDataSource`` has Slicer's signature."""

    registered: list[dict] = []
    downloaded: list[object] = []

    def downloadFromSource(self, source, maximumAttemptsCount=3, forceDownload=False):
        StandInLogic.downloaded.append(source)
        return ["node"]


def _slicer_register():
    namespace: dict = {}
    exec(SLICER_SIGNATURE, namespace)  # the transcribed signature, to bind calls against
    signature = inspect.signature(namespace["registerCustomSampleDataSource"])

    def register(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)  # TypeError for any keyword Slicer does not have
        bound.apply_defaults()
        StandInLogic.registered.append(dict(bound.arguments))

    return staticmethod(register)


StandInLogic.registerCustomSampleDataSource = _slicer_register()


@pytest.fixture
def registered() -> list[dict]:
    StandInLogic.registered, StandInLogic.downloaded = [], []
    loads: list[str] = []
    names = register_sample_data(StandInLogic, "icon.png", load_synthetic_patient=lambda: loads.append("made"))
    assert names == [SYNTHETIC_SAMPLE_NAME, "HCCAI_Y90_Patient1_PET", "HCCAI_Y90_Patient2_MAASPECT"]
    by_name = {entry["sampleName"]: entry for entry in StandInLogic.registered}
    by_name[SYNTHETIC_SAMPLE_NAME]["customDownloader"](object())
    assert loads == ["made"]
    return StandInLogic.registered


def test_registration_matches_slicer_signature(registered) -> None:
    """Every call binds to Slicer's signature; per case the lists have one entry per file; no deprecated
    ``loadFileType``; checksums are ``SHA256:<64 hex>`` as Slicer's ``extractAlgoAndDigest`` expects."""
    assert len(registered) == 3
    for entry in registered:
        assert entry["category"] == SAMPLE_CATEGORY and entry["thumbnailFileName"] == "icon.png"
        assert entry["loadFileType"] is None and callable(entry["customDownloader"])
    for entry in registered[1:]:
        n = len(entry["uris"])
        assert n == 2 and all(len(entry[k]) == n for k in ("fileNames", "nodeNames", "checksums", "loadFileTypes"))
        assert all(re.fullmatch(r"SHA256:[0-9a-f]{64}", c) for c in entry["checksums"])
        assert set(entry["loadFileTypes"]) == {"VolumeFile", "SegmentationFile"}
        for uri, name in zip(entry["uris"], entry["fileNames"], strict=True):
            assert uri == ("https://raw.githubusercontent.com/4burakfe/SlicerRadioembolizationDosimetry_SampleImages/"
                           f"{UPSTREAM_COMMIT}/{name}")
    assert re.fullmatch(r"[0-9a-f]{40}", UPSTREAM_COMMIT)


def test_y90_download_shows_licence_then_uses_slicer_download(registered, caplog) -> None:
    """Clicking a Y-90 case logs its MIT licence, then downloads through SampleDataLogic.downloadFromSource
    (which verifies the checksums); registering alone downloads nothing."""
    assert StandInLogic.downloaded == []
    source = object()
    with caplog.at_level("INFO"):
        assert registered[2]["customDownloader"](source) == ["node"]
    assert StandInLogic.downloaded == [source]
    assert "MIT License, Copyright (c) 2025 Burak Demir" in caplog.text


def test_checksums_match_the_reference_files() -> None:
    """SHA-256 of the files in the shared reference data equal the registered digests (skips when absent);
    the licence text there is the MIT licence of Burak Demir named in the registration."""
    files = {f.file_name: f for case in Y90_SAMPLE_CASES for f in case.files}
    present = [name for name in files if (TARANIS / name).is_file()]
    if not present:
        pytest.skip(f"reference data not found in {TARANIS}")
    assert set(present) >= {"patient_2_SPECT.nrrd", "patient_2_Segmentation.seg.nrrd"}
    for name in present:
        assert hashlib.sha256((TARANIS / name).read_bytes()).hexdigest() == files[name].sha256, name
    licence = (TARANIS / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2025 Burak Demir" in licence


def test_sample_data_module_imports_only_the_standard_library() -> None:
    """The module file calls it at startup: no Slicer, Qt or heavy import at load time."""
    import sys

    tree = ast.parse(Path(sample_data.__file__).read_text())
    top = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert top <= set(sys.stdlib_module_names) | {"__future__"}, top


def test_readme_names_the_registered_samples(registered) -> None:
    """The README's Slicer section lists exactly the sample names the code registers, and the category."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for entry in registered:
        assert f"`{entry['sampleName']}`" in readme, entry["sampleName"]
    assert f"category *{SAMPLE_CATEGORY}*" in readme
