"""Cohort radiomics on Dask: a manifest of cases in, one feature table out, resumable and parallel.

Manifest: a CSV with columns ``case``, ``phase``, ``image``, ``mask`` and optional ``label`` (default 1);
relative paths are resolved against the manifest's folder. Each row is one task. Results are written
incrementally, one JSON file per finished row in ``<output>/parts/`` (written to a temporary name, then
renamed, so a killed run never leaves half a file); a rerun skips the rows whose part exists and was made with
the same parameters, so an interrupted run resumes without recomputing finished cases. ``features.csv`` is
assembled from the parts, in manifest order, at the end of every run.

Scheduling: a local Dask cluster by default (``n_workers`` processes, one thread each), an existing Dask
scheduler when ``scheduler="tcp://host:8786"`` is given (for SLURM/PBS clusters start one with dask-jobqueue,
e.g. ``SLURMCluster(cores=1, memory="4GB").scale(jobs=20)`` and pass ``cluster.scheduler_address``), or
in-process with ``scheduler="serial"``.

Threads: the SimpleITK filters pyradiomics runs (LoG, wavelet, resampling) are multi-threaded and by default use
every core. ``scheduler="serial"`` is therefore one Python process whose ITK filters already use all cores (it
is the baseline, not a one-core run). On Dask each task runs with ``itk_threads`` ITK threads (default 1), so N
single-threaded workers do not oversubscribe N cores; the previous global default is restored after the task.
Features do not depend on the thread count.

Worker settings (:func:`local_cluster`, used for the default local cluster): the tasks are CPU-bound Python and
NumPy, so Dask defaults that cost throughput on few cores are changed (``benchmarks/radiomics.py``, 96³ cases,
``ct-portal-venous`` preset, 4 runs, CPU seconds per case including the scheduler: serial 0.96-1.03, Dask defaults
1.26-1.47, :func:`local_cluster` 1.02-1.11, i.e. at most 1.40-1.52x vs 1.82-1.90x on 2 free cores):

* ``MALLOC_TRIM_THRESHOLD_=65536``, which the Dask nanny exports to its workers, is not set: with it glibc returns
  every freed large array to the kernel (setting it also disables glibc's dynamic mmap threshold), so each of the
  many LoG/wavelet images is page-faulted in afresh (+0.12 s system time per case in a one-off measurement);
* the worker's statistical profiler (a thread sampling the task's stack every 10 ms) is off, the event-loop tick
  check runs every second instead of every 20 ms, the system and memory monitors poll every 2 s and 1 s: fewer
  wake-ups competing with the task for the GIL and the cores (with the first item, the workers' CPU per case
  falls from 1.20-1.36 to 0.99-1.06 s, the scheduler's and client's from 0.06-0.11 to 0.03-0.04 s);
* ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` = 1 (Dask's default, kept explicit) and the
  pyradiomics modules are imported when a worker starts (start-up, not the first task, pays the import).

The parent process's environment is left as it was (the nanny writes its variables into ``os.environ`` before it
spawns a worker). Workers of a cluster started elsewhere (``scheduler=``/``client=``) run with that cluster's own
settings; :data:`WORKER_CONFIG` and :data:`WORKER_ENVIRONMENT` are what to give them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..progress import Progress, ProgressCallback, as_progress

__all__ = ["WORKER_CONFIG", "WORKER_ENVIRONMENT", "CohortCase", "CohortResult", "ManifestError", "local_cluster",
           "read_manifest", "run_cohort"]

REQUIRED_COLUMNS = ("case", "phase", "image", "mask")

#: Dask configuration of cohort workers (see the module docstring for what each setting saves).
WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
}
#: Environment of cohort worker processes; None unsets a variable the nanny would otherwise export.
WORKER_ENVIRONMENT: dict[str, str | None] = {
    "MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
}
#: Modules every worker imports when it starts.
WORKER_PRELOAD = ("radiomics.featureextractor",)


class ManifestError(ValueError):
    """The cohort manifest is malformed (missing column, duplicate row, missing file)."""


@dataclass(frozen=True)
class CohortCase:
    """One manifest row: one image and one mask label."""

    case: str
    phase: str
    image: str
    mask: str
    label: int = 1

    @property
    def key(self) -> str:
        """File-name-safe unique key of the row."""
        raw = f"{self.case}__{self.phase}__{self.label}"
        return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)


@dataclass
class CohortResult:
    """What a cohort run did: rows computed now, rows reused from an earlier run, failures, the table path."""

    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    table: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["table"] = str(self.table) if self.table else None
        return data


def read_manifest(path: str | Path, *, check_files: bool = True) -> list[CohortCase]:
    """Read and validate a cohort manifest.

    Raises:
        ManifestError: missing columns, empty manifest, duplicate (case, phase, label), bad label or missing files.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"No manifest file {path}")
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"The manifest {path.name} lacks the column(s) {', '.join(missing)}; "
                                f"expected {', '.join(REQUIRED_COLUMNS)} and optionally label")
        rows = list(reader)
    if not rows:
        raise ManifestError(f"The manifest {path.name} has no rows")
    cases, seen = [], set()
    for number, row in enumerate(rows, start=2):
        try:
            label = int(row.get("label") or 1)
        except ValueError as error:
            raise ManifestError(f"Line {number} of {path.name}: label '{row.get('label')}' is not an integer") from error
        files = {}
        for column in ("image", "mask"):
            file = Path(row[column].strip())
            file = file if file.is_absolute() else path.parent / file
            if check_files and not file.exists():
                raise ManifestError(f"Line {number} of {path.name}: the {column} file {file} does not exist")
            files[column] = str(file)
        case = CohortCase(row["case"].strip(), row["phase"].strip(), files["image"], files["mask"], label)
        if case.key in seen:
            raise ManifestError(f"Line {number} of {path.name}: case {case.case}, phase {case.phase}, label "
                                f"{case.label} appears twice")
        seen.add(case.key)
        cases.append(case)
    return cases


