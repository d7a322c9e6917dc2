"""``hccai view``: what the viewer finds in a folder or scene bundle, its errors, the server and the page.

The reference is a small synthetic result folder written here with the project's writers, whose content is
known by construction: a CT (body cylinder 0 HU in air -1000 HU), a liver ball (60 HU, radius 40 mm) on the
patient's RIGHT (LPS x < 0), a tumour ball inside it, a dose map peaked on the tumour
(D = 200 Gy · exp(-r²/(2·(15 mm)²))), a segmentation with Slicer's liver colour (221, 130, 101) and a yellow
tumour, a long-format DVH, a compartments table and a plan.json. The browser test drives headless Chromium over
the DevTools protocol (no browser download; skipped when no chromium binary is installed or trame is missing)
and checks pixels of the axial view on a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from HCCInterventionalAILib.imaging.io import write_segmentation, write_volume
from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.volume import Volume
from HCCInterventionalAILib.viewer.data import ViewerInputError, flatten_summary, gather, long_dvh

LIVER_RGB = (221, 130, 101)
LIVER_COLOR = tuple(c / 255 for c in LIVER_RGB)
TUMOUR_COLOR = (1.0, 0.933, 0.0)
SHAPE = (36, 48, 48)  # (k, j, i)
SPACING = (5.0, 5.0, 5.0)
ORIGIN = (-117.5, -117.5, -87.5)  # centre of voxel (0, 0, 0), LPS; the grid is centred on (0, 0, 0)
LIVER_CENTRE = (-50.0, 0.0, 0.0)  # LPS: x < 0 is the patient's right
TUMOUR_CENTRE = (-50.0, 10.0, 0.0)
DVH_ROWS = [("Liver", 0.0, 100.0), ("Liver", 50.0, 40.0), ("Liver", 100.0, 5.0),
            ("Tumour", 0.0, 100.0), ("Tumour", 50.0, 100.0), ("Tumour", 100.0, 90.0)]


def _lps_points() -> np.ndarray:
    k, j, i = np.indices(SHAPE, dtype=float)
    return np.stack([ORIGIN[0] + i * SPACING[0], ORIGIN[1] + j * SPACING[1], ORIGIN[2] + k * SPACING[2]], axis=-1)


def _distance(points: np.ndarray, centre: tuple[float, float, float]) -> np.ndarray:
    return np.linalg.norm(points - np.asarray(centre), axis=-1)


def _dose_reference() -> np.ndarray:
    return 200.0 * np.exp(-_distance(_lps_points(), TUMOUR_CENTRE) ** 2 / (2 * 15.0**2))


def write_result_folder(folder: Path) -> Path:
    """The synthetic result folder described in the module docstring."""
    folder.mkdir(parents=True, exist_ok=True)
    points = _lps_points()
    liver = _distance(points, LIVER_CENTRE) <= 40.0
    tumour = _distance(points, TUMOUR_CENTRE) <= 12.0
    body = np.hypot(points[..., 0], points[..., 1]) <= 110.0
    ct = np.where(body, 0, -1000).astype(np.int16)
    ct[liver] = 60
    write_volume(Volume.from_array(ct, SPACING, ORIGIN, name="ct", modality="CT", units="HU"), folder / "ct.nrrd")
    write_volume(Volume.from_array(_dose_reference().astype(np.float32), SPACING, ORIGIN, name="dose",
                                   modality="RTDOSE", units="Gy"), folder / "dose.nrrd")
    seg = Segmentation(Volume.from_array(ct, SPACING, ORIGIN).geometry, name="truth")
    seg.add("Liver", liver, color=LIVER_COLOR)
    seg.add("Tumour", tumour, color=TUMOUR_COLOR)
    write_segmentation(seg, folder / "truth.seg.nrrd")
    pd.DataFrame(DVH_ROWS, columns=["structure", "dose_Gy", "volume_%"]).to_csv(folder / "dvh.csv", index=False)
    pd.DataFrame({"compartment": ["Tumour", "normal liver"], "activity_GBq": [0.4, 2.1]}).to_csv(
        folder / "compartments.csv", index=False)
    (folder / "plan.json").write_text(json.dumps({"activity_gbq": 2.5, "lung_shunt": {"lung_shunt_fraction": 0.05},
                                                  "warnings": ["w1", "w2"]}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def result_folder(tmp_path_factory) -> Path:
    return write_result_folder(tmp_path_factory.mktemp("viewer") / "result")


# ---------------------------------------------------------------------------------------------------------
# Data gathering (no browser, no trame)
# ---------------------------------------------------------------------------------------------------------


def test_gather_finds_volumes_dose_segmentation_and_tables(result_folder):
    """Everything written is found and classified; dose values and segment colours round-trip exactly."""
    data = gather(result_folder)
    assert [v.name for v in data.volumes] == ["ct"]
    assert data.dose is not None and data.dose.name == "dose"
    np.testing.assert_allclose(data.dose.array, _dose_reference(), rtol=1e-6, atol=1e-4)  # float32 on disk
    seg = data.segmentation
    assert seg is not None and seg.names == ["Liver", "Tumour"]
    np.testing.assert_allclose(seg.segments["Liver"].color, LIVER_COLOR, atol=1e-3)
    # liver ball of radius 40 mm on 5 mm voxels: 4/3·π·40³ = 268 ml within voxelisation error (5%)
    assert seg.volume_ml("Liver") == pytest.approx(4 / 3 * np.pi * 40.0**3 / 1000, rel=0.05)
    assert list(data.tables) == ["compartments"]
    assert data.dvh is not None
    assert list(data.dvh.itertuples(index=False, name=None)) == DVH_ROWS
    summary = {row["key"]: row["value"] for row in data.summary}
    assert summary["plan: activity_gbq"] == 2.5
    assert summary["plan: lung_shunt.lung_shunt_fraction"] == 0.05
    assert summary["plan: warnings"] == "w1, w2"
    assert data.notes == []
    assert data.describe() == "1 image(s), a dose map, 2 segment(s), 2 table(s)"


def test_gather_several_folders(result_folder, tmp_path):
    """A dose-only folder (as hccai y90 writes) shown with the folder of its CT and segmentation."""
    plan, case = tmp_path / "plan", tmp_path / "case"
    plan.mkdir()
    case.mkdir()
    for name in ("dose.nrrd", "dvh.csv", "compartments.csv"):
        shutil.copy(result_folder / name, plan / name)
    for name in ("ct.nrrd", "truth.seg.nrrd", "compartments.csv"):
        shutil.copy(result_folder / name, case / name)
    data = gather(plan, case)
    assert data.source == plan
    assert data.dose is not None and [v.name for v in data.volumes] == ["ct"]
    assert data.segmentation.names == ["Liver", "Tumour"]
    assert list(data.tables) == ["compartments", "compartments (case)"]
    assert data.dvh is not None and len(data.dvh) == len(DVH_ROWS)


def test_gather_dicom_series_subfolder(result_folder, tmp_path):
    """A DICOM CT series in a subfolder (as hccai sample --format dicom writes) is read as an image, HU exact."""
    from HCCInterventionalAILib.imaging.dicom_io import write_dicom_series
    from HCCInterventionalAILib.imaging.io import read_volume

    ct = read_volume(result_folder / "ct.nrrd")
    folder = tmp_path / "dicom-case"
    write_dicom_series(ct, folder / "ct-series", modality="CT",
                       series_description="CT series")
    (folder / "notes").mkdir()  # a subfolder without DICOM files is ignored
    data = gather(folder)
    assert [v.name for v in data.volumes] == ["CT series"] and data.notes == []
    np.testing.assert_array_equal(data.volumes[0].array, ct.array)


def test_long_dvh_from_a_scene_table():
    """A scene's wide DVH (dose_Gy + one column per structure) becomes the long format, row by row."""
    wide = pd.DataFrame({"dose_Gy": [0.0, 10.0], "Liver": [100.0, 20.0], "Tumour": [100.0, 95.0]})
    assert list(long_dvh(wide).itertuples(index=False, name=None)) == [
        ("Liver", 0.0, 100.0), ("Liver", 10.0, 20.0), ("Tumour", 0.0, 100.0), ("Tumour", 10.0, 95.0)]
    assert long_dvh(pd.DataFrame({"a": [1]})) is None


