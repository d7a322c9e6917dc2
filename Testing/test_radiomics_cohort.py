"""Cohort radiomics on Dask: 20 synthetic cases on 2 workers give exactly the serial features; a killed run
resumes without recomputing finished cases; bad manifests are refused with clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("radiomics")
distributed = pytest.importorskip("dask.distributed")

from HCCInterventionalAILib.imaging.io import write_volume  # noqa: E402
from HCCInterventionalAILib.imaging.volume import Geometry, Volume  # noqa: E402
from HCCInterventionalAILib.radiomics.cohort import (  # noqa: E402
    ManifestError,
    local_cluster,
    read_manifest,
    run_cohort,
)

PARAMS = {"setting": {"binWidth": 25, "label": 1}, "imageType": {"Original": {}},
          "featureClass": {"firstorder": [], "shape": ["VoxelVolume", "Sphericity"], "glcm": ["Contrast", "Idm"]}}
N_CASES = 20


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """20 synthetic CT-like cases (24³, 1.5 mm): a noisy ellipsoidal lesion in soft tissue, seeded per case."""
    folder = tmp_path_factory.mktemp("cohort")
    rows = ["case,phase,image,mask,label"]
    for index in range(N_CASES):
        rng = np.random.default_rng(index)
        geometry = Geometry((24, 24, 24), (1.5, 1.5, 1.5))
        z, y, x = np.mgrid[:24, :24, :24] - 11.5
        axes = rng.uniform(4, 9, 3)
        lesion = (x / axes[0]) ** 2 + (y / axes[1]) ** 2 + (z / axes[2]) ** 2 <= 1
        image = rng.normal(100, 15, geometry.shape).astype(np.float32)
        image[lesion] = rng.normal(rng.uniform(30, 70), 10, int(lesion.sum()))
        write_volume(Volume(image.round().astype(np.int16), geometry, modality="CT"), folder / f"case{index:02d}.nrrd")
        write_volume(Volume(lesion.astype(np.uint8), geometry), folder / f"case{index:02d}-mask.nrrd")
        rows.append(f"case{index:02d},portal venous,case{index:02d}.nrrd,case{index:02d}-mask.nrrd,1")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    serial = run_cohort(manifest, folder / "serial", PARAMS, scheduler="serial")
    return manifest, serial, folder


@pytest.fixture(scope="module")
def client():
    cluster = local_cluster(2)
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


def test_two_dask_workers_give_the_serial_features_exactly(cohort, client, tmp_path):
    manifest, serial, _ = cohort
    assert len(serial.computed) == N_CASES and not serial.failed
    updates = []
    parallel = run_cohort(manifest, tmp_path / "dask", PARAMS, client=client, progress=lambda f, m: updates.append(f))
    assert sorted(parallel.computed) == sorted(serial.computed)
    expected = pd.read_csv(serial.table)
    actual = pd.read_csv(parallel.table)
    assert list(actual["case"]) == [f"case{i:02d}" for i in range(N_CASES)]  # manifest order
    pd.testing.assert_frame_equal(actual, expected, check_exact=True)
    assert updates[-1] == pytest.approx(1.0)
    # The workers really ran the tasks (not this process).
    assert len(client.scheduler_info()["workers"]) == 2


def test_local_cluster_workers_run_without_malloc_trimming_or_profiler(client):
    """The cohort cluster's workers: no MALLOC_TRIM_THRESHOLD_ (Dask's nanny would export 65536), one OpenMP/BLAS
    thread, the statistical profiler off, pyradiomics already imported; this process's environment unchanged."""
    def inspect():
        import sys as worker_sys

        import dask

        return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS"),
                dask.config.get("distributed.worker.profile.enabled"), "radiomics.featureextractor" in worker_sys.modules)

    assert set(client.run(inspect).values()) == {(None, "1", False, True)}
    assert os.environ.get("MALLOC_TRIM_THRESHOLD_") is None


def test_a_killed_run_resumes_without_recomputing(cohort, tmp_path):
    manifest, serial, _ = cohort
    output = tmp_path / "killed"
    code = ("import sys; from HCCInterventionalAILib.radiomics.cohort import run_cohort; "
            f"run_cohort(sys.argv[1], sys.argv[2], {PARAMS!r}, scheduler='serial')")
    process = subprocess.Popen([sys.executable, "-c", code, str(manifest), str(output)])
    parts = output / "parts"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if parts.is_dir() and len(list(parts.glob("*.json"))) >= 3:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p.stem: p.stat().st_mtime_ns for p in parts.glob("*.json")}
    assert 3 <= len(finished) < N_CASES
    resumed = run_cohort(manifest, output, PARAMS, scheduler="serial")
    assert sorted(resumed.skipped) == sorted(finished)
    assert len(resumed.computed) == N_CASES - len(finished)
    assert {p.stem: p.stat().st_mtime_ns for p in parts.glob("*.json") if p.stem in finished} == finished
    pd.testing.assert_frame_equal(pd.read_csv(resumed.table), pd.read_csv(serial.table), check_exact=True)
    # Parts made with other parameters are not reused.
    subset = read_manifest(manifest)[:2]
    changed = run_cohort(subset, output, {**PARAMS, "setting": {"binWidth": 10, "label": 1}}, scheduler="serial")
    assert not changed.skipped and len(changed.computed) == 2


def test_bad_manifests_are_refused(tmp_path, cohort):
    manifest, _, folder = cohort
    missing_column = tmp_path / "m1.csv"
    missing_column.write_text("case,image,mask\na,x.nrrd,y.nrrd\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="lacks the column"):
        read_manifest(missing_column)
    missing_file = tmp_path / "m2.csv"
    missing_file.write_text("case,phase,image,mask\na,pv,nothere.nrrd,y.nrrd\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(missing_file)
    duplicate = folder / "dup.csv"
    line = manifest.read_text(encoding="utf-8").splitlines()[1]
    duplicate.write_text(f"case,phase,image,mask,label\n{line}\n{line}\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="appears twice"):
        read_manifest(duplicate)
