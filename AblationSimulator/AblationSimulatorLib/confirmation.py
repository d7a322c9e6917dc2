"""Post-ablation confirmation: register the post-procedure CT onto the pre-procedure CT and measure margins.

1. **Rigid** (SimpleITK ``ImageRegistrationMethod``): Euler 3-D transform initialised on the image centres,
   Mattes mutual information (Mattes D et al., IEEE TMI 2003;22:120–128), regular-step gradient descent over a
   three-level pyramid (shrink 4/2/1, smoothing 2/1/0 voxels).
2. **Deformable** (optional): on the rigidly resampled post CT, SimpleITK's fast symmetric-forces demons
   (Thirion JP, Med Image Anal 1998;2:243–260; Vercauteren T et al., NeuroImage 2009;45:S61–S72) with Gaussian
   smoothing of the displacement field; pre and post are both CT, so intensity matching suits demons.

The resulting transform maps pre-CT points to post-CT points (the direction ITK resampling needs), so the zone
segmented on the post CT is carried onto the pre-CT grid by nearest-neighbour resampling and compared with the
tumour segmented on the pre CT with :func:`~AblationSimulatorLib.margins.compute_margins`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AblationInputError, EmptyStructureError
from .margins import MarginResult, compute_margins

if TYPE_CHECKING:  # pragma: no cover - typing only
    import SimpleITK as sitk

    from HCCInterventionalAILib.imaging import Volume
    from HCCInterventionalAILib.progress import Progress, ProgressCallback

__all__ = [
    "ZONE_WORDS",
    "Registration",
    "ConfirmationRequest",
    "ConfirmationResult",
    "register_post_to_pre",
    "carry_mask_to_pre",
    "confirm_ablation",
    "confirm_segmentations",
    "CONFIRMATION_FILES",
    "write_confirmation_outputs",
    "run_confirmation_files",
]

#: Segment-name fragments recognised as the ablation zone on the post CT when the request names none.
ZONE_WORDS = ("zone", "ablation", "necrosis", "coagulat")
#: What a confirmation folder holds.
CONFIRMATION_FILES = ("zone-on-pre.nrrd", "insufficient-margin.nrrd", "margins.csv", "confirmation.json",
                      "report.html")


@dataclass
class Registration:
    """Transform mapping pre-CT points (LPS mm) to post-CT points, and how it was obtained."""

    transform: Any  # sitk.Transform
    rigid_parameters: tuple[float, ...]
    rigid_metric: float
    deformable: bool
    max_displacement_mm: float = 0.0

    def map_points(self, points_lps: np.ndarray) -> np.ndarray:
        """Pre-CT LPS points (N, 3) → post-CT LPS points."""
        return np.array([self.transform.TransformPoint(tuple(float(v) for v in p)) for p in np.atleast_2d(points_lps)])


@dataclass(frozen=True)
class ConfirmationRequest:
    """What to confirm (one vocabulary for the module, ``hccai ablation confirm`` and scripts).

    Args:
        tumour_segments: tumour segment names on the PRE CT; None = recognised by name (tumour, lesion, HCC...).
        zone_segments: ablation-zone segment names on the POST CT; None = recognised by name (zone, ablation,
            necrosis...), or the only segment.
        deformable: add the demons stage after the rigid registration.
        target_margin_mm: the margin aimed for.
        demons_iterations: iterations of the demons stage.
    """

    tumour_segments: tuple[str, ...] | None = None
    zone_segments: tuple[str, ...] | None = None
    deformable: bool = True
    target_margin_mm: float = 5.0
    demons_iterations: int = 40

    def __post_init__(self) -> None:
        if not (np.isfinite(self.target_margin_mm) and self.target_margin_mm >= 0):
            raise AblationInputError(f"The target margin must be ≥ 0 mm, got {self.target_margin_mm}")
        if int(self.demons_iterations) < 1:
            raise AblationInputError(f"demons_iterations must be ≥ 1, got {self.demons_iterations}")


@dataclass
class ConfirmationResult:
    """Registration, the zone carried onto the pre-CT grid and the margin metrics."""

    registration: Registration
    zone_on_pre: np.ndarray = field(repr=False)
    margins: MarginResult
    tumour_names: list[str] = field(default_factory=list)
    zone_names: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "tumour_segments": self.tumour_names,
            "zone_segments": self.zone_names,
            "rigid_parameters": list(self.registration.rigid_parameters),
            "rigid_metric": self.registration.rigid_metric,
            "deformable": self.registration.deformable,
            "max_displacement_mm": self.registration.max_displacement_mm,
            "margins": self.margins.summary(),
        }

    def margin_table(self) -> Any:
        """The margin table of :meth:`MarginResult.table` (Metric, Value)."""
        return self.margins.table()

    @property
    def insufficient_margin(self) -> np.ndarray:
        """Tumour-surface voxels (pre-CT grid) whose margin is below the target (uint8)."""
        return self.margins.insufficient_mask


def _float_image(volume: Volume) -> sitk.Image:
    import SimpleITK as sitk

    from HCCInterventionalAILib.imaging.io import to_sitk

    return sitk.Cast(to_sitk(volume), sitk.sitkFloat32)


def register_post_to_pre(
    pre_ct: Volume,
    post_ct: Volume,
    *,
    deformable: bool = True,
    demons_iterations: int = 40,
    demons_smoothing_mm: float = 2.0,
    progress: Progress | ProgressCallback | None = None,
) -> Registration:
    """Rigid (then optionally demons) registration; the transform maps pre-CT points to post-CT points.

    Args:
        pre_ct: the planning CT (fixed image).
        post_ct: the post-ablation CT (moving image).
        deformable: add the demons stage after the rigid one.
        demons_iterations: demons iterations.
        demons_smoothing_mm: Gaussian σ of the displacement-field regularisation (mm).
        progress: progress reporter; Cancel stops between stages.

    Returns:
        a :class:`Registration`.
    """
    import SimpleITK as sitk

    from HCCInterventionalAILib.progress import as_progress

    reporter = as_progress(progress)
    fixed = _float_image(pre_ct)
    moving = _float_image(post_ct)
    reporter.update(0.0, "Rigid registration")
    initial = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
    )
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.25, seed=1)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-4, numberOfIterations=200, gradientMagnitudeTolerance=1e-8
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2, 1, 0])
    method.SetInitialTransform(initial, inPlace=False)
    rigid = method.Execute(fixed, moving)
    rigid_metric = float(method.GetMetricValue())
    rigid_euler = sitk.Euler3DTransform(sitk.CompositeTransform(rigid).GetNthTransform(0))
    reporter.update(0.5, "Rigid registration done")
    if not deformable:
        return Registration(rigid_euler, tuple(rigid_euler.GetParameters()), rigid_metric, False)

    reporter.update(0.55, "Deformable registration (demons)")
    resampled = sitk.Resample(moving, fixed, rigid_euler, sitk.sitkLinear, float(np.min(post_ct.array)))
    demons = sitk.FastSymmetricForcesDemonsRegistrationFilter()
    demons.SetNumberOfIterations(int(demons_iterations))
    demons.SetSmoothDisplacementField(True)
    demons.SetStandardDeviations(float(demons_smoothing_mm / np.mean(pre_ct.geometry.spacing)))
    field_image = demons.Execute(fixed, resampled)
    displacement = sitk.GetArrayFromImage(field_image)
    max_disp = float(np.sqrt((displacement**2).sum(axis=-1)).max())
    displacement_tx = sitk.DisplacementFieldTransform(sitk.Cast(field_image, sitk.sitkVectorFloat64))
    composite = sitk.CompositeTransform(3)
    # ITK applies the most recently added transform first: pre point → demons → rigid → post point.
    composite.AddTransform(rigid_euler)
    composite.AddTransform(displacement_tx)
    reporter.update(1.0, "Registration done")
    return Registration(composite, tuple(rigid_euler.GetParameters()), rigid_metric, True, max_disp)


def carry_mask_to_pre(mask_post: np.ndarray, post_ct: Volume, pre_ct: Volume, registration: Registration) -> np.ndarray:
    """Resample a (k, j, i) mask on the post-CT grid onto the pre-CT grid (nearest neighbour)."""
    import SimpleITK as sitk

    from HCCInterventionalAILib.imaging.io import to_sitk

    mask_volume = post_ct.with_array(np.asarray(mask_post).astype(np.uint8))
    reference = to_sitk(pre_ct)
    out = sitk.Resample(to_sitk(mask_volume), reference, registration.transform, sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(out).astype(np.uint8)


def confirm_ablation(
    pre_ct: Volume,
    post_ct: Volume,
    tumour_pre: np.ndarray,
    zone_post: np.ndarray,
    *,
    deformable: bool = True,
    target_margin_mm: float = 5.0,
    demons_iterations: int = 40,
    progress: Progress | ProgressCallback | None = None,
) -> ConfirmationResult:
    """Register post → pre, carry the post-CT zone over and measure the margins around the pre-CT tumour.

    Raises:
        EmptyStructureError: for an empty tumour or zone.
        AblationInputError: when a mask is not on its CT's grid.
    """
    from HCCInterventionalAILib.progress import as_progress

    tumour = np.asarray(tumour_pre).astype(bool)
    zone = np.asarray(zone_post).astype(bool)
    if tumour.shape != pre_ct.geometry.shape:
        raise AblationInputError(f"The tumour mask {tumour.shape} is not on the pre-CT grid {pre_ct.geometry.shape}")
    if zone.shape != post_ct.geometry.shape:
        raise AblationInputError(f"The zone mask {zone.shape} is not on the post-CT grid {post_ct.geometry.shape}")
    if not tumour.any():
        raise EmptyStructureError("The tumour segment is empty: there is nothing to confirm")
    if not zone.any():
        raise EmptyStructureError("The post-ablation zone segment is empty")
    reporter = as_progress(progress)
    registration = register_post_to_pre(pre_ct, post_ct, deformable=deformable, demons_iterations=demons_iterations,
                                        progress=reporter.sub(0.0, 0.9))
    zone_on_pre = carry_mask_to_pre(zone, post_ct, pre_ct, registration)
    margins = compute_margins(tumour, zone_on_pre, pre_ct.geometry.spacing, target_margin_mm)
    reporter.update(1.0, "Margins measured")
    return ConfirmationResult(registration, zone_on_pre, margins)


def _masks_on_grid(segmentation: Any, names: list[str], geometry: Any, what: str) -> np.ndarray:
    """Union of the named segments, resampled (nearest) onto ``geometry`` when the grids differ."""
    from HCCInterventionalAILib.imaging import Volume
    from HCCInterventionalAILib.imaging.resample import resample_to_geometry

    union = np.zeros(geometry.shape, dtype=bool)
    for name in names:
        mask = segmentation.mask(name, allow_empty=True).astype(np.uint8)
        if not segmentation.geometry.same_grid(geometry):
            mask = resample_to_geometry(Volume(mask, segmentation.geometry), geometry, "nearest").array
        if not mask.any():
            raise EmptyStructureError(f"The {what} segment '{name}' is empty on its CT")
        union |= mask.astype(bool)
    return union


def confirm_segmentations(
    pre_ct: Volume,
    post_ct: Volume,
    tumour_segmentation: Any,
    zone_segmentation: Any,
    request: ConfirmationRequest | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> ConfirmationResult:
    """:func:`confirm_ablation` from segmentations: tumour segment(s) on the pre CT, zone segment(s) on the post CT.

    Raises:
        EmptyStructureError: no tumour or no zone segment found, or an empty one.
        AblationInputError: see :func:`confirm_ablation`.
    """
    from .pipeline import TUMOUR_WORDS, find_segments

    request = request or ConfirmationRequest()
    tumour_names = find_segments(tumour_segmentation, request.tumour_segments, TUMOUR_WORDS)
    if not tumour_names:
        raise EmptyStructureError("No tumour segment found on the pre-ablation segmentation (name one)")
    zone_names = find_segments(zone_segmentation, request.zone_segments, ZONE_WORDS)
    if not zone_names and request.zone_segments is None and len(zone_segmentation.names) == 1:
        zone_names = list(zone_segmentation.names)
    if not zone_names:
        raise EmptyStructureError("No ablation-zone segment found on the post-ablation segmentation (name one)")
    tumour = _masks_on_grid(tumour_segmentation, tumour_names, pre_ct.geometry, "tumour")
    zone = _masks_on_grid(zone_segmentation, zone_names, post_ct.geometry, "zone")
    from HCCInterventionalAILib.progress import as_progress

    reporter = as_progress(progress)
    result = confirm_ablation(pre_ct, post_ct, tumour, zone, deformable=request.deformable,
                              target_margin_mm=request.target_margin_mm,
                              demons_iterations=request.demons_iterations, progress=reporter)
    result.tumour_names, result.zone_names = tumour_names, zone_names
    return result


def write_confirmation_outputs(result: ConfirmationResult, pre_ct: Volume, folder: Any, title: str) -> list[Any]:
    """Write :data:`CONFIRMATION_FILES` into ``folder`` (normally a staging folder)."""
    import json
    from pathlib import Path

    from HCCInterventionalAILib.imaging.io import write_volume
    from HCCInterventionalAILib.report import Report

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [
        write_volume(pre_ct.with_array(result.zone_on_pre.astype(np.uint8)), folder / "zone-on-pre.nrrd"),
        write_volume(pre_ct.with_array(result.insufficient_margin.astype(np.uint8)),
                     folder / "insufficient-margin.nrrd"),
    ]
    result.margin_table().to_csv(folder / "margins.csv", index=False)
    written.append(folder / "margins.csv")
    (folder / "confirmation.json").write_text(json.dumps(result.summary(), indent=2), encoding="utf-8")
    written.append(folder / "confirmation.json")
    report = Report(title, banner="Research software, not for clinical use.")
    section = report.section("Post-ablation confirmation")
    registration = "rigid, then deformable (demons)" if result.registration.deformable else "rigid only"
    section.text(f"Post CT registered onto the pre CT ({registration}); zone segment(s) "
                 f"{', '.join(result.zone_names)} carried onto the pre CT and compared with tumour segment(s) "
                 f"{', '.join(result.tumour_names)}.")
    if not result.margins.complete:
        section.warning("Part of the tumour surface lies outside the ablation zone (incomplete ablation).")
    section.table(result.margin_table(), "Margins")
    written.append(report.write(folder / "report.html"))
    return written


def run_confirmation_files(
    pre_ct_path: Any,
    post_ct_path: Any,
    tumour_segmentation_path: Any,
    zone_segmentation_path: Any,
    output: Any,
    request: ConfirmationRequest | None = None,
    *,
    overwrite: bool = False,
    progress: Progress | ProgressCallback | None = None,
) -> ConfirmationResult:
    """Confirmation on files, written atomically (:func:`HCCInterventionalAILib.outputs.atomic_output`).

    The output path is checked and locked before any input is read; the files appear only when complete.

    Raises:
        OutputPathError: ``output`` cannot be written.
        AblationInputError subclasses: see :func:`confirm_segmentations`.
    """
    from pathlib import Path

    from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume
    from HCCInterventionalAILib.outputs import atomic_output
    from HCCInterventionalAILib.progress import as_progress

    reporter = as_progress(progress)
    with atomic_output(Path(output), overwrite=overwrite) as staging:
        reporter.update(0.0, "Reading images")
        pre_ct, post_ct = read_volume(pre_ct_path), read_volume(post_ct_path)
        tumour_seg, zone_seg = read_segmentation(tumour_segmentation_path), read_segmentation(zone_segmentation_path)
        result = confirm_segmentations(pre_ct, post_ct, tumour_seg, zone_seg, request, reporter.sub(0.05, 0.9))
        reporter.update(0.9, "Writing outputs")
        write_confirmation_outputs(result, pre_ct, staging, f"Ablation confirmation: {Path(post_ct_path).name}")
        reporter.check()
    reporter.update(1.0, "Done")
    return result
