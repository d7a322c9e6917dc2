"""Writing a trained MAA → Y-90 generator as weights + a model card the model-loading library accepts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .network import GENERATOR_SPEC

__all__ = ["MODEL_ID", "save_trained_model", "card_dict"]

MODEL_ID = "maa-to-y90-unet"
WEIGHTS_NAME = "maa-to-y90.pt"


def card_dict(sha256: str, *, training_data: str, method: str, version: str = "0.1.0",
              trained_by_project: bool = True) -> dict[str, Any]:
    """The model card (see Resources/ModelCards/model-card.schema.json) of a generator saved next to it."""
    return {
        "id": MODEL_ID,
        "version": version,
        "name": "MAA SPECT/CT → Y-90 PET translation (3D U-Net generator of a conditional GAN)",
        "description": "Predicts the post-treatment Y-90 microsphere distribution from pre-treatment 99mTc-MAA "
                       "SPECT and CT, after Plachouris et al. (Med Phys 2021). Inputs and output are activity "
                       "scaled to mean 1 over the uptake region; the administered activity restores absolute values. The "
                       "output multiplies the MAA channel by exp(clamped network output).",
        "task": "image-to-image",
        "format": "state_dict",
        "files": [{"url": WEIGHTS_NAME, "sha256": sha256, "filename": WEIGHTS_NAME}],
        "network": GENERATOR_SPEC,
        "input": {
            "modality": "NM",
            "channels": [{"name": "MAA activity (mean 1 over uptake)", "modality": "NM"},
                         {"name": "relative density (HU+1000)/1000, 1 without CT", "modality": "CT"}],
            "patch_size": [32, 32, 32],
        },
        "inference": {"overlap": 0.5, "blend_mode": "gaussian", "mixed_precision": False},
        "licence": {"name": "Apache-2.0"},
        "training": {"trained_by_project": trained_by_project, "data": training_data, "method": method},
        "intended_use": "Research on MAA-based Y-90 dose prediction. Not for treatment planning.",
        "limitations": "Validated only on the data named under training; scanner, reconstruction and microsphere "
                       "type outside that data are untested.",
        "research_only": True,
        "validation_status": "Research model, not for clinical use",
    }


def save_trained_model(generator: Any, directory: str | Path, *, config: Any, history: Any, training_data: str) -> Path:
    """Save ``generator``'s state_dict and its card in ``directory``; returns the card path."""
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS_NAME
    torch.save(generator.state_dict(), weights)
    sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
    final_l1 = history.l1[-1] if history.l1 else float("nan")
    method = (f"Y90DosimetryLib.maa_to_y90.train: pix2pix-style cGAN, {json.dumps(asdict(config))}; "
              f"final training L1 {final_l1:.4f}")
    card = directory / f"{MODEL_ID}.card.json"
    card.write_text(json.dumps(card_dict(sha256, training_data=training_data, method=method), indent=2),
                    encoding="utf-8")
    return card
