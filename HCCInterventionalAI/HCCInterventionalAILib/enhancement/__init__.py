"""Image enhancement for interventional oncology: motion-compensated DSA and self-supervised CT denoising.

* :mod:`.dsa`: log-space subtraction ``log(mask) − log(frame)`` (iodine positive), automatic mask selection,
  mask-to-frame registration (:mod:`.registration`), time–intensity curves.
* :mod:`.angio`: SYNTHETIC angiographic runs with known iodine and motion (tests, benchmark, demo).
* :mod:`.denoise`: Noise2Self (J-invariant) denoising trained on the user's own noisy CT, no weights needed.
* :mod:`.lowdose`: simulated low-dose CT (radon → Poisson → filtered back-projection noise insertion).
* :mod:`.quality`: SNR, CNR, noise power spectrum, difference map and a hallucination check.

Importing this package imports neither torch nor Slicer; the functions do what they need when called.
"""

from __future__ import annotations

from .angio import AngioRun, gamma_variate, simulate_angio_run
from .dsa import TimeIntensityCurve, select_mask_frame, subtract_run, time_intensity_curve
from .errors import DisplayImageError, EnhancementInputError, FrameSizeMismatchError, NotCTError, TooFewFramesError
from .runio import AngioFrames, load_run, save_run

__all__ = [
    "AngioFrames",
    "AngioRun",
    "DisplayImageError",
    "EnhancementInputError",
    "FrameSizeMismatchError",
    "NotCTError",
    "TimeIntensityCurve",
    "TooFewFramesError",
    "gamma_variate",
    "load_run",
    "save_run",
    "select_mask_frame",
    "simulate_angio_run",
    "subtract_run",
    "time_intensity_curve",
]
