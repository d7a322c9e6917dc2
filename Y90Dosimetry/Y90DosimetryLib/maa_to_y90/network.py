"""Networks of the MAA → Y-90 translation model (a pix2pix-style conditional GAN, as in Plachouris et al.).

Generator: a 3D MONAI U-Net mapping (MAA SPECT activity fraction, CT density) to the Y-90 activity fraction;
described by a MONAI network spec so that the model-loading library can rebuild it from a model card and load its
weights with ``torch.load(weights_only=True)``. Discriminator: a small 3D PatchGAN that sees (input, output) pairs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GENERATOR_SPEC", "build_generator", "build_discriminator", "to_activity"]

#: MONAI network spec of the generator (the model card's ``network`` field).
GENERATOR_SPEC: dict[str, Any] = {
    "name": "UNet",
    "args": {
        "spatial_dims": 3,
        "in_channels": 2,
        "out_channels": 1,
        "channels": [16, 32, 64],
        "strides": [2, 2],
        "num_res_units": 1,
    },
}


def build_generator(spec: dict[str, Any] | None = None) -> Any:
    """The plain MONAI U-Net generator (rebuildable from the card); see :func:`to_activity`."""
    from monai.networks.nets import UNet

    spec = spec or GENERATOR_SPEC
    if spec["name"] != "UNet":
        raise ValueError(f"The MAA→Y-90 generator is a MONAI UNet, not {spec['name']}")
    return UNet(**spec["args"])


def to_activity(output: Any, inputs: Any) -> Any:
    """Generator output → non-negative Y-90 activity, as a multiplicative correction of the MAA channel.

    ``y = MAA · exp(clamp(G(x), −4, 4))``: an untrained (zero-output) generator reproduces plain MAA-based prediction,
    and training learns where the microspheres go differently from the MAA particles (e.g. a lower tumour-to-normal
    ratio) and the sharper PET resolution near uptake edges.
    """
    import torch

    return inputs[:, :1] * torch.exp(torch.clamp(output, -4.0, 4.0))


def build_discriminator(in_channels: int = 3, features: int = 16) -> Any:
    """A 3D PatchGAN: conv-LeakyReLU blocks ending in a one-channel map of real/fake logits per patch."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    channels = in_channels
    for index, out in enumerate((features, features * 2, features * 4)):
        layers.append(nn.Conv3d(channels, out, kernel_size=4, stride=2, padding=1))
        if index:
            layers.append(nn.InstanceNorm3d(out))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        channels = out
    layers.append(nn.Conv3d(channels, 1, kernel_size=3, padding=1))
    return torch.nn.Sequential(*layers)
