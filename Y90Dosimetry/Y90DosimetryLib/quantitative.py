"""Quantitative post-treatment images: a Y-90 PET or quantitative bremsstrahlung SPECT calibrated in Bq/ml read as
the implanted activity itself, rather than renormalised to a given activity.

Formula (per voxel i, image reference time t_img, injection time t_inj):

    A_i(t_inj) = c_i · V_voxel · 2^((t_img − t_inj)/T½)

with c_i the activity concentration and T½ = 64.1 h. Y-90 microspheres are permanent implants, so the absorbed
dose follows from A(t_inj) with the usual D = K·A/m. The recovered activity Σ A_i is reported against the
administered activity: a difference beyond the tolerance flags a calibration, field-of-view or units problem.
Source: Pasciak AS et al., "Radioembolization and the dynamic role of 90Y PET/CT", Front Oncol 2014;4:38
(quantitative Y-90 PET dosimetry with local deposition).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from .activity import decay_factor
from .counts import checked_counts
from .errors import Y90InputError

if TYPE_CHECKING:  # pragma: no cover
    from HCCInterventionalAILib.imaging.volume import Volume

__all__ = ["QuantitativeActivity", "quantitative_activity", "CONCENTRATION_UNITS"]

#: Recognised concentration units and their factor to Bq/ml (DICOM PET Units "BQML" is Bq/ml).
CONCENTRATION_UNITS = {"bq/ml": 1.0, "bqml": 1.0, "bq/cc": 1.0, "kbq/ml": 1e3, "kbq/cc": 1e3, "mbq/ml": 1e6,
                       "mbq/cc": 1e6}


@dataclass
class QuantitativeActivity:
    """The activity map (GBq per voxel at injection time) and its bookkeeping."""

    activity: Volume
    recovered_gbq: float
    injected_gbq: float | None
    decay_correction: float
    warnings: list[str] = field(default_factory=list)

    @property
    def recovery(self) -> float | None:
        """Recovered / administered activity (None when the administered activity is not given)."""
        return self.recovered_gbq / self.injected_gbq if self.injected_gbq else None

    def to_dict(self) -> dict[str, Any]:
        return {"recovered_gbq": self.recovered_gbq, "injected_gbq": self.injected_gbq,
                "recovery": self.recovery, "decay_correction": self.decay_correction}


def _image_time(image: Volume) -> datetime | None:
    text = image.metadata.get("acquisition_datetime") or image.metadata.get("reference_datetime")
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text))
    except ValueError as error:
        raise Y90InputError(f"'{image.name}': unreadable acquisition time {text!r}") from error


def quantitative_activity(image: Volume, *, image_time: datetime | None = None,
                          injection_time: datetime | None = None, injected_gbq: float | None = None,
                          tolerance: float = 0.10, checked: np.ndarray | None = None) -> QuantitativeActivity:
    """Read a Bq/ml image as activity per voxel at injection time.

    Args:
        image: Y-90 PET or quantitative bremsstrahlung SPECT; ``units`` one of :data:`CONCENTRATION_UNITS`
            (empty units are taken as Bq/ml with a warning).
        image_time: the image's reference time (default: its ``acquisition_datetime`` metadata).
        injection_time: when the microspheres were implanted; with ``image_time``, the activity is
            decay-corrected back to it.
        injected_gbq: administered activity, compared with the recovered activity.
        tolerance: relative difference between recovered and administered activity that raises a warning.
        checked: the image values already validated by :func:`.counts.checked_counts` (not checked again).

    Raises:
        Y90InputError: unknown units, NaN or too-negative values, an image time before the injection, or a
            decay interval over ten half-lives.
    """
    warnings: list[str] = []
    units = (image.units or "").strip().lower().replace(" ", "")
    if not units:
        scale = 1.0
        warnings.append(f"'{image.name}' records no units: its values were read as Bq/ml")
    elif units in CONCENTRATION_UNITS:
        scale = CONCENTRATION_UNITS[units]
    else:
        raise Y90InputError(f"'{image.name}' is in {image.units!r}, not an activity concentration "
                            f"({', '.join(sorted({'Bq/ml', 'kBq/ml', 'MBq/ml', 'BQML'}))}): a quantitative "
                            "activity source needs a calibrated Y-90 PET or bremsstrahlung SPECT")
    values, count_warnings = (checked, []) if checked is not None else checked_counts(image)
    warnings.extend(count_warnings)
    correction = 1.0
    image_time = image_time or _image_time(image)
    if injection_time is not None and image_time is not None:
        if (image_time.tzinfo is None) != (injection_time.tzinfo is None):
            raise Y90InputError("Give the image and injection times both with or both without a time zone")
        hours = (image_time - injection_time).total_seconds() / 3600.0
        if hours < 0:
            raise Y90InputError(f"The image time {image_time.isoformat()} is before the injection time "
                                f"{injection_time.isoformat()}")
        if hours > 640:
            raise Y90InputError(f"The image was taken {hours:.0f} h after the injection (over ten Y-90 half-lives)")
        correction = 1.0 / decay_factor(hours)
    elif injection_time is not None:
        warnings.append("No image time: the activity was not decay-corrected to the injection time")
    voxel_ml = image.geometry.voxel_volume_ml
    activity = values * (scale * voxel_ml * correction * 1e-9)
    recovered = float(activity.sum())
    if injected_gbq is not None and injected_gbq > 0:
        recovery = recovered / injected_gbq
        if abs(recovery - 1.0) > tolerance:
            warnings.append(f"The image holds {recovered:.3g} GBq at injection time, {100 * (recovery - 1):+.0f}% from "
                            f"the {injected_gbq:.3g} GBq administered (tolerance ±{100 * tolerance:.0f}%): check the "
                            "calibration, units and field of view")
    volume = image.with_array(activity, name=f"{image.name} activity", units="GBq",
                              metadata={**image.metadata, "activity_source": "quantitative",
                                        "decay_correction": correction, "warnings": list(warnings)})
    return QuantitativeActivity(volume, recovered, injected_gbq, correction, warnings)
