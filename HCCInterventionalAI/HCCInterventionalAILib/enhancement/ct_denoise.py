"""Supervised CT denoising with a network trained on SIMULATED low-dose CT (shipped weights, model card).

What it is, exactly: a small residual MONAI 2-D U-Net (slice by slice) trained to map a simulated low-dose slice
to the standard-dose slice it was made from. The low-dose slices were made with this package's projection-domain
noise insertion (:mod:`.lowdose`: scikit-image ``radon`` → Poisson counts at a reduced photon number → ``iradon``
filtered back-projection; Yu et al., Med Phys 2012) from openly licensed real CT: the three abdominal CT slices of
the QIICR/dcmqi test data (BSD-3-Clause, © 2017 Brigham and Women's Hospital), read at training time only
(:mod:`.train_ct_denoiser`). The card ``Resources/ModelCards/ct-denoise-simulated-lowdose.json`` states the data,
the dose levels and the PSNR/SSIM gain on a held-out slice. It has never seen a real low-dose acquisition and is
not clinically validated: it learnt the noise of the simulation, not of a scanner's reconstruction.

Network units: ``x = (clip(HU, −1024, 3071) − 40) / 200``; the network predicts a correction, the output is
``HU = 200 · (x + f(x)) + 40`` (residual learning, as RED-CNN: Chen et al., IEEE Trans Med Imaging 2017).
Inference is tiled (MONAI sliding window, Gaussian blending) on the GPU when present, else the CPU, and the result
is a new volume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress
from .errors import EnhancementInputError
from .lowdose import require_ct
from .quality import HallucinationReport, cnr, difference_map, hallucination_check, snr
from .registration import noise_sd

__all__ = [
    "CARD_FILE",
    "HU_CENTRE",
    "HU_SCALE",
    "MODEL_ID",
    "SupervisedDenoiseRequest",
    "SupervisedDenoiseResult",
    "card_path",
    "denoise_ct_dl",
    "from_network",
    "run_denoise_dl",
    "to_network",
]

MODEL_ID = "ct-denoise-simulated-lowdose"
CARD_FILE = f"{MODEL_ID}.json"
WEIGHTS_FILE = f"{MODEL_ID}.pt"
#: HU → network units: (HU − centre) / scale.
HU_CENTRE, HU_SCALE = 40.0, 200.0
_HU_RANGE = (-1024.0, 3071.0)


def card_path() -> Path:
    """The model card, ``Resources/ModelCards/ct-denoise-simulated-lowdose.json`` (weights beside it)."""
    from ..models.card import builtin_cards_directory

    return builtin_cards_directory() / CARD_FILE


def to_network(hu: np.ndarray) -> np.ndarray:
    """HU → network units, ``(clip(HU, −1024, 3071) − 40) / 200`` (float32)."""
    return ((np.clip(np.asarray(hu, dtype=np.float32), *_HU_RANGE) - HU_CENTRE) / HU_SCALE).astype(np.float32)


def from_network(x: np.ndarray) -> np.ndarray:
    """Network units → HU."""
    return (np.asarray(x, dtype=np.float32) * HU_SCALE + HU_CENTRE).astype(np.float32)


def _check_card(card: Any) -> None:
    args = dict(card.network.args) if card.network else {}
    if (card.task != "image-to-image" or (card.input.modality or "").upper() != "CT"
            or args.get("spatial_dims") != 2 or args.get("in_channels") != 1 or args.get("out_channels") != 1):
        raise EnhancementInputError(f"Model '{card.id}' is not a CT denoiser (a 2-D, one-channel CT "
                                    "image-to-image network); choose such a card, e.g. " + MODEL_ID)


def denoise_ct_dl(
    ct: Volume,
    model: Any = MODEL_ID,
    device: Any = "auto",
    progress: Progress | ProgressCallback | None = None,
    *,
    overlap: float = 0.25,
    cache_dir: str | Path | None = None,
) -> Volume:
    """Denoise a CT slice by slice with a supervised network (tiled inference), returning a NEW volume.

    Args:
        ct: the noisy CT (HU), axial slices along the first array axis (k).
        model: model card id (``id`` or ``id@version``) or a :class:`~HCCInterventionalAILib.models.ModelCard`.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or a torch device.
        progress: progress reporter or callback; cancellation raises ``Cancelled``.
        overlap: sliding-window overlap (0 ≤ overlap < 1).
        cache_dir: model cache folder (default: the library's).

    Returns:
        The denoised CT (float32 HU) on the same grid; the input is not modified.

    Raises:
        NotCTError: the input is not a CT in HU.
        EnhancementInputError: the card is not a CT denoiser.
        ChecksumMismatchError: the weights do not match the card's SHA-256.
    """
    from ..models import load_model, sliding_window_predict
    from ..models.loading import resolve_card

    require_ct(ct)
    ct.require_finite()
    reporter = as_progress(progress)
    card = resolve_card(model)
    _check_card(card)
    loaded = load_model(card, device=device, cache_dir=cache_dir, progress=reporter.sub(0.0, 0.1))
    x = to_network(ct.array)[:, None]  # (k, 1, rows, cols): slices as the batch
    rows, cols = x.shape[2:]
    patch = tuple(card.input.patch_size or (256, 256))
    roi = (min(int(patch[0]), rows), min(int(patch[1]), cols))
    # The U-Net halves twice per level: window sides must be multiples of its total stride.
    stride = int(np.prod((card.network.args or {}).get("strides", [1]))) if card.network else 1
    if rows < stride or cols < stride:
        raise EnhancementInputError(f"Slices of {rows}×{cols} pixels are too small for the network (≥ {stride})")
    roi = (roi[0] - roi[0] % stride, roi[1] - roi[1] % stride)
    correction = sliding_window_predict(loaded, x, roi, overlap=overlap, progress=reporter.sub(0.1, 1.0),
                                        mixed_precision=False, output_device="cpu")
    out = from_network(x[:, 0] + correction[:, 0].numpy())
    metadata = dict(ct.metadata)
    metadata.update({"denoised": f"supervised network {card.key} (trained on simulated low-dose CT)",
                     "model_sha256": {f.filename: f.sha256 for f in card.files}})
    return ct.with_array(out, name=f"{ct.name} (denoised, {card.id})", modality="CT", units="HU",
                         metadata=metadata)


@dataclass
class SupervisedDenoiseRequest:
    """What to do with a noisy CT using shipped weights.

    Attributes:
        model: model card id of a CT denoiser.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``.
        overlap: sliding-window overlap.
        hallucination_k, hallucination_min_voxels: settings of the hallucination check.
    """

    model: str = MODEL_ID
    device: str = "auto"
    overlap: float = 0.25
    hallucination_k: float = 5.0
    hallucination_min_voxels: int = 20

    def __post_init__(self) -> None:
        if not 0.0 <= self.overlap < 1.0:
            raise EnhancementInputError(f"overlap must be in [0, 1), got {self.overlap}")


@dataclass
class SupervisedDenoiseResult:
    """Denoised CT, difference map and quality/safety numbers (``to_dict`` holds every number).

    Attributes:
        denoised: the new CT volume; ``difference``: denoised − input (HU).
        noise_sd_before_hu / noise_sd_after_hu: median over slices of the Immerkær noise estimate.
        hallucination: the hallucination check of the change.
        inference_seconds: loading + inference time.
        model: provenance (id, version, checksums, device).
        snr_before / snr_after, cnr_before / cnr_after: in the given ROIs (None without ROIs).
    """

    denoised: Volume
    difference: Volume
    noise_sd_before_hu: float
    noise_sd_after_hu: float
    hallucination: HallucinationReport
    inference_seconds: float
    model: dict[str, Any] = field(default_factory=dict)
    snr_before: float | None = None
    snr_after: float | None = None
    cnr_before: float | None = None
    cnr_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "noise_sd_before_hu": self.noise_sd_before_hu,
            "noise_sd_after_hu": self.noise_sd_after_hu,
            "snr_before": self.snr_before,
            "snr_after": self.snr_after,
            "cnr_before": self.cnr_before,
            "cnr_after": self.cnr_after,
            "hallucination": self.hallucination.to_dict(),
            "inference_seconds": self.inference_seconds,
            "model": self.model,
            "method": "supervised network trained on simulated low-dose CT (see its model card)",
        }


def _slice_noise(array: np.ndarray) -> float:
    return float(np.median([noise_sd(s) for s in np.asarray(array, dtype=np.float32)]))


def run_denoise_dl(
    ct: Volume,
    request: SupervisedDenoiseRequest | None = None,
    *,
    lesion_roi: np.ndarray | None = None,
    background_roi: np.ndarray | None = None,
    region: np.ndarray | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> SupervisedDenoiseResult:
    """Supervised denoising of a CT with the same quality and safety checks as :func:`~.pipeline.run_denoise`.

    Args:
        ct: the noisy CT (HU).
        request: settings.
        lesion_roi, background_roi: optional masks for SNR (background) and CNR (lesion vs background).
        region: where the hallucination check looks (default: voxels between −200 and 400 HU in the input,
            eroded by one voxel).
        cache_dir: model cache folder.
        progress: progress reporter or callback.

    Returns:
        The :class:`SupervisedDenoiseResult`.
    """
    from scipy.ndimage import binary_erosion

    from ..models import load_model
    from ..models.loading import resolve_card

    request = request or SupervisedDenoiseRequest()
    require_ct(ct)
    ct.require_finite()
    prepared = ct.with_array(np.asarray(ct.array, dtype=np.float32))
    card = resolve_card(request.model)
    _check_card(card)
    start = time.perf_counter()
    denoised = denoise_ct_dl(prepared, card, request.device, progress, overlap=request.overlap, cache_dir=cache_dir)
    seconds = time.perf_counter() - start
    if region is None:
        region = binary_erosion((prepared.array > -200) & (prepared.array < 400), iterations=1)
    report = hallucination_check(prepared.array, denoised.array, region=region, k=request.hallucination_k,
                                 min_voxels=request.hallucination_min_voxels)
    difference = prepared.with_array(difference_map(prepared.array, denoised.array),
                                     name=f"{ct.name} (denoised − input)", units="HU")
    result = SupervisedDenoiseResult(
        denoised=denoised, difference=difference, noise_sd_before_hu=_slice_noise(prepared.array),
        noise_sd_after_hu=_slice_noise(denoised.array), hallucination=report, inference_seconds=float(seconds),
        model=load_model(card, device=request.device, cache_dir=cache_dir).provenance,
    )
    if background_roi is not None:
        result.snr_before, result.snr_after = snr(prepared.array, background_roi), snr(denoised.array, background_roi)
        if lesion_roi is not None:
            result.cnr_before = cnr(prepared.array, lesion_roi, background_roi)
            result.cnr_after = cnr(denoised.array, lesion_roi, background_roi)
    return result
