"""A classical (non-learning, intensity/shape based) liver and tumour segmenter that needs no weights.

Building blocks follow the non-learning methods of the SLIVER07 comparison (Heimann T. et al., "Comparison
and evaluation of methods for liver segmentation from CT datasets", IEEE TMI 2009;28:1251-1265): body
extraction, a liver intensity model estimated on the largest soft-tissue organ, region growing with
morphological constraints, and tumours as intensity outliers inside the liver.

Stages (each a short function; :func:`segment_liver_tumour` runs them):

1. :func:`prepare` — choose the phases, block-average by whole factors towards a working grid of
   ``working_spacing_mm`` (at least), smooth (Gaussian, σ = ``smoothing_mm``), resample (linear) to that grid.
2. :func:`liver_intensity_model` — the liver is the largest compact soft-tissue organ: for each candidate
   centre μ in 50…200 HU the voxels within ±``window_hu`` of μ are eroded by ``core_erosion_mm`` (Euclidean
   distance transform) and the largest component is kept; the μ with the largest core wins. The liver's
   mean and SD are then the median and 1.4826·MAD of the smoothed image in that core.
3. :func:`grow_liver` — liver-like voxels (``|x - μ| ≤ k·σ``, k = ``liver_sd``), opened by ``opening_mm``
   to cut thin bridges to neighbouring organs, the component holding the core, closed by ``closing_mm`` and
   hole-filled (3D and per axial slice), which brings in vessels and tumours enclosed by parenchyma. When the
   liver is muscle-like (non-contrast CT, or a liver below ``muscle_like_hu``), the growing runs on the image
   smoothed further (σ = ``low_contrast_smoothing_mm``) with a re-estimated intensity model, and the shaved edge
   is given back by a one-radius dilation within the original window (see :func:`grow_liver`).
4. :func:`detect_tumours` — inside the liver, voxels darker than the parenchyma by ``tumour_sd``·σ and
   ``tumour_min_contrast_hu`` in the portal venous phase (hypodense lesion / washout) or, when an arterial
   phase is given, brighter than the arterial parenchyma (arterial-phase hyperenhancement) *and* not
   brighter in the portal venous phase; components smaller than ``tumour_min_volume_ml`` are dropped.
   Hypodense components touching the liver border are added to the liver (peripheral tumours).
5. Back to the source grid (nearest neighbour on a linearly interpolated mask), largest liver component,
   tumour ∩ liver.

Intensity conventions (HU): contrast-enhanced liver 90-160 HU in the portal venous phase, non-contrast
45-65 HU; HCC enhances in the arterial phase and washes out in the portal venous phase (LI-RADS v2018,
Chernyak V. et al., Radiology 2018;289:816-830).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..imaging.segmentation import Segmentation
from ..imaging.volume import Geometry, Volume
from ..progress import Progress, ProgressCallback, as_progress
from .postprocess import distance_to_background, fill_holes, largest_component, remove_small_components

__all__ = [
    "ClassicalRequest",
    "ClassicalResult",
    "LiverIntensityModel",
    "NotCTError",
    "PreparedImages",
    "detect_tumours",
    "grow_liver",
    "liver_intensity_model",
    "prepare",
    "segment_for_card",
    "segment_liver_tumour",
]

logger = logging.getLogger(__name__)

PORTAL = "portal venous"
ARTERIAL = "arterial"
NON_CONTRAST = "non-contrast"
_PHASE_ALIASES = {"pv": PORTAL, "portal": PORTAL, "portal venous": PORTAL, "portal-venous": PORTAL, "venous": PORTAL,
                  "art": ARTERIAL, "arterial": ARTERIAL, "late arterial": ARTERIAL, "nc": NON_CONTRAST,
                  "native": NON_CONTRAST, "non-contrast": NON_CONTRAST, "unenhanced": NON_CONTRAST}


class NotCTError(ValueError):
    """The image does not look like a CT in Hounsfield units."""


@dataclass(frozen=True)
class ClassicalRequest:
    """Parameters of the classical segmenter (defaults tuned on no held-out data: see the model card)."""

    working_spacing_mm: float = 2.0
    smoothing_mm: float = 1.5
    window_hu: float = 30.0
    core_erosion_mm: float = 8.0
    liver_sd: float = 3.5
    opening_mm: float = 4.0
    closing_mm: float = 6.0
    tumour_sd: float = 2.5
    tumour_min_contrast_hu: float = 15.0
    tumour_min_volume_ml: float = 0.3
    tumour_contact: float = 0.3
    tumour_opening_mm: float = 5.0
    hull_mm: float = 30.0
    segment_tumours: bool = True
    #: Liver median (HU) below which the liver counts as muscle-like (non-contrast liver 45-65 HU, enhanced 90-160).
    muscle_like_hu: float = 80.0
    #: Extra Gaussian σ (mm) of the liver growing on a muscle-like liver (0: off); 3 mm chosen on seed 7 of the
    #: SYNTHETIC small patient among 2, 3 and 4 mm.
    low_contrast_smoothing_mm: float = 3.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PreparedImages:
    """Phases resampled to the working grid and smoothed; the primary (liver) phase is named."""

    source: Geometry
    grid: Geometry
    phases: dict[str, np.ndarray]
    primary: str


@dataclass(frozen=True)
class LiverIntensityModel:
    """Robust liver statistics on the primary phase: mean (median) and SD (1.4826·MAD), HU."""

    mean: float
    sd: float
    core: np.ndarray = field(repr=False)


@dataclass
class ClassicalResult:
    """Masks on the source grid, the intensity model and stage timings."""

    liver: np.ndarray
    tumour: np.ndarray
    geometry: Geometry
    liver_mean_hu: float
    liver_sd_hu: float
    phases_used: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)

    def to_segmentation(self, name: str = "Classical segmentation") -> Segmentation:
        """``Liver`` (whole organ, tumours included) and ``Tumour`` with SNOMED CT terminology and colours."""
        segmentation = Segmentation(self.geometry, name=name)
        segmentation.add("Liver", self.liver)
        segmentation.add("Tumour", self.tumour)
        return segmentation

    def labels(self) -> np.ndarray:
        """Label map: 0 background, 1 liver parenchyma, 2 tumour."""
        labels = self.liver.astype(np.uint8)
        labels[self.tumour] = 2
        return labels


def _canonical_phase(name: str) -> str:
    return _PHASE_ALIASES.get(name.strip().lower(), name.strip().lower())


def _as_phases(images: Volume | Sequence[Volume] | Mapping[str, Volume]) -> dict[str, Volume]:
    if isinstance(images, Volume):
        images = [images]
    if isinstance(images, Mapping):
        named = {_canonical_phase(k): v for k, v in images.items()}
    else:
        images = list(images)
        default = [PORTAL, ARTERIAL, NON_CONTRAST]
        named = {}
        for index, volume in enumerate(images):
            phase = volume.metadata.get("phase") if isinstance(volume.metadata, dict) else None
            name = _canonical_phase(phase) if phase else default[min(index, 2)]
            named[name if name not in named else f"{name} {index}"] = volume
    if not named:
        raise ValueError("No image was given to segment")
    return named


def _check_ct(volume: Volume, phase: str) -> None:
    array = volume.array
    if array.ndim != 3 or min(array.shape) < 8:
        raise ValueError(f"The {phase} image must be 3D with at least 8 voxels per axis, got shape {array.shape}")
    sample = array[:: max(1, array.shape[0] // 16)]
    low, high = np.percentile(sample, [1, 99])
    if low > -300 or high < 0 or high > 4000:
        raise NotCTError(f"The {phase} image does not look like CT in HU (1st/99th percentiles {low:.0f}/{high:.0f}; "
                         "a CT holds air near -1000 HU and soft tissue near 0-200 HU)")


def prepare(images: Volume | Sequence[Volume] | Mapping[str, Volume], request: ClassicalRequest) -> PreparedImages:
    """Validate the phases, resample them to the working grid and smooth them (stage 1).

    Raises:
        ValueError: not 3D, phases on different grids; NotCTError: not HU.
    """
    import SimpleITK as sitk

    from ..imaging.io import to_sitk
    from ..imaging.resample import spacing_geometry

    named = _as_phases(images)
    first = next(iter(named.values()))
    for phase, volume in named.items():
        _check_ct(volume, phase)
        first.geometry.require_same_grid(volume.geometry, f"the {phase} phase and the first phase")
    primary = PORTAL if PORTAL in named else next(iter(named))
    source = first.geometry
    working = np.maximum(np.asarray(source.spacing), request.working_spacing_mm)
    grid = spacing_geometry(source, working) if np.any(working > np.asarray(source.spacing) + 1e-6) else source
    phases = {}
    for phase, volume in named.items():
        image = to_sitk(volume.with_array(volume.array.astype(np.float32)))
        if grid is not source:  # block-average by whole factors first (anti-aliasing, and 4-8x fewer voxels to smooth)
            factors = [max(1, int(g // s)) for g, s in zip(grid.spacing, source.spacing, strict=True)]
            if max(factors) > 1:
                image = sitk.BinShrink(image, factors)
        image = sitk.SmoothingRecursiveGaussian(image, [request.smoothing_mm] * 3)
        if grid is not source:
            reference = to_sitk(Volume(np.zeros(grid.shape, np.uint8), grid))
            image = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, -1000.0, sitk.sitkFloat32)
        phases[phase] = sitk.GetArrayFromImage(image)
    return PreparedImages(source, grid, phases, primary)


def _ball_opening(mask: np.ndarray, radius_mm: float, spacing: np.ndarray, closing: bool = False) -> np.ndarray:
    """Morphological opening (or closing) with a Euclidean ball, via distance transforms (exact, fast)."""
    if closing:
        grown = distance_to_background(~mask, spacing) <= radius_mm
        return distance_to_background(grown, spacing) > radius_mm
    eroded = distance_to_background(mask, spacing) > radius_mm
    return distance_to_background(~eroded, spacing) <= radius_mm


def _body(image: np.ndarray) -> np.ndarray:
    return fill_holes(largest_component(image > -400), per_slice=True)


def liver_intensity_model(prepared: PreparedImages, request: ClassicalRequest) -> LiverIntensityModel:
    """Find the liver core and its intensity statistics on the primary phase (stage 2).

    Raises:
        ValueError: no soft-tissue organ large enough to be a liver was found.
    """
    image = prepared.phases[prepared.primary]
    spacing = np.asarray(prepared.grid.spacing)
    # The search runs on a grid subsampled to about 5 mm (the core is found, not delineated, here).
    step = tuple(max(1, int(round(5.0 / s))) for s in spacing[::-1])
    coarse = image[::step[0], ::step[1], ::step[2]]
    coarse_spacing = spacing * np.asarray(step[::-1])
    body = _body(coarse)
    best: tuple[int, np.ndarray | None] = (0, None)
    for centre in np.arange(50.0, 201.0, 10.0):
        candidate = body & (np.abs(coarse - centre) <= request.window_hu)
        core = distance_to_background(candidate, coarse_spacing) > request.core_erosion_mm
        core = largest_component(core)
        size = int(core.sum())
        if size > best[0]:
            best = (size, core)
    size, coarse_core = best
    voxel_ml = prepared.grid.voxel_volume_ml * float(np.prod(step))
    if coarse_core is None or size * voxel_ml < 5.0:
        raise ValueError("No soft-tissue organ large enough to be the liver was found (is this an abdominal CT?)")
    core = np.zeros(image.shape, dtype=bool)
    core[::step[0], ::step[1], ::step[2]] = coarse_core
    values = image[core]
    median = float(np.median(values))
    sd = max(float(1.4826 * np.median(np.abs(values - median))), 5.0)
    return LiverIntensityModel(median, sd, core)


def _low_contrast(prepared: PreparedImages, model: LiverIntensityModel, request: ClassicalRequest) -> bool:
    """Is the liver muscle-like in the primary phase (non-contrast CT: liver 45-65 HU, muscle ~50 HU)?"""
    return prepared.primary == NON_CONTRAST or model.mean < request.muscle_like_hu


def grow_liver(prepared: PreparedImages, model: LiverIntensityModel, request: ClassicalRequest) -> np.ndarray:
    """Region growing from the core with morphological constraints (stage 3): the liver on the working grid.

    When the liver is muscle-like (:func:`_low_contrast`: non-contrast CT), the growing runs on the image smoothed
    further (Gaussian, σ = ``low_contrast_smoothing_mm``) with the intensity model re-estimated on it: the ±k·σ
    window then shrinks from ~±38 HU (12 HU noise) to ~±18 HU and no longer spans muscle, heart and vessels
    (40-50 HU, vs liver 55 HU). The edge this smoothing shaves off (the window sits at ~90 % of the liver-fat step)
    is given back by a dilation of one smoothing radius (at least one voxel) into the voxels that pass the
    original window.
    """
    image = prepared.phases[prepared.primary]
    spacing = np.asarray(prepared.grid.spacing)
    mean, sd = model.mean, model.sd
    if _low_contrast(prepared, model, request) and request.low_contrast_smoothing_mm > 0:
        image = ndimage.gaussian_filter(image, request.low_contrast_smoothing_mm / spacing[::-1])
        values = image[model.core]
        mean = float(np.median(values))
        sd = max(float(1.4826 * np.median(np.abs(values - mean))), 5.0)
    like = np.abs(image - mean) <= request.liver_sd * sd
    opened = _ball_opening(like, request.opening_mm, spacing)
    labels, _ = ndimage.label(opened, structure=np.ones((3, 3, 3), bool))
    hits = np.bincount(labels[model.core], minlength=labels.max() + 1)
    hits[0] = 0
    liver = labels == int(np.argmax(hits)) if hits.any() else model.core.copy()
    if image is not prepared.phases[prepared.primary]:  # smoothed further: give back the edge it shaved off
        original = np.abs(prepared.phases[prepared.primary] - model.mean) <= request.liver_sd * model.sd
        near = distance_to_background(~liver, spacing) <= max(request.low_contrast_smoothing_mm, float(spacing.max()))
        liver |= near & original
    liver = _ball_opening(liver, request.closing_mm, spacing, closing=True)
    return fill_holes(liver, per_slice=True)


def detect_tumours(prepared: PreparedImages, liver: np.ndarray, model: LiverIntensityModel,
                   request: ClassicalRequest) -> tuple[np.ndarray, np.ndarray]:
    """Tumours as intensity outliers inside (or at the border of) the liver (stage 4).

    Returns:
        (tumour, liver) on the working grid; the liver may have grown by peripheral tumours.
    """
    image = prepared.phases[prepared.primary]
    spacing = np.asarray(prepared.grid.spacing)
    voxel_ml = prepared.grid.voxel_volume_ml
    drop = max(request.tumour_sd * model.sd, request.tumour_min_contrast_hu)
    hypodense = (image < model.mean - drop) & (image > model.mean - 150.0)
    # Peripheral tumours: hypodense regions inside the liver's closed hull, or touching the liver along at
    # least ``tumour_contact`` of their surface.
    hull = _ball_opening(liver, request.hull_mm, spacing, closing=True)
    hull = fill_holes(hull, per_slice=True)
    band = distance_to_background(~hull, spacing) <= 2.0 * request.closing_mm
    candidates = hypodense & band
    candidates = _ball_opening(candidates, request.tumour_opening_mm, spacing)
    candidates = remove_small_components(candidates, max(1, int(request.tumour_min_volume_ml / voxel_ml)))
    labels, count = ndimage.label(candidates, structure=np.ones((3, 3, 3), bool))
    index = np.arange(1, count + 1)
    surface = candidates & ~ndimage.binary_erosion(candidates)
    near_liver = ndimage.binary_dilation(liver)
    inside = ndimage.sum(liver | hull, labels, index) / np.maximum(ndimage.sum(candidates, labels, index), 1)
    contact = ndimage.sum(surface & near_liver, labels, index) / np.maximum(ndimage.sum(surface, labels, index), 1)
    keep = index[(inside >= 0.5) | (contact >= request.tumour_contact)]
    tumour = np.isin(labels, keep)
    if ARTERIAL in prepared.phases and prepared.primary != ARTERIAL:
        arterial = prepared.phases[ARTERIAL]
        core_art = arterial[model.core]
        art_mean = float(np.median(core_art))
        art_sd = max(float(1.4826 * np.median(np.abs(core_art - art_mean))), 5.0)
        rise = max(request.tumour_sd * art_sd, request.tumour_min_contrast_hu)
        aphe = (arterial > art_mean + rise) & (image < model.mean) & liver
        aphe = _ball_opening(aphe, 1.5 * max(spacing), spacing)
        aphe = remove_small_components(aphe, max(1, int(request.tumour_min_volume_ml / voxel_ml)))
        tumour |= aphe
    tumour = fill_holes(tumour)
    liver = fill_holes(liver | tumour, per_slice=True)
    return tumour & liver, liver


def _to_source(mask: np.ndarray, prepared: PreparedImages) -> np.ndarray:
    if prepared.grid is prepared.source:
        return mask
    from ..imaging.resample import resample_mask

    return resample_mask(mask, prepared.grid, prepared.source)


def segment_liver_tumour(
    images: Volume | Sequence[Volume] | Mapping[str, Volume],
    request: ClassicalRequest | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> ClassicalResult:
    """Segment the liver and its tumours without weights.

    Args:
        images: one CT (treated as portal venous unless its metadata names the phase), a list of phases
            (``metadata['phase']``, else portal venous, arterial, non-contrast in that order) or a mapping
            phase name → volume, all on one grid.
        request: parameters (default :class:`ClassicalRequest`).
        progress: progress and cancellation.

    Returns:
        The :class:`ClassicalResult` on the source grid.

    Raises:
        ValueError: bad input (2D image, grids differ, no liver-sized organ); NotCTError: not HU.
        Cancelled: the user cancelled.
    """
    request = request or ClassicalRequest()
    report = as_progress(progress)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    report.update(0.0, "Preparing the images")
    prepared = prepare(images, request)
    timings["prepare"] = time.perf_counter() - clock
    stages = [("Liver intensity model", 0.15), ("Growing the liver", 0.55), ("Tumours", 0.75), ("Source grid", 0.9)]

    clock = time.perf_counter()
    report.update(stages[0][1], stages[0][0])
    model = liver_intensity_model(prepared, request)
    timings["intensity_model"] = time.perf_counter() - clock
    logger.info("Liver intensity model: %.0f ± %.0f HU (%s phase)", model.mean, model.sd, prepared.primary)

    clock = time.perf_counter()
    report.update(stages[1][1], stages[1][0])
    liver = grow_liver(prepared, model, request)
    timings["grow"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report.update(stages[2][1], stages[2][0])
    if request.segment_tumours:
        tumour, liver = detect_tumours(prepared, liver, model, request)
    else:
        tumour = np.zeros_like(liver)
    timings["tumours"] = time.perf_counter() - clock

    clock = time.perf_counter()
    report.update(stages[3][1], stages[3][0])
    liver = largest_component(_to_source(liver, prepared))
    tumour = _to_source(tumour, prepared) & liver
    timings["to_source"] = time.perf_counter() - clock
    report.update(1.0, "Done")
    return ClassicalResult(liver, tumour, prepared.source, model.mean, model.sd, tuple(prepared.phases), timings)


def segment_for_card(volumes: Sequence[Volume], progress: Progress | ProgressCallback | None = None) -> np.ndarray:
    """Entry point of the ``liver-classical`` model card: label map 0 background, 1 liver parenchyma, 2 tumour.

    ``volumes`` are the card's channels in order (portal venous, then optionally arterial and non-contrast)
    unless their metadata names the phase.
    """
    return segment_liver_tumour(list(volumes), progress=progress).labels()
