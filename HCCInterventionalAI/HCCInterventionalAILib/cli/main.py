"""``hccai``: the headless command-line tool of HCC Interventional AI.

The shared commands (``version``, ``demo``, ``sample``, ``segment``, ``models``) live here; capabilities add
theirs through the ``hccai.commands`` entry points (see :mod:`HCCInterventionalAILib.cli` for the contract).
This module never imports a capability library.

Every command checks its output path and takes a lock before any computation, writes into a staging folder that
becomes the output only when complete (:mod:`HCCInterventionalAILib.outputs`), never replaces an existing output
unless ``--overwrite`` is given, ends a user error with one red line and exit code 2, and a Ctrl+C with a true
statement of what was written.
"""

from __future__ import annotations

import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from .. import __version__
from ..device import check_device
from ..outputs import atomic_file, atomic_output, check_output_path, output_lock
from .errors import fail, user_errors
from .options import DeviceOption, OverwriteOption, QuietOption
from .terminal import terminal_progress

__all__ = ["COMMANDS_GROUP", "app", "main", "register_commands"]

logger = logging.getLogger(__name__)

#: Entry-point group through which capabilities add ``hccai`` commands.
COMMANDS_GROUP = "hccai.commands"

app = typer.Typer(
    name="hccai",
    help="HCC Interventional AI: AI and physics for image-guided treatment of liver cancer (research use only).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Model cards: list, inspect, fetch and verify networks.", no_args_is_help=True)
app.add_typer(models_app, name="models")


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
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (must not exist or be empty).")] = Path(
        "hccai-demo"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic patient.")] = 7,
    size: Annotated[str, typer.Option(help="'standard' or 'small' (faster).")] = "standard",
    device: DeviceOption = "auto",
    only: Annotated[list[str] | None, typer.Option(help="Run only steps whose name contains this (repeatable).")] = None,
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Run every available capability on the built-in SYNTHETIC sample patient.

    Writes OUTPUT/report.html (tables and pictures), OUTPUT/scene.mrb (open it in 3D Slicer) and
    OUTPUT/results.json (the numbers). An existing non-empty OUTPUT is never replaced unless --overwrite is given.
    """
    if size not in ("standard", "small"):
        fail("--size must be 'standard' or 'small'")
    with user_errors(output):
        check_output_path(output, folder=True, overwrite=overwrite)  # fails fast; checked again under the lock
        check_device(device)
        from ..demo import run_demo

        with atomic_output(output, overwrite=overwrite) as staging, \
                terminal_progress("hccai demo", enabled=not quiet) as progress:
            summary = run_demo(staging, seed=seed, size=size, device=device, only=only, progress=progress)
            progress.check()
    for name, status in summary.steps.items():
        typer.echo(f"  {name}: {status}")
    typer.echo(f"Report: {output / summary.report_path.relative_to(staging)}")
    if summary.scene_path:
        typer.echo(f"Slicer scene: {output / summary.scene_path.relative_to(staging)}")
    typer.echo(f"Finished in {summary.seconds:.1f} s")


@app.command()
def sample(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-sample"),
    seed: Annotated[int, typer.Option(help="Seed of the synthetic patient.")] = 7,
    size: Annotated[str, typer.Option(help="'standard' or 'small'.")] = "standard",
    fmt: Annotated[str, typer.Option("--format", help="nrrd, nii.gz or dicom (CT series, NM, SEG).")] = "nrrd",
    overwrite: OverwriteOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write the SYNTHETIC sample patient (CT phases, MAA SPECT, ground-truth segmentation) to files.

    With --format dicom: one CT series folder per phase, the SPECT as a multi-frame DICOM NM image
    (maa-spect/), and the ground truth as DICOM SEG (truth-seg.dcm), all marked as synthetic
    (Patient's Name SYNTHETIC^HCCAI, Patient Identity Removed YES, a comment saying so).
    """
    from ..sample.export import FORMATS, write_sample_patient

    if fmt not in FORMATS:
        fail(f"--format must be {', '.join(FORMATS)}")
    with user_errors(output), atomic_output(output, overwrite=overwrite) as staging, \
            terminal_progress("hccai sample", enabled=not quiet) as progress:
        from ..sample import make_sample_patient

        writing = progress.sub(0.7, 1.0)
        patient = make_sample_patient(seed=seed, size=size, progress=progress.sub(0.0, 0.7))
        writing.update(0.0, "Writing files")
        written = write_sample_patient(patient, staging, fmt)
        writing.update(1.0, "Done")
    typer.echo(f"Wrote {', '.join(path.name for path in written)} to {output} (SYNTHETIC data)")