def test_flatten_summary_rows():
    rows = flatten_summary({"a": 1.23456789, "b": {"c": [1, 2]}, "d": [{"e": "x"}], "f": float("nan")})
    assert rows == [{"key": "a", "value": 1.23457}, {"key": "b.c", "value": "1, 2"},
                    {"key": "d[0].e", "value": "x"}, {"key": "f", "value": None}]


def test_damaged_file_is_a_note_not_a_failure(result_folder, tmp_path):
    folder = shutil.copytree(result_folder, tmp_path / "copy")
    (folder / "dose_statistics.csv").write_bytes(b'"unterminated\n')
    (folder / "extra.nrrd").write_bytes(b"NRRD0004\ntype: float\ndimension: 3\n")
    data = gather(folder)
    assert data.dose is not None and len(data.volumes) == 1
    assert len(data.notes) == 2 and any("extra.nrrd" in note for note in data.notes)


@pytest.mark.parametrize("case", ["missing", "empty", "text-only", "not-a-zip", "zip-without-scene", "other-file"])
def test_bad_inputs_are_viewer_input_errors(tmp_path, case):
    path = tmp_path / "input"
    if case == "empty":
        path.mkdir()
    elif case == "text-only":
        path.mkdir()
        (path / "readme.txt").write_text("nothing to see")
    elif case == "not-a-zip":
        path = tmp_path / "scene.mrb"
        path.write_bytes(b"this is not a scene bundle")
    elif case == "zip-without-scene":
        path = tmp_path / "scene.mrb"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "no mrml here")
        pytest.importorskip("slicer", reason="slicer-core (the scene extra) reads .mrb files")
    elif case == "other-file":
        path = tmp_path / "image.png"
        path.write_bytes(b"\x89PNG")
    with pytest.raises(ViewerInputError):
        gather(path)


