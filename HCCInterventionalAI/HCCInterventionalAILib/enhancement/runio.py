"""Reading and writing angiographic runs: multi-frame DICOM (XA/XRF), 3D image files and image stacks.

A run is returned as detector intensities (n, rows, cols) with the frame times when the file has them.
8-bit images (PNG/JPEG screenshots, 8-bit DICOM secondary captures) are refused: they are windowed display
images, and their log-subtraction is not the iodine signal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DisplayImageError, EnhancementInputError, FrameSizeMismatchError, TooFewFramesError

__all__ = ["AngioFrames", "load_run", "save_run"]

_STACK_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_EIGHT_BIT = {"uint8", "int8"}


@dataclass
class AngioFrames:
    """Frames of a run as read from disk.

    Attributes:
        frames: intensities (n, rows, cols), float32.
        times_s: frame times (s), from the file when present, else ``index / frame_rate`` (1 frame/s default).
        pixel_spacing_mm: (row, col) spacing.
        metadata: source path, modality, frame rate ...
    """

    frames: np.ndarray
    times_s: np.ndarray
    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0)
    metadata: dict[str, Any] = field(default_factory=dict)


def _check_stack(frames: np.ndarray, source: str, dtype: Any) -> None:
    if np.dtype(dtype).name in _EIGHT_BIT:
        raise DisplayImageError(
            f"{source} holds 8-bit display images (windowed, not detector intensities); "
            "export the run as DICOM XA/XRF or 16-bit frames"
        )
    if frames.ndim != 3 or frames.shape[0] < 2:
        raise TooFewFramesError(f"{source} holds {1 if frames.ndim == 2 else frames.shape[0]} frame(s); DSA needs at least 2")


def _load_dicom(path: Path) -> AngioFrames:
    import pydicom

    dataset = pydicom.dcmread(str(path))
    if int(getattr(dataset, "BitsAllocated", 16)) == 8:
        raise DisplayImageError(f"{path.name} is an 8-bit DICOM (a display image), not detector intensities")
    pixels = dataset.pixel_array
    if pixels.ndim == 2:
        raise TooFewFramesError(f"{path.name} holds a single frame; DSA needs a multi-frame run")
    if pixels.ndim == 4:
        raise EnhancementInputError(f"{path.name} is a colour image; DSA needs greyscale detector intensities")
    frames = pixels.astype(np.float32)
    slope = float(getattr(dataset, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(dataset, "RescaleIntercept", 0.0) or 0.0)
    frames = frames * slope + intercept
    n = frames.shape[0]
    if "FrameTimeVector" in dataset:
        increments = np.asarray([float(v) for v in dataset.FrameTimeVector], dtype=float) / 1000.0
        times = np.cumsum(increments) - increments[0] if len(increments) == n else np.arange(n, dtype=float)
    elif "FrameTime" in dataset:
        times = np.arange(n) * float(dataset.FrameTime) / 1000.0
    elif "CineRate" in dataset:
        times = np.arange(n) / float(dataset.CineRate)
    else:
        times = np.arange(n, dtype=float)
    spacing = getattr(dataset, "ImagerPixelSpacing", None) or getattr(dataset, "PixelSpacing", None) or (1.0, 1.0)
    return AngioFrames(frames, times, (float(spacing[0]), float(spacing[1])),
                       {"source": str(path), "modality": str(getattr(dataset, "Modality", ""))})


def load_run(path: str | os.PathLike[str], frame_rate: float = 1.0) -> AngioFrames:
    """Read an angiographic run.

    Args:
        path: a multi-frame DICOM file (XA/XRF), a 3D image file SimpleITK reads (NRRD, MHA, NIfTI; the last
            axis is time), or a folder of 2D frames (16-bit PNG/TIFF, sorted by name).
        frame_rate: frames per second when the file does not say (DICOM FrameTime/CineRate is used otherwise).

    Returns:
        The :class:`AngioFrames`.

    Raises:
        FileNotFoundError: the path does not exist.
        DisplayImageError: 8-bit display images.
        TooFewFramesError: fewer than two frames.
        FrameSizeMismatchError: frames of different sizes in a folder.
        EnhancementInputError: anything else that is not a greyscale run.
    """
    import SimpleITK as sitk

    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"No run at {source}")
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in _STACK_SUFFIXES)
        if not files:
            raise EnhancementInputError(f"{source} holds no image frames ({', '.join(_STACK_SUFFIXES)})")
        images = [sitk.ReadImage(str(p)) for p in files]
        if any(image.GetNumberOfComponentsPerPixel() > 1 for image in images):
            raise DisplayImageError(f"{source} holds colour images (screenshots), not detector intensities")
        arrays = [sitk.GetArrayFromImage(image) for image in images]
        if len({a.shape for a in arrays}) > 1:
            raise FrameSizeMismatchError(f"The frames in {source} have different sizes: {sorted({a.shape for a in arrays})}")
        frames = np.stack(arrays)
        _check_stack(frames, str(source), arrays[0].dtype)
        spacing = images[0].GetSpacing()
        return AngioFrames(frames.astype(np.float32), np.arange(len(frames)) / float(frame_rate),
                           (float(spacing[1]), float(spacing[0])), {"source": str(source), "files": len(files)})
    suffix = source.suffix.lower()
    if suffix in (".dcm", "") or source.name.lower().endswith(".dicom"):
        try:
            return _load_dicom(source)
        except (TooFewFramesError, DisplayImageError, EnhancementInputError):
            raise
        except Exception as error:  # not DICOM after all: let SimpleITK try
            if suffix == ".dcm":
                raise EnhancementInputError(f"{source.name} could not be read as DICOM: {error}") from error
    image = sitk.ReadImage(str(source))
    if image.GetNumberOfComponentsPerPixel() > 1:
        raise DisplayImageError(f"{source.name} is a colour image, not detector intensities")
    frames = sitk.GetArrayFromImage(image)
    _check_stack(frames, source.name, frames.dtype)
    spacing = image.GetSpacing()
    return AngioFrames(frames.astype(np.float32), np.arange(len(frames)) / float(frame_rate),
                       (float(spacing[1]), float(spacing[0])), {"source": str(source)})


def save_run(frames: np.ndarray, path: str | os.PathLike[str], pixel_spacing_mm: tuple[float, float] = (1.0, 1.0),
             frame_interval_s: float = 1.0) -> Path:
    """Write frames (n, rows, cols) as a 3D image file (the third axis is time, its spacing the frame interval)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.asarray(frames, dtype=np.float32))
    image.SetSpacing((float(pixel_spacing_mm[1]), float(pixel_spacing_mm[0]), float(frame_interval_s)))
    target = Path(path)
    sitk.WriteImage(image, str(target), useCompression=True)
    return target
