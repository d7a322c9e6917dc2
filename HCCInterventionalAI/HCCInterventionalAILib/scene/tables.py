"""Table nodes ⇄ pandas DataFrames, keeping column types, units and descriptions.

Column types map to VTK arrays that Slicer's table storage (``.tsv`` + ``.schema.tsv``) writes and reads
back with their type: floats → double, integers → int (or long long beyond 32 bits), booleans → bit,
everything else → string. Units and descriptions live in the table node's column properties; on the
DataFrame side they are ``df.attrs["units"]`` / ``df.attrs["descriptions"]`` (``{column: text}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .headless import ensure_scene
from .naming import add_node

__all__ = ["dataframe_to_table_node", "table_node_to_dataframe"]

_INT32, _INT64 = np.iinfo(np.int32), np.iinfo(np.int64)


def _string_array(name: str, series: Any) -> Any:
    import pandas as pd
    import vtk

    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        series = series.map(lambda value: None if pd.isna(value) else value.isoformat())
    array = vtk.vtkStringArray()
    array.SetName(name)
    array.SetNumberOfValues(len(series))
    for row, value in enumerate(series):
        array.SetValue(row, "" if value is None or (np.isscalar(value) and pd.isna(value)) else str(value))
    return array


def _column_array(name: str, series: Any) -> Any:
    """A named VTK array holding one DataFrame column (numbers deep-copied through numpy)."""
    import pandas as pd
    import vtk
    from vtk.util import numpy_support

    dtype, missing = series.dtype, bool(series.isna().any())
    if pd.api.types.is_bool_dtype(dtype) and not missing:
        array = vtk.vtkBitArray()
        array.SetName(name)
        array.SetNumberOfValues(len(series))
        for row, value in enumerate(series.to_numpy(dtype=bool).tolist()):
            array.SetValue(row, int(value))
        return array
    if pd.api.types.is_integer_dtype(dtype) and not missing and (dtype.kind != "u" or series.max() <= _INT64.max):
        values = series.to_numpy(dtype=np.int64)
        if values.size == 0 or (values.min() >= _INT32.min and values.max() <= _INT32.max):
            values, vtk_type = values.astype(np.int32), vtk.VTK_INT
        else:
            vtk_type = vtk.VTK_LONG_LONG
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values, vtk_type = series.to_numpy(dtype=np.float64, na_value=np.nan), vtk.VTK_DOUBLE
    else:
        return _string_array(name, series)
    array = numpy_support.numpy_to_vtk(np.ascontiguousarray(values), deep=True, array_type=vtk_type)
    array.SetName(name)
    return array


def dataframe_to_table_node(
    scene: Any,
    df: Any,
    name: str,
    *,
    units: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
    index: bool = False,
) -> Any:
    """Put a DataFrame into the scene as a ``vtkMRMLTableNode``.

    Args:
        scene: the MRML scene (``None``: ``slicer.mrmlScene``).
        df: the table; column names become strings.
        name: node name, made unique in the scene.
        units: unit label per column (e.g. ``{"Dose": "Gy"}``); defaults to ``df.attrs["units"]``.
        descriptions: description per column; defaults to ``df.attrs["descriptions"]``.
        index: also store the index, as the first column (named after the index, or "index").

    Returns:
        The table node.

    Raises:
        ValueError: two columns with the same name.
    """
    scene = ensure_scene(scene)
    if index:
        df = df.reset_index()
    names = [str(column) for column in df.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"Table '{name}' has duplicate column names: {names}")
    units = dict(units if units is not None else df.attrs.get("units", {}))
    descriptions = dict(descriptions if descriptions is not None else df.attrs.get("descriptions", {}))
    node = add_node(scene, "vtkMRMLTableNode", name)
    was_modifying = node.StartModify()
    try:
        for column_name, (_, series) in zip(names, df.items(), strict=True):
            node.AddColumn(_column_array(column_name, series))
            if units.get(column_name):
                node.SetColumnUnitLabel(column_name, str(units[column_name]))
            if descriptions.get(column_name):
                node.SetColumnDescription(column_name, str(descriptions[column_name]))
    finally:
        node.EndModify(was_modifying)
    return node


def _column_values(array: Any) -> Any:
    import vtk
    from vtk.util import numpy_support

    rows = array.GetNumberOfTuples()
    if isinstance(array, vtk.vtkStringArray):
        return np.array([array.GetValue(row) for row in range(rows)], dtype=object)
    if isinstance(array, vtk.vtkBitArray):
        return np.array([bool(array.GetValue(row)) for row in range(rows)], dtype=bool)
    if isinstance(array, vtk.vtkDataArray):
        values = (
            numpy_support.vtk_to_numpy(array).copy()
            if rows
            else np.zeros(0, dtype=numpy_support.get_numpy_array_type(array.GetDataType()))
        )
        if array.GetNumberOfComponents() > 1:
            return [tuple(row) for row in values.reshape(rows, -1).tolist()]
        return values.astype(np.int64) if values.dtype.kind in "iu" else values.astype(np.float64)
    return np.array([array.GetVariantValue(row).ToString() for row in range(rows)], dtype=object)


def table_node_to_dataframe(node: Any) -> Any:
    """Read a ``vtkMRMLTableNode`` into a DataFrame.

    Columns come back as ``float64`` (double/float), ``int64`` (any integer type), ``bool`` (bit) or
    ``object`` strings; multi-component columns as tuples. Non-empty unit labels and descriptions are in
    ``df.attrs["units"]`` and ``df.attrs["descriptions"]``.
    """
    import pandas as pd

    if node is None or not node.IsA("vtkMRMLTableNode"):
        raise ValueError(f"Expected a table node, got {'None' if node is None else node.GetClassName()}")
    table = node.GetTable()
    columns: dict[str, Any] = {}
    for index in range(table.GetNumberOfColumns()):
        array = table.GetColumn(index)
        columns[array.GetName() or f"Column {index + 1}"] = _column_values(array)
    df = pd.DataFrame(columns)
    units = {name: node.GetColumnUnitLabel(name) for name in columns if node.GetColumnUnitLabel(name)}
    descriptions = {name: node.GetColumnDescription(name) for name in columns if node.GetColumnDescription(name)}
    if units:
        df.attrs["units"] = units
    if descriptions:
        df.attrs["descriptions"] = descriptions
    return df
