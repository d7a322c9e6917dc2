"""Device selection for the model library: re-exported from :mod:`HCCInterventionalAILib.device`.

Device choice is shared by every capability (networks, dose convolution, training), so it lives outside
``models``; this module keeps the old import path working.
"""

from __future__ import annotations

from ..device import DeviceUnavailableError, autocast, check_device, describe_device, free_memory_bytes, select_device

__all__ = ["DeviceUnavailableError", "autocast", "check_device", "describe_device", "free_memory_bytes", "select_device"]
