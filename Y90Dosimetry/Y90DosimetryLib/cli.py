"""``hccai y90``: Y-90 planning on files, registered through the ``hccai.commands`` entry point.

:func:`register` adds the ``y90`` command to the root ``hccai`` app (see :mod:`HCCInterventionalAILib.cli` for
the contract); :func:`run_y90_cli` is the file-level workflow behind it: read images, plan with a
:class:`~.request.PlanRequest`, and write dose, tables, RT Dose, ``plan.json`` and a report atomically (staging
folder beside the output, moved into place only when complete).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from HCCInterventionalAILib.cli import (
    DeviceOption,
    OverwriteOption,
    QuietOption,
    check_device,
    terminal_progress,
    user_errors,
)
from HCCInterventionalAILib.outputs import check_output_path
from HCCInterventionalAILib.progress import Progress, ProgressCallback, as_progress

if TYPE_CHECKING:  # pragma: no cover
    from .planning import DosimetryResult
    from .request import PlanRequest

__all__ = ["OUTPUT_FILES", "register", "run_y90_cli", "write_plan_outputs"]

#: What a plan folder holds (RT Dose and dose.nrrd only when a dose was computed).
OUTPUT_FILES = ("dose.nrrd", "dose-rtdose.dcm", "compartments.csv", "dose_statistics.csv", "dvh.csv", "plan.json",
                "report.html")


def write_plan_outputs(result: DosimetryResult, folder: Path, title: str,
                       progress: Progress | ProgressCallback | None = None,
                       segment_colors: Any = None) -> list[Path]:
    """Write a plan's files into ``folder`` (normally a staging folder), checking for cancellation between files.

    ``segment_colors`` (name → RGB 0–1, or the Segmentation) colours the report's DVH curves as the segments.

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
        step(0.3, "Writing RT Dose")
        written.append(write_rtdose(result.dose, folder / "dose-rtdose.dcm"))
    step(0.5, "Writing tables")
    for name, table in (("compartments", result.compartments), ("dose_statistics", result.dose_statistics),
                        ("dvh", result.dvh)):
        table.to_csv(folder / f"{name}.csv", index=False)
        written.append(folder / f"{name}.csv")
    (folder / "plan.json").write_text(result.to_json(indent=2), encoding="utf-8")
    written.append(folder / "plan.json")
    step(0.6, "Writing report")
    report = Report(title, banner="Research software, not for clinical use.")
    section = report.section(f"{result.method} plan, {result.microsphere.name} microspheres")
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
    written.append(report.write(folder / "report.html"))
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
        reading.update(1.0, "Images read")
        result = plan_treatment(spect, segmentation, request, ct=ct_volume, progress=planning)
        write_plan_outputs(result, staging, f"Y-90 plan: {Path(spect_path).name}", writing, segmentation)
        writing.check()  # a Cancel pressed during the last file still cancels: nothing is published
    return result


def _parse_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as error:
        from .errors import Y90InputError

        raise Y90InputError(f"{option} must be an ISO date and time such as 2026-03-01T09:30, got {text!r}") from error


def register(app: typer.Typer) -> None:
    """Add ``hccai y90`` to the root app (entry point ``hccai.commands: y90``)."""

    @app.command("y90")
    def y90(
        spect: Annotated[Path, typer.Option(
            help="99mTc-MAA SPECT (or Y-90 PET / bremsstrahlung SPECT): NRRD, NIfTI or DICOM folder.")],
        segmentation: Annotated[Path, typer.Option(
            help="Segmentation with liver, tumour(s), optional lung/perfused (.seg.nrrd, labelmap or DICOM SEG).")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-y90"),
        ct: Annotated[Path | None, typer.Option(help="CT for densities and lung mass (optional).")] = None,
        method: Annotated[str, typer.Option(help="partition, multi-compartment, mird or bsa.")] = "partition",
        microsphere: Annotated[str, typer.Option(help="glass or resin.")] = "glass",
        activity: Annotated[float | None, typer.Option(
            help="Evaluate this activity (GBq) instead of solving for a dose.")] = None,
        target_dose: Annotated[float | None, typer.Option(help="Target dose (Gy) for the --target compartment.")] = None,
        target: Annotated[str, typer.Option(help="normal, tumour or a tumour's segment name.")] = "normal",
        lsf: Annotated[float | None, typer.Option(help="Lung shunt fraction override (0–1).")] = None,
        height: Annotated[float | None, typer.Option(help="Height in cm (BSA method).")] = None,
        weight: Annotated[float | None, typer.Option(help="Weight in kg (BSA method).")] = None,
        dose_method: Annotated[str, typer.Option(help="kernel, local or none.")] = "kernel",
        quantitative: Annotated[bool, typer.Option(
            "--quantitative", help="The image is calibrated activity concentration (Bq/ml: Y-90 PET, quantitative "
            "bremsstrahlung SPECT): dose the activity it holds.")] = False,
        injected_gbq: Annotated[float | None, typer.Option(
            help="Administered activity (GBq), compared with the activity a --quantitative image holds.")] = None,
        injection_time: Annotated[str | None, typer.Option(
            help="Injection date and time (ISO, e.g. 2026-03-01T09:30), to decay-correct a --quantitative image.")
        ] = None,
        allow_misregistration: Annotated[bool, typer.Option(
            "--allow-misregistration", help="Plan even if the segmentation does not lie on the images.")] = False,
        device: DeviceOption = "auto",
        overwrite: OverwriteOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Y-90 radioembolization planning and voxel dosimetry from an MAA SPECT and its segmentation.

        Writes the dose map (dose.nrrd and DICOM RT Dose), tables (CSV), plan.json and report.html to OUTPUT,
        all at once when complete. An existing non-empty OUTPUT is never replaced unless --overwrite is given.
        """
        with user_errors(output):
            check_output_path(output, folder=True, overwrite=overwrite)  # fails fast; checked again under the lock
            check_device(device)
            from .request import PlanRequest

            request = PlanRequest(
                method=method, microsphere=microsphere, activity_gbq=activity, target_dose_gy=target_dose,
                target=target, lung_shunt_fraction=lsf, height_cm=height, weight_kg=weight, dose_method=dose_method,
                activity_source="quantitative" if quantitative else "treated", injected_gbq=injected_gbq,
                injection_time=_parse_time(injection_time, "--injection-time"),
                allow_misregistration=allow_misregistration, device=device)
            with terminal_progress("hccai y90", enabled=not quiet) as progress:
                result = run_y90_cli(spect, segmentation, output, request, ct=ct, overwrite=overwrite,
                                     progress=progress)
        typer.echo(f"Activity: {result.activity_gbq:.3f} GBq ({result.method}, {result.microsphere.name}); "
                   f"lung shunt {100 * result.lung_shunt.lung_shunt_fraction:.1f}%")
        for warning in result.warnings:
            typer.secho(f"  warning: {warning}", fg=typer.colors.YELLOW)
        typer.echo(f"Outputs in {output}")
