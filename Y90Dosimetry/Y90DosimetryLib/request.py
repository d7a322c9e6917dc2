"""One vocabulary for a Y-90 plan: :class:`PlanRequest`, shared by the library, the Slicer module, the CLI and
the demo (the widget fills it from its parameter node, ``hccai y90`` from its flags)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import LungShuntError, Y90InputError

__all__ = ["PlanRequest", "METHODS", "DOSE_METHODS", "ACTIVITY_SOURCES", "DEVICES"]

METHODS = ("partition", "multi-compartment", "mird", "bsa")
DOSE_METHODS = ("kernel", "local", "none")
#: How image values become activity: "treated" spreads A·(1 − LSF) over the treated region in proportion to its
#: counts (the partition model's assumption), "whole-field" spreads A over every count of the image, and
#: "quantitative" reads the image as activity concentration (Bq/ml: Y-90 PET, quantitative bremsstrahlung SPECT).
ACTIVITY_SOURCES = ("treated", "whole-field", "quantitative")
DEVICES = ("auto", "cpu", "cuda")


def _positive(value: float | None, what: str, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise Y90InputError(f"{what} must be a finite {'non-negative' if allow_zero else 'positive'} number, "
                            f"got {value!r}")


@dataclass(frozen=True)
class PlanRequest:
    """What to compute for one Y-90 plan (every option of :func:`Y90DosimetryLib.plan_treatment`).

    Attributes:
        method: "partition" (tumour vs normal liver), "multi-compartment" (each tumour its own compartment),
            "mird" (the treated region as one compartment) or "bsa" (resin; needs height and weight).
        microsphere: "glass" or "resin" preset; sets the default dose limits and vial sizes.
        activity_gbq: evaluate this activity instead of solving for a target dose.
        target_dose_gy, target: solve the activity so that compartment ``target`` ("normal", "tumour" or a
            tumour's segment name) gets ``target_dose_gy``; None uses the preset's limit (MIRD needs a value).
        lung_shunt_fraction: use this LSF (0–1) instead of measuring it on the image.
        height_cm, weight_kg: patient size (BSA method).
        dose_method: "kernel" (FFT dose-voxel-kernel convolution), "local" (local deposition) or "none".
        activity_source: see :data:`ACTIVITY_SOURCES`.
        injected_gbq: administered activity (quantitative source: compared with the activity the image holds).
        injection_time, image_time: quantitative source: the image (acquisition/reference) time and the
            injection time, to decay-correct the image to the injection; ``image_time`` None reads it from the
            image metadata (DICOM AcquisitionDateTime / SeriesDate+Time) when present.
        recovery_tolerance: quantitative source: warn when recovered and administered activity differ by more.
        dose_constant: K preset name or value (None = "conventional", 49.67 Gy·kg/GBq).
        limits: dose-limit preset (None = the microsphere's).
        previous_lung_dose_gy: lung dose of earlier treatments (cumulative limit).
        residual_fraction, calibration, treatment: vial ordering (``calibration`` a datetime with ``treatment``,
            or hours from calibration to treatment); ``calibration`` None → no vial order.
        device: "auto", "cpu" or "cuda" for the kernel convolution; an unavailable device is an error.
        kernel_method: see :func:`Y90DosimetryLib.voxel_dose.kernel_convolution_dose`.
        allow_misregistration: plan even when the segmentation does not match the image (see
            :func:`Y90DosimetryLib.alignment.check_alignment`).
        roles: override the structure roles detected from segment names, e.g. {"liver": "Liver", "tumours": ["T1"]}.
    """

    method: str = "partition"
    microsphere: str = "glass"
    activity_gbq: float | None = None
    target_dose_gy: float | None = None
    target: str = "normal"
    lung_shunt_fraction: float | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    dose_method: str = "kernel"
    activity_source: str = "treated"
    injected_gbq: float | None = None
    injection_time: datetime | None = None
    image_time: datetime | None = None
    recovery_tolerance: float = 0.10
    dose_constant: str | float | None = None
    limits: str | None = None
    previous_lung_dose_gy: float = 0.0
    residual_fraction: float = 0.0
    calibration: datetime | float | None = None
    treatment: datetime | None = None
    device: str = "auto"
    kernel_method: str = "auto"
    allow_misregistration: bool = False
    roles: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("method", METHODS), ("dose_method", DOSE_METHODS),
                              ("activity_source", ACTIVITY_SOURCES)):
            value = getattr(self, name)
            if value not in allowed:
                raise Y90InputError(f"Unknown {name.replace('_', ' ')} {value!r}; choose one of {', '.join(allowed)}")
        _positive(self.activity_gbq, "Activity (GBq)")
        _positive(self.target_dose_gy, "Target dose (Gy)")
        _positive(self.height_cm, "Height (cm)")
        _positive(self.weight_kg, "Weight (kg)")
        _positive(self.injected_gbq, "Injected activity (GBq)")
        _positive(self.previous_lung_dose_gy, "Previous lung dose (Gy)", allow_zero=True)
        _positive(self.recovery_tolerance, "Recovery tolerance")
        if self.lung_shunt_fraction is not None:
            lsf = self.lung_shunt_fraction
            if not (isinstance(lsf, (int, float)) and math.isfinite(lsf) and 0 <= lsf < 1):
                raise LungShuntError(f"Lung shunt fraction must be in [0, 1), got {lsf!r}")
        if not (isinstance(self.residual_fraction, (int, float)) and 0 <= self.residual_fraction < 1):
            raise Y90InputError(f"Residual fraction must be in [0, 1), got {self.residual_fraction!r}")
        if isinstance(self.calibration, datetime) and not isinstance(self.treatment, datetime):
            raise Y90InputError("Give the vial calibration time together with the treatment time (both as dates "
                                "and times), or the calibration as hours before the treatment")
        if self.method == "bsa" and (self.height_cm is None or self.weight_kg is None):
            raise Y90InputError("The BSA method needs the patient's height (cm) and weight (kg)")
        if (self.method == "mird" and self.activity_gbq is None and self.target_dose_gy is None
                and self.activity_source != "quantitative"):
            raise Y90InputError("The MIRD method needs a target dose (e.g. 80-150 Gy to the treated liver) or an "
                                "activity")
        if not isinstance(self.device, str) or not self.device.strip():
            raise Y90InputError(f"Device must be a name such as {', '.join(DEVICES)}, got {self.device!r}")
        if self.activity_source == "quantitative":
            if self.method == "bsa":
                raise Y90InputError("A quantitative image is dosed at the activity it holds: use the partition, "
                                    "multi-compartment or MIRD method, not BSA (which prescribes an activity)")
            if self.activity_gbq is not None or self.lung_shunt_fraction is not None:
                raise Y90InputError("A quantitative image gives the activity and the lung shunt it holds: give the "
                                    "administered activity as injected_gbq (--injected-gbq), not activity_gbq or an "
                                    "LSF override")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PlanRequest:
        """A request from a dict of field values (unknown names are an error that lists the known ones)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise Y90InputError(f"Unknown plan option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**dict(values))

    def replace(self, **changes: Any) -> PlanRequest:
        """A copy with some fields changed (validated again)."""
        return PlanRequest.from_mapping({**self.to_dict(raw=True), **changes})

    def to_dict(self, *, raw: bool = False) -> dict[str, Any]:
        """Field values; dates as ISO text unless ``raw``."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if raw:
            return values
        return {k: (v.isoformat() if isinstance(v, datetime) else dict(v) if isinstance(v, Mapping) else v)
                for k, v in values.items()}

    def to_json(self, **kwargs: Any) -> str:
        """The request as JSON text (dates and times as ISO 8601 text); :meth:`from_json` reads it back."""
        import json

        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> PlanRequest:
        """A request from :meth:`to_json` text: ISO dates and times become ``datetime`` again.

        Raises:
            Y90InputError: text that is not a JSON object, an unknown option, or a date that is not ISO text.
        """
        import json

        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise Y90InputError(f"The plan request is not valid JSON: {error}") from error
        if not isinstance(values, dict):
            raise Y90InputError("The plan request must be a JSON object of plan options")
        for name in _DATETIME_FIELDS:
            value = values.get(name)
            if isinstance(value, str):
                try:
                    values[name] = datetime.fromisoformat(value)
                except ValueError as error:
                    raise Y90InputError(f"Plan option {name} must be an ISO date and time, got {value!r}") from error
        return cls.from_mapping(values)


#: Fields that hold a ``datetime`` (``calibration`` may also be hours, a number).
_DATETIME_FIELDS = ("injection_time", "image_time", "calibration", "treatment")
