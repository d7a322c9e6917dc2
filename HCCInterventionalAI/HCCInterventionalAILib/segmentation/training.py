"""Train or fine-tune a MONAI segmentation network on an MSD Task03-layout dataset and write its model card.

Dataset layout (Medical Segmentation Decathlon, Antonelli M. et al., Nature Communications 2022;13:4128): a
folder with ``dataset.json`` (``"training": [{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}]``,
``"labels": {"0": "background", "1": "liver", "2": "cancer"}``), ``imagesTr/`` and ``labelsTr/``.
:func:`write_synthetic_msd` writes SYNTHETIC sample patients in that layout (for tests and demos).

Training: images are resampled to the request's spacing (labels nearest neighbour), clipped to the CT window
and scaled to [0, 1] (MONAI ``ScaleIntensityRange`` convention, as the card then declares), and a MONAI
``UNet`` is trained on whole volumes with Dice + cross-entropy loss (``monai.losses.DiceCELoss``) and Adam.
The last ``val_cases`` cases are held out; the card's ``reported_accuracy`` is the mean Dice on them
(``monai.metrics.DiceMetric``), and it says whether the data were synthetic. Fine-tuning starts from the
``state_dict`` weights of an existing card with the same network.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress

__all__ = ["TrainRequest", "TrainResult", "read_msd_dataset", "train_segmentation", "write_synthetic_msd"]


@dataclass(frozen=True)
class TrainRequest:
    """Training settings (small defaults: CPU-friendly)."""

    epochs: int = 40
    spacing: tuple[float, float, float] = (8.0, 8.0, 8.0)
    window: tuple[float, float] = (-175.0, 250.0)
    channels: tuple[int, ...] = (8, 16, 32)
    strides: tuple[int, ...] = (2, 2)
    learning_rate: float = 3e-3
    val_cases: int = 1
    seed: int = 0
    model_id: str = "liver-unet-custom"
    version: str = "0.1.0"
    init_card: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """Where the weights and card are, the held-out Dice per label, the loss curve."""

    weights: Path
    card: Path
    validation_dice: dict[str, float]
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def read_msd_dataset(folder: str | Path) -> tuple[list[tuple[Path, Path]], dict[int, str], str]:
    """(image, label) pairs, label names and dataset name from an MSD ``dataset.json``.

    Raises:
        ValueError: no dataset.json, no training cases, or a listed file is missing.
    """
    folder = Path(folder)
    description = folder / "dataset.json"
    if not description.is_file():
        raise ValueError(f"{folder} is not an MSD dataset: it has no dataset.json")
    data = json.loads(description.read_text(encoding="utf-8"))
    pairs = [(folder / item["image"], folder / item["label"]) for item in data.get("training", [])]
    if len(pairs) < 2:
        raise ValueError(f"{description} lists {len(pairs)} training case(s); at least 2 are needed")
    for image, label in pairs:
        if not image.is_file() or not label.is_file():
            raise ValueError(f"{description} lists {image.name} / {label.name}, which do not exist")
    labels = {int(k): v for k, v in data.get("labels", {"0": "background", "1": "liver"}).items()}
    return pairs, labels, str(data.get("name", folder.name))


def write_synthetic_msd(folder: str | Path, seeds: list[int], size: str = "small") -> Path:
    """Write SYNTHETIC sample patients (portal venous CT; labels 1 liver, 2 tumour) in the MSD Task03 layout."""
    from ..imaging.io import write_volume
    from ..sample import make_sample_patient
    from ..segmentation_stats import is_liver, is_tumour

    folder = Path(folder)
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(parents=True, exist_ok=True)
    training = []
    for seed in seeds:
        patient = make_sample_patient(seed, size=size)
        labels = np.zeros(patient.truth.geometry.shape, np.uint8)
        for segment in patient.truth:
            if is_liver(segment):
                labels[segment.mask] = np.maximum(labels[segment.mask], 1)
        for segment in patient.truth:
            if is_tumour(segment):
                labels[segment.mask] = 2
        name = f"synthetic_{seed:03d}.nii.gz"
        write_volume(patient.ct["portal venous"], folder / "imagesTr" / name)
        write_volume(Volume(labels, patient.truth.geometry), folder / "labelsTr" / name)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    description = {"name": "SYNTHETIC liver (HCC Interventional AI sample patients)", "modality": {"0": "CT"},
                   "labels": {"0": "background", "1": "liver", "2": "cancer"}, "numTraining": len(training),
                   "training": training, "synthetic": True}
    (folder / "dataset.json").write_text(json.dumps(description, indent=1), encoding="utf-8")
    return folder


def _load_pair(image_path: Path, label_path: Path, request: TrainRequest) -> tuple[np.ndarray, np.ndarray]:
    from ..imaging.io import read_volume
    from ..imaging.resample import resample_to_geometry, spacing_geometry

    image = read_volume(image_path)
    label = read_volume(label_path)
    grid = spacing_geometry(image.geometry, request.spacing)
    image = resample_to_geometry(image.with_array(image.array.astype(np.float32)), grid, interpolation="linear")
    label = resample_to_geometry(label, grid, interpolation="nearest")
    low, high = request.window
    array = (np.clip(image.array, low, high) - low) / (high - low)
    return array.astype(np.float32), np.asarray(label.array, dtype=np.int64)


def _pad_to(array: np.ndarray, multiple: int) -> np.ndarray:
    pads = [(0, (-n) % multiple) for n in array.shape]
    return np.pad(array, pads)


def train_segmentation(
    dataset: str | Path,
    output: str | Path,
    request: TrainRequest | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> TrainResult:
    """Train (or fine-tune) a MONAI UNet on an MSD dataset; write ``weights.pt`` and a model card into ``output``.

    Raises:
        ValueError: bad dataset or request; ImportError: torch/MONAI missing (extra ``ai``).
    """
    import torch
    from monai.losses import DiceCELoss
    from monai.metrics import DiceMetric
    from monai.networks.nets import UNet

    request = request or TrainRequest()
    report = as_progress(progress)
    started = time.perf_counter()
    pairs, label_names, name = read_msd_dataset(dataset)
    if request.val_cases < 1 or request.val_cases >= len(pairs):
        raise ValueError(f"val_cases must be between 1 and {len(pairs) - 1} for {len(pairs)} cases")
    torch.manual_seed(request.seed)
    multiple = 2 ** len(request.strides)
    cases = [_load_pair(image, label, request) for image, label in pairs]
    shape = tuple(max(c[0].shape[d] for c in cases) for d in range(3))
    tensors = []
    for image, label in cases:
        padded_image = _pad_to(np.pad(image, [(0, s - n) for s, n in zip(shape, image.shape, strict=True)]), multiple)
        padded_label = _pad_to(np.pad(label, [(0, s - n) for s, n in zip(shape, label.shape, strict=True)]), multiple)
        tensors.append((torch.from_numpy(padded_image)[None, None], torch.from_numpy(padded_label)[None, None]))
    train, held_out = tensors[: -request.val_cases], tensors[-request.val_cases:]
    classes = max(label_names) + 1
    network_args = {"spatial_dims": 3, "in_channels": 1, "out_channels": classes, "channels": list(request.channels),
                    "strides": list(request.strides), "num_res_units": 1}
    network = UNet(**network_args)
    if request.init_card:
        from ..models import fetch_model, get_card

        card = get_card(request.init_card)
        state = torch.load(fetch_model(card) / card.weights_path, map_location="cpu", weights_only=True)
        network.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    loss_function = DiceCELoss(to_onehot_y=True, softmax=True)
    optimiser = torch.optim.Adam(network.parameters(), lr=request.learning_rate)
    losses = []
    for epoch in range(request.epochs):
        network.train()
        total = 0.0
        for image, label in train:
            optimiser.zero_grad()
            loss = loss_function(network(image), label)
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
        losses.append(total / len(train))
        report.update((epoch + 1) / (request.epochs + 1), f"epoch {epoch + 1}/{request.epochs}: loss {losses[-1]:.3f}")
    network.eval()
    metric = DiceMetric(include_background=False, reduction="mean_batch")
    with torch.no_grad():
        for image, label in held_out:
            prediction = network(image).argmax(dim=1, keepdim=True)
            onehot = torch.nn.functional.one_hot(prediction[:, 0], classes).permute(0, 4, 1, 2, 3)
            reference = torch.nn.functional.one_hot(label[:, 0], classes).permute(0, 4, 1, 2, 3)
            metric(onehot, reference)
    per_label = metric.aggregate().tolist()
    dice = {label_names[value]: float(per_label[value - 1]) for value in sorted(label_names) if value > 0}
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    weights = output / "weights.pt"
    torch.save(network.state_dict(), weights)
    patch = list(train[0][0].shape[2:])  # the padded training shape: a multiple of the network's total stride
    card_path = _write_card(output, weights, network_args, label_names, name, pairs, request, dice, dataset, patch)
    report.update(1.0, "Training done")
    return TrainResult(weights, card_path, dice, losses, time.perf_counter() - started)


def _write_card(output: Path, weights: Path, network_args: dict, label_names: dict[int, str], name: str,
                pairs: list, request: TrainRequest, dice: dict[str, float], dataset: str | Path,
                patch: list[int]) -> Path:
    from ..imaging.terminology import lookup_terminology
    from ..models.checksum import sha256_file

    synthetic = bool(json.loads((Path(dataset) / "dataset.json").read_text(encoding="utf-8")).get("synthetic"))
    labels = []
    for value, label in sorted(label_names.items()):
        entry: dict[str, Any] = {"value": value, "name": "Tumour" if label == "cancer" else label.capitalize()}
        known = lookup_terminology(entry["name"])
        if value and known is not None:
            code = lambda c: {"scheme": c.scheme, "value": c.value, "meaning": c.meaning}  # noqa: E731
            entry["terminology"] = {"category": code(known.category), "type": code(known.type)}
            if known.region is not None:
                entry["terminology"]["region"] = code(known.region)
        labels.append(entry)
    held = request.val_cases
    data = f"{name}: {len(pairs) - held} training and {held} held-out case(s)" + (
        " — SYNTHETIC computer-generated phantoms, not patients" if synthetic else "")
    card = {
        "id": request.model_id, "version": request.version,
        "name": f"UNet trained with hccai train-segmentation on {name}",
        "task": "segmentation", "format": "state_dict",
        "files": [{"url": weights.name, "sha256": sha256_file(weights), "filename": weights.name,
                   "size": weights.stat().st_size}],
        "network": {"name": "UNet", "args": network_args},
        "input": {"modality": "CT", "spacing": list(request.spacing), "axis_order": "kji",
                  "intensity": {"window": list(request.window), "normalisation": "range", "output_range": [0, 1]},
                  "patch_size": patch},
        "output": {"activation": "softmax", "labels": labels},
        "licence": {"name": "as the training data"},
        "training": {"trained_by_project": True, "data": data,
                     "method": f"HCCInterventionalAILib.segmentation.training: {json.dumps(request.to_dict())}"},
        "intended_use": "Research" + (" and software tests only: trained on SYNTHETIC data" if synthetic else ""),
        "limitations": "Whole-volume training at coarse spacing; evaluated only on the held-out cases named below.",
        "reported_accuracy": [{"metric": "Dice", "value": round(value, 4), "dataset": f"{held} held-out case(s) of {name}",
                               "structure": label} for label, value in dice.items()],
        "research_only": True,
        "validation_status": ("Trained on SYNTHETIC data: not for clinical use" if synthetic
                              else "Trained by the user; not validated by this project, not for clinical use"),
    }
    path = output / f"{request.model_id}-{request.version}.json"
    path.write_text(json.dumps(card, indent=2), encoding="utf-8")
    return path
