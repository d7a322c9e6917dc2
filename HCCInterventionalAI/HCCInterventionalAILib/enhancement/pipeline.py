"""Requests, staged pipelines and results of image enhancement: one vocabulary for the GUI, the CLI and the demo.

DSA: :func:`prepare_dsa` validates the frames and picks the mask once, then :func:`run_dsa` registers and
subtracts and measures a time–intensity curve. Denoising: :func:`prepare_denoise` checks the CT, then
:func:`run_denoise` trains on the scan (Noise2Self), denoises and checks the result (noise, difference map,
hallucination check).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress
from .denoise import DenoiserState, Noise2SelfSettings, denoise_volume
from .dsa import TimeIntensityCurve, as_frames, select_mask_frame, subtract_run, time_intensity_curve
from .errors import EnhancementInputError
from .lowdose import require_ct
from .quality import HallucinationReport, cnr, difference_map, hallucination_check, revert_flagged, snr
from .registration import noise_sd, resolve_backend

__all__ = [
    "DSARequest",
    "DSAResult",
    "DenoiseRequest",
    "DenoiseResult",
    "PreparedDSA",
    "prepare_denoise",
    "prepare_dsa",
    "run_denoise",
    "run_dsa",
]


@dataclass
class DSARequest:
    """What to do with an angiographic run.

    Attributes:
        mask_index: mask frame; None = automatic (last contrast-free frame).
        motion: "none", "rigid" or "deformable".
        backend: "auto" (default: gauss-newton for rigid, torch for deformable), "torch" (batched, CPU/GPU;
            deformable starts from the Gauss–Newton rigid fit), "gauss-newton"
            (per frame in threads, fastest on a CPU; rigid as accurate as torch, deformable looser) or "simpleitk"
            (per frame, classical reference).
        device: torch device; None = CUDA when available.
        frame_rate: frames per second when the source has no frame times.
        roi: optional time–intensity region (row0, row1, col0, col1), end-exclusive.
    """

    mask_index: int | None = None
    motion: Literal["none", "rigid", "deformable"] = "deformable"
    backend: Literal["auto", "torch", "gauss-newton", "simpleitk"] = "auto"
    device: str | None = None
    frame_rate: float = 3.0
    roi: tuple[int, int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.motion not in ("none", "rigid", "deformable"):
            raise EnhancementInputError(f"motion must be none, rigid or deformable, got {self.motion!r}")
        if self.backend not in ("auto", "torch", "gauss-newton", "simpleitk"):
            raise EnhancementInputError(f"backend must be auto, torch, gauss-newton or simpleitk, got {self.backend!r}")
        if self.frame_rate <= 0:
            raise EnhancementInputError(f"frame_rate must be > 0, got {self.frame_rate}")


@dataclass
class PreparedDSA:
    """Validated frames, their times and the chosen mask."""

    frames: np.ndarray
    times_s: np.ndarray
    mask_index: int
    mask_automatic: bool


@dataclass
class DSAResult:
    """DSA frames and what produced them (``to_dict`` holds every number, no arrays).

    Attributes:
        dsa: DSA frames (n, rows, cols), log units, iodine positive.
        fields: registration fields (n, 2, rows, cols), pixels.
        times_s: frame times.
        mask_index: the mask frame; ``mask_automatic`` whether it was chosen automatically.
        motion, backend: as requested.
        seconds: registration + subtraction time; ``frames_per_second`` = frames / seconds.
        max_displacement_px: largest registration displacement.
        curve: time–intensity curve in the ROI (None without ROI).
    """

    dsa: np.ndarray
    fields: np.ndarray
    times_s: np.ndarray
    mask_index: int
    mask_automatic: bool
    motion: str
    backend: str
    seconds: float
    frames_per_second: float
    max_displacement_px: float
    curve: TimeIntensityCurve | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": int(self.dsa.shape[0]),
            "frame_size": [int(v) for v in self.dsa.shape[1:]],
            "mask_index": self.mask_index,
            "mask_automatic": self.mask_automatic,
            "motion": self.motion,
            "backend": self.backend,
            "seconds": self.seconds,
            "frames_per_second": self.frames_per_second,
            "max_displacement_px": self.max_displacement_px,
            "time_intensity_curve": self.curve.to_dict() if self.curve else None,
        }


def prepare_dsa(frames: Any, request: DSARequest, times_s: Any = None) -> PreparedDSA:
    """Validate the frames once and choose the mask (stage 1)."""
    array = as_frames(frames)
    times = np.arange(array.shape[0]) / request.frame_rate if times_s is None else np.asarray(times_s, dtype=float)
    if times.shape != (array.shape[0],):
        raise EnhancementInputError(f"{times.size} frame times given for {array.shape[0]} frames")
    if request.mask_index is None:
        index = select_mask_frame(array, request.motion, backend=request.backend, device=request.device)
        return PreparedDSA(array, times, index, True)
    if not -array.shape[0] <= request.mask_index < array.shape[0]:
        raise EnhancementInputError(f"mask_index {request.mask_index} is outside the run's {array.shape[0]} frames")
    return PreparedDSA(array, times, int(request.mask_index) % array.shape[0], False)


def run_dsa(frames: Any, request: DSARequest | None = None, *, times_s: Any = None,
            progress: Progress | ProgressCallback | None = None) -> DSAResult:
    """Motion-compensated DSA of a run (stages: prepare → register + subtract → time–intensity curve)."""
    request = request or DSARequest()
    reporter = as_progress(progress)
    prepared = prepare_dsa(frames, request, times_s)
    reporter.update(0.1, f"mask frame {prepared.mask_index}")
    start = time.perf_counter()
    dsa, fields = subtract_run(prepared.frames, prepared.mask_index, request.motion, reporter.sub(0.1, 0.95),
                               backend=request.backend, device=request.device, return_fields=True)
    seconds = time.perf_counter() - start
    curve = None
    if request.roi is not None:
        r0, r1, c0, c1 = request.roi
        roi = np.zeros(dsa.shape[1:], dtype=bool)
        roi[r0:r1, c0:c1] = True
        curve = time_intensity_curve(dsa, roi, prepared.times_s)
    reporter.update(1.0, "DSA done")
    return DSAResult(
        dsa=dsa, fields=fields, times_s=prepared.times_s, mask_index=prepared.mask_index,
        mask_automatic=prepared.mask_automatic, motion=request.motion,
        backend=resolve_backend(request.backend, request.motion) if request.motion != "none" else "none",
        seconds=float(seconds), frames_per_second=float(dsa.shape[0] / max(seconds, 1e-9)),
        max_displacement_px=float(np.sqrt((fields**2).sum(axis=1)).max()) if fields.size else 0.0, curve=curve,
    )


@dataclass
class DenoiseRequest:
    """What to do with a noisy CT.

    Attributes:
        method: "noise2self" (self-supervised on this scan, no weights) or the id (``id@version``) of a registered
            CT denoiser model card (:func:`~.card_denoise.denoiser_cards`), run through the model library.
        settings: Noise2Self training settings (iterations, network size, seed, device).
        hallucination_k: threshold of the hallucination check (robust sd of the local change).
        hallucination_min_voxels: smallest flagged region.
        keep_structure: structure guard: where the hallucination check flags the network's change (an edge it
            blurred, a structure it invented), the output keeps the input (:func:`~.quality.revert_flagged`); the
            rest is the network's output unchanged. False: the network's output everywhere.
    """

    settings: Noise2SelfSettings = field(default_factory=Noise2SelfSettings)
    method: str = "noise2self"
    hallucination_k: float = 5.0
    hallucination_min_voxels: int = 20
    keep_structure: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DenoiseResult:
    """Denoised CT, difference map and quality/safety numbers (``to_dict`` holds every number).

    Attributes:
        denoised: the new CT volume; ``difference``: denoised − input (HU).
        noise_sd_before_hu / noise_sd_after_hu: median over slices of the Immerkær noise estimate.
        snr_before / snr_after, cnr_before / cnr_after: in the given ROIs (None without ROIs).
        hallucination: the hallucination check of the network's own change (before the structure guard, so it
            shows what the network did even where the guard reverted it).
        reverted_fraction: fraction of the checked region where the structure guard kept less than half of the
            network's change, i.e. around the flagged regions (None without the guard).
        training_seconds, inference_seconds, final_loss: of the Noise2Self network.
        method: "noise2self" or the model card key; provenance: the card's model (id, version, checksums, device).
    """

    denoised: Volume
    difference: Volume
    noise_sd_before_hu: float
    noise_sd_after_hu: float
    hallucination: HallucinationReport
    training_seconds: float
    inference_seconds: float
    final_loss: float
    snr_before: float | None = None
    snr_after: float | None = None
    cnr_before: float | None = None
    cnr_after: float | None = None
    state: DenoiserState | None = None
    method: str = "noise2self"
    provenance: dict[str, Any] | None = None
    reverted_fraction: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.method,
            "noise_sd_before_hu": self.noise_sd_before_hu,
            "noise_sd_after_hu": self.noise_sd_after_hu,
            "snr_before": self.snr_before,
            "snr_after": self.snr_after,
            "cnr_before": self.cnr_before,
            "cnr_after": self.cnr_after,
            "hallucination": self.hallucination.to_dict(),
            "reverted_fraction": self.reverted_fraction,
            "training_seconds": self.training_seconds,
            "inference_seconds": self.inference_seconds,
            "final_loss": self.final_loss if self.final_loss == self.final_loss else None,  # NaN: no training
            "method": "Noise2Self (self-supervised on this scan; no pretrained weights)" if self.method == "noise2self"
            else f"model card {self.method} (see its card for training data and limitations)",
            "provenance": self.provenance,
        }


def _slice_noise(array: np.ndarray) -> float:
    return float(np.median([noise_sd(s) for s in np.asarray(array, dtype=np.float32)]))


def prepare_denoise(ct: Volume) -> Volume:
    """Check the CT once (stage 1); returns it as float32."""
    require_ct(ct)
    ct.require_finite()
    return ct.with_array(np.asarray(ct.array, dtype=np.float32))


def run_denoise(
    ct: Volume,
    request: DenoiseRequest | None = None,
    *,
    lesion_roi: np.ndarray | None = None,
    background_roi: np.ndarray | None = None,
    region: np.ndarray | None = None,
    cache_dir: str | Path | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> DenoiseResult:
    """Denoising of a CT (Noise2Self on the scan, or a denoiser model card) with its quality and safety checks.

    Args:
        ct: the noisy CT (HU).
        request: settings.
        lesion_roi, background_roi: optional masks for SNR (background) and CNR (lesion vs background).
        region: where the hallucination check and the structure guard measure the spread of the change (default:
            voxels between −200 and 400 HU in the input, i.e. soft tissue, eroded by one voxel within each slice).
        cache_dir: model download cache (model cards; default: the model library's).
        progress: progress reporter or callback.

    Returns:
        The :class:`DenoiseResult`.
    """
    from scipy.ndimage import binary_erosion

    request = request or DenoiseRequest()
    reporter = as_progress(progress)
    prepared = prepare_denoise(ct)
    start = time.perf_counter()
    provenance = None
    if request.method == "noise2self":
        denoised, state = denoise_volume(prepared, settings=request.settings,
                                         progress=reporter.sub(0.0, 0.9))
    else:
        from ..models.loading import load_model, resolve_card
        from .card_denoise import denoise_with_card

        card = resolve_card(request.method)
        denoised = denoise_with_card(prepared, card, device=request.settings.device, cache_dir=cache_dir,
                                     progress=reporter.sub(0.0, 0.9))
        state = DenoiserState(state_dict={}, settings=request.settings, final_loss=float("nan"), seconds=0.0)
        provenance = load_model(card, device=request.settings.device or "auto", cache_dir=cache_dir).provenance
    total = time.perf_counter() - start
    if region is None:
        in_plane = np.zeros((3, 3, 3), dtype=bool)
        in_plane[1] = [[False, True, False], [True, True, True], [False, True, False]]  # thin slabs keep a region
        region = binary_erosion((prepared.array > -200) & (prepared.array < 400), structure=in_plane)
    region = np.asarray(region, dtype=bool)
    report = hallucination_check(prepared.array, denoised.array, region=region, k=request.hallucination_k,
                                 min_voxels=request.hallucination_min_voxels)
    reverted = None
    if request.keep_structure:
        guarded, weight = revert_flagged(prepared.array, denoised.array, report)
        reverted = float((weight[region] < 0.5).mean()) if region.any() else 0.0
        denoised = denoised.with_array(guarded, metadata={**denoised.metadata, "structure_guard": True})
    difference = prepared.with_array(difference_map(prepared.array, denoised.array),
                                     name=f"{ct.name} (denoised − input)", units="HU")
    result = DenoiseResult(
        denoised=denoised, difference=difference,
        noise_sd_before_hu=_slice_noise(prepared.array), noise_sd_after_hu=_slice_noise(denoised.array),
        hallucination=report, training_seconds=state.seconds, inference_seconds=float(total - state.seconds),
        final_loss=state.final_loss, state=state if request.method == "noise2self" else None, method=request.method,
        provenance=provenance, reverted_fraction=reverted,
    )
    if background_roi is not None:
        result.snr_before, result.snr_after = snr(prepared.array, background_roi), snr(denoised.array, background_roi)
        if lesion_roi is not None:
            result.cnr_before = cnr(prepared.array, lesion_roi, background_roi)
            result.cnr_after = cnr(denoised.array, lesion_roi, background_roi)
    reporter.update(1.0, "denoising done")
    return result
