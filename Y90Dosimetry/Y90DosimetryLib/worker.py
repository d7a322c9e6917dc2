"""Y-90 planning in a worker process (issue 11): the Slicer module stays responsive while the kernel dose runs.

Worker side (``python -m Y90DosimetryLib.worker``)::

    PythonSlicer -m Y90DosimetryLib.worker --request request.json --spect spect.nrrd \\
        --segmentation segmentation.seg.nrrd [--ct ct.nrrd] -o OUT [--no-rtdose] [--no-report]

reads the inputs, plans with the :class:`~.request.PlanRequest` of ``request.json``
(:meth:`~.request.PlanRequest.to_json`), reports progress as ``HCCAI-PROGRESS`` lines
(:func:`HCCInterventionalAILib.process_runner.worker_progress`), turns SIGTERM into a clean cancellation
(:func:`~HCCInterventionalAILib.process_runner.install_termination_handler`) and writes the same files as
``hccai y90`` (:func:`.plan_files.run_y90_cli`: ``dose.nrrd``, tables, ``plan.json`` with the full result, RT Dose
and report unless left out), atomically: ``OUT`` appears only when complete. The module's worker leaves out RT
Dose and report: the module exports RT Dose itself, and Slicer's Python bundles no matplotlib for the report.

Module side: :func:`start_plan_worker` writes the inputs into a new temporary folder and starts a
:class:`PlanWorker` (a :class:`~HCCInterventionalAILib.process_runner.WorkerRunner`, which also removes that
folder when cancelled or failed; the shared worker parts are in :mod:`HCCInterventionalAILib.process_runner`); :func:`read_plan_folder` reads an output folder back into a
:class:`PlanFolderResult`, which has the attributes :func:`.to_scene.result_to_scene` and the module's summary
use. User errors end the worker with one line on stderr and exit code 2; a cancellation with exit code 3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from HCCInterventionalAILib.process_runner import (
    EXIT_CANCELLED,
    EXIT_USER_ERROR,
    WORK_FOLDER_MARKER,
    WorkerRunner,
    make_work_folder,
    remove_work_folder,
    run_worker,
    start_worker,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from HCCInterventionalAILib.imaging.segmentation import Segmentation
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.progress import ProgressCallback

    from .request import PlanRequest

__all__ = ["EXIT_CANCELLED", "EXIT_USER_ERROR", "PlanFolderResult", "PlanWorker", "WORK_FOLDER_MARKER", "main",
           "read_plan_folder", "remove_work_folder", "start_plan_worker"]



# -- worker side ----------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m Y90DosimetryLib.worker",
                                     description="Y-90 planning worker: writes hccai y90's outputs atomically.")
    parser.add_argument("--request", type=Path, required=True, help="PlanRequest as JSON (PlanRequest.to_json).")
    parser.add_argument("--spect", type=Path, required=True, help="Activity image (NRRD, NIfTI or DICOM).")
    parser.add_argument("--segmentation", type=Path, required=True, help="Segmentation (.seg.nrrd, labelmap, SEG).")
    parser.add_argument("--ct", type=Path, default=None, help="CT (optional).")
    parser.add_argument("-o", "--output", type=Path, required=True, help="Output folder (absent or empty).")
    parser.add_argument("--metadata", type=Path, default=None,
                        help="JSON {\"spect\": {...}, \"ct\": {...}}: image metadata the files cannot hold.")
    parser.add_argument("--no-rtdose", action="store_true", help="Leave out dose-rtdose.dcm.")
    parser.add_argument("--no-report", action="store_true", help="Leave out report.html (needs no matplotlib).")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one plan as a worker; returns the exit code (0 done, 2 user error, 3 cancelled)."""
    args = _parser().parse_args(argv)

    def work(progress) -> str:
        from .plan_files import run_y90_cli
        from .request import PlanRequest

        request = PlanRequest.from_json(args.request.read_text(encoding="utf-8"))
        metadata = json.loads(args.metadata.read_text(encoding="utf-8")) if args.metadata else None
        result = run_y90_cli(args.spect, args.segmentation, args.output, request, ct=args.ct, progress=progress,
                             rtdose=not args.no_rtdose, report=not args.no_report, metadata=metadata)
        return f"Activity {result.activity_gbq:.3f} GBq; outputs in {args.output}"

    return run_worker(work)


# -- module side ----------------------------------------------------------------------------------------------
#: The runner of one plan: ``folder`` is its temporary work folder (inputs, request, and the output folder
#: ``output`` once the worker succeeded); cancel, or a worker that fails, removes ``folder``.
PlanWorker = WorkerRunner


