"""Errors raised for ablation inputs that would otherwise give a meaningless zone.

All derive from :class:`ValueError`, so callers that only know the standard library can still catch them.
"""

from __future__ import annotations

__all__ = [
    "AblationInputError",
    "ApplicatorOutsideVolumeError",
    "UnknownDeviceError",
    "SettingsOutOfRangeError",
    "ZeroEnergyError",
    "EmptyStructureError",
    "UnstableSettingsError",
]


class AblationInputError(ValueError):
    """An input to an ablation-zone prediction is physically meaningless."""


class ApplicatorOutsideVolumeError(AblationInputError):
    """An applicator tip (or its active zone) lies outside the image volume."""


class UnknownDeviceError(AblationInputError):
    """A device name that is not in the device preset file."""


class SettingsOutOfRangeError(AblationInputError):
    """A power/time setting outside the range a device's chart covers (no extrapolation)."""


class ZeroEnergyError(AblationInputError):
    """A power or an ablation time that is zero, negative or not finite."""


class EmptyStructureError(AblationInputError):
    """A structure (tumour, zone) that must hold voxels is empty."""


class UnstableSettingsError(AblationInputError):
    """Solver settings (time step, grid) for which the explicit scheme would diverge."""
