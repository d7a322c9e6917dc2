"""Y-90 planning on files, without the command line: :func:`run_y90_cli` reads the images, plans with a
:class:`~.request.PlanRequest` and writes dose, tables, RT Dose, ``plan.json`` and a report atomically (staging
folder beside the output, moved into place only when complete); :func:`write_plan_outputs` writes the files.

Used by ``hccai y90`` (:mod:`.cli`, which re-exports these names) and by the worker process of the Slicer module
(:mod:`.worker`): this module needs no command-line packages (typer), which Slicer's Python does not bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from HCCInterventionalAILib.progress import Progress, ProgressCallback, as_progress

if TYPE_CHECKING:  # pragma: no cover
    from .planning import DosimetryResult
    from .request import PlanRequest

__all__ = ["OUTPUT_FILES", "run_y90_cli", "write_plan_outputs"]

#: What a plan folder holds (RT Dose and dose.nrrd only when a dose was computed).
OUTPUT_FILES = ("dose.nrrd", "dose-rtdose.dcm", "compartments.csv", "dose_statistics.csv", "dvh.csv", "plan.json",
                "report.html")


def write_plan_outputs(result: DosimetryResult, folder: Path, title: str,
                       progress: Progress | ProgressCallback | None = None,
                       segment_colors: Any = None, *, rtdose: bool = True, report: bool = True) -> list[Path]:
    """Write a plan's files into ``folder`` (normally a staging folder), checking for cancellation between files.

    ``segment_colors`` (name → RGB 0–1, or the Segmentation) colours the report's DVH curves as the segments.
    ``rtdose=False`` / ``report=False`` leave out ``dose-rtdose.dcm`` / ``report.html`` (the Slicer module's
    worker: the module exports RT Dose itself, and Slicer's Python has no matplotlib for the report's figure).

    Returns:
        The files written.
    """
    from HCCInterventionalAILib.imaging.io import write_volume
    from HCCInterventionalAILib.report import Report

    from .rtdose import write_rtdose

    progress = as_progress(progress)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def step(fraction: float, message: str) -> None:
        progress.update(fraction, message)

    if result.dose is not None:
        step(0.0, "Writing dose.nrrd")
        written.append(write_volume(result.dose, folder / "dose.nrrd"))
        if rtdose:
            step(0.3, "Writing RT Dose")
            written.append(write_rtdose(result.dose, folder / "dose-rtdose.dcm"))
    step(0.5, "Writing tables")
    for name, table in (("compartments", result.compartments), ("dose_statistics", result.dose_statistics),
                        ("dvh", result.dvh)):
        table.to_csv(folder / f"{name}.csv", index=False)
        written.append(folder / f"{name}.csv")
    (folder / "plan.json").write_text(result.to_json(indent=2), encoding="utf-8")
    written.append(folder / "plan.json")
    if not report:
        step(1.0, "Outputs complete")
        return written
    step(0.6, "Writing report")
    document = Report(title, banner="Research software, not for clinical use.")
    section = document.section(f"{result.method} plan, {result.microsphere.name} microspheres")
    section.text(f"Activity {result.activity_gbq:.3f} GBq; lung shunt fraction "
                 f"{100 * result.lung_shunt.lung_shunt_fraction:.1f}% ({result.lung_shunt.method}); dose constant "
                 f"K = {result.prescription.dose_constant.value} Gy·kg/GBq ({result.prescription.dose_constant.name}).")
    for warning in result.warnings:
        section.warning(warning)
    section.table(result.compartments, "Compartments")
    section.table(result.dose_statistics, "Voxel dose metrics")
    if not result.dvh.empty:
        from .dvh import dvh_figure

        section.figure(dvh_figure(result.dvh, title="Cumulative DVH", colors=segment_colors), "DVH")
    written.append(document.write(folder / "report.html"))
    step(1.0, "Outputs complete")
    return written


def run_y90_cli(
    spect_path: Path,
    segmentation_path: Path,
    output: Path,
    request: PlanRequest | None = None,
    *,
    ct: Path | None = None,
    overwrite: bool = False,
    progress: Progress | ProgressCallback | None = None,
    rtdose: bool = True,
    report: bool = True,
    metadata: dict[str, dict[str, Any]] | None = None,
    **options: Any,
) -> DosimetryResult:
    """Plan on files and write ``dose.nrrd``, ``dose-rtdose.dcm``, ``*.csv``, ``plan.json`` and ``report.html``.

    The output folder is checked and locked before anything is read
    (:func:`HCCInterventionalAILib.outputs.atomic_output`); files are written into a staging folder beside it
    that becomes ``output`` only when every file is complete, so a failed, cancelled or killed run leaves
    ``output`` as it was.

    Args:
        spect_path, segmentation_path, ct: inputs (NRRD/NIfTI/DICOM; segmentation also .seg.nrrd/DICOM SEG).
        output: output folder (created; must be absent or empty unless ``overwrite``).
        request: the plan (:class:`~.request.PlanRequest`); ``options`` replace some of its fields.
        overwrite: replace an existing non-empty ``output`` (only once the new one is complete).
        progress: progress and cancellation.
        rtdose, report: write ``dose-rtdose.dcm`` / ``report.html`` (see :func:`write_plan_outputs`).
        metadata: metadata of the volumes read, by input ("spect", "ct"), replacing the file's: what NRRD cannot hold,
            e.g. the acquisition time and DICOM identifiers of images handed over by the Slicer module's worker.

    Returns:
        The :class:`~.planning.DosimetryResult`.

    Raises:
        OutputPathError: ``output`` cannot be written (a file, read-only, not creatable, not empty), raised before
            any input is read; OutputLockedError when another run is writing to it.
        DeviceUnavailableError: the requested device is unknown or unavailable (before any work).
        FileNotFoundError, ValueError subclasses: unreadable inputs or a meaningless plan (see
            :func:`~.planning.plan_treatment`).
    """
    from HCCInterventionalAILib.device import check_device
    from HCCInterventionalAILib.outputs import atomic_output

    from .request import PlanRequest

    request = (request or PlanRequest()).replace(**options) if options else (request or PlanRequest())
    check_device(request.device)
    progress = as_progress(progress)
    reading, planning, writing = progress.split(3)
    with atomic_output(output, overwrite=overwrite) as staging:
        from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume

        from .planning import plan_treatment

        reading.update(0.0, "Reading images")
        spect = read_volume(spect_path)
        segmentation = read_segmentation(segmentation_path)
        ct_volume = read_volume(ct) if ct is not None else None
        for volume, key in ((spect, "spect"), (ct_volume, "ct")):
            if volume is not None and (metadata or {}).get(key) is not None:
                volume.metadata = dict(metadata[key])
        reading.update(1.0, "Images read")
        result = plan_treatment(spect, segmentation, request, ct=ct_volume, progress=planning)
        write_plan_outputs(result, staging, f"Y-90 plan: {Path(spect_path).name}", writing, segmentation,
                           rtdose=rtdose, report=report)
        writing.check()  # a Cancel pressed during the last file still cancels: nothing is published
    return result