def start_plan_worker(spect: Volume, segmentation: Segmentation, request: PlanRequest, *, ct: Volume | None = None,
                      python: str | None = None, log: Any = None, progress: ProgressCallback | None = None,
                      start: bool = True) -> PlanWorker:
    """Write the inputs into a new temporary folder and start the worker on them.

    Args:
        spect, segmentation, ct: the inputs (written as NRRD / .seg.nrrd; the worker reads them back).
        request: the plan (written as JSON).
        python: the Python to run; None = ``PythonSlicer`` inside Slicer, else ``sys.executable``
            (:func:`~HCCInterventionalAILib.process_runner.worker_python`).
        log, progress: callbacks of the :class:`ProcessRunner` (log lines; (fraction, message)).
        start: start the process (else the caller calls ``start()`` or ``run()``).

    Returns:
        The :class:`PlanWorker`; its ``output`` folder holds the results once it succeeded.
    """
    from HCCInterventionalAILib.imaging.io import write_segmentation, write_volume

    from .results import to_jsonable

    folder = make_work_folder("hccai-y90-")
    try:
        (folder / "request.json").write_text(request.to_json(indent=2), encoding="utf-8")
        arguments = ["--request", str(folder / "request.json"),
                     "--spect", str(write_volume(spect, folder / "spect.nrrd")),
                     "--segmentation", str(write_segmentation(segmentation, folder / "segmentation.seg.nrrd"))]
        if ct is not None:
            arguments += ["--ct", str(write_volume(ct, folder / "ct.nrrd"))]
        # NRRD keeps voxels and geometry exactly; the metadata (acquisition time, DICOM identifiers) goes as JSON
        inputs = {"spect": spect.metadata, **({"ct": ct.metadata} if ct is not None else {})}
        (folder / "metadata.json").write_text(json.dumps(to_jsonable(inputs)), encoding="utf-8")
        arguments += ["--metadata", str(folder / "metadata.json"), "-o", str(folder / "output"), "--no-rtdose",
                      "--no-report"]  # the module exports RT Dose itself
        return start_worker("Y90DosimetryLib.worker", arguments, folder, folder / "output", python=python,
                            packages=("Y90DosimetryLib", "HCCInterventionalAILib"), log=log, progress=progress,
                            start=start)
    except BaseException:
        remove_work_folder(folder)
        raise


def _namespace(value: Any) -> Any:
    if isinstance(value, dict):
        return SimpleNamespace(**{key: _namespace(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_namespace(item) for item in value]
    return value


def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


@dataclass
class PlanFolderResult:
    """A plan read back from its output folder (``plan.json``, the CSV tables and ``dose.nrrd``).

    Has the attributes of :class:`.planning.DosimetryResult` that :func:`.to_scene.result_to_scene` and the
    module's summary use: ``activity_gbq``, ``method``, ``microsphere.name``, ``lung_shunt``, ``evaluation``
    (compartments, lung), ``vial``, ``warnings``, ``compartments``/``dose_statistics``/``dvh`` (DataFrames)
    and ``dose`` (a Volume or None); ``data`` is the whole ``plan.json``.
    """

    folder: Path
    data: dict[str, Any]
    compartments: pd.DataFrame
    dose_statistics: pd.DataFrame
    dvh: pd.DataFrame
    dose: Volume | None
    structures: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:  # method, activity_gbq, lung_shunt, evaluation, vial, warnings ...
        data = self.__dict__.get("data")
        if data is None or name not in data:
            raise AttributeError(name)
        return _namespace(data[name])

    @property
    def lung_dose_gy(self) -> float | None:
        lung = self.data.get("evaluation", {}).get("lung")
        return lung["dose_gy"] if lung else None

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.data, **kwargs)


def read_plan_folder(folder: str | os.PathLike) -> PlanFolderResult:
    """Read a plan output folder (of the worker or of ``hccai y90``).

    Raises:
        FileNotFoundError: the folder has no ``plan.json``.
    """
    from HCCInterventionalAILib.imaging.io import read_volume

    folder = Path(folder)
    plan = folder / "plan.json"
    if not plan.is_file():
        raise FileNotFoundError(f"'{folder}' holds no plan.json: not a Y-90 plan folder")
    data = json.loads(plan.read_text(encoding="utf-8"))
    dose = read_volume(folder / "dose.nrrd") if (folder / "dose.nrrd").is_file() else None
    if dose is not None and isinstance(data.get("dose"), dict):  # DICOM identifiers, method, warnings (RT Dose)
        dose.metadata = dict(data["dose"].get("metadata") or {})  # as computed (not the temporary file's path)
    return PlanFolderResult(folder, data, _read_table(folder / "compartments.csv"),
                            _read_table(folder / "dose_statistics.csv"), _read_table(folder / "dvh.csv"), dose)


if __name__ == "__main__":  # pragma: no cover - run as a worker process
    sys.exit(main())
