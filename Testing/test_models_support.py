"""Helpers shared by the model-loading tests: local model cards and tiny networks (no downloads).

Imported by the ``test_models_*`` modules; it holds no tests itself. Checksums are computed here with
``hashlib`` directly, independently of the library's own hashing.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

#: A tiny 3D MONAI UNet: 1 input channel, 3 classes, two resolution levels.
TINY_UNET = {"name": "UNet", "args": {"spatial_dims": 3, "in_channels": 1, "out_channels": 3,
                                      "channels": [4, 8], "strides": [2], "num_res_units": 1}}

#: Three output labels with SNOMED CT terminology for the liver.
LABELS = [
    {"value": 0, "name": "background"},
    {"value": 1, "name": "liver", "terminology": {
        "category": {"scheme": "SCT", "value": "123037004", "meaning": "Anatomical Structure"},
        "type": {"scheme": "SCT", "value": "10200004", "meaning": "Liver"}}},
    {"value": 2, "name": "tumor"},
]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def file_entry(path: Path, **extra: Any) -> dict[str, Any]:
    """A card ``files`` entry for a local file, served through a ``file://`` URL."""
    path = Path(path)
    entry = {"url": path.resolve().as_uri(), "sha256": sha256_of(path), "filename": path.name}
    entry.update(extra)
    return entry


def card_dict(files: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    """A complete, valid card (state_dict format, tiny UNet) with ``overrides`` applied (None removes a key)."""
    card = {
        "id": "tiny-unet",
        "version": "1.0.0",
        "name": "Tiny UNet (test)",
        "task": "segmentation",
        "format": "state_dict",
        "files": files,
        "network": copy.deepcopy(TINY_UNET),
        "input": {"modality": "CT", "intensity": {"window": [-100, 200], "normalisation": "range"},
                  "patch_size": [16, 16, 16]},
        "output": {"activation": "softmax", "labels": copy.deepcopy(LABELS)},
        "licence": {"name": "Apache-2.0"},
        "training": {"trained_by_project": True, "data": "none (random weights)", "method": "untrained test model"},
        "intended_use": "Unit tests of the model-loading library",
        "research_only": True,
        "validation_status": "Not validated; not for clinical use",
    }
    card.update(overrides)
    return {key: value for key, value in card.items() if value is not None}


def write_card(folder: Path, card: dict[str, Any], name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"{card['id']}-{card['version']}.json")
    path.write_text(json.dumps(card, indent=2), encoding="utf-8")
    return path


def tiny_unet(seed: int = 0) -> Any:
    """The :data:`TINY_UNET` network with seeded random weights, in eval mode."""
    import monai
    import torch

    torch.manual_seed(seed)
    return monai.networks.nets.UNet(**TINY_UNET["args"]).eval()


def save_state_dict(network: Any, path: Path) -> Path:
    import torch

    torch.save(network.state_dict(), path)
    return path
