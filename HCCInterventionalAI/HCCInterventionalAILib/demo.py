"""`hccai demo`: run every available capability on the built-in synthetic patient.

Capabilities plug in through the ``hccai.demo`` entry-point group (see ``pyproject.toml``): each entry is a
function ``step(context: DemoContext) -> None`` that adds a section to ``context.report``, new nodes to
``context.scene`` (when the MRML library is available) and JSON-serialisable numbers to ``context.results``.
Entries run in the order of their names ("10-sample", "20-models", "50-y90", ...). A step whose optional
dependencies are missing raises :class:`StepSkipped` and the report says why.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from . import __version__
from .progress import Progress, ProgressCallback
from .report.html import Report

__all__ = ["DemoContext", "DemoSummary", "StepSkipped", "discover_demo_steps", "run_demo"]

log = logging.getLogger(__name__)

SYNTHETIC_BANNER = (
    "All images in this report come from the built-in SYNTHETIC sample patient (analytic anatomy, simulated CT and "
    "99mTc-MAA SPECT). They are not patient data. Research software: not for clinical use."
)


class StepSkipped(Exception):
    """A demo step cannot run here (e.g. an optional dependency is missing); the message says why."""


@dataclass
class DemoContext:
    """What every demo step receives."""

    patient: Any
    output_dir: Path
    report: Report
    scene: Any | None
    device: str
    progress: Progress
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoSummary:
    output_dir: Path
    report_path: Path
    scene_path: Path | None
    steps: dict[str, str]
    seconds: float
    results: dict[str, Any]


def discover_demo_steps() -> list[tuple[str, Callable[[DemoContext], None]]]:
    """The registered demo steps, sorted by entry-point name."""
    steps = []
    for entry in sorted(entry_points(group="hccai.demo"), key=lambda e: e.name):
        try:
            steps.append((entry.name, entry.load()))
        except ImportError as error:  # a capability whose package is not installed
            log.warning("Demo step %s unavailable: %s", entry.name, error)
    return steps


def _new_scene_or_none() -> Any | None:
    try:
        from .scene import new_scene

        return new_scene()
    except ImportError as error:
        log.warning("No MRML library (pip install 'hcc-interventional-ai[scene]'); scene.mrb not written: %s", error)
        return None


def run_demo(
    output_dir: str | Path = "hccai-demo",
    *,
    seed: int = 7,
    size: str = "standard",
    device: str = "auto",
    only: list[str] | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> DemoSummary:
    """Generate the sample patient, run every demo step, write ``report.html``, ``scene.mrb`` and ``results.json``.

    Args:
        output_dir: folder for the outputs (created).
        seed: seed of the synthetic patient.
        size: "standard" or "small" (faster, for tests).
        device: "auto", "cpu" or "cuda" for the steps that run networks or GPU physics.
        only: run only steps whose name contains one of these strings.
        progress: progress reporter or callback.

    Raises:
        DeviceUnavailableError: ``device`` is unknown or not available (before any work).
    """
    from .device import check_device
    from .progress import as_progress
    from .sample import make_sample_patient

    started = time.perf_counter()
    progress = as_progress(progress)
    output_dir = Path(output_dir)
    check_device(device)  # an unknown or unavailable device fails before any work
    output_dir.mkdir(parents=True, exist_ok=True)
    steps = [(n, s) for n, s in discover_demo_steps() if not only or any(o in n for o in only)]
    parts = progress.split(len(steps) + 2)

    parts[0].update(0.0, "Generating the synthetic sample patient")
    patient = make_sample_patient(seed=seed, size=size, progress=parts[0])
    report = Report("HCC Interventional AI: demo on the synthetic sample patient", banner=SYNTHETIC_BANNER,
                    metadata={"version": __version__, "seed": seed, "size": size, "python": platform.python_version()})
    context = DemoContext(patient, output_dir, report, _new_scene_or_none(), device, parts[0])

    status: dict[str, str] = {}
    for (name, step), part in zip(steps, parts[1:-1], strict=True):
        part.update(0.0, f"Running {name}")
        context.progress = part
        t0 = time.perf_counter()
        try:
            step(context)
            status[name] = f"ok ({time.perf_counter() - t0:.1f} s)"
        except StepSkipped as reason:
            status[name] = f"skipped: {reason}"
            report.section(name).text(f"Skipped: {reason}")
        part.update(1.0, f"{name} done")

    parts[-1].update(0.0, "Writing report and scene")
    steps_section = report.section("Run summary")
    steps_section.key_values(status)
    scene_path = None
    if context.scene is not None:
        from .scene import save_bundle

        scene_path = save_bundle(context.scene, output_dir / "scene.mrb")
        steps_section.text(f"Slicer scene bundle: {scene_path.name} (open it in 3D Slicer with File > Open Data).")
    else:
        steps_section.warning("The MRML library (slicer-core) is not installed, so no scene.mrb was written.")
    report_path = report.write(output_dir / "report.html")
    seconds = time.perf_counter() - started
    results = {"steps": status, "seconds": round(seconds, 2), **context.results}
    (output_dir / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    parts[-1].update(1.0, "Done")
    return DemoSummary(output_dir, report_path, scene_path, status, seconds, results)
