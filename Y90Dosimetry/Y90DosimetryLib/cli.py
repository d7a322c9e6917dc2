"""File-level Y-90 workflow behind `hccai y90`: read images, plan, write dose, tables, RT Dose and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from HCCInterventionalAILib.progress import Progress, ProgressCallback, as_progress

__all__ = ["run_y90_cli"]


def run_y90_cli(
    spect_path: Path,
    segmentation_path: Path,
    output: Path,
    *,
    ct: Path | None = None,
    device: str = "auto",
    progress: Progress | ProgressCallback | None = None,
    microsphere: str = "glass",
    **plan_options: Any,
) -> Any:
    """Plan on files and write ``dose.nrrd``, ``dose-rtdose.dcm``, ``*.csv``, ``plan.json`` and ``report.html``.

    Args:
        spect_path, segmentation_path, ct: inputs (NRRD/NIfTI/DICOM; segmentation also .seg.nrrd/DICOM SEG).
        output: output folder (created).
        device: "auto", "cpu" or "cuda" for the kernel convolution.
        microsphere: "glass" or "resin".
        plan_options: keyword arguments of :func:`Y90DosimetryLib.plan_treatment`.

    Returns:
        The :class:`Y90DosimetryLib.DosimetryResult`.
    """
    from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume, write_volume
    from HCCInterventionalAILib.report import Report

    from .demo import dvh_figure
    from .planning import plan_treatment
    from .rtdose import write_rtdose

    progress = as_progress(progress)
    reading, planning, writing = progress.split(3)
    reading.update(0.0, "Reading images")
    spect = read_volume(spect_path)
    segmentation = read_segmentation(segmentation_path)
    ct_volume = read_volume(ct) if ct is not None else None
    reading.update(1.0, "Images read")
    backend = "torch" if device == "cuda" else "auto"
    result = plan_treatment(spect, segmentation, ct=ct_volume, microsphere_type=microsphere, backend=backend,
                            progress=planning, **plan_options)

    writing.update(0.0, "Writing outputs")
    output.mkdir(parents=True, exist_ok=True)
    if result.dose is not None:
        write_volume(result.dose, output / "dose.nrrd")
        write_rtdose(result.dose, output / "dose-rtdose.dcm")
    result.compartments.to_csv(output / "compartments.csv", index=False)
    result.dose_statistics.to_csv(output / "dose_statistics.csv", index=False)
    result.dvh.to_csv(output / "dvh.csv", index=False)
    (output / "plan.json").write_text(result.to_json(indent=2), encoding="utf-8")

    report = Report(f"Y-90 plan: {spect_path.name}", banner="Research software, not for clinical use.")
    section = report.section(f"{result.method} plan, {microsphere} microspheres")
    section.text(f"Activity {result.activity_gbq:.3f} GBq; lung shunt fraction "
                 f"{100 * result.lung_shunt.lung_shunt_fraction:.1f}% ({result.lung_shunt.method}); dose constant "
                 f"K = {result.prescription.dose_constant.value} Gy·kg/GBq ({result.prescription.dose_constant.name}).")
    for warning in result.warnings:
        section.warning(warning)
    section.table(result.compartments, "Compartments")
    section.table(result.dose_statistics, "Voxel dose metrics")
    if not result.dvh.empty:
        section.figure(dvh_figure(result.dvh, sorted(set(result.dvh.structure)), "Cumulative DVH"), "DVH")
    report.write(output / "report.html")
    writing.update(1.0, "Done")
    return result
