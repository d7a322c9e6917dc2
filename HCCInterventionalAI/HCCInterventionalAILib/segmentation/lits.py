"""LiTS training case 117: one real contrast-enhanced liver CT with expert liver and tumour labels.

The case ships inside the PyPI wheel ``liver-ct-segmentation-package`` 1.6.0 (Kuhn Cuellar et al., MIT
licence for the package code) as two plain MRC files: ``data/img_117.mrc`` (float32, 128³, HU) and
``data/lab_117.mrc`` (uint16, 128³; 0 background, 1 liver, 2 tumour). :func:`fetch_lits117` downloads that
pinned wheel with ``pip download --no-deps`` into the data cache, checks the SHA-256 of the wheel and of both
files, and parses them with numpy; nothing is ever copied into the repository.

Attribution and licence of the image data: LiTS — Bilic P. et al., "The Liver Tumor Segmentation Benchmark
(LiTS)", Medical Image Analysis 2023;84:102680 (CC BY-NC-SA 4.0); the same cases are distributed in the Medical
Segmentation Decathlon Task03 Liver (Antonelli M. et al., Nature Communications 2022;13:4128, CC BY-SA 4.0).
Use it for research and testing only; do not redistribute it.

MRC layout (Cheng A. et al., "MRC2014: Extensions to the MRC format header for electron cryo-microscopy and
tomography", J Struct Biol 2015;192:146-150): a 1,024-byte header (``NX, NY, NZ, MODE`` as little-endian int32
at bytes 0-15; mode 2 = float32, mode 6 = uint16) followed by the raw voxels, X fastest. The files carry no
voxel spacing and no orientation (their cell dimensions are 0): the volume is a 128³ crop/resampling of the
original LiTS scan. **Spacing is an assumption** here, :data:`ASSUMED_SPACING_MM` (1.5 mm isotropic), which
makes the liver about 1.4 l, a typical adult volume; it affects only millimetre-valued quantities (volumes,
distances, morphological radii), not overlap scores such as Dice.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..imaging.segmentation import Segmentation
from ..imaging.volume import Geometry, Volume

__all__ = [
    "ASSUMED_SPACING_MM",
    "ATTRIBUTION",
    "LITS_FILES",
    "LITS_PACKAGE",
    "LITS_WHEEL_SHA256",
    "LitsCase",
    "LitsUnavailableError",
    "data_cache_dir",
    "fetch_lits117",
    "read_mrc",
]

#: The pinned registry package that holds the case.
LITS_PACKAGE = "liver-ct-segmentation-package==1.6.0"
LITS_WHEEL = "liver_ct_segmentation_package-1.6.0-py2.py3-none-any.whl"
#: SHA-256 of the wheel and of both files inside it (observed on the first download, 2026-11-30).
LITS_WHEEL_SHA256 = "67ffa526d8500ce5e3d9f2c96c1690543d811d352d93d531301d35791b9d6bba"
LITS_FILES = {
    "liver_ct_segmentation_package/data/img_117.mrc":
        "6519548844be8c92a6f37dff22961800ec4baad72a4efbb9f7061ffd265e1780",
    "liver_ct_segmentation_package/data/lab_117.mrc":
        "0f4950afdb218ae1a8790c2367a3f1bffe3d68cf186239cdfae897e4d4f99240",
}
#: Assumed voxel spacing (mm, isotropic): the MRC files carry none.
ASSUMED_SPACING_MM = 1.5
ATTRIBUTION = (
    "LiTS training case 117 (Bilic et al., Med Image Anal 2023; CC BY-NC-SA 4.0; also MSD Task03 Liver, "
    "CC BY-SA 4.0), as shipped in the PyPI wheel liver-ct-segmentation-package 1.6.0. Research/testing only; "
    f"voxel spacing assumed {ASSUMED_SPACING_MM} mm isotropic (the files carry none)."
)
_MRC_HEADER_BYTES = 1024
_MRC_MODES = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16}


class LitsUnavailableError(RuntimeError):
    """The LiTS case could not be fetched (offline, registry unreachable) or failed its checksum."""


@dataclass
class LitsCase:
    """LiTS case 117: the CT (HU) and the expert labels (1 liver, 2 tumour) on one assumed grid."""

    ct: Volume
    labels: Volume
    attribution: str = ATTRIBUTION

    @property
    def liver(self) -> np.ndarray:
        """Whole liver (parenchyma and tumour), the convention of our ``Liver`` segment."""
        return self.labels.array > 0

    @property
    def tumour(self) -> np.ndarray:
        return self.labels.array == 2

    def truth(self) -> Segmentation:
        """The expert labels as a segmentation: ``Liver`` (tumour included) and ``Tumour``."""
        segmentation = Segmentation(self.ct.geometry, name="LiTS-117 expert labels")
        segmentation.add("Liver", self.liver)
        segmentation.add("Tumour", self.tumour)
        return segmentation


def data_cache_dir() -> Path:
    """The reference-data cache: ``$HCCAI_DATA_CACHE`` or ``~/.cache/hccai/data``."""
    configured = os.environ.get("HCCAI_DATA_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hccai" / "data"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_mrc(data: bytes, name: str = "MRC") -> np.ndarray:
    """Parse a plain MRC volume (no extended header) into a ``(NZ, NY, NX)`` array.

    Args:
        data: the whole file.
        name: for error messages.

    Returns:
        The voxels, X fastest (so the array is indexed ``[z, y, x]``).

    Raises:
        ValueError: the header is inconsistent with the data size or the mode is not supported.
    """
    if len(data) < _MRC_HEADER_BYTES:
        raise ValueError(f"{name} is too short ({len(data)} bytes) to be an MRC file")
    nx, ny, nz, mode = (int(v) for v in np.frombuffer(data[:16], dtype="<i4"))
    extended = int(np.frombuffer(data[92:96], dtype="<i4")[0])
    if mode not in _MRC_MODES:
        raise ValueError(f"{name} has MRC mode {mode}; supported modes are {sorted(_MRC_MODES)}")
    dtype = np.dtype(_MRC_MODES[mode]).newbyteorder("<")
    start = _MRC_HEADER_BYTES + extended
    expected = nx * ny * nz * dtype.itemsize
    if len(data) - start != expected:
        raise ValueError(f"{name} holds {len(data) - start} data bytes but its header says {nx}x{ny}x{nz} "
                         f"of {dtype.itemsize} bytes")
    return np.frombuffer(data[start:], dtype=dtype).reshape(nz, ny, nx).astype(dtype.newbyteorder("="))


def _download_wheel(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    wheel = target / LITS_WHEEL
    if wheel.is_file():
        return wheel
    with tempfile.TemporaryDirectory(dir=target) as staging:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", staging, LITS_PACKAGE]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            detail = getattr(error, "stderr", "") or str(error)
            raise LitsUnavailableError(f"Could not download {LITS_PACKAGE}: {detail.strip()[-300:]}") from error
        downloaded = Path(staging) / LITS_WHEEL
        if not downloaded.is_file():
            raise LitsUnavailableError(f"pip download of {LITS_PACKAGE} did not produce {LITS_WHEEL}")
        os.replace(downloaded, wheel)
    return wheel


def fetch_lits117(cache_dir: str | Path | None = None, *, download: bool = True) -> LitsCase:
    """LiTS case 117 from the pinned wheel (downloaded once into the cache), checksums verified.

    Orientation: the array is read as ``[z, y, x]`` of the MRC file; the case's own axes are unknown, so
    the geometry is an identity direction with :data:`ASSUMED_SPACING_MM` spacing and the origin at 0.

    Args:
        cache_dir: folder for the wheel (default ``data_cache_dir()/lits``).
        download: False to use only an already cached wheel.

    Returns:
        The :class:`LitsCase`.

    Raises:
        LitsUnavailableError: offline / not cached, or a SHA-256 does not match the pinned value.
    """
    folder = Path(cache_dir) if cache_dir is not None else data_cache_dir() / "lits"
    wheel = folder / LITS_WHEEL
    if not wheel.is_file():
        if not download:
            raise LitsUnavailableError(f"{wheel} is not cached and download=False")
        wheel = _download_wheel(folder)
    actual = _sha256(wheel.read_bytes())
    if actual != LITS_WHEEL_SHA256:
        raise LitsUnavailableError(f"{wheel} has SHA-256 {actual}, expected {LITS_WHEEL_SHA256}; delete it to refetch")
    arrays = {}
    with zipfile.ZipFile(wheel) as archive:
        for member, expected in LITS_FILES.items():
            data = archive.read(member)
            digest = _sha256(data)
            if digest != expected:
                raise LitsUnavailableError(f"{member} in {wheel.name} has SHA-256 {digest}, expected {expected}")
            arrays[Path(member).stem] = read_mrc(data, member)
    spacing = (ASSUMED_SPACING_MM,) * 3
    geometry = Geometry(arrays["img_117"].shape, spacing)
    metadata = {"source": ATTRIBUTION, "spacing_assumed": True}
    ct = Volume(arrays["img_117"].astype(np.float32), geometry, name="LiTS-117 CT", modality="CT", units="HU",
                metadata=metadata)
    labels = Volume(arrays["lab_117"].astype(np.uint8), geometry, name="LiTS-117 labels", units="label",
                    metadata={**metadata, "labels": {1: "Liver", 2: "Tumour"}})
    return LitsCase(ct, labels)
