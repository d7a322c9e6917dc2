"""Geometry of one ablation applicator (RFA/MWA needle, antenna or cryoprobe) placed in the patient.

An applicator is a straight segment from its skin **entry** point to its active **tip**, both in patient
coordinates (LPS millimetres, the library-wide convention; :data:`LPS_TO_RAS` converts for Slicer).

Derived quantities:

* length: ``L = ‖tip − entry‖`` (mm), the inserted length along the shaft;
* direction: ``d = (tip − entry) / L``, the unit vector of insertion;
* insertion angle to the axial plane: ``θ = atan2(|d_S|, √(d_L² + d_P²))`` in degrees, i.e. the angle between
  the shaft and the axial (transverse) plane. 0° is an in-plane (purely axial) approach, the one a single CT
  slice shows in full; 90° is a purely cranio-caudal approach. Flipping L and P to R and A does not change
  it, so it is the same in RAS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["LPS_TO_RAS", "TABLE_COLUMNS", "Applicator", "applicators_table"]

#: Flips the first two axes: LPS ⇄ RAS (the same matrix converts both ways).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

#: Applicators shorter than this (mm) have no defined direction.
MIN_LENGTH_MM = 1e-6


def _point(value: Sequence[float], what: str) -> tuple[float, float, float]:
    array = np.asarray(value, dtype=float).reshape(-1)
    if array.shape != (3,) or not np.all(np.isfinite(array)):
        raise ValueError(f"The {what} must be three finite coordinates in mm, got {value!r}")
    return (float(array[0]), float(array[1]), float(array[2]))


@dataclass(frozen=True)
class Applicator:
    """A straight applicator from ``entry_lps`` (skin entry) to ``tip_lps`` (active tip).

    Args:
        tip_lps: tip position, LPS mm.
        entry_lps: skin entry position, LPS mm.
        name: display name ("Applicator 1", the markups line name in Slicer, ...).

    Raises:
        ValueError: when a point is not three finite numbers, or tip and entry coincide.
    """

    tip_lps: tuple[float, float, float]
    entry_lps: tuple[float, float, float]
    name: str = "Applicator"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tip_lps", _point(self.tip_lps, "tip"))
        object.__setattr__(self, "entry_lps", _point(self.entry_lps, "entry point"))
        if self.length_mm < MIN_LENGTH_MM:
            raise ValueError(f"Applicator '{self.name}' has its tip on its entry point: no direction is defined")

    # -- construction ---------------------------------------------------------------------------------
    @classmethod
    def from_ras(cls, tip_ras: Sequence[float], entry_ras: Sequence[float], name: str = "Applicator") -> Applicator:
        """Build from RAS points (what Slicer's markups hold)."""
        tip = LPS_TO_RAS @ np.asarray(_point(tip_ras, "tip"))
        entry = LPS_TO_RAS @ np.asarray(_point(entry_ras, "entry point"))
        return cls(tuple(tip), tuple(entry), name)

    # -- geometry -------------------------------------------------------------------------------------
    @property
    def vector_mm(self) -> np.ndarray:
        """``tip − entry`` in LPS mm."""
        return np.asarray(self.tip_lps) - np.asarray(self.entry_lps)

    @property
    def length_mm(self) -> float:
        """Inserted length ``‖tip − entry‖`` in mm."""
        return float(np.linalg.norm(self.vector_mm))

    @property
    def direction_lps(self) -> np.ndarray:
        """Unit vector from entry towards tip (direction of insertion), LPS."""
        return self.vector_mm / self.length_mm

    @property
    def direction_ras(self) -> np.ndarray:
        return LPS_TO_RAS @ self.direction_lps

    @property
    def tip_ras(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in LPS_TO_RAS @ np.asarray(self.tip_lps))  # type: ignore[return-value]

    @property
    def entry_ras(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in LPS_TO_RAS @ np.asarray(self.entry_lps))  # type: ignore[return-value]

    @property
    def insertion_angle_deg(self) -> float:
        """Angle between the shaft and the axial plane, 0–90° (0 = in-plane axial approach)."""
        d = self.direction_lps
        return math.degrees(math.atan2(abs(d[2]), math.hypot(d[0], d[1])))

    def point_from_tip(self, distance_mm: float) -> np.ndarray:
        """LPS point on the shaft ``distance_mm`` back from the tip towards the entry (negative: beyond the tip)."""
        return np.asarray(self.tip_lps) - float(distance_mm) * self.direction_lps

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (points in LPS and RAS, length, angle)."""
        return {
            "name": self.name,
            "tip_lps": list(self.tip_lps),
            "entry_lps": list(self.entry_lps),
            "tip_ras": list(self.tip_ras),
            "entry_ras": list(self.entry_ras),
            "length_mm": self.length_mm,
            "insertion_angle_deg": self.insertion_angle_deg,
        }


#: Column names of :func:`applicators_table`, in order.
TABLE_COLUMNS = [
    "Applicator",
    "Tip R (mm)", "Tip A (mm)", "Tip S (mm)",
    "Entry R (mm)", "Entry A (mm)", "Entry S (mm)",
    "Length (mm)",
    "Angle to axial plane (deg)",
]


def applicators_table(applicators: Iterable[Applicator]) -> pd.DataFrame:
    """One row per applicator: name, tip and entry in RAS (Slicer's display frame), length and angle.

    Returns:
        a ``pandas.DataFrame`` with the columns of :data:`TABLE_COLUMNS` (empty when there are none).
    """
    import pandas as pd

    rows = [
        [a.name, *a.tip_ras, *a.entry_ras, a.length_mm, a.insertion_angle_deg]
        for a in applicators
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