@pytest.mark.scene
def test_gather_scene_bundle(result_folder, tmp_path):
    """A .mrb written with the project's scene bridge gives back the same dose, segments and tables."""
    pytest.importorskip("slicer", reason="slicer-core (the scene extra) is not installed")
    from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume
    from HCCInterventionalAILib.scene import (
        dataframe_to_table_node,
        new_scene,
        release_scene,
        save_bundle,
        segmentation_to_node,
        volume_to_node,
    )

    scene = new_scene()
    try:
        volume_to_node(scene, read_volume(result_folder / "ct.nrrd"), "Patient CT")
        volume_to_node(scene, read_volume(result_folder / "dose.nrrd"), "Y-90 dose")
        segmentation_to_node(scene, read_segmentation(result_folder / "truth.seg.nrrd"), "Truth")
        dataframe_to_table_node(scene, pd.DataFrame({"dose_Gy": [0.0, 50.0], "Liver": [100.0, 40.0]}), "Y-90 DVH")
        dataframe_to_table_node(scene, pd.DataFrame({"compartment": ["Tumour"], "activity_GBq": [0.4]}), "Plan")
        bundle = save_bundle(scene, tmp_path / "scene.mrb")
    finally:
        release_scene(scene)
    data = gather(bundle)
    assert [v.name for v in data.volumes] == ["Patient CT"]
    assert data.dose is not None and data.dose.name == "Y-90 dose"
    np.testing.assert_allclose(data.dose.array, _dose_reference(), rtol=1e-6, atol=1e-4)
    assert data.segmentation.names == ["Liver", "Tumour"]
    assert list(data.tables) == ["Plan"]
    assert list(data.dvh.itertuples(index=False, name=None)) == [("Liver", 0.0, 100.0), ("Liver", 50.0, 40.0)]


