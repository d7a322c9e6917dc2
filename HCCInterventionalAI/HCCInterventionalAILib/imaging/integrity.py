"""Is an image file complete? Header-declared data size against the bytes actually present.

ITK's NIfTI reader fills the voxels of a truncated ``.nii``/``.nii.gz`` with zeros without an error, so a
file cut short by a failed copy or download gives a plausible-looking image with an empty end. This module
reads the NIfTI header itself and compares the number of data bytes it declares with what the file holds
(for ``.nii.gz``, with what its gzip stream decompresses to). NRRD and MetaImage readers detect truncation
themselves; :func:`truncation_from_itk_message` turns NRRD's messages into the same error, and
:func:`check_metaimage_complete` explains a MetaImage read failure (ITK reports it as "No such file or
directory") by comparing the header's data size with the bytes present.

NIfTI header fields used (NIfTI-1: Cox RW et al., "A (sort of) new image data format standard: NIfTI-1",
NIfTI Data Format Working Group, 2004, header ``nifti1.h``; NIfTI-2: ``nifti2.h``, 2011):

================  ============================  ===========================
field             NIfTI-1 (348-byte header)     NIfTI-2 (540-byte header)
================  ============================  ===========================
``sizeof_hdr``    int32 at byte 0 (= 348)       int32 at byte 0 (= 540)
``bitpix``        int16 at byte 72              int16 at byte 14
``dim[0..7]``     int16 × 8 at byte 40          int64 × 8 at byte 16
``vox_offset``    float32 at byte 108           int64 at byte 168
================  ============================  ===========================

The data occupy ``vox_offset + ceil(Π dim[1..dim[0]] · bitpix / 8)`` bytes; the byte order is the one in
which ``sizeof_hdr`` reads 348 (or 540).
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .sitk import ImageReadError

__all__ = [
    "TruncatedImageError",
    "NiftiLayout",
    "nifti_layout",
    "check_nifti_complete",
    "check_metaimage_complete",
    "truncation_from_itk_message",
]

_CHUNK = 1 << 20


class TruncatedImageError(ImageReadError):
    """An image file holds fewer data bytes than its header declares (a cut-off copy or download)."""


@dataclass(frozen=True)
class NiftiLayout:
    """What a NIfTI header declares about the data that follow it.

    Attributes:
        version: 1 or 2.
        dims: sizes along each axis, ``dim[1..dim[0]]`` (x, y, z, ...).
        bitpix: bits per voxel.
        vox_offset: byte offset of the first voxel in the (uncompressed) file.
    """

    version: int
    dims: tuple[int, ...]
    bitpix: int
    vox_offset: int

    @property
    def data_bytes(self) -> int:
        return math.ceil(math.prod(self.dims) * self.bitpix / 8)

    @property
    def total_bytes(self) -> int:
        return self.vox_offset + self.data_bytes

    @property
    def slice_bytes(self) -> float:
        """Bytes of one x-y slice (for images of 3 or more dimensions)."""
        return self.dims[0] * self.dims[1] * self.bitpix / 8 if len(self.dims) >= 3 else float(self.data_bytes)

    @property
    def number_of_slices(self) -> int:
        return math.prod(self.dims[2:]) if len(self.dims) >= 3 else 1


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _gzip_head(path: Path, size: int = 540) -> bytes:
    """The first ``size`` uncompressed bytes of a gzip file (fewer when it holds less)."""
    decompressor = zlib.decompressobj(wbits=31)
    head = b""
    try:
        with open(path, "rb") as handle:
            while len(head) < size and (chunk := handle.read(4096)):
                head += decompressor.decompress(chunk, size - len(head))
                while decompressor.unconsumed_tail and len(head) < size:
                    head += decompressor.decompress(decompressor.unconsumed_tail, size - len(head))
                if decompressor.eof:
                    break
    except zlib.error as error:
        raise ImageReadError(f"'{path}' is not a valid gzip file (corrupt compressed data: {error})") from error
    return head


def _gzip_size(path: Path, stop_after: int) -> tuple[int, bool]:
    """(uncompressed bytes available, whether the gzip stream ended properly), streaming in 1 MiB chunks.

    Stops early once ``stop_after`` bytes are known to be present (reported as complete).
    """
    total = 0
    decompressor = zlib.decompressobj(wbits=31)
    complete = members_ended = False
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                while chunk:
                    total += len(decompressor.decompress(chunk))
                    chunk = b""
                    if decompressor.eof:  # end of one gzip member; a file may hold several
                        complete = members_ended = True
                        chunk = decompressor.unused_data
                        if chunk:
                            decompressor = zlib.decompressobj(wbits=31)
                            complete = False
                if total >= stop_after:
                    return total, True
    except zlib.error as error:
        if members_ended:  # bytes after a complete gzip member that are not gzip (padding): ignored, as gzip does
            return total, True
        raise ImageReadError(f"'{path}' is not a valid gzip file (corrupt compressed data: {error})") from error
    return total, complete


def nifti_layout(header: bytes, path: Path | str = "") -> NiftiLayout | None:
    """Parse the size fields of a NIfTI-1 or NIfTI-2 header (see the module docstring).

    Args:
        header: at least the first 348 (NIfTI-1) or 540 (NIfTI-2) bytes of the uncompressed file.
        path: the file, for messages.

    Returns:
        The layout, or None when the bytes are not a NIfTI header this check understands (ITK then
        reports the problem).

    Raises:
        TruncatedImageError: when the file ends inside the header.
    """
    if len(header) < 4:
        raise TruncatedImageError(f"'{path}' is truncated: it holds {len(header)} bytes, not even a NIfTI header")
    for order in "<>":
        sizeof_hdr = int(np.frombuffer(header[:4], dtype=f"{order}i4")[0])
        if sizeof_hdr in (348, 540):
            break
    else:
        return None
    if len(header) < sizeof_hdr:
        raise TruncatedImageError(
            f"'{path}' is truncated inside its NIfTI header: {len(header)} of {sizeof_hdr} header bytes present"
        )
    if sizeof_hdr == 348:
        dim = np.frombuffer(header[40:56], dtype=f"{order}i2").astype(np.int64)
        bitpix = int(np.frombuffer(header[72:74], dtype=f"{order}i2")[0])
        offset = float(np.frombuffer(header[108:112], dtype=f"{order}f4")[0])
        version, minimum_offset = 1, 352
    else:
        bitpix = int(np.frombuffer(header[14:16], dtype=f"{order}i2")[0])
        dim = np.frombuffer(header[16:80], dtype=f"{order}i8")
        offset = float(np.frombuffer(header[168:176], dtype=f"{order}i8")[0])
        version, minimum_offset = 2, 544
    ndim = int(dim[0])
    if not 1 <= ndim <= 7 or bitpix <= 0 or not math.isfinite(offset):
        return None
    dims = tuple(int(d) for d in dim[1 : ndim + 1])
    if any(d < 1 for d in dims):
        return None
    # A single-file NIfTI's data start at vox_offset, never inside the header (+ 4 extension bytes).
    return NiftiLayout(version, dims, bitpix, max(int(offset), minimum_offset))


def check_nifti_complete(path: str | Path) -> NiftiLayout | None:
    """Raise :class:`TruncatedImageError` when a ``.nii``/``.nii.gz`` file holds less data than its header says.

    Args:
        path: the NIfTI file (gzip-compressed or not; detected from its first bytes).

    Returns:
        The header's layout when the file is complete (None when the header is not one this check reads).

    Raises:
        TruncatedImageError: naming the file, the declared and present byte counts and the missing slices.
        ImageReadError: for a corrupt gzip stream.
    """
    path = Path(path)
    if _is_gzip(path):
        layout = nifti_layout(_gzip_head(path), path)
        if layout is None:
            return None
        present, complete = _gzip_size(path, stop_after=layout.total_bytes)
        how = "decompresses to" if complete else "is a gzip stream cut off after"
    else:
        with open(path, "rb") as handle:
            head = handle.read(540)
        layout = nifti_layout(head, path)
        if layout is None:
            return None
        present = path.stat().st_size
        how = "holds"
    if present < layout.total_bytes:
        missing = layout.total_bytes - present
        slices = min(missing / layout.slice_bytes, layout.number_of_slices)
        shape = " × ".join(str(d) for d in layout.dims)
        raise TruncatedImageError(
            f"'{path}' is truncated: its NIfTI header declares {shape} voxels of {layout.bitpix} bits "
            f"({layout.total_bytes:,} bytes with the {layout.vox_offset}-byte header) but the file {how} "
            f"{present:,} bytes; {missing:,} bytes ({slices:.3g} of {layout.number_of_slices} slices) are missing"
        )
    return layout


_ITK_SHORT_READS = (
    # NRRD compressed encodings: "expected 48000 bytes but received 23808"
    (re.compile(r"expected (\d+) bytes but received (\d+)"), lambda m: (int(m[1]), int(m[2]))),
    # NRRD raw encoding: "fread got only 11926 2-sized things, not 24000"
    (re.compile(r"got only (\d+) (\d+)-sized things, not (\d+)"), lambda m: (int(m[3]) * int(m[2]), int(m[1]) * int(m[2]))),
)


def truncation_from_itk_message(path: str | Path, message: str, format_name: str) -> TruncatedImageError | None:
    """A :class:`TruncatedImageError` for an ITK read error that reports a short read, else None.

    Args:
        path: the file ITK failed to read.
        message: ITK's error text.
        format_name: e.g. "NRRD", for the message.
    """
    for pattern, sizes in _ITK_SHORT_READS:
        match = pattern.search(message)
        if match:
            expected, present = sizes(match)
            return TruncatedImageError(
                f"'{path}' is truncated: its {format_name} header declares {expected:,} data bytes but only "
                f"{present:,} are present; {expected - present:,} bytes are missing"
            )
    return None


# MetaImage element sizes in bytes (MetaIO, metaTypes.h: MET_ValueTypeSize).
_MET_SIZES = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
    "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8,
}


def check_metaimage_complete(path: str | Path) -> None:
    """Raise :class:`TruncatedImageError` when a MetaImage (``.mha``/``.mhd``) holds fewer data bytes than declared.

    Declared size: ``CompressedDataSize`` for compressed data, else Π ``DimSize`` × ``ElementNumberOfChannels``
    × the size of ``ElementType``. Present: the bytes after the header line ``ElementDataFile = LOCAL``, or
    the size of the separate data file. Headers this check does not understand (file lists, ``HeaderSize``)
    are left to ITK.

    Args:
        path: the MetaImage header file.

    Raises:
        TruncatedImageError: naming the file, the declared and present byte counts.
    """
    path = Path(path)
    fields: dict[str, str] = {}
    with open(path, "rb") as handle:
        for _ in range(200):  # header lines
            line = handle.readline()
            if not line:
                return
            key, _, value = line.decode("latin-1").partition("=")
            fields[key.strip()] = value.strip()
            if key.strip() == "ElementDataFile":
                data_start = handle.tell()
                break
        else:
            return
    if "HeaderSize" in fields or fields.get("ElementType") not in _MET_SIZES:
        return
    try:
        sizes = [int(v) for v in fields.get("DimSize", "").split()]
        channels = int(fields.get("ElementNumberOfChannels", "1"))
        compressed = fields.get("CompressedData", "False").lower() == "true"
        declared = int(fields["CompressedDataSize"]) if compressed else (
            math.prod(sizes) * channels * _MET_SIZES[fields["ElementType"]]
        )
    except (KeyError, ValueError):
        return
    data_file = fields["ElementDataFile"]
    if data_file == "LOCAL":
        present = path.stat().st_size - data_start
    else:
        external = path.parent / data_file
        if not external.is_file():
            return  # a missing data file (or a file list); ITK's message says so
        present = external.stat().st_size
    if present < declared:
        what = "compressed data bytes" if compressed else "data bytes"
        raise TruncatedImageError(
            f"'{path}' is truncated: its MetaImage header declares {declared:,} {what} but only {present:,} are "
            f"present; {declared - present:,} bytes are missing"
        )
