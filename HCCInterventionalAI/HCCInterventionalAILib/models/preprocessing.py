"""Card-declared preprocessing: resample to the model's spacing, reorient, stack channels, normalise.

Resampling uses :mod:`HCCInterventionalAILib.imaging.resample` (linear for images); the rest are array views
and in-place tensor operations on the inference device, so preprocessing costs little next to the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..imaging.orientation import Reorientation, plan_reorientation
from ..imaging.volume import Geometry, Volume
from .card import InputSpec, IntensitySpec
from .dependencies import import_torch
from .errors import ModelInputError

__all__ = ["PreparedInput", "check_inputs", "needs_resampling", "normalise_intensity", "prepare_input"]

_SPACING_RTOL = 1e-3


@dataclass
class PreparedInput:
    """The network's input and how to map its output back.

    Attributes:
        tensor: ``(1, C, *spatial)`` float32 on the inference device, in the network's layout.
        model_geometry: the grid the network sees, in the source volume's orientation.
        reorientation: from ``(k, j, i)`` arrays on ``model_geometry`` to the network layout.
        resampled: whether ``model_geometry`` differs from the source grid.
    """

    tensor: Any
    model_geometry: Geometry
    reorientation: Reorientation
    resampled: bool


def needs_resampling(geometry: Geometry, spacing: tuple[float, float, float] | None) -> bool:
    """True when ``spacing`` is given and differs from the grid's (relative tolerance 1e-3)."""
    return spacing is not None and not np.allclose(geometry.spacing, spacing, rtol=_SPACING_RTOL, atol=0.0)


def normalise_intensity(tensor: Any, spec: IntensitySpec) -> Any:
    """Apply the card's intensity preprocessing to a ``(N, C, *spatial)`` float tensor, in place.

    Clip to ``window`` when given, then: ``range`` maps [lo, hi] linearly onto ``output_range``;
    ``minmax`` maps each channel's own [min, max] onto ``output_range`` (MONAI ``ScaleIntensity``; a constant
    channel becomes ``a``); ``zscore`` subtracts each channel's mean and divides by its standard deviation (1 if it is 0);
    ``fixed`` uses the card's mean and std.
    """
    if spec.window is not None:
        tensor.clamp_(spec.window[0], spec.window[1])
    if spec.normalisation == "range":
        (low, high), (a, b) = spec.window, spec.output_range
        tensor.sub_(low).mul_((b - a) / (high - low)).add_(a)
    elif spec.normalisation == "minmax":
        spatial = tuple(range(2, tensor.ndim))
        (a, b), low = spec.output_range, tensor.amin(dim=spatial, keepdim=True)
        span = tensor.amax(dim=spatial, keepdim=True) - low
        tensor.sub_(low).div_(import_torch().where(span > 0, span, import_torch().ones_like(span))).mul_(b - a).add_(a)
    elif spec.normalisation == "zscore":
        spatial = tuple(range(2, tensor.ndim))
        mean = tensor.mean(dim=spatial, keepdim=True)
        std = tensor.std(dim=spatial, keepdim=True, unbiased=False)
        tensor.sub_(mean).div_(import_torch().where(std > 0, std, import_torch().ones_like(std)))
    elif spec.normalisation == "fixed":
        tensor.sub_(spec.mean).div_(spec.std)
    return tensor


def _resample(volume: Volume, spacing: tuple[float, float, float]) -> Volume:
    from ..imaging.resample import resample_to_spacing

    return resample_to_spacing(volume, spacing, interpolation="linear")


def check_inputs(volumes: Sequence[Volume], spec: InputSpec) -> None:
    """Check that the images fit the card: one volume per channel, each of the channel's modality.

    A volume without a modality (e.g. read from a NIfTI file, which does not record one) is accepted.

    Raises:
        ModelInputError: a wrong number of volumes, or a volume of another modality (e.g. NM for a CT model).
    """
    if len(volumes) != len(spec.channels):
        names = ", ".join(c.name for c in spec.channels)
        raise ModelInputError(f"The model expects {len(spec.channels)} input volume(s) ({names}); got {len(volumes)}")
    for channel, volume in zip(spec.channels, volumes, strict=True):
        expected = (channel.modality or spec.modality or "").strip().upper()
        actual = (volume.modality or "").strip().upper()
        if expected and actual and actual != expected:
            raise ModelInputError(f"The model expects a {expected} image for its input '{channel.name}', but "
                                  f"'{volume.name}' is {actual}")


def prepare_input(volumes: Sequence[Volume], spec: InputSpec, device: Any) -> PreparedInput:
    """Turn the source volume(s) into the network's input tensor on ``device``.

    Args:
        volumes: one volume per input channel, all on the same grid.
        spec: the card's input specification.
        device: the inference ``torch.device``.

    Raises:
        ModelInputError: wrong number of channels or a wrong modality (see :func:`check_inputs`).
        ValueError: non-finite voxels.
        GeometryMismatchError: the channels are on different grids.
    """
    torch = import_torch()
    check_inputs(volumes, spec)
    first = volumes[0].geometry
    for volume in volumes:
        first.require_same_grid(volume.geometry, "input channels")
        volume.require_finite()
    reorientation = plan_reorientation(first.direction_matrix, spec.orientation, spec.axis_order)
    target_spacing = reorientation.source_spacing(spec.spacing) if spec.spacing is not None else None
    resampled = needs_resampling(first, target_spacing)
    if resampled:
        volumes = [_resample(volume, target_spacing) for volume in volumes]
    geometry = volumes[0].geometry
    stacked = np.empty((1, len(volumes), *reorientation.network_shape(geometry.shape)), dtype=np.float32)
    for channel, volume in enumerate(volumes):
        stacked[0, channel] = reorientation.to_network(volume.array)
    tensor = normalise_intensity(torch.from_numpy(stacked).to(device), spec.intensity)
    return PreparedInput(tensor, geometry, reorientation, resampled)
