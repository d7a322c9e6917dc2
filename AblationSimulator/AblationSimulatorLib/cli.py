"""``hccai ablation``: ablation-zone prediction on files, registered through the ``hccai.commands`` entry point.

:func:`register` adds ``ablation`` (predict zones and margins; its subcommand ``ablation confirm`` registers the
post-ablation CT onto the planning CT and measures the margins) and ``ablation-devices`` (list the device charts)
to the root ``hccai`` app; :func:`run_ablation_cli` is the file-level workflow: read the CT and segmentation,
predict with an :class:`~.pipeline.AblationRequest`, and write zones, tables, ``ablation.json`` and a report
atomically (staging folder beside the output, moved into place only when complete);
:func:`~.confirmation.run_confirmation_files` is the same for the confirmation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    from .applicator import Applicator
    from .pipeline import AblationRequest, AblationResult

__all__ = ["OUTPUT_FILES", "parse_applicator", "register", "run_ablation_cli", "write_ablation_outputs"]

#: What an ablation folder may hold (zones only for the models computed, margins only with a tumour).
OUTPUT_FILES = ("zone-vendor.nrrd", "zone-physics.nrrd", "zone-network.nrrd", "peak-temperature.nrrd",
                "margins.csv", "summary.csv", "ablation.json", "report.html")


def parse_applicator(text: str, index: int, coordinates: str = "ras") -> Applicator:
    """``"TIP_X,TIP_Y,TIP_Z,ENTRY_X,ENTRY_Y,ENTRY_Z"`` (mm, RAS as Slicer shows them, or LPS) → :class:`Applicator`.

    Raises:
        AblationInputError: not six numbers, or an unknown coordinate system.
    """
    from .applicator import Applicator
    from .errors import AblationInputError

    try:
        values = [float(v) for v in text.replace(";", ",").split(",")]
    except ValueError:
        values = []
    if len(values) != 6:
        raise AblationInputError(
            f"--applicator needs six numbers 'tip x,y,z,entry x,y,z' in mm, got {text!r}")
    name = f"Applicator {index}"
    if coordinates == "ras":
        return Applicator.from_ras(values[:3], values[3:], name)
    if coordinates == "lps":
        return Applicator(tuple(values[:3]), tuple(values[3:]), name)
    raise AblationInputError(f"--coordinates must be 'ras' or 'lps', got {coordinates!r}")


def write_ablation_outputs(result: AblationResult, folder: Path, title: str,
                           progress: Progress | ProgressCallback | None = None) -> list[Path]:
    """Write a prediction's files into ``folder`` (normally a staging folder).

    Returns:
        The files written.
    """
    import numpy as np

    from HCCInterventionalAILib.imaging import Volume
    from HCCInterventionalAILib.imaging.io import write_volume
    from HCCInterventionalAILib.report import Report

    progress = as_progress(progress)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    progress.update(0.0, "Writing zones")
    for model in ("vendor", "physics", "network"):
        if result.zone(model) is not None:
            written.append(write_volume(result.zone_volume(model), folder / f"zone-{model}.nrrd"))
    if result.physics is not None:
        sim = result.physics.simulation
        peak = Volume(sim.max_temperature_c.astype(np.float32), result.physics.geometry, name="Peak temperature",
                      units="degC")
        written.append(write_volume(peak, folder / "peak-temperature.nrrd"))
    progress.update(0.5, "Writing tables")
    if result.margins:
        result.margin_table().to_csv(folder / "margins.csv", index=False)
        written.append(folder / "margins.csv")
    result.summary_table().to_csv(folder / "summary.csv", index=False)
    written.append(folder / "summary.csv")
    (folder / "ablation.json").write_text(result.to_json(indent=2), encoding="utf-8")
    written.append(folder / "ablation.json")
    report = Report(title, banner="Research software, not for clinical use.")
    e = result.ellipsoid
    section = report.section(f"{result.device_name}, {result.request.power_w:g} W for {result.request.time_s:g} s")
    section.text(f"Chart ellipsoid (ex vivo, interpolated): semi-axes {e.along_mm:.1f} × {e.perpendicular_1_mm:.1f} × "
                 f"{e.perpendicular_2_mm:.1f} mm, centre {e.centre_offset_mm:.1f} mm behind the tip. Chart source: "
                 f"{result.device_source}")
    for warning in result.warnings:
        section.warning(warning)
    section.table(result.summary_table(), "Predicted zones")
    if result.margins:
        section.table(result.margin_table(), "Margins")
    written.append(report.write(folder / "report.html"))
    progress.update(1.0, "Outputs complete")
    return written


def run_ablation_cli(
    ct_path: Path,
    applicators: Sequence[Applicator],
    output: Path,
    request: AblationRequest | None = None,
    *,
    segmentation_path: Path | None = None,
    overwrite: bool = False,
    progress: Progress | ProgressCallback | None = None,
) -> AblationResult:
    """Predict on files and write the outputs of :data:`OUTPUT_FILES` atomically.

    Raises:
        OutputPathError: ``output`` cannot be written (before any input is read).
        AblationInputError subclasses: see :func:`~.pipeline.plan_ablation`.
    """
    from HCCInterventionalAILib.device import check_device as check
    from HCCInterventionalAILib.outputs import atomic_output

    from .pipeline import AblationRequest, plan_ablation

    request = request or AblationRequest()
    check(request.device)
    progress = as_progress(progress)
    reading, planning, writing = progress.split(3)
    with atomic_output(output, overwrite=overwrite) as staging:
        from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume

        reading.update(0.0, "Reading images")
        ct = read_volume(ct_path)
        segmentation = read_segmentation(segmentation_path) if segmentation_path is not None else None
        reading.update(1.0, "Images read")
        result = plan_ablation(applicators, request, ct=ct, segmentation=segmentation, progress=planning)
        write_ablation_outputs(result, staging, f"Ablation zone: {Path(ct_path).name}", writing)
        writing.check()
    return result


def register(app: typer.Typer) -> None:
    """Add ``hccai ablation`` (with ``ablation confirm``) and ``hccai ablation-devices`` to the root app
    (entry point ``hccai.commands``)."""
    ablation_app = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                               help="Predict ablation zones and margins; `hccai ablation confirm` checks them after.")
    app.add_typer(ablation_app, name="ablation")

    @ablation_app.callback()
    def ablation(
        ctx: typer.Context,
        ct: Annotated[Path | None, typer.Option(
            help="CT (NRRD, NIfTI or DICOM folder): the grid the zone is placed on.")] = None,
        applicator: Annotated[list[str] | None, typer.Option(
            help="Applicator 'tip x,y,z,entry x,y,z' in mm (repeat for several applicators).")] = None,
        segmentation: Annotated[Path | None, typer.Option(
            help="Segmentation with tumour(s) and vessels (.seg.nrrd, labelmap or DICOM SEG).")] = None,
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-ablation"),
        ablation_device: Annotated[str, typer.Option(
            help="Device preset (see `hccai ablation-devices`).")] = "covidien-mwa",
        power: Annotated[float, typer.Option(help="Generator power (W).")] = 75.0,
        time: Annotated[float, typer.Option(help="Ablation time (s).")] = 300.0,
        model: Annotated[str, typer.Option(help="vendor, physics, both or network.")] = "vendor",
        tissue: Annotated[str, typer.Option(help="Tissue preset of the physics model (liver, liver_ex_vivo...).")
                          ] = "liver",
        tumour: Annotated[list[str] | None, typer.Option(
            help="Tumour segment name (repeatable; default: recognised by name).")] = None,
        vessel: Annotated[list[str] | None, typer.Option(
            help="Vessel segment used as heat sink (repeatable; default: recognised by name).")] = None,
        target_margin: Annotated[float, typer.Option(help="Target ablative margin (mm).")] = 5.0,
        grid_spacing: Annotated[float, typer.Option(help="Voxel size of the physics grid (mm).")] = 1.0,
        coordinates: Annotated[str, typer.Option(help="ras (as Slicer shows them) or lps.")] = "ras",
        device: DeviceOption = "auto",
        overwrite: OverwriteOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Predict the ablation zone (vendor chart and/or bioheat physics with vessel heat sink) and the margins.

        Needs --ct and --applicator. Writes zone-*.nrrd, peak-temperature.nrrd, margins.csv, summary.csv,
        ablation.json and report.html to OUTPUT, all at once when complete. An existing non-empty OUTPUT is never
        replaced unless --overwrite.
        """
        if ctx.invoked_subcommand is not None:
            return
        with user_errors(output):
            from .errors import AblationInputError

            if ct is None or not applicator:
                raise AblationInputError("hccai ablation needs --ct and at least one --applicator "
                                         "(or a subcommand: confirm)")
            check_output_path(output, folder=True, overwrite=overwrite)
            check_device(device)
            from .pipeline import AblationRequest

            applicators = [parse_applicator(text, i + 1, coordinates) for i, text in enumerate(applicator)]
            request = AblationRequest(
                ablation_device=ablation_device, power_w=power, time_s=time, model=model, tissue=tissue,
                tumour_segments=tuple(tumour) if tumour else None, vessel_segments=tuple(vessel) if vessel else None,
                target_margin_mm=target_margin, grid_spacing_mm=grid_spacing, device=device)
            with terminal_progress("hccai ablation", enabled=not quiet) as progress:
                result = run_ablation_cli(ct, applicators, output, request, segmentation_path=segmentation,
                                          overwrite=overwrite, progress=progress)
        for model_name, volume in result.to_dict()["zone_volume_ml"].items():
            typer.echo(f"Zone ({model_name}): {volume:.2f} ml")
        for model_name, margins in result.margins.items():
            typer.echo(f"Minimal ablative margin ({model_name}): {margins.minimal_margin_mm:.1f} mm; tumour covered "
                       f"{margins.tumour_covered_percent:.1f}%")
        for warning in result.warnings:
            typer.secho(f"  warning: {warning}", fg=typer.colors.YELLOW)
        typer.echo(f"Outputs in {output}")

    @ablation_app.command("confirm")
    def confirm(
        pre_ct: Annotated[Path, typer.Option(help="Planning (pre-ablation) CT.")],
        post_ct: Annotated[Path, typer.Option(help="Post-ablation CT.")],
        tumour_segmentation: Annotated[Path, typer.Option(help="Segmentation of the tumour(s) on the PRE CT.")],
        zone_segmentation: Annotated[Path, typer.Option(help="Segmentation of the ablation zone on the POST CT.")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-confirmation"),
        tumour: Annotated[list[str] | None, typer.Option(
            help="Tumour segment name (repeatable; default: recognised by name).")] = None,
        zone: Annotated[list[str] | None, typer.Option(
            help="Zone segment name (repeatable; default: recognised by name, or the only segment).")] = None,
        rigid_only: Annotated[bool, typer.Option(help="Skip the deformable (demons) stage.")] = False,
        target_margin: Annotated[float, typer.Option(help="Target ablative margin (mm).")] = 5.0,
        overwrite: OverwriteOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Register the post-ablation CT onto the planning CT (rigid, then deformable), carry the zone over and
        measure the margins around the tumour.

        Writes zone-on-pre.nrrd, insufficient-margin.nrrd, margins.csv, confirmation.json and report.html to
        OUTPUT, all at once when complete.
        """
        with user_errors(output):
            check_output_path(output, folder=True, overwrite=overwrite)
            from .confirmation import ConfirmationRequest, run_confirmation_files

            request = ConfirmationRequest(tumour_segments=tuple(tumour) if tumour else None,
                                          zone_segments=tuple(zone) if zone else None, deformable=not rigid_only,
                                          target_margin_mm=target_margin)
            with terminal_progress("hccai ablation confirm", enabled=not quiet) as progress:
                result = run_confirmation_files(pre_ct, post_ct, tumour_segmentation, zone_segmentation, output,
                                                request, overwrite=overwrite, progress=progress)
        m = result.margins
        typer.echo(f"Minimal ablative margin: {m.minimal_margin_mm:.1f} mm; tumour covered "
                   f"{m.tumour_covered_percent:.1f}%; surface with margin >= {m.target_margin_mm:g} mm "
                   f"{m.surface_margin_ge_target_percent:.1f}%")
        typer.echo(f"Outputs in {output}")

    @app.command("ablation-devices")
    def ablation_devices() -> None:
        """List the ablation device presets and their chart settings (ex-vivo vendor charts)."""
        with user_errors(None):
            from .devices import load_devices

            for key, device in load_devices().items():
                powers = ", ".join(f"{p:g}" for p in device.powers_w)
                times = ", ".join(f"{t:g}" for t in device.times_s)
                typer.echo(f"{key}: {device.name} ({device.modality}); power {powers} W; time {times} s")
