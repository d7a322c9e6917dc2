"""Segmentation inference in a worker process (issue 11): the Slicer module stays responsive while a model runs.

Worker side (``python -m HCCInterventionalAILib.models.worker``; no typer, which Slicer's Python lacks)::

    PythonSlicer -m HCCInterventionalAILib.models.worker --model liver-classical --image ct.nrrd \\
        [--image arterial.nrrd ...] [--metadata metadata.json] [--device auto] -o out.seg.nrrd

reads the images (one per input channel of the model card, in the card's order), runs
:func:`~.segment.segment_volume` with the card, reports progress as ``HCCAI-PROGRESS`` lines
(:func:`~HCCInterventionalAILib.process_runner.run_worker`), turns SIGTERM into a clean cancellation and
writes the card's named segments (colours, terminology) as a Slicer ``.seg.nrrd`` through
:func:`~HCCInterventionalAILib.outputs.atomic_file`: the output path is checked and locked before any work, and
the file appears only when complete. Exit codes: 0 done, 2 user error (one ``error:`` line on stderr: unknown
model, unreadable image, images that do not fit the card, output path taken), 3 cancelled.

Module side: :func:`start_segmentation_worker` writes the input volumes into a new temporary folder (NRRD keeps
voxels and geometry exactly; the volume metadata that NRRD cannot hold, such as the CT phase the classical
segmenter reads, goes along as JSON) and starts a
:class:`~HCCInterventionalAILib.process_runner.WorkerRunner`; :func:`read_segmentation_result` reads its output
back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..process_runner import WorkerRunner, make_work_folder, remove_work_folder, run_worker, start_worker

if TYPE_CHECKING:  # pragma: no cover
    from ..imaging.segmentation import Segmentation
    from ..imaging.volume import Volume
    from ..progress import Progress, ProgressCallback
    from .card import ModelCard

__all__ = ["OUTPUT_NAME", "main", "read_segmentation_result", "segment_files", "start_segmentation_worker"]

WORKER_MODULE = "HCCInterventionalAILib.models.worker"
#: File name of the worker's output inside its work folder.
OUTPUT_NAME = "segmentation.seg.nrrd"


# -- worker side ----------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {WORKER_MODULE}",
                                     description="Segmentation worker: runs a model card, writes a .seg.nrrd "
                                                 "atomically.")
    parser.add_argument("--model", required=True, help="Model card id (id or id@version).")
    parser.add_argument("--image", type=Path, action="append", required=True,
                        help="Input image (NRRD, NIfTI or DICOM); repeat once per input channel of the card.")
    parser.add_argument("--metadata", type=Path, default=None,
                        help="JSON list with one metadata object per --image (e.g. {\"phase\": \"arterial\"}).")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (networks only).")
    parser.add_argument("--name", default=None, help="Name of the segmentation (default: from the card).")
    parser.add_argument("-o", "--output", type=Path, required=True, help="Output .seg.nrrd (must not exist).")
    return parser


def segment_files(model: str | ModelCard, images: Sequence[str | os.PathLike], output: str | os.PathLike, *,
                  metadata: Sequence[dict] | None = None, device: str = "auto", name: str | None = None,
                  progress: Progress | ProgressCallback | None = None) -> Segmentation:
    """Segment image files with a model card into a ``.seg.nrrd``, written atomically.

    Args:
        model: the card or its id (``id`` or ``id@version``).
        images: one image file per input channel, in the card's order.
        output: the ``.seg.nrrd`` to write (checked and locked before any work; must not exist).
        metadata: one dict per image, merged into the volume's metadata (what NRRD cannot hold).
        device: where a network runs.
        name: name of the segmentation (default: the card's).
        progress: progress and cancellation (reading 10 %, segmenting 80 %, writing 10 %).

    Returns:
        The segmentation written.

    Raises:
        UnknownModelError: no such card; ModelInputError (ValueError): the images do not fit the card;
        FileNotFoundError, ImageReadError: unreadable images; OutputPathError: ``output`` cannot be written;
        Cancelled: cancelled (nothing is written).
    """
    from ..imaging.io import read_volume, write_segmentation
    from ..outputs import atomic_file
    from ..progress import as_progress
    from .loading import resolve_card
    from .segment import segment_volume
    from .to_scene import check_input_count

    progress = as_progress(progress)
    card = resolve_card(model)
    check_input_count(card, len(images))
    if metadata is not None and len(metadata) != len(images):
        raise ValueError(f"The metadata list has {len(metadata)} entries for {len(images)} images")
    with atomic_file(output) as staging:
        progress.update(0.0, "Reading the images")
        volumes: list[Volume] = []
        for index, path in enumerate(images):
            volume = read_volume(path)
            if metadata is not None:
                volume.metadata = {**volume.metadata, **dict(metadata[index])}
            volumes.append(volume)
        result = segment_volume(card, volumes[0] if len(volumes) == 1 else volumes, progress.sub(0.1, 0.9),
                                device=device, probabilities=False)
        progress.update(0.9, "Writing the segmentation")
        segmentation = result.to_segmentation(name)
        write_segmentation(segmentation, staging)
        progress.check()
    progress.update(1.0, "Done")
    return segmentation


def main(argv: list[str] | None = None) -> int:
    """Run one segmentation as a worker; returns the exit code (0 done, 2 user error, 3 cancelled)."""
    from .errors import ModelError

    args = _parser().parse_args(argv)

    def work(progress: Progress) -> str:
        metadata = json.loads(args.metadata.read_text(encoding="utf-8")) if args.metadata else None
        segmentation = segment_files(args.model, args.image, args.output, metadata=metadata, device=args.device,
                                     name=args.name, progress=progress)
        return f"{len(segmentation)} segments written to {args.output}"

    return run_worker(work, user_errors=(ModelError, ValueError, FileNotFoundError))


# -- module side ----------------------------------------------------------------------------------------------
def start_segmentation_worker(volumes: Sequence[Volume], model: str, *, device: str = "auto",
                              name: str | None = None, python: str | None = None, log=None,
                              progress: ProgressCallback | None = None, start: bool = True) -> WorkerRunner:
    """Write the input volumes into a new temporary folder and start the worker on them.

    Args:
        volumes: one volume per input channel of the card (written as NRRD, their metadata as JSON).
        model: the card's id (``id@version`` pins the version).
        device: where a network runs.
        name: name of the segmentation.
        python: the Python to run (None: ``PythonSlicer`` inside Slicer, else ``sys.executable``).
        log, progress: callbacks of the runner (log lines; (fraction, message)).
        start: start the process (else the caller calls ``start()`` or ``run()``).

    Returns:
        The :class:`~HCCInterventionalAILib.process_runner.WorkerRunner`; its ``output`` is the ``.seg.nrrd``
        once it succeeded (read it with :func:`read_segmentation_result`).
    """
    from ..imaging.io import write_volume

    folder = make_work_folder("hccai-segment-")
    try:
        arguments = ["--model", model, "--device", device]
        for index, volume in enumerate(volumes):
            arguments += ["--image", str(write_volume(volume, folder / f"image{index}.nrrd"))]
        metadata = [dict(volume.metadata) for volume in volumes]
        (folder / "metadata.json").write_text(json.dumps(metadata, default=str), encoding="utf-8")
        arguments += ["--metadata", str(folder / "metadata.json"), *(["--name", name] if name else []),
                      "-o", str(folder / OUTPUT_NAME)]
        return start_worker(WORKER_MODULE, arguments, folder, folder / OUTPUT_NAME, python=python, log=log,
                            progress=progress, start=start)
    except BaseException:
        remove_work_folder(folder)
        raise


def read_segmentation_result(runner: WorkerRunner | str | os.PathLike, *, remove: bool = True) -> Segmentation:
    """Read a finished worker's segmentation (its runner, or the ``.seg.nrrd``).

    Args:
        runner: the succeeded :class:`WorkerRunner` or the output file.
        remove: then remove the worker's temporary folder (only a folder made by :func:`start_segmentation_worker`).

    Raises:
        FileNotFoundError: no output (the worker failed or was cancelled).
    """
    from ..imaging.io import read_segmentation

    path = Path(getattr(runner, "output", runner))
    try:
        return read_segmentation(path)
    finally:
        if remove:
            remove_work_folder(path.parent)


if __name__ == "__main__":  # pragma: no cover - run as a worker process
    sys.exit(main())
