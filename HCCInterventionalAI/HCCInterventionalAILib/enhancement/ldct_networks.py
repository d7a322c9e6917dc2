"""Published 2D low-dose-CT denoising networks, with the parameter names of the ``ldct-benchmark`` checkpoints.

The architectures are written here from their papers; their layer (parameter) names follow the checkpoints that
the ``ldct-benchmark`` model hub publishes with SHA-256 digests (Eulig et al., "Benchmarking deep learning-based
low-dose CT image denoising algorithms", Medical Physics 2024; package ``ldct-benchmark`` 0.0.15,
``ldctbench/hub/checkpoints.json``), so those state dicts load into them unchanged:

* :func:`build_redcnn` — RED-CNN, residual encoder–decoder CNN (Chen et al., "Low-dose CT with a residual
  encoder-decoder convolutional neural network", IEEE TMI 2017;36(12):2524–2535): five 5×5 valid convolutions
  with ReLU, five 5×5 transposed convolutions, shortcuts from the input, the 2nd and the 4th feature maps added
  before the 1st, 3rd and 5th decoder ReLUs / the output. As in ldct-benchmark, no ReLU after the output (the
  data are mean/std normalised, so the output may be negative).
* :func:`build_cnn10` — CNN-10 (Chen et al., "Low-dose CT via convolutional neural network", Biomed Opt Express
  2017;8(2):679–694): 9×9×64 → ReLU → 3×3×32 → ReLU → 5×5×1, 'same' padding.
* :func:`build_ldct_resnet` — noise-subtraction residual network (Missert et al., "Noise subtraction for low-dose
  CT images using a deep convolutional neural network", CT Meeting 2018, pp. 399–402): 9×9 input convolution,
  residual blocks (3×3 conv, BN, ReLU, grouped 3×3 conv (8 groups), BN, ReLU, 1×1 conv, plus the block input),
  3×3 output convolution; the output is ``input − predicted noise``.
* :func:`build_wganvgg_generator` — the WGAN-VGG generator (Yang et al., "Low-dose CT image denoising using a
  generative adversarial network with Wasserstein distance and perceptual loss", IEEE TMI 2018;37(6):1348–1357):
  eight 3×3 'same' convolutions, 32 feature maps, ReLU after the first seven. As in ldct-benchmark, no ReLU after
  the output (mean/std-normalised data).
* :func:`build_qae` — the quadratic autoencoder Q-AE (Fan et al., "Quadratic autoencoder (Q-AE) for low-dose CT
  denoising", IEEE TMI 2020;39(6):2035–2050): quadratic neurons ``(W_r∗x + b_r)(W_g∗x + b_g) + W_b∗x² + b_b``,
  five 3×3 quadratic convolutions (15 maps; 'same' except the last, 'valid'), five 3×3 quadratic transposed
  convolutions (the first 'valid'), ReLU between layers, shortcuts from the 4th and the 2nd encoder maps and from
  the input.

The DU-GAN checkpoint (Huang et al., IEEE TIM 2022) is a RED-CNN generator (96 maps) and loads into
:func:`build_redcnn`.

All take and return (N, 1, H, W) tensors; torch is imported when a network is built.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["build_cnn10", "build_ldct_resnet", "build_qae", "build_redcnn", "build_wganvgg_generator"]


@functools.lru_cache(maxsize=1)
def _classes() -> dict[str, type]:
    import torch
    from torch import nn

    class REDCNN(nn.Module):
        """RED-CNN (Chen et al., IEEE TMI 2017)."""

        def __init__(self, out_ch: int = 96) -> None:
            super().__init__()
            for index in range(1, 6):
                setattr(self, f"conv{index}", nn.Conv2d(1 if index == 1 else out_ch, out_ch, 5))
                setattr(self, f"tconv{index}", nn.ConvTranspose2d(out_ch, 1 if index == 5 else out_ch, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            relu = torch.relu
            shortcut_input = x
            out = relu(self.conv2(relu(self.conv1(x))))
            shortcut_2 = out
            out = relu(self.conv4(relu(self.conv3(out))))
            shortcut_4 = out
            out = self.tconv1(relu(self.conv5(out))) + shortcut_4
            out = self.tconv3(relu(self.tconv2(relu(out)))) + shortcut_2
            out = self.tconv5(relu(self.tconv4(relu(out))))
            return out + shortcut_input

    class CNN10(nn.Module):
        """CNN-10 (Chen et al., Biomed Opt Express 2017)."""

        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([nn.Conv2d(1, 64, 9, padding=4), nn.ReLU(), nn.Conv2d(64, 32, 3, padding=1),
                                         nn.ReLU(), nn.Conv2d(32, 1, 5, padding=2)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers:
                x = layer(x)
            return x

    class ResidualBlock(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
                nn.Conv2d(channels, channels, 3, padding=1, groups=8), nn.BatchNorm2d(channels), nn.ReLU(),
                nn.Conv2d(channels, channels, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers(x) + x

    class LDCTResNet(nn.Module):
        """Noise-subtraction ResNet (Missert et al., CT Meeting 2018)."""

        def __init__(self, n_channels: int = 128, n_blocks: int = 10) -> None:
            super().__init__()
            self.in_conv = nn.Conv2d(1, n_channels, 9, padding=4)
            self.blocks = nn.ModuleList([ResidualBlock(n_channels) for _ in range(n_blocks)])
            self.out_conv = nn.Conv2d(n_channels, 1, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = self.in_conv(x)
            for block in self.blocks:
                features = block(features)
            return x - self.out_conv(features)

    class WGANVGGGenerator(nn.Module):
        """WGAN-VGG generator (Yang et al., IEEE TMI 2018)."""

        def __init__(self, n_layers: int = 8, channels: int = 32) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            for index in range(n_layers):
                layers.append(nn.Conv2d(1 if index == 0 else channels, 1 if index == n_layers - 1 else channels, 3,
                                        padding=1))
                if index < n_layers - 1:
                    layers.append(nn.ReLU())
            self.net = nn.Sequential(*layers)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    class QuadraticConv(nn.Module):
        """Quadratic (transposed) 3×3 convolution (Fan et al., IEEE TMI 2020)."""

        def __init__(self, in_channels: int, out_channels: int, padding: int, transposed: bool) -> None:
            super().__init__()
            shape = (in_channels, out_channels, 3, 3) if transposed else (out_channels, in_channels, 3, 3)
            self.transposed, self.padding = transposed, padding
            self.W_r = nn.Parameter(nn.init.trunc_normal_(torch.empty(shape), std=0.1, a=-0.2, b=0.2))
            self.W_g = nn.Parameter(torch.zeros(shape))
            self.W_b = nn.Parameter(torch.zeros(shape))
            self.b_r = nn.Parameter(torch.zeros(out_channels))
            self.b_g = nn.Parameter(torch.ones(out_channels))
            self.b_b = nn.Parameter(torch.zeros(out_channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            conv = torch.nn.functional.conv_transpose2d if self.transposed else torch.nn.functional.conv2d
            linear = conv(x, self.W_r, self.b_r, padding=self.padding)
            gate = conv(x, self.W_g, self.b_g, padding=self.padding)
            return linear * gate + conv(x * x, self.W_b, self.b_b, padding=self.padding)

    class QAE(nn.Module):
        """Quadratic autoencoder (Fan et al., IEEE TMI 2020)."""

        def __init__(self, channels: int = 15) -> None:
            super().__init__()
            c = channels
            self.encoder = nn.ModuleList([QuadraticConv(1 if i == 0 else c, c, 0 if i == 4 else 1, False)
                                          for i in range(5)])
            self.decoder = nn.ModuleList([QuadraticConv(c, 1 if i == 4 else c, 0 if i == 0 else 1, True)
                                          for i in range(5)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            relu = torch.relu
            e1 = relu(self.encoder[0](x))
            e2 = relu(self.encoder[1](e1))
            e4 = relu(self.encoder[3](relu(self.encoder[2](e2))))
            out = relu(self.decoder[0](relu(self.encoder[4](e4))) + e4)
            out = relu(self.decoder[2](relu(self.decoder[1](out))) + e2)
            return self.decoder[4](relu(self.decoder[3](out))) + x

    return {"REDCNN": REDCNN, "CNN10": CNN10, "LDCTResNet": LDCTResNet, "WGANVGGGenerator": WGANVGGGenerator,
            "QAE": QAE}


def build_redcnn(out_ch: int = 96) -> Any:
    """RED-CNN with ``out_ch`` feature maps (96 in the paper and in the ldct-benchmark checkpoint)."""
    return _classes()["REDCNN"](out_ch=int(out_ch))


def build_cnn10() -> Any:
    """CNN-10 (64 and 32 feature maps, as in the paper)."""
    return _classes()["CNN10"]()


def build_ldct_resnet(n_channels: int = 128, n_blocks: int = 10) -> Any:
    """The noise-subtraction ResNet (128 channels, 10 blocks in the ldct-benchmark checkpoint)."""
    return _classes()["LDCTResNet"](n_channels=int(n_channels), n_blocks=int(n_blocks))


def build_wganvgg_generator() -> Any:
    """The WGAN-VGG generator (8 layers, 32 feature maps, as in the paper)."""
    return _classes()["WGANVGGGenerator"]()


def build_qae(channels: int = 15) -> Any:
    """The quadratic autoencoder Q-AE (15 feature maps in the paper and in the ldct-benchmark checkpoint)."""
    return _classes()["QAE"](channels=int(channels))
