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

__all__ = ["Registration", "ConfirmationResult", "register_post_to_pre", "carry_mask_to_pre", "confirm_ablation"]


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


@dataclass
class ConfirmationResult:
    """Registration, the zone carried onto the pre-CT grid and the margin metrics."""

    registration: Registration
    zone_on_pre: np.ndarray = field(repr=False)
    margins: MarginResult

    def summary(self) -> dict[str, Any]:
        return {
            "rigid_parameters": list(self.registration.rigid_parameters),
            "rigid_metric": self.registration.rigid_metric,
            "deformable": self.registration.deformable,
            "max_displacement_mm": self.registration.max_displacement_mm,
            "margins": self.margins.summary(),
        }


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
    registration = register_post_to_pre(pre_ct, post_ct, deformable=deformable, progress=reporter.sub(0.0, 0.9))
    zone_on_pre = carry_mask_to_pre(zone, post_ct, pre_ct, registration)
    margins = compute_margins(tumour, zone_on_pre, pre_ct.geometry.spacing, target_margin_mm)
    reporter.update(1.0, "Margins measured")
    return ConfirmationResult(registration, zone_on_pre, margins)