def _params_digest(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def extract_case(case: CohortCase, params: Mapping[str, Any], itk_threads: int | None = None) -> dict[str, Any]:
    """Task body (runs on a worker): read the image and mask, extract the features of one row.

    Args:
        case: the manifest row.
        params: pyradiomics settings (already loaded).
        itk_threads: SimpleITK's global default number of threads during the task (restored afterwards); None
            leaves ITK's default (all cores).

    Returns:
        The row: case, phase, label, voxels and the pyradiomics features.
    """
    import SimpleITK as sitk

    from ..imaging.io import read_volume
    from .extraction import extract_features

    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    if itk_threads is not None:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(itk_threads))
    try:
        image = read_volume(case.image)
        mask = read_volume(case.mask)
        vector = extract_features(image, mask, params, label=case.label)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)
    return {"case": case.case, "phase": case.phase, "label": case.label, "voxels": vector.voxels, **vector.features}


def _write_part(folder: Path, key: str, digest: str, row: Mapping[str, Any]) -> None:
    target = folder / f"{key}.json"
    staging = folder / f".{key}.json.tmp"
    staging.write_text(json.dumps({"params": digest, "row": row}), encoding="utf-8")
    os.replace(staging, target)


def _read_part(folder: Path, key: str, digest: str) -> dict[str, Any] | None:
    target = folder / f"{key}.json"
    if not target.is_file():
        return None
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data["row"] if data.get("params") == digest else None


def run_cohort(
    manifest: str | Path | list[CohortCase],
    output: str | Path,
    params: str | Path | Mapping[str, Any] | None = None,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    client: Any = None,
    progress: Progress | ProgressCallback | None = None,
    itk_threads: int | None = -1,
) -> CohortResult:
    """Extract features for every manifest row, in parallel, resuming an earlier run in ``output``.

    Args:
        manifest: the manifest CSV or its parsed rows.
        output: output folder (created; ``parts/`` and ``features.csv`` inside).
        params: radiomics preset, parameter file or mapping (see :func:`~.extraction.load_params`).
        scheduler: None (local cluster of ``n_workers`` processes), ``"serial"`` (in this process) or a Dask
            scheduler address (``tcp://host:8786``).
        n_workers: processes of the local cluster.
        client: an existing ``dask.distributed.Client`` to use (overrides ``scheduler``).
        progress: progress and cancellation (checked between finished rows).
        itk_threads: SimpleITK threads per task; the default (-1) means ITK's own default (all cores) for
            ``"serial"`` and 1 on Dask workers (one single-threaded process per core); None always leaves ITK's
            default; a positive number is used as given.

    Returns:
        The :class:`CohortResult`; ``features.csv`` holds every successful row.

    Raises:
        ManifestError: bad manifest; ValueError: bad parameters; ImportError: Dask missing.
    """
    from .extraction import load_params

    if itk_threads is not None and itk_threads != -1 and int(itk_threads) < 1:
        raise ValueError(f"itk_threads must be a positive number of threads, -1 or None, not {itk_threads}")
    serial = scheduler == "serial" and client is None
    threads = (None if serial else 1) if itk_threads == -1 else itk_threads
    cases = manifest if isinstance(manifest, list) else read_manifest(manifest)
    settings, _ = load_params(params)
    digest = _params_digest(settings)
    output = Path(output)
    parts = output / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    report = as_progress(progress)
    result = CohortResult()
    rows: dict[str, dict[str, Any]] = {}
    todo = []
    for case in cases:
        row = _read_part(parts, case.key, digest)
        if row is None:
            todo.append(case)
        else:
            rows[case.key] = row
            result.skipped.append(case.key)
    done = len(result.skipped)
    report.update(done / len(cases), f"{done} of {len(cases)} rows already done")

    def finished(case: CohortCase, row: dict[str, Any] | None, error: str | None) -> None:
        nonlocal done
        done += 1
        if row is None:
            result.failed[case.key] = error or "unknown error"
        else:
            _write_part(parts, case.key, digest, row)
            rows[case.key] = row
            result.computed.append(case.key)
        report.update(done / len(cases), f"{done} of {len(cases)} rows ({case.case}, {case.phase})")

    if todo and serial:
        for case in todo:
            report.check()
            try:
                row, error = extract_case(case, settings, threads), None
            except ValueError as failure:
                row, error = None, str(failure)
            finished(case, row, error)
    elif todo:
        _run_dask(todo, settings, threads, scheduler, n_workers, client, finished, report)
    result.table = _write_table(output, cases, rows)
    (output / "cohort.json").write_text(json.dumps({"params_digest": digest, **result.to_dict()}, indent=1),
                                        encoding="utf-8")
    return result


