"""DSA and CT denoising in a worker process: the HCCImageEnhancement module stays responsive and Cancel ends the
whole process tree (:mod:`HCCInterventionalAILib.process_runner`).

Worker side (``python -m HCCInterventionalAILib.enhancement.worker``; argparse, no typer)::

    PythonSlicer -m HCCInterventionalAILib.enhancement.worker dsa --frames run.npz --motion rigid [--mask 0] -o out
    PythonSlicer -m HCCInterventionalAILib.enhancement.worker dsa --frames run.npz --method dl -o out
    PythonSlicer -m HCCInterventionalAILib.enhancement.worker denoise --ct ct.nrrd [--method noise2self] -o out

runs :func:`~.pipeline.run_dsa` (or :func:`~.dl_dsa.run_dsa_dl`) / :func:`~.pipeline.run_denoise`, reports ``HCCAI-PROGRESS`` lines and writes the
output folder through :func:`~HCCInterventionalAILib.outputs.atomic_output` (``result.json`` with every number,
``dsa.npz`` or ``denoised.nrrd`` + ``difference.nrrd``): nothing appears unless the run completes. Exit codes:
0 done, 2 user error (one ``error:`` line on stderr), 3 cancelled.

Module side: :func:`start_dsa_worker` / :func:`start_denoise_worker` write the inputs into a new temporary folder
and start a :class:`~HCCInterventionalAILib.process_runner.WorkerRunner`; :func:`read_result` reads the finished
output back into the same :class:`~.pipeline.DSAResult` / :class:`~.dl_dsa.DLDSAResult` /
:class:`~.pipeline.DenoiseResult` an in-process run gives.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..process_runner import WorkerRunner, make_work_folder, remove_work_folder, run_worker, start_worker

if TYPE_CHECKING:  # pragma: no cover
    from ..imaging.volume import Volume
    from ..progress import Progress, ProgressCallback
    from .dl_dsa import DLDSARequest, DLDSAResult
    from .pipeline import DenoiseRequest, DenoiseResult, DSARequest, DSAResult

__all__ = ["OUTPUT_NAME", "main", "read_result", "start_denoise_worker", "start_dsa_worker"]

WORKER_MODULE = "HCCInterventionalAILib.enhancement.worker"
#: Name of the worker's output folder inside its work folder.
OUTPUT_NAME = "output"


# -- worker side ----------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {WORKER_MODULE}", description="Enhancement worker")
    commands = parser.add_subparsers(dest="command", required=True)
    dsa = commands.add_parser("dsa", help="motion-compensated DSA of a run")
    dsa.add_argument("--frames", type=Path, required=True, help=".npz with 'frames' (n, rows, cols) and 'times_s'")
    dsa.add_argument("--motion", default="deformable", choices=["none", "rigid", "deformable"])
    dsa.add_argument("--mask", type=int, default=-1, help="mask frame; -1 = automatic")
    dsa.add_argument("--backend", default="auto", choices=["auto", "torch", "gauss-newton", "simpleitk"])
    dsa.add_argument("--method", default="classical", choices=["classical", "dl"], help="dl: mask-free network")
    dsa.add_argument("--model", default="dsa-maskfree-synthetic", help="model card id for --method dl")
    denoise = commands.add_parser("denoise", help="denoise a CT")
    denoise.add_argument("--ct", type=Path, required=True, help="CT volume (NRRD), HU")
    denoise.add_argument("--method", default="noise2self", help="noise2self or a denoiser model card id")
    denoise.add_argument("--iterations", type=int, default=1000)
    denoise.add_argument("--seed", type=int, default=0)
    denoise.add_argument("--no-keep-structure", action="store_true", help="switch the structure guard off")
    denoise.add_argument("--rois", type=Path, default=None, help=".npz with 'lesion' and/or 'background' masks")
    for sub in (dsa, denoise):
        sub.add_argument("--device", default="auto")
        sub.add_argument("-o", "--output", type=Path, required=True, help="output folder (must not exist)")
    return parser


def _dsa(args: argparse.Namespace, progress: Progress) -> str:
    from ..outputs import atomic_output
    from .dl_dsa import DLDSARequest, run_dsa_dl
    from .pipeline import DSARequest, run_dsa

    if args.method == "dl":
        request, run = DLDSARequest(model=args.model, device=args.device), run_dsa_dl
    else:
        request = DSARequest(mask_index=None if args.mask < 0 else args.mask, motion=args.motion,
                             backend=args.backend, device=None if args.device == "auto" else args.device)
        run = run_dsa
    with atomic_output(args.output) as staging:
        with np.load(args.frames) as data:
            frames, times = data["frames"], data["times_s"]
        result = run(frames, request, times_s=times, progress=progress)
        arrays = {"fields": result.fields} if args.method == "classical" else {}
        np.savez(staging / "dsa.npz", dsa=result.dsa, times_s=result.times_s, **arrays)
        (staging / "result.json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
        progress.check()
    return f"DSA of {result.dsa.shape[0]} frames written to {args.output}"


def _denoise(args: argparse.Namespace, progress: Progress) -> str:
    from ..imaging.io import read_volume, write_volume
    from ..outputs import atomic_output
    from .denoise import Noise2SelfSettings
    from .pipeline import DenoiseRequest, run_denoise

    request = DenoiseRequest(method=args.method, keep_structure=not args.no_keep_structure, settings=Noise2SelfSettings(
        iterations=args.iterations, seed=args.seed, device=None if args.device == "auto" else args.device))
    with atomic_output(args.output) as staging:
        ct = read_volume(args.ct)
        rois: dict[str, Any] = {}
        if args.rois is not None:
            with np.load(args.rois) as data:
                rois = {f"{key}_roi": data[key].astype(bool) for key in ("lesion", "background") if key in data}
        result = run_denoise(ct, request, progress=progress, **rois)
        write_volume(result.denoised, staging / "denoised.nrrd")
        write_volume(result.difference, staging / "difference.nrrd")
        payload = result.to_dict()
        if result.hallucination.mask is not None:
            np.savez_compressed(staging / "hallucination.npz", mask=result.hallucination.mask)
        (staging / "result.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
        progress.check()
    return f"denoised CT written to {args.output}"


def main(argv: list[str] | None = None) -> int:
    """Run one DSA or denoising as a worker; returns the exit code (0 done, 2 user error, 3 cancelled)."""
    from ..models.errors import ModelError

    args = _parser().parse_args(argv)
    work = _dsa if args.command == "dsa" else _denoise
    return run_worker(lambda progress: work(args, progress), user_errors=(ModelError, ValueError, FileNotFoundError))


# -- module side ----------------------------------------------------------------------------------------------
def start_dsa_worker(frames: np.ndarray, times_s: np.ndarray, request: DSARequest | DLDSARequest, *,
                     python: str | None = None, log=None, progress: ProgressCallback | None = None,
                     start: bool = True) -> WorkerRunner:
    """Write the frames into a new temporary folder and start the DSA worker on them (classical DSA for a
    ``DSARequest``, the mask-free network for a ``DLDSARequest``).

    Returns:
        The :class:`~HCCInterventionalAILib.process_runner.WorkerRunner`; read it with :func:`read_result`.
    """
    folder = make_work_folder("hccai-dsa-")
    try:
        np.savez(folder / "frames.npz", frames=np.asarray(frames, dtype=np.float32), times_s=np.asarray(times_s))
        if hasattr(request, "motion"):
            method = ["--motion", request.motion, "--backend", request.backend,
                      "--mask", -1 if request.mask_index is None else request.mask_index]
        else:
            method = ["--method", "dl", "--model", request.model]
        arguments = ["dsa", "--frames", folder / "frames.npz", *method, "--device", request.device or "auto",
                     "-o", folder / OUTPUT_NAME]
        return start_worker(WORKER_MODULE, arguments, folder, folder / OUTPUT_NAME, python=python, log=log,
                            progress=progress, start=start)
    except BaseException:
        remove_work_folder(folder)
        raise


def start_denoise_worker(ct: Volume, request: DenoiseRequest, *, lesion: np.ndarray | None = None,
                         background: np.ndarray | None = None, python: str | None = None, log=None,
                         progress: ProgressCallback | None = None, start: bool = True) -> WorkerRunner:
    """Write the CT (NRRD) and the optional quality ROIs into a new temporary folder and start the denoising worker.

    Returns:
        The :class:`~HCCInterventionalAILib.process_runner.WorkerRunner`; read it with :func:`read_result`.
    """
    from ..imaging.io import write_volume

    folder = make_work_folder("hccai-denoise-")
    try:
        settings = request.settings
        arguments = ["denoise", "--ct", write_volume(ct, folder / "ct.nrrd"), "--method", request.method,
                     "--iterations", settings.iterations, "--seed", settings.seed,
                     "--device", settings.device or "auto", "-o", folder / OUTPUT_NAME]
        if not request.keep_structure:
            arguments.append("--no-keep-structure")
        rois = {k: np.asarray(v, dtype=bool) for k, v in (("lesion", lesion), ("background", background))
                if v is not None}
        if rois:
            np.savez_compressed(folder / "rois.npz", **rois)
            arguments += ["--rois", folder / "rois.npz"]
        return start_worker(WORKER_MODULE, arguments, folder, folder / OUTPUT_NAME, python=python, log=log,
                            progress=progress, start=start)
    except BaseException:
        remove_work_folder(folder)
        raise


def _read_dsa(folder: Path, numbers: dict[str, Any]) -> DSAResult | DLDSAResult:
    from .dl_dsa import DLDSAResult
    from .pipeline import DSAResult

    with np.load(folder / "dsa.npz") as data:
        dsa, times = data["dsa"], data["times_s"]
        fields = data["fields"] if "fields" in data else None
    if fields is None:  # mask-free network
        return DLDSAResult(dsa=dsa, times_s=times, model=numbers["model"], seconds=float(numbers["seconds"]),
                           frames_per_second=float(numbers["frames_per_second"]), notes=list(numbers["notes"]))
    return DSAResult(dsa=dsa, fields=fields, times_s=times, mask_index=int(numbers["mask_index"]),
                     mask_automatic=bool(numbers["mask_automatic"]), motion=numbers["motion"],
                     backend=numbers["backend"], seconds=float(numbers["seconds"]),
                     frames_per_second=float(numbers["frames_per_second"]),
                     max_displacement_px=float(numbers["max_displacement_px"]))


def _read_denoise(folder: Path, numbers: dict[str, Any]) -> DenoiseResult:
    from ..imaging.io import read_volume
    from .pipeline import DenoiseResult
    from .quality import HallucinationReport

    check = numbers["hallucination"]
    mask = None
    if (folder / "hallucination.npz").is_file():
        with np.load(folder / "hallucination.npz") as data:
            mask = data["mask"]
    report = HallucinationReport(bool(check["flagged"]), float(check["threshold"]), float(check["spread"]),
                                 list(check["regions"]), mask)
    final_loss = numbers["final_loss"]
    return DenoiseResult(
        denoised=read_volume(folder / "denoised.nrrd"), difference=read_volume(folder / "difference.nrrd"),
        noise_sd_before_hu=float(numbers["noise_sd_before_hu"]), noise_sd_after_hu=float(numbers["noise_sd_after_hu"]),
        hallucination=report, training_seconds=float(numbers["training_seconds"]),
        inference_seconds=float(numbers["inference_seconds"]),
        final_loss=float("nan") if final_loss is None else float(final_loss),
        snr_before=numbers["snr_before"], snr_after=numbers["snr_after"], cnr_before=numbers["cnr_before"],
        cnr_after=numbers["cnr_after"], method=numbers.get("model", "noise2self"),
        provenance=numbers.get("provenance"), reverted_fraction=numbers.get("reverted_fraction"))


def read_result(runner: WorkerRunner | str | os.PathLike, *,
                remove: bool = True) -> DSAResult | DLDSAResult | DenoiseResult:
    """Read a finished worker's output (its runner, or the output folder) into a DSAResult, DLDSAResult or
    DenoiseResult.

    Args:
        runner: the succeeded :class:`WorkerRunner` or the output folder.
        remove: then remove the worker's temporary folder (only a folder made by the ``start_*`` functions).

    Raises:
        FileNotFoundError: no output (the worker failed or was cancelled).
    """
    folder = Path(getattr(runner, "output", runner))
    try:
        numbers = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        return _read_dsa(folder, numbers) if (folder / "dsa.npz").is_file() else _read_denoise(folder, numbers)
    finally:
        if remove:
            remove_work_folder(folder.parent)


if __name__ == "__main__":  # pragma: no cover - run as a worker process
    sys.exit(main())