def test_cli_bad_input_is_one_line_exit_2(tmp_path, result_folder):
    """Missing folder, empty folder, corrupt bundle, a port in use: one line on stderr, exit code 2."""
    import socket

    from HCCInterventionalAILib.cli.main import app

    pytest.importorskip("trame", reason="the viewer extra (trame) is not installed")
    runner = CliRunner()
    corrupt = tmp_path / "corrupt.mrb"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        cases = [[str(tmp_path / "missing")], [str(tmp_path)], [str(corrupt)],
                 [str(result_folder), "--port", port]]
        results = [runner.invoke(app, ["view", *case, "--no-browser"]) for case in cases]
    for result in results:
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output
    assert f"127.0.0.1:{port}" in results[-1].output


# ---------------------------------------------------------------------------------------------------------
# Rendering (VTK offscreen, no browser)
# ---------------------------------------------------------------------------------------------------------


def _needs_viewer_stack() -> None:
    from HCCInterventionalAILib.viewer.app import require_viewer_packages

    try:
        require_viewer_packages()
    except ImportError as error:
        pytest.skip(str(error))


def _colour_mask(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: float) -> np.ndarray:
    return np.abs(pixels[..., :3].astype(float) - np.asarray(rgb, dtype=float)).max(axis=-1) <= tolerance


def test_render_axial_view_radiological_convention(result_folder):
    """Offscreen VTK: the liver outline (its segment colour) lies on the screen's LEFT half of the axial view
    (patient's right, radiological convention), the dose overlay around the tumour is coloured."""
    pytest.importorskip("vtkmodules.vtkRenderingOpenGL2", reason="VTK (slicer-core or the viewer extra) is not installed")
    import vtk
    from vtk.util import numpy_support

    from HCCInterventionalAILib.viewer.render import build_scene

    scene = build_scene(gather(result_folder), (300, 300))
    view = scene.slice_views["axial"]
    assert view.slices == SHAPE[0] and view.index == SHAPE[0] // 2

    def axial_pixels() -> np.ndarray:
        scene.render_all()
        grab = vtk.vtkWindowToImageFilter()
        grab.SetInput(view.window)
        grab.Update()
        image = grab.GetOutput()
        width, height, _ = image.GetDimensions()
        return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)[::-1]

    pixels = axial_pixels()
    width = pixels.shape[1]
    liver = _colour_mask(pixels, LIVER_RGB, 3)
    columns = np.nonzero(liver)[1]
    assert columns.size > 50
    assert np.all(columns < width / 2), "liver (patient's right) must be on the left of an axial view"
    assert (_dose_blend_pixels(pixels[:, : int(0.85 * width)], tolerance=4) >= 0).sum() > 200
    # a dose window above the maximum dose (200 Gy) leaves no dose colour: doses below the window are transparent
    scene.set_dose_window(1000.0, 2000.0)
    scene.set_visible_segments([])  # and hiding every segment removes the liver outline
    pixels = axial_pixels()
    assert (_dose_blend_pixels(pixels[:, : int(0.85 * width)], tolerance=4) >= 0).sum() == 0
    assert _colour_mask(pixels, LIVER_RGB, 3).sum() == 0


# ---------------------------------------------------------------------------------------------------------
# Server and browser
# ---------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    from HCCInterventionalAILib.viewer.cli import free_port

    return free_port("127.0.0.1")


