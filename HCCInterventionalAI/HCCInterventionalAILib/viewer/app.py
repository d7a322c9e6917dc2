"""The trame page of ``hccai view``: slice views, 3D view, DVH and tables, served on localhost.

Rendering is done by VTK on the server (trame-vtk remote views stream images), so the browser needs no WebGL
and the data never leaves the machine; the page is built with trame-vuetify (Vuetify 3). trame, trame-vtk
and VTK are imported inside functions only (``pip install hcc-interventional-ai[viewer]``).
"""

from __future__ import annotations

import io
import math
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .data import ViewerData
    from .render import ViewerScene

__all__ = ["build_app", "dvh_svg", "require_viewer_packages", "serve", "table_rows"]

_FALLBACK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def require_viewer_packages() -> None:
    """Check that trame, trame-vtk, trame-vuetify and VTK are installed.

    Raises:
        ImportError: naming the missing packages and how to install them.
    """
    import importlib.util

    missing = [package for package, module in (("trame", "trame.app"), ("trame-vtk", "trame_vtk"),
                                                ("trame-vuetify", "trame_vuetify"), ("vtk", "vtkmodules"))
               if _find_spec(importlib.util, module) is None]
    if missing:
        raise ImportError(f"The viewer needs {', '.join(missing)}: pip install 'hcc-interventional-ai[viewer]'")


def _find_spec(util: Any, module: str) -> Any:
    try:
        return util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.4g}")
    if hasattr(value, "item"):  # numpy scalars
        return _cell(value.item())
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    return str(value)


def table_rows(table: pd.DataFrame) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """(Vuetify headers, items) of a table: numbers to 4 significant digits, NaN as empty cells."""
    keys = [f"c{index}" for index in range(len(table.columns))]
    headers = [{"title": str(column), "key": key} for column, key in zip(table.columns, keys, strict=True)]
    items = [{key: _cell(value) for key, value in zip(keys, row, strict=True)} for row in table.itertuples(index=False)]
    return headers, items


