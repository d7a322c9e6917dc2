"""``hccai``: the headless command-line tool of HCC Interventional AI.

Every command prints a progress bar (Ctrl+C cancels cleanly) and writes new files only: existing outputs are
never overwritten unless ``--overwrite`` is given.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from .. import __version__
from ..progress import Cancelled
from .terminal import terminal_progress

__all__ = ["app", "main"]

app = typer.Typer(
    name="hccai",
    help="HCC Interventional AI: AI and physics for image-guided treatment of liver cancer (research use only).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Model cards: list, inspect, fetch and verify networks.", no_args_is_help=True)
app.add_typer(models_app, name="models")

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def _fail(message: str) -> None:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    """Bad input (missing files, wrong modality, mismatched grids...) ends with one red line, not a traceback."""
    try:
        yield
    except Cancelled:
        _fail("cancelled; nothing was written")
    except (ValueError, FileNotFoundError, KeyError, ImportError) as error:
        _fail(str(error))


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and any(path.iterdir() if path.is_dir() else [path]) and not overwrite:
        _fail(f"{path} already exists and is not empty; choose another --output or pass --overwrite")


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details (device choice, files).")] = False):
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def version() -> None:
    """Print the version of the package and of its main dependencies."""
    import importlib.metadata as md

    typer.echo(f"hccai {__version__} (Python {sys.version.split()[0]})")
    for package in ("numpy", "SimpleITK", "torch", "monai", "slicer-core", "pydicom", "highdicom", "onnxruntime"):
        try:
            typer.echo(f"  {package} {md.version(package)}")
        except md.PackageNotFoundError:
            typer.echo(f"  {package} (not installed)")


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-demo"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic patient.")] = 7,
    size: Annotated[str, typer.Option(help="'standard' or 'small' (faster).")] = "standard",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    only: Annotated[list[str] | None, typer.Option(help="Run only steps whose name contains this (repeatable).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the outputs of an earlier demo in the same folder.")] = True,
    quiet: Quiet = False,
) -> None:
    """Run every available capability on the built-in SYNTHETIC sample patient.

    Writes OUTPUT/report.html (tables and pictures), OUTPUT/scene.mrb (open it in 3D Slicer) and
    OUTPUT/results.json (the numbers).
    """
    from ..demo import run_demo

    if size not in ("standard", "small"):
        _fail("--size must be 'standard' or 'small'")
    _refuse_existing(output, overwrite)
    with _clear_errors(), terminal_progress("hccai demo", enabled=not quiet) as progress:
        summary = run_demo(output, seed=seed, size=size, device=device, only=only, progress=progress)
    for name, status in summary.steps.items():
        typer.echo(f"  {name}: {status}")
    typer.echo(f"Report: {summary.report_path}")
    if summary.scene_path:
        typer.echo(f"Slicer scene: {summary.scene_path}")
    typer.echo(f"Finished in {summary.seconds:.1f} s")


@app.command()
def sample(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-sample"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic patient.")] = 7,
    size: Annotated[str, typer.Option(help="'standard' or 'small'.")] = "standard",
    fmt: Annotated[str, typer.Option("--format", help="nrrd, nii.gz or dicom.")] = "nrrd",
    overwrite: Annotated[bool, typer.Option(help="Allow writing into a non-empty folder.")] = False,
) -> None:
    """Write the SYNTHETIC sample patient (CT phases, MAA SPECT, ground-truth segmentation) to files."""
    from ..imaging.io import write_segmentation, write_volume
    from ..sample import make_sample_patient

    if fmt not in ("nrrd", "nii.gz", "dicom"):
        _fail("--format must be nrrd, nii.gz or dicom")
    _refuse_existing(output, overwrite)
    output.mkdir(parents=True, exist_ok=True)
    with _clear_errors():
        patient = make_sample_patient(seed=seed, size=size)
    volumes = {f"ct-{phase.replace(' ', '-')}": v for phase, v in patient.ct.items()} | {"maa-spect": patient.spect}
    for stem, volume in volumes.items():
        if fmt == "dicom" and volume.modality == "CT":
            from ..imaging.dicom_io import write_dicom_series

            write_dicom_series(volume, output / stem, modality="CT", series_description=stem)
        elif fmt == "dicom":  # NM (SPECT) DICOM export is not implemented: keep it lossless as NRRD
            write_volume(volume, output / f"{stem}.nrrd")
            typer.echo(f"  {stem}: written as NRRD ({volume.modality} DICOM export is not supported yet)")
        else:
            write_volume(volume, output / f"{stem}.{fmt}")
    write_segmentation(patient.truth, output / "truth.seg.nrrd")
    typer.echo(f"Wrote {len(volumes)} volumes and truth.seg.nrrd to {output} (synthetic data)")


@app.command()
def segment(
    model_id: Annotated[str, typer.Argument(help="Model card id (see `hccai models list`), e.g. liver-ct or liver-ct@1.0.0.")],
    image: Annotated[list[Path], typer.Argument(help="Input image(s): one per input channel the card declares.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output segmentation (.seg.nrrd).")] = Path(
        "segmentation.seg.nrrd"),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    quiet: Quiet = False,
) -> None:
    """Segment an image with a network described by a model card (fetched and verified on request)."""
    from ..imaging.io import read_volume, write_segmentation
    from ..models import segment_volume

    if output.exists() and not overwrite:
        _fail(f"{output} exists; pass --overwrite to replace it")
    with _clear_errors(), terminal_progress(f"segment {model_id}", enabled=not quiet) as progress:
        volumes = [read_volume(path) for path in image]
        result = segment_volume(model_id, volumes if len(volumes) > 1 else volumes[0], progress, device=device)
        write_segmentation(result.to_segmentation(), output)
    typer.echo(f"Wrote {output} ({result.card.validation_status}); timings: "
               + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()))


@app.command()
def y90(
    spect: Annotated[Path, typer.Option(help="99mTc-MAA SPECT (or Y-90 PET / bremsstrahlung SPECT): NRRD, NIfTI or DICOM folder.")],
    segmentation: Annotated[Path, typer.Option(help="Segmentation with liver, tumour(s), optional lung/perfused (.seg.nrrd, labelmap or DICOM SEG).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-y90"),
    ct: Annotated[Path | None, typer.Option(help="CT for densities and lung mass (optional).")] = None,
    method: Annotated[str, typer.Option(help="partition, multi-compartment, mird or bsa.")] = "partition",
    microsphere: Annotated[str, typer.Option(help="glass or resin.")] = "glass",
    activity: Annotated[float | None, typer.Option(help="Evaluate this activity (GBq) instead of solving for a dose.")] = None,
    target_dose: Annotated[float | None, typer.Option(help="Target dose (Gy) for the --target compartment.")] = None,
    target: Annotated[str, typer.Option(help="normal, tumour or a tumour's segment name.")] = "normal",
    lsf: Annotated[float | None, typer.Option(help="Lung shunt fraction override (0–1).")] = None,
    height: Annotated[float | None, typer.Option(help="Height in cm (BSA method).")] = None,
    weight: Annotated[float | None, typer.Option(help="Weight in kg (BSA method).")] = None,
    dose_method: Annotated[str, typer.Option(help="kernel, local or none.")] = "kernel",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda for the kernel convolution.")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Allow writing into a non-empty folder.")] = False,
    quiet: Quiet = False,
) -> None:
    """Y-90 radioembolization planning and voxel dosimetry from an MAA SPECT and its segmentation.

    Writes the dose map (dose.nrrd and DICOM RT Dose), tables (CSV), plan.json and report.html to OUTPUT.
    """
    from Y90DosimetryLib.cli import run_y90_cli

    _refuse_existing(output, overwrite)
    with _clear_errors(), terminal_progress("hccai y90", enabled=not quiet) as progress:
        result = run_y90_cli(
            spect, segmentation, output, ct=ct, method=method, microsphere=microsphere, activity_gbq=activity,
            target_dose_gy=target_dose, target=target, lung_shunt_fraction=lsf, height_cm=height,
            weight_kg=weight, dose_method=dose_method, device=device, progress=progress)
    typer.echo(f"Activity: {result.activity_gbq:.3f} GBq ({result.method}, {result.microsphere.name}); "
               f"lung shunt {100 * result.lung_shunt.lung_shunt_fraction:.1f}%")
    for warning in result.warnings:
        typer.secho(f"  warning: {warning}", fg=typer.colors.YELLOW)
    typer.echo(f"Outputs in {output}")


@models_app.command("list")
def models_list(task: Annotated[str | None, typer.Option(help="Filter by task.")] = None) -> None:
    """List the registered model cards."""
    from ..models import list_models

    cards = list_models(task=task)
    if not cards:
        typer.echo("No model cards registered. Put cards in Resources/ModelCards or $HCCAI_MODEL_CARDS.")
    for card in cards:
        typer.echo(f"{card.id}  v{card.version}  [{card.task}, {card.format}]  {card.name}  ({card.validation_status})")


@models_app.command("info")
def models_info(model_id: str) -> None:
    """Show a model card: intended use, training data, validation status, files and checksums."""
    import json

    from ..models import get_card

    with _clear_errors():
        card = get_card(model_id)
    typer.echo(json.dumps(card.to_dict(), indent=2))


@models_app.command("fetch")
def models_fetch(
    model_id: str,
    cache_dir: Annotated[Path | None, typer.Option(help="Cache folder (default $HCCAI_CACHE_DIR or ~/.cache/hccai).")] = None,
    quiet: Quiet = False,
) -> None:
    """Download a model's files on request, verify their SHA-256 and unpack them into the cache."""
    from ..models import fetch_model, get_card

    with _clear_errors(), terminal_progress(f"fetch {model_id}", enabled=not quiet) as progress:
        path = fetch_model(get_card(model_id), cache_dir=cache_dir, progress=progress)
    typer.echo(f"Verified and cached: {path}")


@models_app.command("device")
def models_device(preference: Annotated[str, typer.Argument(help="auto, cpu, cuda or mps.")] = "auto") -> None:
    """Show which device networks would run on, and why."""
    from ..models import select_device

    logging.getLogger().setLevel(logging.INFO)
    typer.echo(str(select_device(preference)))


def main() -> None:
    """Entry point of the ``hccai`` console script."""
    try:
        app()
    except (ValueError, FileNotFoundError, KeyError) as error:
        typer.secho(f"Error: {error}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
