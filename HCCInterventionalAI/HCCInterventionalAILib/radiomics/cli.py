"""``hccai radiomics`` and ``hccai radiomics-cohort``, registered through the ``hccai.commands`` entry point.

- ``hccai radiomics --image ct.nrrd --mask mask.nrrd [--label 1] [--params ibsi-ct] -o out/``: features of one
  region (``--per-lesion``: every lesion of a segmentation with its peritumoral rings) → ``features.csv`` and
  ``features.json``, written atomically.
- ``hccai radiomics-cohort manifest.csv -o out/ [--scheduler tcp://host:8786] [--workers 2]``: a cohort on Dask,
  resumable (see :mod:`.cohort`); the output folder is updated incrementally by design.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from HCCInterventionalAILib.cli import OverwriteOption, QuietOption, atomic_output, terminal_progress, user_errors
from HCCInterventionalAILib.outputs import check_output_path

__all__ = ["register", "run_radiomics_cli"]

ParamsOption = Annotated[str, typer.Option(
    "--params", help="Preset (ibsi-ct, ct-arterial, ct-portal-venous) or a pyradiomics parameter file.")]


def run_radiomics_cli(image: Path, mask: Path, folder: Path, *, label: int = 1, params: str = "ibsi-ct",
                      per_lesion: bool = False, progress=None) -> Path:
    """Read the files, extract, write ``features.csv`` and ``features.json`` into ``folder``; returns the CSV."""
    import pandas as pd

    from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume

    from .extraction import extract_features
    from .table import LesionRadiomicsRequest, lesion_radiomics

    volume = read_volume(image)
    if per_lesion:
        segmentation = read_segmentation(mask)
        table = lesion_radiomics(volume, segmentation, LesionRadiomicsRequest(params=params), progress)
        frame = table.to_dataframe()
    else:
        vector = extract_features(volume, read_volume(mask), params, label=label)
        frame = pd.DataFrame([{"label": label, "voxels": vector.voxels, **vector.features}])
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "features.csv", index=False)
    (folder / "features.json").write_text(json.dumps({"image": str(image), "mask": str(mask), "params": params,
                                                      "rows": frame.to_dict(orient="records")}, indent=1),
                                          encoding="utf-8")
    return folder / "features.csv"


def register(app: typer.Typer) -> None:
    """Add ``radiomics`` and ``radiomics-cohort`` to the root app."""

    @app.command("radiomics")
    def radiomics(
        image: Annotated[Path, typer.Option(help="Image (NRRD, NIfTI, DICOM folder).")],
        mask: Annotated[Path, typer.Option(help="Label map or segmentation (.seg.nrrd, DICOM SEG).")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-radiomics"),
        label: Annotated[int, typer.Option(help="Label value of the region.")] = 1,
        params: ParamsOption = "ibsi-ct",
        per_lesion: Annotated[bool, typer.Option(
            "--per-lesion", help="Every lesion of the segmentation, with 5/10 mm peritumoral rings in the liver.")] = False,
        overwrite: OverwriteOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Radiomic features (pyradiomics) of a region, or of every lesion and its peritumoral rings."""
        with user_errors(output):
            check_output_path(output, folder=True, overwrite=overwrite)
            with atomic_output(output, overwrite=overwrite) as staging, \
                    terminal_progress("hccai radiomics", enabled=not quiet) as progress:
                run_radiomics_cli(image, mask, staging, label=label, params=params, per_lesion=per_lesion,
                                  progress=progress)
        typer.echo(f"Features in {output / 'features.csv'}")

    @app.command("radiomics-cohort")
    def radiomics_cohort(
        manifest: Annotated[Path, typer.Argument(help="CSV with columns case, phase, image, mask[, label].")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (resumed if it exists).")] = Path(
            "hccai-cohort"),
        params: ParamsOption = "ibsi-ct",
        scheduler: Annotated[str | None, typer.Option(
            help="Dask scheduler address (tcp://host:8786), or 'serial'; default a local cluster.")] = None,
        workers: Annotated[int, typer.Option(help="Processes of the local cluster.")] = 2,
        quiet: QuietOption = False,
    ) -> None:
        """Cohort radiomics on Dask; an interrupted run resumes where it stopped."""
        from .cohort import run_cohort

        with user_errors(output):
            with terminal_progress("hccai radiomics-cohort", enabled=not quiet) as progress:
                result = run_cohort(manifest, output, params, scheduler=scheduler, n_workers=workers,
                                    progress=progress)
        typer.echo(f"{len(result.computed)} computed, {len(result.skipped)} reused, {len(result.failed)} failed; "
                   f"table {result.table}")
        for key, error in result.failed.items():
            typer.secho(f"  failed {key}: {error}", fg=typer.colors.YELLOW)
