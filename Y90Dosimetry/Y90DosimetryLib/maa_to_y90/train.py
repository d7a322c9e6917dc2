"""Training of the MAA → Y-90 translation model on paired cases (conditional GAN: L1 + PatchGAN loss).

Usage (command line)::

    python -m Y90DosimetryLib.maa_to_y90.train cases.csv --output my-model/ --steps 4000

writes ``my-model/maa-to-y90.pt`` (a state_dict) and ``my-model/maa-to-y90.card.json`` (its model card with SHA-256,
training data and the explicit statement of what it was trained on), loadable through the model-loading library.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from HCCInterventionalAILib.progress import Progress, ProgressCallback, as_progress

from .data import PairedCase, network_input, normalised_activity
from .network import build_discriminator, build_generator, to_activity

__all__ = ["TrainingConfig", "TrainingHistory", "train_translation", "main"]


@dataclass
class TrainingConfig:
    """Hyper-parameters (pix2pix-style, scaled to 3D patches; reconstruction weight 1, adversarial weight 0.01)."""

    patch_size: int = 32
    batch_size: int = 4
    steps: int = 2000
    learning_rate: float = 2e-4
    adversarial_weight: float = 0.01
    hot_patch_fraction: float = 0.7
    #: "mse" (estimates the conditional mean: unbiased for noisy, skewed PET counts; the default because dose is a
    #: mean) or "l1" (pix2pix's choice; estimates the median, which biased tumour doses low by ~25 Gy in our tests)
    reconstruction_loss: str = "mse"
    seed: int = 0
    device: str = "auto"


@dataclass
class TrainingHistory:
    l1: list[float] = field(default_factory=list)
    adversarial: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[float]]:
        return asdict(self)


def _patch_sampler(inputs: list[np.ndarray], targets: list[np.ndarray], config: TrainingConfig):
    """Random patches, most centred on above-mean MAA uptake (where the dose is)."""
    rng = np.random.default_rng(config.seed)
    size = config.patch_size
    hot = [np.argwhere(x[0] > 1.0) for x in inputs]

    def corner(shape: tuple[int, ...], centre: np.ndarray) -> tuple[int, ...]:
        return tuple(int(np.clip(c - size // 2, 0, s - size)) for c, s in zip(centre, shape, strict=True))

    def sample():
        xs, ys = [], []
        for _ in range(config.batch_size):
            index = int(rng.integers(len(inputs)))
            shape = inputs[index].shape[1:]
            if len(hot[index]) and rng.random() < config.hot_patch_fraction:
                centre = hot[index][rng.integers(len(hot[index]))]
            else:
                centre = np.array([rng.integers(s) for s in shape])
            k, j, i = corner(shape, centre)
            window = (slice(None), slice(k, k + size), slice(j, j + size), slice(i, i + size))
            xs.append(inputs[index][window])
            ys.append(targets[index][window])
        return np.stack(xs), np.stack(ys)

    return sample


def train_translation(
    cases: list[PairedCase],
    config: TrainingConfig | None = None,
    progress: Progress | ProgressCallback | None = None,
):
    """Train the generator (and its discriminator) on paired cases.

    Loss (Isola et al., pix2pix, CVPR 2017, in 3D): ``L = R(G(x), y) + λ·BCE(D(x, G(x)), 1)`` for the generator, with
    R the squared error (default) or pix2pix's L1, and ``BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)`` for the
    discriminator; y is the normalised Y-90 activity. ``history.l1`` records the L1 error either way.

    Returns:
        (generator in eval mode on CPU, :class:`TrainingHistory`).
    """
    import torch

    from HCCInterventionalAILib.models import select_device

    config = config or TrainingConfig()
    if config.reconstruction_loss not in ("l1", "mse"):
        raise ValueError(f"reconstruction_loss must be 'l1' or 'mse', got {config.reconstruction_loss!r}")
    progress = as_progress(progress)
    prepared = [case.prepared() for case in cases]
    if any(case.y90 is None for case in prepared):
        raise ValueError("Every training case needs its post-treatment Y-90 image")
    too_small = [c.case_id for c in prepared if min(c.maa.shape) < config.patch_size]
    if too_small:
        raise ValueError(f"Cases {too_small} are smaller than the {config.patch_size}-voxel training patch")
    inputs = [network_input(case) for case in prepared]
    targets = [normalised_activity(case.y90)[None] for case in prepared]
    sample = _patch_sampler(inputs, targets, config)

    torch.manual_seed(config.seed)
    device = select_device(config.device)
    generator, discriminator = build_generator().to(device), build_discriminator().to(device)
    optimiser_g = torch.optim.Adam(generator.parameters(), lr=config.learning_rate, betas=(0.5, 0.999))
    optimiser_d = torch.optim.Adam(discriminator.parameters(), lr=config.learning_rate, betas=(0.5, 0.999))
    bce = torch.nn.BCEWithLogitsLoss()
    history = TrainingHistory()
    for step in range(config.steps):
        x, y = (torch.from_numpy(a).to(device) for a in sample())
        fake = to_activity(generator(x), x)
        if config.adversarial_weight > 0:
            optimiser_d.zero_grad()
            real_logits = discriminator(torch.cat([x, y], 1))
            fake_logits = discriminator(torch.cat([x, fake.detach()], 1))
            loss_d = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
            loss_d.backward()
            optimiser_d.step()
        optimiser_g.zero_grad()
        l1 = torch.nn.functional.l1_loss(fake, y)
        loss = l1 if config.reconstruction_loss == "l1" else torch.nn.functional.mse_loss(fake, y)
        if config.adversarial_weight > 0:
            fooled = discriminator(torch.cat([x, fake], 1))
            adversarial = bce(fooled, torch.ones_like(fooled))
            loss = loss + config.adversarial_weight * adversarial
            history.adversarial.append(float(adversarial.detach()))
        loss.backward()
        optimiser_g.step()
        history.l1.append(float(l1.detach()))
        if step % 10 == 0 or step == config.steps - 1:
            progress.update((step + 1) / config.steps, f"step {step + 1}/{config.steps}, L1 {history.l1[-1]:.4f}")
    return generator.cpu().eval(), history


def main(argv: list[str] | None = None) -> None:
    """Command line: train on a manifest and write the weights with their model card."""
    from .data import read_manifest
    from .model_card import save_trained_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path, help="CSV with case_id, maa, y90[, ct, segmentation]")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=TrainingConfig.steps)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--training-data", default="", help="One sentence describing the cases, for the model card")
    args = parser.parse_args(argv)
    cases = read_manifest(args.manifest)
    config = TrainingConfig(steps=args.steps, device=args.device)
    generator, history = train_translation(cases, config, lambda f, m: print(f"{100 * f:5.1f}% {m}", flush=True))
    card = save_trained_model(generator, args.output, config=config, history=history,
                              training_data=args.training_data or f"{len(cases)} paired cases from {args.manifest.name}")
    print(f"Wrote {card}")


if __name__ == "__main__":
    main()
