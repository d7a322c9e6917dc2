"""Pieces shared by the project's offline training tools (``enhancement.train_ct_denoiser``, ``train_dl_dsa``).

Command line (``OUT_DIR --iterations N --seed S``), the Adam + cosine-schedule optimisation loop, and writing the
weights entry and JSON model card. Importing this module does not import torch; :func:`fit` does.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .checksum import sha256_file

__all__ = ["fit", "training_parser", "weights_files", "write_trained_card"]


def training_parser(doc: str, iterations: int, seed: int) -> argparse.ArgumentParser:
    """Parser with the arguments every training tool takes: ``out`` folder, ``--iterations`` and ``--seed``.

    Args:
        doc: The tool's module docstring; its first line is the description.
        iterations: Default number of optimiser steps.
        seed: Default random seed.

    Returns:
        The parser; the tool adds its own arguments.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--iterations", type=int, default=iterations)
    parser.add_argument("--seed", type=int, default=seed)
    return parser


def fit(net: Any, iterations: int, learning_rate: float, batch_loss: Callable[[Any], Any],
        log: Any = print) -> list[float]:
    """Adam with a cosine learning-rate schedule (Loshchilov & Hutter, ICLR 2017) for ``iterations`` steps.

    Args:
        net: The torch module, trained in place and left in eval mode.
        iterations: Number of optimiser steps.
        learning_rate: Initial Adam learning rate.
        batch_loss: Draws one batch and returns its scalar loss tensor for ``net``.
        log: Called with a progress line every 100 steps.

    Returns:
        The loss of every step.
    """
    import numpy as np
    import torch

    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, iterations)
    history: list[float] = []
    net.train()
    for step in range(iterations):
        loss = batch_loss(net)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        history.append(float(loss.detach()))
        if (step + 1) % 100 == 0:
            log(f"step {step + 1}/{iterations}: loss {np.mean(history[-100:]):.4f}")
    net.eval()
    return history


def weights_files(weights: Path) -> list[dict[str, Any]]:
    """The card's ``files`` entry of a weights file beside the card (SHA-256 and size of the file as written)."""
    return [{"url": weights.name, "sha256": sha256_file(weights), "filename": weights.name,
             "size": weights.stat().st_size}]


def write_trained_card(path: Path, card: dict[str, Any]) -> Path:
    """Write ``card`` as indented JSON (one-space indent, trailing newline) to ``path`` and return ``path``."""
    path.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    return path
