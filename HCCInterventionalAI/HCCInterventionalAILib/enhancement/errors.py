"""Errors raised by the image-enhancement library: each is a ``ValueError`` with a one-sentence message."""

from __future__ import annotations

__all__ = [
    "DisplayImageError",
    "EnhancementInputError",
    "FrameSizeMismatchError",
    "NotCTError",
    "TooFewFramesError",
]


class EnhancementInputError(ValueError):
    """The input of an enhancement step is unusable; the message names the problem."""


class TooFewFramesError(EnhancementInputError):
    """A subtraction needs at least two frames (a mask and a contrast frame)."""


class FrameSizeMismatchError(EnhancementInputError):
    """The frames of a run do not all have the same size."""


class DisplayImageError(EnhancementInputError):
    """8-bit display images (PNG/JPEG screenshots) are windowed, not detector intensities."""


class NotCTError(EnhancementInputError):
    """CT denoising was given a volume that is not a CT in Hounsfield units."""