def local_cluster(n_workers: int = 2, **kwargs: Any) -> Any:
    """A local Dask cluster of ``n_workers`` single-threaded worker processes set up for CPU-bound radiomics.

    Workers get :data:`WORKER_CONFIG` and :data:`WORKER_ENVIRONMENT` (no ``MALLOC_TRIM_THRESHOLD_``, one BLAS/OpenMP
    thread), import pyradiomics at start-up, and no dashboard is served. This process's ``os.environ`` is restored
    after the workers have started.

    Args:
        n_workers: worker processes (one per core is the intended use).
        **kwargs: further ``dask.distributed.LocalCluster`` arguments (they override the defaults above).

    Returns:
        The started ``LocalCluster``; close it (or use it as a context manager) when done.

    Raises:
        ValueError: ``n_workers`` below 1. ImportError: Dask is not installed.
    """
    if int(n_workers) < 1:
        raise ValueError(f"A local cluster needs at least one worker, not {n_workers}")
    try:
        import dask
        from dask.distributed import LocalCluster
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("Cohort extraction needs Dask: pip install 'hcc-interventional-ai[cohort]'") from error
    environ = dict(os.environ)
    options = {"n_workers": int(n_workers), "threads_per_worker": 1, "processes": True, "dashboard_address": None,
               "preload": list(WORKER_PRELOAD), **kwargs}
    config = {**WORKER_CONFIG, **{f"distributed.nanny.pre-spawn-environ.{name}": value
                                  for name, value in WORKER_ENVIRONMENT.items()}}
    try:
        with dask.config.set(config):
            return LocalCluster(**options)
    finally:
        os.environ.clear()
        os.environ.update(environ)


def _run_dask(todo, settings, threads, scheduler, n_workers, client, finished, report) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise ImportError("Cohort extraction needs Dask: pip install 'hcc-interventional-ai[cohort]'") from error
    owned = []
    if client is None:
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = local_cluster(n_workers)
            client = Client(cluster)
            owned.append(cluster)
        owned.insert(0, client)
    run = uuid.uuid4().hex[:12]  # unique per run: repeated runs on one client never share task keys
    try:
        futures = {client.submit(extract_case, case, settings, threads, key=f"radiomics-{case.key}-{run}", pure=False): case
                   for case in todo}
        try:
            for future in as_completed(futures):
                case = futures[future]
                try:
                    row, error = future.result(), None
                except ValueError as failure:
                    row, error = None, str(failure)
                finished(case, row, error)  # raises Cancelled when the user cancelled
        except BaseException:
            client.cancel(list(futures))
            raise
    finally:
        for item in owned:
            item.close()


def _write_table(output: Path, cases: list[CohortCase], rows: Mapping[str, Mapping[str, Any]]) -> Path:
    import pandas as pd

    ordered = [rows[c.key] for c in cases if c.key in rows]
    target = output / "features.csv"
    staging = output / ".features.csv.tmp"
    pd.DataFrame(ordered).to_csv(staging, index=False)
    os.replace(staging, target)
    return target
