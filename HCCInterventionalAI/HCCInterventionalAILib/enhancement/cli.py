"""``hccai enhance dsa|denoise``: motion-compensated DSA of a run and self-supervised denoising of a CT, or, with
``dsa --method dl`` and ``denoise --method CARD_ID``, a network (mask-free DSA; a CT denoiser model card such as
the shipped supervised ``ct-denoise-simulated-lowdose`` or the published ldct-benchmark networks).

Registered through the ``hccai.commands`` entry point (``enhance = "HCCInterventionalAILib.enhancement.cli:register"``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..cli import (
    DeviceOption,
    OverwriteOption,
    QuietOption,
    atomic_output,
    check_device,
    fail,
    terminal_progress,
    user_errors,
)

__all__ = ["register", "write_dsa_outputs", "write_denoise_outputs"]


def write_dsa_outputs(result, folder: Path, pixel_spacing_mm=(1.0, 1.0)) -> None:
    """dsa.nrrd (rows × cols × frames, third spacing = frame interval) and results.json."""
    from .runio import save_run

    interval = float(result.times_s[1] - result.times_s[0]) if len(result.times_s) > 1 else 1.0
    save_run(result.dsa, folder / "dsa.nrrd", pixel_spacing_mm, interval)
    (folder / "results.json").write_text(json.dumps(result.to_dict(), indent=2))


def write_denoise_outputs(result, folder: Path) -> None:
    """denoised.nrrd, difference.nrrd and results.json."""
    from ..imaging.io import write_volume

    write_volume(result.denoised, folder / "denoised.nrrd")
    write_volume(result.difference, folder / "difference.nrrd")
    (folder / "results.json").write_text(json.dumps(result.to_dict(), indent=2))


def register(app: typer.Typer) -> None:
    enhance = typer.Typer(help="Image enhancement: motion-compensated or mask-free (network) DSA, self-supervised or "
                               "supervised (network) CT denoising.",
                          no_args_is_help=True)

    @enhance.command("dsa")
    def dsa(
        run: Path = typer.Argument(..., help="Multi-frame DICOM (XA/XRF), a 3D image (time last) or a folder of 16-bit frames"),
        output: Path = typer.Option(Path("hccai-dsa"), "--output", "-o", help="Output folder"),
        motion: str = typer.Option("deformable", help="none | rigid | deformable"),
        mask: int = typer.Option(-1, help="Mask frame index; -1 = automatic (last contrast-free frame)"),
        frame_rate: float = typer.Option(3.0, help="Frames per second when the file does not say"),
        backend: str = typer.Option("auto", help="auto (gauss-newton for rigid, torch for deformable) | torch "
                                                 "(batched, CPU/GPU) | gauss-newton (per frame, fast CPU) | simpleitk"),
        method: str = typer.Option("classical", help="classical (mask subtraction) | dl (mask-free network)"),
        model: str = typer.Option("dsa-maskfree-synthetic", help="Model card id for --method dl"),
        device: DeviceOption = "auto",
        overwrite: OverwriteOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Log-space DSA, log(mask) − log(frame), with the mask registered to every frame."""
        from .pipeline import DSARequest, run_dsa
        from .runio import load_run

        if method not in ("classical", "dl"):
            fail(f"--method must be classical or dl, got {method!r}")
        if method == "dl":
            _dsa_dl(run, output, model, frame_rate, device, overwrite, quiet)
            return
        with user_errors(output):
            check_device(device)
            request = DSARequest(mask_index=None if mask < 0 else mask, motion=motion, backend=backend,
                                 device=None if device == "auto" else device, frame_rate=frame_rate)
            with atomic_output(output, overwrite=overwrite) as staging, \
                    terminal_progress("hccai enhance dsa", enabled=not quiet) as progress:
                loaded = load_run(run, frame_rate=frame_rate)
                result = run_dsa(loaded.frames, request, times_s=loaded.times_s, progress=progress)
                write_dsa_outputs(result, staging, loaded.pixel_spacing_mm)
        typer.echo(f"DSA of {result.dsa.shape[0]} frames (mask {result.mask_index}, {result.motion}, "
                   f"{result.frames_per_second:.1f} frames/s) in {output}")

    @enhance.command("denoise")
    def denoise(
        ct: Path = typer.Argument(..., help="CT volume (NRRD, NIfTI, MHA or a DICOM folder), HU"),
        output: Path = typer.Option(Path("hccai-denoise"), "--output", "-o", help="Output folder"),
        method: str = typer.Option("noise2self", help="noise2self (trained on this scan, no weights) or the id of a "
                                                      "registered CT denoiser model card, e.g. "
                                                      "ct-denoise-simulated-lowdose (shipped) or ldct-benchmark-redcnn "
                                                      "(its weights are downloaded and verified on first use)"),
        iterations: int = typer.Option(1000, min=1, help="Noise2Self training steps on this scan"),
        seed: int = typer.Option(0, help="Random seed"),
        keep_structure: bool = typer.Option(True, "--keep-structure/--no-keep-structure",
                                            help="Structure guard: keep the input where the network changed more "
                                                 "than noise explains (blurred edges, invented detail)"),
        device: DeviceOption = "auto",
        overwrite: OverwriteOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Denoise a CT (Noise2Self on the scan itself, or a denoiser model card); writes the difference map and checks."""
        from ..imaging.io import read_volume
        from .denoise import Noise2SelfSettings
        from .pipeline import DenoiseRequest, run_denoise

        with user_errors(output):
            check_device(device)
            request = DenoiseRequest(method=method, keep_structure=keep_structure, settings=Noise2SelfSettings(
                iterations=iterations, seed=seed, device=None if device == "auto" else device))
            with atomic_output(output, overwrite=overwrite) as staging, \
                    terminal_progress("hccai enhance denoise", enabled=not quiet) as progress:
                volume = read_volume(ct)
                result = run_denoise(volume, request, progress=progress)
                write_denoise_outputs(result, staging)
        flag = ("FLAGGED: the network changed structure more than noise explains"
                if result.hallucination.flagged else "no hallucination flag")
        if result.reverted_fraction is not None:
            flag += f"; structure guard kept the input in {100 * result.reverted_fraction:.1f} % of soft tissue"
        typer.echo(f"Noise {result.noise_sd_before_hu:.1f} → {result.noise_sd_after_hu:.1f} HU; {flag}; outputs in {output}")

    app.add_typer(enhance, name="enhance")


def _dsa_dl(run: Path, output: Path, model: str, frame_rate: float, device: str, overwrite: bool,
            quiet: bool) -> None:
    """``hccai enhance dsa --method dl``: mask-free DSA with a network from the model registry."""
    from .dl_dsa import DLDSARequest, run_dsa_dl
    from .runio import load_run

    with user_errors(output):
        check_device(device)
        request = DLDSARequest(model=model, device=device, frame_rate=frame_rate)
        with atomic_output(output, overwrite=overwrite) as staging, \
                terminal_progress("hccai enhance dsa", enabled=not quiet) as progress:
            loaded = load_run(run, frame_rate=frame_rate)
            result = run_dsa_dl(loaded.frames, request, times_s=loaded.times_s, progress=progress)
            write_dsa_outputs(result, staging, loaded.pixel_spacing_mm)
    typer.echo(f"Mask-free DSA of {result.dsa.shape[0]} frames ({model}; {result.notes[0]}) in {output}")