@app.command()
def segment(
    model_id: Annotated[str, typer.Argument(help="Model card id (see `hccai models list`), e.g. liver-ct or liver-ct@1.0.0.")],
    image: Annotated[list[Path], typer.Argument(help="Input image(s): one per input channel the card declares.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output segmentation (.seg.nrrd).")] = Path(
        "segmentation.seg.nrrd"),
    device: DeviceOption = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Segment an image with a network described by a model card (fetched and verified on request)."""
    with user_errors(output):
        check_output_path(output, folder=False, overwrite=overwrite)  # fails fast; checked again under the lock
        check_device(device)
        from ..imaging.io import read_volume, write_segmentation
        from ..models import segment_volume

        with atomic_file(output, overwrite=overwrite) as staging, \
                terminal_progress(f"segment {model_id}", enabled=not quiet) as progress:
            volumes = [read_volume(path) for path in image]
            result = segment_volume(model_id, volumes if len(volumes) > 1 else volumes[0], progress, device=device)
            write_segmentation(result.to_segmentation(), staging)
            progress.check()
    typer.echo(f"Wrote {output} ({result.card.validation_status}); timings: "
               + ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items()))


@models_app.command("list")
def models_list(task: Annotated[str | None, typer.Option(help="Filter by task.")] = None) -> None:
    """List the registered model cards."""
    from ..models import list_models

    with user_errors():
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

    with user_errors():
        card = get_card(model_id)
    typer.echo(json.dumps(card.to_dict(), indent=2))


@models_app.command("fetch")
def models_fetch(
    model_id: str,
    cache_dir: Annotated[Path | None, typer.Option(help="Cache folder (default $HCCAI_CACHE_DIR or ~/.cache/hccai).")] = None,
    quiet: QuietOption = False,
) -> None:
    """Download a model's files on request, verify their SHA-256 and unpack them into the cache.

    Each file is downloaded to a partial name and moved into place only once its SHA-256 matches the card
    (archives are unpacked beside their folder, then renamed); a second fetch of the same model at the same
    time is refused.
    """
    from ..models import fetch_model, get_card
    from ..models.fetch import model_directory

    with user_errors():
        card = get_card(model_id)
        folder = model_directory(card, cache_dir)
    cancelled = f"cancelled; no unverified file was placed in {folder} (a partial download is kept to resume)"
    with user_errors(folder, cancelled=cancelled):
        check_output_path(folder, folder=True, overwrite=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        with output_lock(folder), terminal_progress(f"fetch {model_id}", enabled=not quiet) as progress:
            path = fetch_model(card, cache_dir=cache_dir, progress=progress)
    typer.echo(f"Verified and cached: {path}")


@models_app.command("import")
def models_import(
    source: Annotated[Path, typer.Argument(help="Folder, file or ZIP holding the model's files (downloaded elsewhere).")],
    card: Annotated[Path, typer.Option(help="The model card (JSON/YAML) naming the files and their checksums.")],
) -> None:
    """Import weights downloaded elsewhere: verify them against the card, cache them, register the card (offline)."""
    from ..models.importing import import_model

    with user_errors():
        imported = import_model(source, card)
    typer.echo(f"Imported and verified: {imported.key} (card {imported.source})")


@models_app.command("device")
def models_device(preference: Annotated[str, typer.Argument(help="auto, cpu, cuda, cuda:N or mps.")] = "auto") -> None:
    """Show which device networks would run on, and why."""
    from ..device import select_device

    logging.getLogger().setLevel(logging.INFO)
    with user_errors():
        typer.echo(str(select_device(preference)))


def _command_names(root: typer.Typer) -> list[str]:
    names = [c.name or (c.callback.__name__.replace("_", "-") if c.callback else "") for c in root.registered_commands]
    return names + [g.name or "" for g in root.registered_groups]


def register_commands(root: typer.Typer) -> list[str]:
    """Add the commands of every installed capability (entry-point group ``hccai.commands``), in name order.

    Args:
        root: the root typer app.

    Returns:
        The entry-point names registered. A capability whose package cannot be imported is skipped with a
        warning in the log; two capabilities adding the same command name is an error.

    Raises:
        RuntimeError: a command name is registered twice.
    """
    registered = []
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            register = entry.load()
        except ImportError as error:  # a capability whose package or dependencies are not installed
            logger.warning("hccai commands of %s unavailable: %s", entry.name, error)
            continue
        before = _command_names(root)
        register(root)
        after = _command_names(root)
        clashes = sorted({name for name in after if after.count(name) > 1} - {n for n in before if before.count(n) > 1})
        if clashes:
            raise RuntimeError(f"Entry point {entry.name} ({entry.value}) registers hccai command(s) that already "
                               f"exist: {', '.join(clashes)}")
        registered.append(entry.name)
    return registered


register_commands(app)


def main() -> None:
    """Entry point of the ``hccai`` console script."""
    app()


if __name__ == "__main__":
    main()