def dvh_svg(dvh: pd.DataFrame, colors: dict[str, tuple[float, float, float]]) -> str:
    """The cumulative DVH as an SVG figure: one curve per structure, in its segment's colour where known.

    Structures without a segment (derived compartments such as "normal liver") are dashed.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.0, 3.6), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    for index, (structure, curve) in enumerate(dvh.groupby("structure", sort=False)):
        color = colors.get(str(structure))
        style = "-" if color is not None else "--"
        axes.plot(curve["dose_Gy"], curve["volume_%"], style, lw=1.6, label=str(structure),
                  color=color if color is not None else _FALLBACK_COLORS[index % len(_FALLBACK_COLORS)])
    axes.set_xlabel("Dose (Gy)")
    axes.set_ylabel("Volume (%)")
    axes.set_ylim(0, 102)
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.find("<svg"):]


def build_app(data: ViewerData, scene: ViewerScene | None = None, *, name: str = "hccai-view") -> Any:
    """Build the trame server with the viewer page for ``data``.

    Args:
        data: what :func:`~.data.gather` found.
        scene: its VTK scene (built with :func:`~.render.build_scene` when None and there are images).
        name: trame server name.

    Returns:
        The trame server (call ``server.start(...)`` or :func:`serve`).
    """
    require_viewer_packages()
    from trame.app import get_server
    from trame.ui.vuetify3 import SinglePageLayout
    from trame.widgets import html
    from trame.widgets import vtk as vtk_widgets
    from trame.widgets import vuetify3 as v3

    from .render import build_scene

    if scene is None and data.has_images:
        scene = build_scene(data)
    server = get_server(name, client_type="vue3")
    state = server.state
    views: dict[str, Any] = {}

    def push(*names: str) -> None:
        for view_name in names or tuple(views):
            if view_name in views:
                views[view_name].update()

    state.trame__title = f"HCC Interventional AI: {data.source.name}"
    colors = scene.segment_colors if scene is not None else {
        segment.name: segment.color for segment in (data.segmentation or []) if segment.color}
    state.segment_names = list(colors)
    state.segments_visible = list(colors)
    state.segment_chips = [{"name": n, "color": "#" + "".join(f"{round(255 * c):02x}" for c in colors[n]),
                            "text": "#000" if 0.299 * colors[n][0] + 0.587 * colors[n][1] + 0.114 * colors[n][2] > 0.6
                            else "#fff"} for n in colors]
    state.background_names = scene.background_names if scene is not None else []
    state.background = state.background_names[0] if state.background_names else None
    has_dose = scene is not None and scene.dose_window is not None
    if has_dose:
        low, high = scene.dose_range
        state.dose_min, state.dose_max = math.floor(min(low, 0.0)), math.ceil(max(high, 1.0))
        state.dose_window = [round(scene.dose_window[0], 1), round(scene.dose_window[1], 1)]
        state.dose_opacity = scene.dose_opacity
        state.dose_visible = True
    if scene is not None:
        for view_name, view in scene.slice_views.items():
            state[f"slice_{view_name}"] = view.index
            state[f"slices_{view_name}"] = view.slices - 1

    tables = dict(data.tables)
    if data.summary:
        import pandas as pd

        tables["Summary"] = pd.DataFrame(data.summary)
    table_keys = []
    for index, (table_name, table) in enumerate(tables.items()):
        headers, items = table_rows(table)
        state[f"table_{index}_headers"], state[f"table_{index}_items"] = headers, items
        table_keys.append((index, table_name))
    state.dvh_svg = dvh_svg(data.dvh, colors) if data.dvh is not None else ""
    state.notes = list(data.notes)
    state.tab = "dvh" if data.dvh is not None else ("table-0" if table_keys else "notes")

    if scene is not None:
        for view_name in scene.slice_views:
            def on_slice(view_name: str = view_name, **changes: Any) -> None:
                scene.slice_views[view_name].set_index(int(changes[f"slice_{view_name}"]))
                push(view_name)

            state.change(f"slice_{view_name}")(on_slice)

        @state.change("dose_window", "dose_opacity", "dose_visible")
        def on_dose(dose_window: Any = None, dose_opacity: Any = None, dose_visible: Any = True, **_: Any) -> None:
            if not has_dose or dose_window is None:
                return
            scene.set_dose_window(*dose_window)
            scene.set_dose_opacity(float(dose_opacity))
            scene.set_dose_visible(bool(dose_visible))
            push(*scene.slice_views)

        @state.change("segments_visible")
        def on_segments(segments_visible: Any = None, **_: Any) -> None:
            scene.set_visible_segments(segments_visible or [])
            push()

        @state.change("background")
        def on_background(background: Any = None, **_: Any) -> None:
            if background:
                scene.set_background(background)
                push(*scene.slice_views)

    with SinglePageLayout(server) as layout:
        layout.title.set_text(f"HCC Interventional AI: {data.source.name}")
        with layout.toolbar:
            v3.VSpacer()
            if scene is not None and len(state.background_names) > 1:
                v3.VSelect(v_model=("background",), items=("background_names",), label="Image",
                           density="compact", hide_details=True, style="max-width: 260px;", classes="mx-2")
            if has_dose:
                v3.VCheckbox(v_model=("dose_visible",), label="Dose", density="compact", hide_details=True,
                             style="max-width: 90px;")
                v3.VRangeSlider(v_model=("dose_window",), min=("dose_min",), max=("dose_max",), step=1,
                                label="Window (Gy)", density="compact", hide_details=True, thumb_label=True,
                                style="max-width: 340px;", classes="mx-2", id="dose-window")
                v3.VSlider(v_model=("dose_opacity",), min=0, max=1, step=0.05, label="Opacity",
                           density="compact", hide_details=True, style="max-width: 200px;", classes="mx-2")
        with layout.content:
            with html.Div(style="display: flex; height: calc(100vh - 64px - 24px); width: 100%;"):
                with html.Div(style="flex: 0 0 62%; display: grid; grid-template-columns: 1fr 1fr; "
                                    "grid-template-rows: 1fr 1fr; gap: 2px; background: #222;"):
                    if scene is not None:
                        for view_name, view in scene.slice_views.items():
                            with html.Div(style="display: flex; flex-direction: column; min-height: 0;"):
                                with html.Div(style="display: flex; align-items: center; height: 30px; "
                                                    "color: #ddd; background: #333; padding: 0 8px;"):
                                    html.Span(view_name.capitalize(), style="width: 80px; font-size: 13px;")
                                    v3.VSlider(v_model=(f"slice_{view_name}",), min=0,
                                               max=(f"slices_{view_name}",), step=1, density="compact",
                                               hide_details=True, color="grey-lighten-1",
                                               id=f"slider-{view_name}")
                                with html.Div(style="flex: 1 1 auto; min-height: 0; position: relative;",
                                              id=f"view-{view_name}"):
                                    views[view_name] = vtk_widgets.VtkRemoteView(
                                        view.window, ref=f"view_{view_name}", interactive_ratio=1,
                                        interactive_quality=80, still_quality=100)
                        with html.Div(style="display: flex; flex-direction: column; min-height: 0;"):
                            with html.Div(style="display: flex; align-items: center; height: 30px; "
                                                "color: #ddd; background: #333; padding: 0 8px;"):
                                html.Span("3D", style="font-size: 13px;")
                            with html.Div(style="flex: 1 1 auto; min-height: 0; position: relative;", id="view-3d"):
                                views["3d"] = vtk_widgets.VtkRemoteView(
                                    scene.view_3d, ref="view_3d", interactive_ratio=1, interactive_quality=70,
                                    still_quality=100)
                    else:
                        html.Div("No images in this folder: tables only.", style="color: #ddd; padding: 16px;")
                with html.Div(style="flex: 1 1 38%; overflow: auto; padding: 4px 8px;"):
                    if state.segment_names:
                        with v3.VChipGroup(v_model=("segments_visible",), multiple=True, column=True, id="segments"):
                            v3.VChip("{{ s.name }}", v_for="s in segment_chips", key="s.name", value=("s.name",),
                                     filter=True, variant="flat", size="small",
                                     style=("{background: s.color, color: s.text}",))
                    with v3.VTabs(v_model=("tab",), density="compact", show_arrows=True):
                        if data.dvh is not None:
                            v3.VTab("DVH", value="dvh")
                        for index, table_name in table_keys:
                            v3.VTab(table_name, value=f"table-{index}")
                        if data.notes:
                            v3.VTab("Notes", value="notes")
                    with v3.VWindow(v_model=("tab",)):
                        if data.dvh is not None:
                            with v3.VWindowItem(value="dvh"):
                                html.Div(v_html=("dvh_svg",), id="dvh", style="background: white;")
                        for index, _table_name in table_keys:
                            with v3.VWindowItem(value=f"table-{index}"):
                                v3.VDataTable(headers=(f"table_{index}_headers",), items=(f"table_{index}_items",),
                                              density="compact", items_per_page=-1, hide_default_footer=True,
                                              id=f"table-{index}")
                        if data.notes:
                            with v3.VWindowItem(value="notes"):
                                with v3.VList(density="compact"):
                                    v3.VListItem(title=("n",), v_for="n in notes", key="n")
    return server


class _QuietDisconnects:
    """Logging filter for wslink and aiohttp: a browser tab closed while a reply is on its way is not an error
    worth a traceback on the terminal (wslink logs "Exception raised", the exception and its traceback as three
    records; aiohttp logs the exception with its traceback)."""

    _NOISE = ("closing transport", "ConnectionReset", "ClientConnectionResetError")

    def filter(self, record: Any) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ConnectionError):
            return False
        message = record.getMessage()
        return message != "Exception raised" and not any(noise in message for noise in self._NOISE)


def serve(data: ViewerData, *, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True) -> None:
    """Serve the viewer until Ctrl+C (blocking).

    Args:
        data: what :func:`~.data.gather` found.
        host: interface to listen on (127.0.0.1: this machine only).
        port: TCP port; 0 picks a free one.
        open_browser: open the page in the system browser once the server listens.
    """
    import logging

    server = build_app(data)
    for logger_name in ("wslink.protocol", "aiohttp.server", "aiohttp.web"):
        logging.getLogger(logger_name).addFilter(_QuietDisconnects())

    @server.controller.add("on_server_ready")
    def _ready(**_: Any) -> None:
        print(f"Viewer on http://{host}:{server.port}/ (Ctrl+C stops it)", flush=True)

    saved_argv = sys.argv
    sys.argv = sys.argv[:1]  # trame parses the command line; ours is not its
    try:
        server.start(host=host, port=port, open_browser=open_browser, timeout=0, show_connection_info=False)
    except OSError as error:  # taken between the check and the start
        from .cli import PortUnavailableError

        raise PortUnavailableError(f"Cannot serve the viewer on {host}:{port}: {error.strerror or error}") from error
    finally:
        sys.argv = saved_argv
