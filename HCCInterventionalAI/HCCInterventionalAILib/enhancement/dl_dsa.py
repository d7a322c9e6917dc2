"""Mask-free deep-learning DSA: a 2-D U-Net that maps ONE live frame to its iodine image (no mask frame).

What it is, exactly: a MONAI 2-D U-Net trained ONLY on SYNTHETIC angiographic runs of
:func:`~.angio.simulate_angio_run` (branching hepatic-artery trees with gamma-variate bolus dynamics and a tumour
blush over a computer-generated abdominal background, Poisson counts, respiratory and bowel motion), with the
generator's parameters drawn at random (:func:`randomised_run`). It has never seen a patient angiogram and is not
clinically validated. The card ``Resources/ModelCards/dsa-maskfree-synthetic.json`` says so and reports its
vessel Dice and PSNR against the generator's truth on held-out synthetic runs.

Frame size: the generator scales every structure with the frame (vessel radii, ribs, body, tumour, texture are
fractions of the frame side) while the counts per pixel, and so the noise, do not, so a network that learns vessel
calibres in pixels only works at the frame sizes it saw (version 1.0.0, trained on 192–320 px frames and run at the
frame's own size, scored vessel Dice 0.08–0.23 at 128², 160², 512² and 1024² against 0.74 at 256²:
``train_dl_dsa --evaluate-only --native``). The network therefore runs on a fixed
WORKING grid (:func:`to_working_grid`): each frame's counts are resampled so that its shorter side is
:data:`WORKING_SIZE` pixels (area averaging when shrinking, i.e. detector binning; bilinear when enlarging), and the
iodine image is resampled back to the frame (:func:`from_working_grid`). Training runs (:func:`randomised_run`)
have native sizes of 128–1024 pixels and go through the same resampling, so the network knows its artefacts. The
assumption this makes on real angiograms: the field of view, not the pixel size, is what stays fixed across matrix
sizes (a 1024² and a 512² frame of the same anatomy show the same vessels).

Input (2 channels, :func:`network_input`, computed on the working grid): the line integral of the frame relative
to its median, ``x = −log(max(I, 0.5)) + median(log(max(I, 0.5)))`` (Beer–Lambert: ``−log I = −log I0 + ∫μ dl``;
subtracting the median removes the unknown ``I0``), and its high-pass ``4 (x − G₆ ∗ x)``. Output (1 channel): the
iodine line integral ``∫μ_I dl`` in log units, i.e. the quantity a perfectly registered mask subtraction ``log(mask) − log(frame)`` gives (Brody, IEEE Trans Med Imaging
1982), iodine positive. The network has to tell the iodine from the anatomy by its appearance alone (thin
branching tubes, the blush), which a mask subtraction does by difference; where the anatomy looks like a vessel
(e.g. a rib edge), it can be wrong, which is why the classical motion-compensated DSA (:func:`~.dsa.subtract_run`)
stays the reference.

:func:`subtract_run_dl` runs it through the project's model-loading library (SHA-256-verified weights);
``python -m HCCInterventionalAILib.enhancement.train_dl_dsa OUT_DIR`` regenerates the data and retrains it (the
shipped version 1.1.0 was fine-tuned from version 1.0.0's weights: ``--init``, ``--iterations 1500
--learning-rate 1e-3``, as its card says).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..progress import Progress, ProgressCallback, as_progress
from .dsa import TimeIntensityCurve, as_frames
from .errors import EnhancementInputError

__all__ = [
    "CARD_FILE",
    "DLDSARequest",
    "DLDSAResult",
    "MODEL_ID",
    "TRAINED_FRAME_SIZES",
    "VESSEL_THRESHOLD",
    "WORKING_SIZE",
    "card_path",
    "from_working_grid",
    "median_baseline",
    "network_input",
    "randomised_run",
    "run_dsa_dl",
    "subtract_run_dl",
    "to_working_grid",
    "vessel_dice",
    "working_shape",
]

MODEL_ID = "dsa-maskfree-synthetic"
CARD_FILE = f"{MODEL_ID}.json"
WEIGHTS_FILE = f"{MODEL_ID}.pt"
#: Iodine line integral (log units) above which a pixel counts as opacified vessel for the Dice score.
VESSEL_THRESHOLD = 0.05
#: Range of the native square frame sizes (pixels) of the training runs of the shipped network.
TRAINED_FRAME_SIZES = (128, 1024)
#: Shorter side (pixels) of the working grid the network runs on (:func:`to_working_grid`).
WORKING_SIZE = 256
#: Gaussian σ (pixels) of the high-pass input channel.
HIGHPASS_SIGMA_PX = 6.0
#: The U-Net halves the frame 3 times: frames are padded to a multiple of this.
_MULTIPLE = 8


def card_path() -> Path:
    """The model card, ``Resources/ModelCards/dsa-maskfree-synthetic.json`` (weights beside it)."""
    from ..models.card import builtin_cards_directory

    return builtin_cards_directory() / CARD_FILE


def network_input(frames: np.ndarray) -> np.ndarray:
    """Network input (n, 2, rows, cols) float32 of detector frames (n, rows, cols), see the module docstring.

    Channel 0: ``x = median(log I) − log I`` (the line integral up to the unknown ``log I0``); channel 1: its
    high-pass ``4 (x − G_σ ∗ x)`` with a Gaussian of σ = :data:`HIGHPASS_SIGMA_PX` pixels, which removes the smooth
    anatomy (body, organs, gas) and keeps vessels and bone edges, amplified to the scale of the first channel.
    """
    from scipy.ndimage import gaussian_filter

    logs = np.log(np.maximum(np.asarray(frames, dtype=np.float32), 0.5))
    medians = np.median(logs.reshape(len(logs), -1), axis=1)
    x = (medians[:, None, None] - logs).astype(np.float32)
    high = 4.0 * (x - gaussian_filter(x, sigma=(0.0, HIGHPASS_SIGMA_PX, HIGHPASS_SIGMA_PX), mode="nearest"))
    return np.stack([x, high], axis=1).astype(np.float32)


def working_shape(rows: int, cols: int, size: int = WORKING_SIZE) -> tuple[int, int]:
    """Shape of the working grid of a (rows, cols) frame: both sides scaled by ``size / min(rows, cols)``."""
    factor = float(size) / float(min(rows, cols))
    return max(_MULTIPLE, round(rows * factor)), max(_MULTIPLE, round(cols * factor))


def _resample(images: Any, shape: tuple[int, int]) -> Any:
    """Resample a torch tensor (n, 1, rows, cols) to ``shape``: area averaging when shrinking, bilinear otherwise."""
    import torch.nn.functional as F

    if tuple(images.shape[-2:]) == tuple(shape):
        return images
    if shape[0] <= images.shape[-2] and shape[1] <= images.shape[-1]:
        return F.interpolate(images, size=shape, mode="area")
    return F.interpolate(images, size=shape, mode="bilinear", align_corners=False)


def to_working_grid(frames: np.ndarray, size: int = WORKING_SIZE) -> np.ndarray:
    """Detector frames (n, rows, cols) resampled to the working grid (shorter side ``size`` pixels).

    Counts are area-averaged when the frame shrinks (the mean of the detector pixels a working pixel covers, as
    ``k × k`` detector binning gives, with the noise of ``k²`` times the counts) and bilinearly interpolated when
    it grows; a frame already on the grid is returned unchanged.

    Args:
        frames: detector counts (n, rows, cols).
        size: shorter side of the working grid.

    Returns:
        Counts on the working grid (n, rows', cols'), float32.
    """
    import torch

    array = np.asarray(frames, dtype=np.float32)
    shape = working_shape(array.shape[1], array.shape[2], size)
    if shape == array.shape[1:]:
        return array
    return _resample(torch.from_numpy(np.ascontiguousarray(array))[:, None], shape)[:, 0].numpy()


def from_working_grid(images: Any, shape: tuple[int, int]) -> Any:
    """Working-grid images (a torch tensor (n, 1, rows', cols')) resampled back to the frame ``shape`` (the inverse
    direction of :func:`to_working_grid`: bilinear when growing, area averaging when shrinking)."""
    return _resample(images, (int(shape[0]), int(shape[1])))


def median_baseline(frames: np.ndarray) -> np.ndarray:
    """The naive mask-free baseline: ``median_t log(I_t) − log(I_t)``, the temporal median of the run's log frames
    as the background (it needs the whole run; iodine that stays longer than half the run is partly removed and
    moving anatomy is not compensated)."""
    logs = np.log(np.maximum(np.asarray(frames, dtype=np.float32), 0.5))
    return (np.median(logs, axis=0)[None] - logs).astype(np.float32)


def vessel_dice(predicted: np.ndarray, truth: np.ndarray, threshold: float = VESSEL_THRESHOLD) -> float:
    """Sørensen–Dice ``2|P∩T| / (|P| + |T|)`` of ``predicted > threshold`` and ``truth > threshold`` (1 if both empty)."""
    p, t = np.asarray(predicted) > threshold, np.asarray(truth) > threshold
    total = int(p.sum() + t.sum())
    return 1.0 if total == 0 else float(2.0 * (p & t).sum() / total)


# -- randomised synthetic runs (training data) --------------------------------------------------------------
def randomised_run(seed: int, n_frames: int = 10, size: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """A SYNTHETIC run of :func:`~.angio.simulate_angio_run` with randomly drawn parameters and orientation.

    Drawn from ``seed``: frame size (log-uniform 128–1024 pixels unless ``size`` is given), motion (none / rigid /
    deformable, respiratory 0–5 % and bowel 0–3 % of the rows), unattenuated counts ``I0`` (log-uniform
    3·10⁴–10⁶), peak iodine (0.15–0.5), tree depth (5–7), arrival (0.6–2.4 s), frame rate (2–6 /s), and one of the
    8 flips/transpositions of the whole run (so the tree grows in every direction).

    Args:
        seed: random seed.
        n_frames: frames of the run.
        size: square frame size; random when None.

    Returns:
        (frames (n, s, s) counts float32, iodine truth (n, s, s) float32, the drawn parameters).
    """
    from .angio import simulate_angio_run

    rng = np.random.default_rng(seed)
    low, high = TRAINED_FRAME_SIZES
    side = int(size or round(float(np.exp(rng.uniform(np.log(low), np.log(high))))))
    motion = str(rng.choice(["none", "rigid", "deformable", "deformable"]))
    params = {
        "shape": (side, side), "motion": motion, "n_frames": n_frames,
        "frame_rate": float(rng.uniform(2.0, 6.0)),
        "i0": float(np.exp(rng.uniform(np.log(3e4), np.log(1e6)))),
        "respiratory_amplitude_px": float(rng.uniform(0.0, 0.05) * side),
        "bowel_amplitude_px": float(rng.uniform(0.0, 0.03) * side),
        "arrival_s": float(rng.uniform(0.6, 2.4)),
        "peak_iodine": float(rng.uniform(0.15, 0.5)),
        "tree_depth": int(rng.integers(5, 8)),
        "seed": int(rng.integers(2**31 - 1)),
    }
    run = simulate_angio_run(**params)
    frames, iodine = run.frames, run.iodine
    if rng.random() < 0.5:
        frames, iodine = frames[:, ::-1], iodine[:, ::-1]
    if rng.random() < 0.5:
        frames, iodine = frames[:, :, ::-1], iodine[:, :, ::-1]
    if rng.random() < 0.5:
        frames, iodine = frames.transpose(0, 2, 1), iodine.transpose(0, 2, 1)
    params["shape"] = list(params["shape"])
    return np.ascontiguousarray(frames), np.ascontiguousarray(iodine), params


# -- inference -----------------------------------------------------------------------------------------------
def _check_card(card: Any) -> None:
    args = dict(card.network.args) if card.network else {}
    if (card.task != "image-to-image" or (card.input.modality or "").upper() != "XA"
            or args.get("spatial_dims") != 2 or args.get("in_channels") != 2 or args.get("out_channels") != 1):
        raise EnhancementInputError(f"Model '{card.id}' is not a mask-free DSA model (a 2-D XA image-to-image "
                                    "network with the 2 input channels of network_input); choose such a card, "
                                    "e.g. " + MODEL_ID)


def subtract_run_dl(
    frames: Any,
    model: Any = MODEL_ID,
    device: Any = "auto",
    progress: Progress | ProgressCallback | None = None,
    *,
    batch_size: int = 4,
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """Mask-free DSA: the iodine image of every frame, predicted by a network from that frame alone.

    Each frame is resampled to the working grid (:func:`to_working_grid`, shorter side :data:`WORKING_SIZE`), the
    network predicts its iodine there, and the prediction is resampled back to the frame's size.

    Args:
        frames: detector intensities (n, rows, cols) (counts, not logs; at least 2 frames, as for
            :func:`~.dsa.subtract_run`).
        model: model card id (or ``id@version``) in the model registry, or a
            :class:`~HCCInterventionalAILib.models.ModelCard`; an XA image-to-image card.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a torch device.
        progress: progress reporter or callback; cancellation raises ``Cancelled``.
        batch_size: frames per forward pass.
        cache_dir: model cache folder (default: the library's).

    Returns:
        Iodine images (n, rows, cols) float32, log units, iodine positive (the sign of ``log(mask) − log(frame)``).

    Raises:
        TooFewFramesError, FrameSizeMismatchError, DisplayImageError, EnhancementInputError: bad frames (as
            :func:`~.dsa.as_frames`) or a card that is not a mask-free DSA model.
        ChecksumMismatchError: the weights do not match the card's SHA-256.
    """
    import torch
    import torch.nn.functional as F

    from ..models import load_model
    from ..models.loading import resolve_card

    array = as_frames(frames)
    reporter = as_progress(progress)
    card = resolve_card(model)
    _check_card(card)
    loaded = load_model(card, device=device, cache_dir=cache_dir, progress=reporter.sub(0.0, 0.1))
    inputs = network_input(to_working_grid(array))
    n, _, rows, cols = inputs.shape
    pad_r, pad_c = (-rows) % _MULTIPLE, (-cols) % _MULTIPLE
    out = np.empty(array.shape, dtype=np.float32)
    starts = list(range(0, n, max(1, int(batch_size))))
    work = reporter.sub(0.1, 1.0)
    with torch.no_grad():
        for index, first in enumerate(starts):
            work.check()
            batch = torch.from_numpy(inputs[first:first + batch_size])
            if pad_r or pad_c:
                batch = F.pad(batch, (0, pad_c, 0, pad_r), mode="reflect")
            iodine = loaded(batch)[:, :1, :rows, :cols]
            out[first:first + batch_size] = from_working_grid(iodine, array.shape[1:])[:, 0].cpu().numpy()
            work.update((index + 1) / len(starts), f"mask-free DSA {min(first + batch_size, n)}/{n}")
    return out


@dataclass
class DLDSARequest:
    """What to do with a run, mask-free.

    Attributes:
        model: model card id of a mask-free DSA network.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``.
        frame_rate: frames per second when the source has no frame times.
        batch_size: frames per forward pass.
    """

    model: str = MODEL_ID
    device: str = "auto"
    frame_rate: float = 3.0
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.frame_rate <= 0:
            raise EnhancementInputError(f"frame_rate must be > 0, got {self.frame_rate}")
        if self.batch_size < 1:
            raise EnhancementInputError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass
class DLDSAResult:
    """Mask-free DSA frames and what produced them (``to_dict`` holds every number, no arrays).

    Attributes:
        dsa: iodine images (n, rows, cols), log units, iodine positive.
        times_s: frame times.
        model: provenance of the network (id, version, checksums, device).
        seconds: inference time (including loading); ``frames_per_second`` = frames / seconds.
        notes: validity notes (the card's status, frame sizes outside the training range).
        curve: time–intensity curve in a region (set by the caller; None without one).
    """

    dsa: np.ndarray
    times_s: np.ndarray
    model: dict[str, Any]
    seconds: float
    frames_per_second: float
    notes: list[str] = field(default_factory=list)
    curve: TimeIntensityCurve | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": int(self.dsa.shape[0]),
            "frame_size": [int(v) for v in self.dsa.shape[1:]],
            "method": "mask-free deep-learning DSA (network trained on synthetic runs only)",
            "model": self.model,
            "seconds": self.seconds,
            "frames_per_second": self.frames_per_second,
            "notes": list(self.notes),
            "time_intensity_curve": self.curve.to_dict() if self.curve else None,
        }


def run_dsa_dl(frames: Any, request: DLDSARequest | None = None, *, times_s: Any = None,
               cache_dir: str | Path | None = None,
               progress: Progress | ProgressCallback | None = None) -> DLDSAResult:
    """Mask-free DSA of a run with its provenance (the staged counterpart of :func:`~.pipeline.run_dsa`)."""
    from ..models import load_model
    from ..models.loading import resolve_card

    request = request or DLDSARequest()
    array = as_frames(frames)
    times = np.arange(array.shape[0]) / request.frame_rate if times_s is None else np.asarray(times_s, dtype=float)
    if times.shape != (array.shape[0],):
        raise EnhancementInputError(f"{times.size} frame times given for {array.shape[0]} frames")
    card = resolve_card(request.model)
    _check_card(card)
    start = time.perf_counter()
    dsa = subtract_run_dl(array, card, request.device, progress, batch_size=request.batch_size, cache_dir=cache_dir)
    seconds = time.perf_counter() - start
    provenance = load_model(card, device=request.device, cache_dir=cache_dir).provenance
    notes = [f"{card.name}: {card.validation_status}"]
    low, high = TRAINED_FRAME_SIZES
    if card.id == MODEL_ID and not (low <= min(array.shape[1:]) and max(array.shape[1:]) <= high):
        notes.append(f"Frames of {array.shape[1]}×{array.shape[2]} pixels are outside the {low}–{high} pixel frames "
                     f"the network was trained on (all are resampled to a {WORKING_SIZE}-pixel working grid, "
                     "which loses or invents detail far outside that range): expect lower accuracy")
    return DLDSAResult(dsa=dsa, times_s=times, model=provenance, seconds=float(seconds),
                       frames_per_second=float(array.shape[0] / max(seconds, 1e-9)), notes=notes)
