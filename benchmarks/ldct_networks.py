"""Speed of the published low-dose-CT denoising architectures (the ldct-benchmark cards) per batch of 512² slices.

Each card's network is built through the model library with RANDOM weights (nothing is downloaded; the time of a
forward pass does not depend on the weight values, except for the bilateral filter, whose window grows with its
spatial widths: they are set to ``--bilateral-sigma`` px, 0.5 being ldct-benchmark's initial value, and the
published checkpoint's trained widths are unknown here). Baseline measured in the same run: RED-CNN (96 maps).
Medians over ``--repeats`` forward passes after one warm-up, ``torch.no_grad``, a batch of ``--slices`` slices of
512×512 (TransCT accepts no other size). CPU (``--threads`` torch threads) and CUDA when available.

Measured 2026-11-30 on the 2-core VM (load 1.6, 2 threads, ``--slices 4 --repeats 3``), seconds per 512² slice:
RED-CNN 4.324 (baseline), CNN-10 0.190, ResNet 8.750, WGAN-VGG generator 0.404, Q-AE 0.903, TransCT 0.199, trainable
bilateral filter 0.161 (σ_xy 0.5 px) and 0.767 (σ_xy 2 px); a 200-slice volume therefore takes from about 30 s (CNN-10,
TransCT, bilateral) to 29 min (ResNet) on such a CPU. No GPU row has been measured. Usage:
``python benchmarks/ldct_networks.py [--slices 4] [--repeats 3] [--bilateral-sigma 0.5 2.0] [--only CARD ...] [--quick]``
"""

from __future__ import annotations

import argparse
import os

from _common import median_time

#: card id → label; the first is the baseline.
CARDS = {
    "ldct-benchmark-redcnn": "RED-CNN (baseline)",
    "ldct-benchmark-cnn10": "CNN-10",
    "ldct-benchmark-resnet": "ResNet",
    "ldct-benchmark-wganvgg": "WGAN-VGG generator",
    "ldct-benchmark-qae": "Q-AE",
    "ldct-benchmark-transct": "TransCT",
    "ldct-benchmark-bilateral": "trainable bilateral filter",
}


def main() -> None:
    import torch

    from HCCInterventionalAILib.models.card import builtin_cards_directory, load_card
    from HCCInterventionalAILib.models.networks import build_network

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bilateral-sigma", type=float, nargs="+", default=[0.5, 2.0])
    parser.add_argument("--only", nargs="+", choices=sorted(CARDS), help="these cards only (the first is the baseline)")
    parser.add_argument("--quick", action="store_true", help="1 slice, 1 repeat, CPU only")
    args = parser.parse_args()
    if args.quick:
        args.slices, args.repeats = 1, 1
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.quick else [])
    print(f"load average {os.getloadavg()[0]:.1f}, torch threads {args.threads}, batch {args.slices}×512²")
    print("| network | parameters | device | median time per batch | per slice | time ratio vs the first row (same run) |")
    print("|---|---|---|---|---|---|")
    for device in devices:
        x = torch.randn(args.slices, 1, 512, 512, device=device)
        baseline = None
        for card_id in args.only or CARDS:
            label = CARDS[card_id]
            card = load_card(builtin_cards_directory() / f"{card_id}.json")
            network = build_network(card.network.name, card.network.args).eval().to(device)
            variants = [(label, None)]
            if card.network.name == "TrainableBilateralDenoiser":
                variants = [(f"{label}, σ_xy {s} px", s) for s in args.bilateral_sigma]
            for name, sigma in variants:
                if sigma is not None:
                    with torch.no_grad():
                        for layer in network.filters:
                            layer.sigma_x.fill_(sigma)
                            layer.sigma_y.fill_(sigma)
                            layer.color_sigma.fill_(0.1)

                def forward(network=network, x=x, device=device) -> None:
                    with torch.no_grad():
                        network(x)
                    if device == "cuda":
                        torch.cuda.synchronize()

                seconds = median_time(forward, args.repeats, warm_up=True)
                baseline = baseline or seconds
                count = sum(p.numel() for p in network.parameters())
                print(f"| {name} | {count:,} | {device} | {seconds:.3f} s | {seconds / args.slices:.3f} s | "
                      f"{seconds / baseline:.2f}x |")


if __name__ == "__main__":
    main()
