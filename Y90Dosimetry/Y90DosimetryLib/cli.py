"""``hccai y90``: Y-90 planning on files, registered through the ``hccai.commands`` entry point.

:func:`register` adds the ``y90`` command to the root ``hccai`` app (see :mod:`HCCInterventionalAILib.cli` for
the contract); :func:`run_y90_cli` (in :mod:`.plan_files`) is the file-level workflow behind it: read images, plan with a
:class:`~.request.PlanRequest`, and write dose, tables, RT Dose, ``plan.json`` and a report atomically (staging
folder beside the output, moved into place only when complete).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

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

from .plan_files import OUTPUT_FILES, run_y90_cli, write_plan_outputs  # the file workflow (no typer needed)

__all__ = ["OUTPUT_FILES", "register", "run_y90_cli", "write_plan_outputs"]

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
