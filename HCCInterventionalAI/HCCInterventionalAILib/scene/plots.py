"""Line charts from DataFrames (e.g. dose-volume histograms): a table node, one series per curve, a chart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .headless import ensure_scene, import_slicer
from .naming import add_node
from .tables import dataframe_to_table_node

__all__ = ["PLOT_COLORS", "dataframe_to_plot"]

#: Default series colours (Tableau 10), used in turn when no colour is given for a curve.
PLOT_COLORS: tuple[tuple[float, float, float], ...] = tuple(
    (int(code[0:2], 16) / 255.0, int(code[2:4], 16) / 255.0, int(code[4:6], 16) / 255.0)
    for code in ("1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd", "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf")
)


def dataframe_to_plot(
    scene: Any,
    df: Any,
    x: str,
    ys: Sequence[str],
    name: str,
    *,
    x_label: str | None = None,
    y_label: str | None = None,
    colors: Mapping[str, tuple[float, float, float]] | None = None,
) -> Any:
    """Plot columns of a DataFrame against one column as lines in a ``vtkMRMLPlotChartNode``.

    The data go into a table node named ``"<name> data"``; each y column becomes a
    ``vtkMRMLPlotSeriesNode`` named after the column (the legend entry), all in one chart.

    Args:
        scene: the MRML scene (``None``: ``slicer.mrmlScene``).
        df: the data (e.g. a cumulative DVH: dose column and one volume-% column per structure).
        x: column on the horizontal axis.
        ys: columns to draw, one series each.
        name: chart title and node name (made unique).
        x_label: horizontal axis title; defaults to ``x``.
        y_label: vertical axis title; defaults to the single y column's name, or none for several.
        colors: RGB (0–1) per y column (e.g. the segment colours); others take :data:`PLOT_COLORS`.

    Returns:
        The chart node; ``chart.GetNthPlotSeriesNode(i)`` gives the series.

    Raises:
        KeyError: a column that is not in the DataFrame.
        ValueError: no y columns.
    """
    scene = ensure_scene(scene)
    ys = [ys] if isinstance(ys, str) else list(ys)
    if not ys:
        raise ValueError("Give at least one y column to plot")
    missing = [column for column in [x, *ys] if column not in df.columns]
    if missing:
        raise KeyError(f"Columns not in the table: {missing}; columns are {[str(c) for c in df.columns]}")
    colors = dict(colors or {})
    slicer_series = import_slicer().vtkMRMLPlotSeriesNode

    table = dataframe_to_table_node(scene, df[[x, *[y for y in ys if y != x]]], f"{name} data")
    chart = add_node(scene, "vtkMRMLPlotChartNode", name)
    chart.SetTitle(name)
    chart.SetXAxisTitle(x_label if x_label is not None else str(x))
    chart.SetYAxisTitle(y_label if y_label is not None else (str(ys[0]) if len(ys) == 1 else ""))
    chart.SetLegendVisibility(True)
    for index, y in enumerate(ys):
        series = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", str(y))
        series.SetAndObserveTableNodeID(table.GetID())
        series.SetXColumnName(str(x))
        series.SetYColumnName(str(y))
        series.SetPlotType(slicer_series.PlotTypeScatter)  # "scatter" with lines = a curve over numeric x
        series.SetLineStyle(slicer_series.LineStyleSolid)
        series.SetMarkerStyle(slicer_series.MarkerStyleNone)
        series.SetColor(*(float(c) for c in colors.get(y, PLOT_COLORS[index % len(PLOT_COLORS)])))
        chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return chart
