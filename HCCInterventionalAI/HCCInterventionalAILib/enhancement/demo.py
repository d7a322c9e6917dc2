"""Demo step ``80-enhancement``: motion-compensated and mask-free deep-learning DSA of a SYNTHETIC run, and
self-supervised (Noise2Self) and supervised (shipped weights) denoising of a simulated low-dose version of the
sample CT, with before/after pictures and the numbers (all in results.json)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["enhancement_demo_step"]


def _residual(run: Any, dsa: np.ndarray, margin: int = 12) -> float:
    keep = ~run.vessel_mask & ~run.tumour_mask
    keep[:margin] = keep[-margin:] = False
    keep[:, :margin] = keep[:, -margin:] = False
    return float(np.sqrt(np.mean(((dsa - run.iodine)[1:][:, keep]) ** 2)))


def _dl_dsa(context: Any, section: Any, run: Any, peak: int) -> dict[str, Any]:
    """Mask-free DSA of the run by the shipped network, against the truth and the naive median baseline."""
    import matplotlib.pyplot as plt

    from .angio import simulate_angio_run
    from .dl_dsa import TRAINED_FRAME_SIZES, DLDSARequest, median_baseline, run_dsa_dl, vessel_dice
    from .quality import psnr

    if min(run.frames.shape[1:]) < TRAINED_FRAME_SIZES[0]:  # the small demo's run: use frames the network knows
        run = simulate_angio_run(n_frames=12, shape=(TRAINED_FRAME_SIZES[0],) * 2, motion="deformable", seed=11)
        peak = int(np.argmax(run.iodine.max(axis=(1, 2))))
    result = run_dsa_dl(run.frames, DLDSARequest(device=context.device), times_s=run.times_s)
    first, truth = run.arrival_frame, run.iodine[run.arrival_frame:]
    baseline = median_baseline(run.frames)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, image, title in zip(axes, (run.iodine[peak], result.dsa[peak], baseline[peak]),
                                ("True iodine", "Mask-free DSA (network)", "Temporal-median baseline"), strict=True):
        ax.imshow(image, cmap="gray", vmin=-0.1, vmax=0.4)
        ax.set_title(title)
        ax.axis("off")
    section.figure(fig, f"Frame {peak}: mask-free DSA by a network trained only on synthetic runs")
    plt.close(fig)
    peak_iodine = float(truth.max())
    return {
        "dl_model": result.model["model_id"],
        "dl_run_frame_size": [int(v) for v in run.frames.shape[1:]],
        "dl_vessel_dice": vessel_dice(result.dsa[first:], truth),
        "dl_psnr_db": psnr(result.dsa[first:], truth, peak_iodine),
        "median_baseline_vessel_dice": vessel_dice(baseline[first:], truth),
        "median_baseline_psnr_db": psnr(baseline[first:], truth, peak_iodine),
        "dl_frames_per_second": result.frames_per_second,
    }


def _supervised_denoise(context: Any, section: Any, crop: Any, low: Any, k: int, liver: np.ndarray,
                        tumour: np.ndarray, background: np.ndarray) -> tuple[dict[str, Any], Any]:
    """The shipped supervised denoiser (its model card, through the same pipeline) on the same low-dose slab: the
    numbers for the report and results.json, and its hallucination report."""
    import matplotlib.pyplot as plt

    from .denoise import Noise2SelfSettings
    from .pipeline import DenoiseRequest, run_denoise
    from .quality import psnr

    device = None if context.device == "auto" else context.device
    request = DenoiseRequest(method="ct-denoise-simulated-lowdose", settings=Noise2SelfSettings(device=device))
    result = run_denoise(low, request, lesion_roi=tumour if tumour.any() else None,
                         background_roi=background if background.any() else None)
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, image, title, window in zip(axes, (result.denoised.array[k], result.difference.array[k]),
                                        ("Denoised (supervised network)", "Difference (denoised − low dose)"),
                                        ((-160, 240), (-100, 100)), strict=True):
        ax.imshow(image, cmap="gray", vmin=window[0], vmax=window[1])
        ax.set_title(title)
        ax.axis("off")
    section.figure(fig, "Supervised denoiser trained on simulated low-dose CT (research only)")
    plt.close(fig)
    return {
        "supervised_model": result.provenance["model_id"],
        "supervised_psnr_liver_db": psnr(result.denoised.array, crop.array, 400.0, liver),
        "supervised_noise_sd_after_hu": result.noise_sd_after_hu,
        "supervised_cnr_after": result.cnr_after,
        "supervised_hallucination_flagged": result.hallucination.flagged,
        "supervised_hallucination_regions": result.hallucination.to_dict()["regions"],
        "supervised_reverted_fraction": result.reverted_fraction,
        "supervised_inference_seconds": result.inference_seconds,
    }, result.hallucination


def enhancement_demo_step(context: Any) -> None:
    """Add the image-enhancement section to the demo report, scene and results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.ndimage import binary_dilation, binary_erosion

    from ..imaging.volume import Volume
    from .angio import simulate_angio_run
    from .denoise import Noise2SelfSettings
    from .lowdose import simulate_low_dose
    from .pipeline import DenoiseRequest, DSARequest, run_denoise, run_dsa
    from .quality import psnr
    from .scene_bridge import result_to_scene

    section = context.report.section("Image enhancement: DSA and CT denoising")
    section.warning("SYNTHETIC angiographic run and simulated low-dose CT of the synthetic sample patient. "
                    "Self-supervised denoising trained on the scan itself. The mask-free DSA network was trained "
                    "only on synthetic runs and the supervised denoiser on simulated low-dose noise of two open-licence "
                    "CT slices: neither is clinically validated. Research software: not for clinical use.")
    progress = context.progress
    # --- DSA -------------------------------------------------------------------------------------------
    patient = context.patient
    side = 256 if patient.ct["arterial"].shape[1] >= 192 else 160  # the small sample patient → a quick demo
    run = simulate_angio_run(n_frames=12, shape=(side, side), motion="deformable", seed=11)
    plain = run_dsa(run.frames, DSARequest(mask_index=None, motion="none"), times_s=run.times_s)
    compensated = run_dsa(run.frames, DSARequest(mask_index=None, motion="deformable", device=None),
                          times_s=run.times_s, progress=progress.sub(0.0, 0.4))
    peak = int(np.argmax(run.iodine.max(axis=(1, 2))))
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, image, title in zip(axes, (np.log(run.frames[peak]), plain.dsa[peak], compensated.dsa[peak]),
                                ("Frame (log counts)", "Plain subtraction", "Motion-compensated DSA"), strict=True):
        ax.imshow(image, cmap="gray", vmin=None if title.startswith("Frame") else -0.1,
                  vmax=None if title.startswith("Frame") else 0.4)
        ax.set_title(title)
        ax.axis("off")
    section.figure(fig, f"Frame {peak} of a synthetic run with respiratory and bowel motion")
    plt.close(fig)
    dsa_numbers = {
        "mask_frame": compensated.mask_index,
        "true_last_contrast_free_frame": run.last_contrast_free_frame,
        "background_residual_plain": _residual(run, plain.dsa),
        "background_residual_deformable": _residual(run, compensated.dsa),
        "frames_per_second_deformable": compensated.frames_per_second,
    }
    dsa_numbers.update(_dl_dsa(context, section, run, peak))
    section.key_values(dsa_numbers)
    # --- denoising -------------------------------------------------------------------------------------
    ct = patient.ct["arterial"]
    liver_mask = patient.truth.mask("Liver")
    ks = np.flatnonzero(liver_mask.any(axis=(1, 2)))
    half = 6 if side == 256 else 4
    k0, k1 = int(ks[len(ks) // 2]) - half, int(ks[len(ks) // 2]) + half
    crop = Volume(ct.array[k0:k1], ct.geometry.with_shape((k1 - k0, *ct.shape[1:])), name="Arterial CT (slab)",
                  modality="CT", units="HU", metadata=dict(ct.metadata))
    low = simulate_low_dose(crop, 4.0e4, seed=1, progress=progress.sub(0.4, 0.55))
    tumour = binary_erosion(patient.truth.mask("Tumor 1")[k0:k1], iterations=1)
    background = binary_erosion(liver_mask[k0:k1], iterations=2) & ~binary_dilation(patient.truth.mask("Tumor 1")[k0:k1], iterations=2)
    request = DenoiseRequest(settings=Noise2SelfSettings(iterations=1000 if side == 256 else 300, width=16, depth=4, patch_size=48, batch_size=4))
    result = run_denoise(low, request, lesion_roi=tumour if tumour.any() else None,
                         background_roi=background if background.any() else None, progress=progress.sub(0.55, 1.0))
    k = int(np.argmax(liver_mask[k0:k1].sum(axis=(1, 2))))
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    for ax, image, title, window in zip(
        axes, (crop.array[k], low.array[k], result.denoised.array[k], result.difference.array[k]),
        ("Standard dose", "Simulated low dose", "Denoised (Noise2Self)", "Difference (denoised − low dose)"),
        ((-160, 240), (-160, 240), (-160, 240), (-100, 100)), strict=True,
    ):
        ax.imshow(image, cmap="gray", vmin=window[0], vmax=window[1])
        ax.set_title(title)
        ax.axis("off")
    section.figure(fig, "Arterial-phase CT slice, W 400 / L 40 (difference ±100 HU)")
    plt.close(fig)
    liver = liver_mask[k0:k1]
    denoise_numbers = result.to_dict()
    denoise_numbers.update({
        "psnr_liver_low_dose_db": psnr(low.array, crop.array, 400.0, liver),
        "psnr_liver_denoised_db": psnr(result.denoised.array, crop.array, 400.0, liver),
    })
    supervised_numbers, supervised_report = _supervised_denoise(context, section, crop, low, k, liver, tumour, background)
    denoise_numbers.update(supervised_numbers)
    section.key_values({k: v for k, v in denoise_numbers.items() if not isinstance(v, (dict, list))})
    for label, report in (("Noise2Self", result.hallucination), ("The supervised network", supervised_report)):
        if report.flagged:
            section.warning(f"{label}: the hallucination check flagged {len(report.regions)} region(s) the network "
                            "changed more than noise explains (largest first in results.json, index order k, j, i; "
                            "e.g. a bone edge blurred or a small enhancing vessel smoothed away). The structure guard "
                            "kept the input there in the output shown; look at the difference map before relying on "
                            "detail.")
    context.results["enhancement"] = {"dsa": dsa_numbers, "denoise": denoise_numbers}
    if context.scene is not None:
        result_to_scene(context.scene, compensated, name="Synthetic run")
        result_to_scene(context.scene, result, name="Arterial CT")