@pytest.fixture(scope="module")
def viewer_server(result_folder):
    """``hccai view`` in a subprocess on a free port of 127.0.0.1; yields (process, url)."""
    _needs_viewer_stack()
    port = _free_port()
    hccai = Path(sys.executable).with_name("hccai")
    command = [str(hccai)] if hccai.exists() else [sys.executable, "-m", "HCCInterventionalAILib.cli.main"]
    process = subprocess.Popen([*command, "view", str(result_folder), "--port", str(port), "--no-browser"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"hccai view exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url + "index.html", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("hccai view did not answer within 60 s")
    yield process, url
    if process.poll() is None:
        process.kill()
        process.wait(10)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


async def _devtools_screenshots(browser: str, url: str, check, timeout: float = 25.0):
    """Open ``url`` in headless Chromium and take screenshots until ``check(png, rects)`` is true (or time out).

    Returns the last (png bytes, element rectangles) pair.
    """
    import aiohttp

    with tempfile.TemporaryDirectory(prefix="hccai-chromium-") as profile:
        process = await asyncio.create_subprocess_exec(
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1", f"--user-data-dir={profile}", "--window-size=1600,1000",
            "--no-first-run", "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True)
        try:
            endpoint = None
            while endpoint is None:
                line = await asyncio.wait_for(process.stderr.readline(), 20)
                if not line:
                    raise RuntimeError("chromium exited before opening its DevTools endpoint")
                match = re.search(rb"DevTools listening on (ws://127\.0\.0\.1:\d+/\S+)", line)
                endpoint = match and match.group(1).decode()
            port = re.search(r":(\d+)/", endpoint).group(1)
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = await response.json(content_type=None)
                page = next(t for t in targets if t.get("type") == "page")
                async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                    counter = 0

                    async def call(method: str, **params):
                        nonlocal counter
                        counter += 1
                        await socket.send_json({"id": counter, "method": method, "params": params})
                        while True:
                            message = await socket.receive_json(timeout=20)
                            if message.get("id") == counter:
                                if "error" in message:
                                    raise RuntimeError(f"{method}: {message['error']}")
                                return message.get("result", {})

                    await call("Emulation.setDeviceMetricsOverride", width=1600, height=1000, deviceScaleFactor=1,
                               mobile=False)
                    await call("Page.navigate", url=url)
                    script = ("JSON.stringify(Object.fromEntries(['view-axial','view-3d','dvh','segments']"
                              ".map(id => {const e = document.getElementById(id); if (!e) return [id, null];"
                              " const r = e.getBoundingClientRect(); return [id, [r.x, r.y, r.width, r.height]];})))")
                    deadline = time.monotonic() + timeout
                    while True:
                        await asyncio.sleep(0.5)
                        rects = json.loads((await call("Runtime.evaluate", expression=script))["result"]["value"])
                        png = base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"])
                        if check(png, rects) or time.monotonic() > deadline:
                            print(f"screenshots taken until {time.monotonic() - deadline + timeout:.1f} s")
                            return png, rects
        finally:
            if process.returncode is None:
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def _region(pixels: np.ndarray, rect) -> np.ndarray:
    x, y, w, h = (int(round(v)) for v in rect)
    return pixels[y:y + h, x:x + w]


def _centre(pixels: np.ndarray, rect) -> np.ndarray:
    """The middle half (in x and y) of an element's region (clear of headers, footers and colour bars)."""
    x, y, w, h = (int(round(v)) for v in rect)
    return pixels[y + h // 4: y + 3 * h // 4, x + w // 4: x + 3 * w // 4]


def _dose_blend_pixels(region: np.ndarray, opacity: float = 0.5, tolerance: float = 14.0) -> np.ndarray:
    """Index into the dose colour map of each pixel that is a dose colour blended over grey, else -1.

    A pixel p of the overlay is opacity·c + (1 − opacity)·g·(1, 1, 1) for a colour-map entry c and a grey g,
    so p − opacity·c must be grey (equal channels) within the tolerance (JPEG image stream). Saturated pixels
    only (max − min channel > 40), so that the grey background never matches.
    """
    from HCCInterventionalAILib.viewer.render import dose_colors

    colours = 255.0 * dose_colors(256)
    pixels = region[..., :3].reshape(-1, 3).astype(float)
    saturated = (pixels.max(axis=1) - pixels.min(axis=1)) > 40
    index = np.full(len(pixels), -1)
    candidates = np.nonzero(saturated)[0]
    rest = pixels[candidates][:, None, :] - opacity * colours[None, :, :]
    greyness = rest.max(axis=2) - rest.min(axis=2)
    in_range = (rest.min(axis=2) >= -tolerance) & (rest.max(axis=2) <= (1 - opacity) * 255 + tolerance)
    greyness[~in_range] = np.inf
    best = greyness.argmin(axis=1)
    good = greyness[np.arange(len(candidates)), best] <= tolerance
    index[candidates[good]] = best[good]
    return index.reshape(region.shape[:2])


def test_browser_shows_outlines_dose_and_dvh(request, tmp_path):
    """Headless Chromium: the axial view shows the liver outline in its segment colour on the screen's left
    (patient's right) and the dose overlay with the colour map over a wide part of its range; the DVH is drawn
    with the liver curve in the liver colour; the 3D view is not blank."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary found (apt-get install chromium)")
    pytest.importorskip("aiohttp", reason="aiohttp (installed with trame) drives the DevTools protocol")
    from PIL import Image

    _, url = request.getfixturevalue("viewer_server")  # started only when a browser is there

    def pixels_of(png: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def ready(png: bytes, rects) -> bool:
        if not rects.get("view-axial"):
            return False
        pixels = pixels_of(png)
        region = _region(pixels, rects["view-axial"])
        return bool(_colour_mask(region, LIVER_RGB, 25).sum() > 30 and (_dose_blend_pixels(region) >= 0).sum() > 200
                    and _centre(pixels, rects["view-3d"]).std() > 10)

    png, rects = asyncio.run(_devtools_screenshots(browser, url, ready))
    (tmp_path / "viewer.png").write_bytes(png)
    shutil.copy(tmp_path / "viewer.png", Path(tempfile.gettempdir()) / "hccai-viewer-test.png")
    pixels = pixels_of(png)
    assert rects["view-axial"] is not None, "no axial view on the page"
    axial = _region(pixels, rects["view-axial"])
    liver = _colour_mask(axial, LIVER_RGB, 25)
    assert liver.sum() > 30, "liver outline colour not found in the axial view"
    # the colour bar sits at the right edge (x > 0.85 of the view); the liver outline is left of the centre
    columns = np.nonzero(liver[:, : int(0.85 * axial.shape[1])])[1]
    assert np.median(columns) < axial.shape[1] / 2
    dose_index = _dose_blend_pixels(axial[:, : int(0.85 * axial.shape[1])])
    found = dose_index[dose_index >= 0]
    assert found.size > 200, "dose overlay not found in the axial view"
    assert np.ptp(found) > 100, "the dose overlay should span much of the colour map (peaked dose)"
    # colour bar: unblended colour-map entries, top and bottom of the map
    bar = axial[:, int(0.85 * axial.shape[1]):]
    from HCCInterventionalAILib.viewer.render import dose_colors

    ends = np.round(255 * dose_colors(256)[[5, 128, 250]]).astype(int)
    for colour in ends:
        assert _colour_mask(bar, tuple(colour), 25).sum() > 10, f"colour bar lacks {colour}"
    assert rects["dvh"] is not None and rects["dvh"][2] > 100
    dvh = _region(pixels, rects["dvh"])
    assert _colour_mask(dvh, LIVER_RGB, 20).sum() > 20, "DVH liver curve not in the liver colour"
    view_3d = _centre(pixels, rects["view-3d"])  # the liver surface, lit: shades of the liver colour
    assert view_3d.std() > 10, "3D view is blank"
    reddish = (view_3d[..., 0].astype(int) - view_3d[..., 2]) > 30
    assert reddish.mean() > 0.2, "no liver-coloured surface in the middle of the 3D view"


def test_server_page_and_ctrl_c(viewer_server):
    """The page is served on 127.0.0.1; SIGINT (Ctrl+C) stops the server with exit code 0 and no traceback."""
    process, url = viewer_server
    with urllib.request.urlopen(url + "index.html", timeout=5) as response:
        assert response.status == 200
        assert b"trame" in response.read()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("hccai view did not stop within 20 s of SIGINT")
    stdout, stderr = process.stdout.read(), process.stderr.read()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "Viewer on http://127.0.0.1:" in stdout and "Viewer stopped." in stdout
