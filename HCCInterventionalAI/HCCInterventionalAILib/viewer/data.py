"""What ``hccai view`` finds in an output folder or a Slicer scene bundle (no browser, no trame, no VTK here).

:func:`gather` reads, with the project's own readers, everything a result viewer can show:

- image volumes (``.nrrd``, ``.nii``, ``.nii.gz``, ``.mha``, ``.mhd``; scalar volume nodes of a ``.mrb``),
  split into background images and the **dose** (a file or node whose name contains "dose", or modality
  RTDOSE, or units Gy);
- DICOM image series in subfolders (CT, NM, PT, MR, as ``hccai sample --format dicom`` writes them);
- segmentations (``.seg.nrrd``, DICOM SEG ``.dcm``; segmentation nodes of a ``.mrb``);
- tables (``.csv``; table nodes of a ``.mrb``), the cumulative **DVH** among them, normalised to the long
  format ``structure, dose_Gy, volume_%`` that ``hccai y90`` writes (a ``.mrb`` stores it wide: ``dose_Gy``
  plus one column per structure);
- JSON summaries (``plan.json``, ``results.json``) flattened into one key/value table of numbers and words.

A folder holding a ``scene.mrb`` (what ``hccai demo`` writes) is read as that scene plus the folder's other
files. A file that cannot be read is skipped with a note (shown by the viewer and on stderr), so one damaged
table does not hide the rest; an input with nothing viewable, a missing path or a damaged scene bundle is a
:class:`ViewerInputError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..imaging.segmentation import Segmentation
    from ..imaging.volume import Volume

__all__ = [
    "VOLUME_SUFFIXES",
    "ViewerData",
    "ViewerInputError",
    "flatten_summary",
    "gather",
    "is_dose",
    "long_dvh",
]

#: File endings read as image volumes (a ``.seg.nrrd`` is a segmentation).
VOLUME_SUFFIXES = (".nrrd", ".nii", ".nii.gz", ".mha", ".mhd")
_SEGMENTATION_SUFFIX = ".seg.nrrd"
_JSON_SUMMARIES = ("results.json", "plan.json")
_MAX_SUMMARY_ROWS = 400


class ViewerInputError(ValueError):
    """The path given to the viewer is missing, unreadable, or holds nothing that can be viewed."""


@dataclass
class ViewerData:
    """Everything the viewer shows, read from one folder or scene bundle.

    Attributes:
        source: the folder or ``.mrb`` read.
        volumes: background images (CT, SPECT, ...), in the order found.
        dose: the absorbed-dose map (Gy), or None.
        segmentations: segmentations, the one with the finest grid first (the one shown).
        tables: named tables (CSV files by file stem, table nodes by node name), the DVH excluded.
        dvh: the cumulative DVH in long format (``structure``, ``dose_Gy``, ``volume_%``), or None.
        summary: key/value rows (``key``, ``value``) flattened from ``results.json``/``plan.json``.
        notes: files that were skipped and why.
    """

    source: Path
    volumes: list[Volume] = field(default_factory=list)
    dose: Volume | None = None
    segmentations: list[Segmentation] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    dvh: pd.DataFrame | None = None
    summary: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def segmentation(self) -> Segmentation | None:
        """The segmentation shown (outlines and surfaces), or None."""
        return self.segmentations[0] if self.segmentations else None

    @property
    def has_images(self) -> bool:
        """Whether there is anything to show in the slice and 3D views."""
        return bool(self.volumes) or self.dose is not None or bool(self.segmentations)

    @property
    def empty(self) -> bool:
        """Whether nothing at all can be shown."""
        return not (self.has_images or self.tables or self.dvh is not None or self.summary)

    def describe(self) -> str:
        """One line saying what was found (printed when the server starts)."""
        parts = [f"{len(self.volumes)} image(s)", "a dose map" if self.dose is not None else "no dose map"]
        seg = self.segmentation
        parts.append(f"{len(seg)} segment(s)" if seg is not None else "no segmentation")
        parts.append(f"{len(self.tables) + (self.dvh is not None)} table(s)")
        return ", ".join(parts)


def is_dose(volume: Volume) -> bool:
    """Whether a volume is an absorbed-dose map: modality RTDOSE, units Gy, or "dose" in its name."""
    return (volume.modality.upper() == "RTDOSE" or volume.units.strip().lower() == "gy"
            or "dose" in volume.name.lower())


def long_dvh(table: pd.DataFrame) -> pd.DataFrame | None:
    """A cumulative DVH table in long format (``structure``, ``dose_Gy``, ``volume_%``), or None if it is none.

    Accepts the long format itself (``hccai y90``'s ``dvh.csv``) and the wide format of a scene's DVH table
    (``dose_Gy`` and one volume-percent column per structure).
    """
    import pandas as pd

    columns = set(table.columns)
    if {"structure", "dose_Gy", "volume_%"} <= columns:
        return table[["structure", "dose_Gy", "volume_%"]].reset_index(drop=True)
    if "dose_Gy" in columns and len(columns) > 1:
        structures = [c for c in table.columns if c != "dose_Gy" and pd.api.types.is_numeric_dtype(table[c])]
        if not structures:
            return None
        wide = table[["dose_Gy", *structures]]
        return wide.melt(id_vars="dose_Gy", var_name="structure", value_name="volume_%")[
            ["structure", "dose_Gy", "volume_%"]].reset_index(drop=True)
    return None


def _scalar_text(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.6g}")
    return value


def flatten_summary(document: Any, prefix: str = "", rows: list[dict[str, Any]] | None = None,
                    depth: int = 0) -> list[dict[str, Any]]:
    """Flatten a JSON document into ``{"key": "a.b.c", "value": ...}`` rows of numbers, words and booleans.

    Lists of scalars become one comma-separated row; lists of objects are indexed (``a[0].b``). Nesting
    deeper than 4 levels and rows beyond 400 are left out (the file itself holds them).
    """
    rows = [] if rows is None else rows
    if len(rows) >= _MAX_SUMMARY_ROWS or depth > 4:
        return rows
    if isinstance(document, dict):
        for key, value in document.items():
            flatten_summary(value, f"{prefix}.{key}" if prefix else str(key), rows, depth + 1)
    elif isinstance(document, list):
        if all(not isinstance(item, (dict, list)) for item in document):
            if len(document) <= 20:
                rows.append({"key": prefix, "value": ", ".join(str(_scalar_text(item)) for item in document)})
        else:
            for index, item in enumerate(document[:50]):
                flatten_summary(item, f"{prefix}[{index}]", rows, depth + 1)
    else:
        rows.append({"key": prefix, "value": _scalar_text(document)})
    return rows


def _suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_SEGMENTATION_SUFFIX):
        return _SEGMENTATION_SUFFIX
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return path.suffix.lower()


def _add_volume(data: ViewerData, volume: Volume) -> None:
    if is_dose(volume) and (data.dose is None or volume.name.lower() in ("dose", "dose.nrrd")):
        if data.dose is not None:
            data.notes.append(f"Several dose maps; showing '{volume.name}'")
        data.dose = volume
    elif is_dose(volume):
        data.notes.append(f"Several dose maps; '{volume.name}' is not shown")
    else:
        data.volumes.append(volume)


def _add_table(data: ViewerData, name: str, table: pd.DataFrame) -> None:
    dvh = long_dvh(table) if "dvh" in name.lower() else None
    if dvh is not None:
        if data.dvh is None:
            data.dvh = dvh
        return
    data.tables[name] = table


def _read_bundle(data: ViewerData, path: Path) -> None:
    """Read a scene bundle's volumes, segmentations and tables (a damaged bundle is a ViewerInputError)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ViewerInputError(f"Cannot read the scene bundle '{path}': not a zip archive")
    from ..scene import load_bundle, node_to_segmentation, node_to_volume, release_scene, table_node_to_dataframe

    try:
        scene = load_bundle(path)
    except (ValueError, RuntimeError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ViewerInputError(f"Cannot read the scene bundle '{path}': {first}") from error
    try:
        def nodes(class_name: str) -> list[Any]:
            collection = scene.GetNodesByClass(class_name)
            return [collection.GetItemAsObject(i) for i in range(collection.GetNumberOfItems())]

        for node in nodes("vtkMRMLScalarVolumeNode"):
            if node.IsA("vtkMRMLLabelMapVolumeNode") or node.GetImageData() is None:
                continue
            try:
                _add_volume(data, node_to_volume(node))
            except ValueError as error:
                data.notes.append(f"Volume node '{node.GetName()}' skipped: {error}")
        for node in nodes("vtkMRMLSegmentationNode"):
            try:
                data.segmentations.append(node_to_segmentation(node))
            except ValueError as error:
                data.notes.append(f"Segmentation node '{node.GetName()}' skipped: {error}")
        for node in nodes("vtkMRMLTableNode"):
            try:
                _add_table(data, node.GetName(), table_node_to_dataframe(node))
            except ValueError as error:
                data.notes.append(f"Table node '{node.GetName()}' skipped: {error}")
    finally:
        release_scene(scene)


def _read_file(data: ViewerData, path: Path) -> None:
    """Read one file of an output folder into ``data`` (unknown kinds are ignored, unreadable ones noted)."""
    import pandas as pd

    from ..imaging.io import read_segmentation, read_volume

    suffix = _suffix(path)
    try:
        if suffix == _SEGMENTATION_SUFFIX:
            data.segmentations.append(read_segmentation(path))
        elif suffix in VOLUME_SUFFIXES:
            stem = path.name[: -len(suffix)]
            _add_volume(data, read_volume(path, name=stem))
        elif suffix == ".csv":
            _add_table(data, path.stem, pd.read_csv(path))
        elif suffix == ".dcm":
            _read_dicom_segmentation(data, path)
        elif path.name.lower() in _JSON_SUMMARIES:
            rows = flatten_summary(json.loads(path.read_text(encoding="utf-8")))
            data.summary.extend({"key": f"{path.stem}: {row['key']}", "value": row["value"]} for row in rows)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        data.notes.append(f"'{path.name}' skipped: {message}")


def _dicom_modality(path: Path) -> str:
    """The Modality of a DICOM file ("" if it is none)."""
    import pydicom

    try:
        return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality", ""))
    except (OSError, ValueError, pydicom.errors.InvalidDicomError):
        return ""


def _read_dicom_segmentation(data: ViewerData, path: Path) -> None:
    """A top-level DICOM SEG file (``hccai sample --format dicom``); other DICOM objects are not read here."""
    from ..imaging.io import read_segmentation

    if _dicom_modality(path) != "SEG":
        return
    try:
        data.segmentations.append(read_segmentation(path))
    except (ValueError, OSError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        data.notes.append(f"'{path.name}' skipped: {message}")


def _read_dicom_folder(data: ViewerData, folder: Path) -> None:
    """A subfolder holding one DICOM image series (CT, NM, PT, MR) becomes a volume; others are ignored."""
    from ..imaging.io import read_volume

    try:
        first = next((p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() == ".dcm"), None)
    except OSError:
        return
    if first is None or _dicom_modality(first) not in ("CT", "MR", "PT", "NM"):
        return
    try:
        _add_volume(data, read_volume(folder))
    except (ValueError, OSError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        data.notes.append(f"'{folder.name}/' skipped: {message}")


def _voxels(seg: Segmentation) -> int:
    return int(math.prod(seg.geometry.shape))


def _merged(parts: list[ViewerData]) -> ViewerData:
    merged = ViewerData(source=parts[0].source)
    for part in parts:
        merged.volumes.extend(part.volumes)
        if part.dose is not None:
            if merged.dose is None:
                merged.dose = part.dose
            else:
                merged.notes.append(f"Several dose maps; '{part.dose.name}' from '{part.source}' is not shown")
        merged.segmentations.extend(part.segmentations)
        for name, table in part.tables.items():
            merged.tables[name if name not in merged.tables else f"{name} ({part.source.name})"] = table
        if merged.dvh is None:
            merged.dvh = part.dvh
        merged.summary.extend(part.summary)
        merged.notes.extend(part.notes)
    merged.segmentations.sort(key=_voxels, reverse=True)
    return merged


def gather(path: str | Path, *more: str | Path) -> ViewerData:
    """Read what a result viewer can show from output folders or Slicer scene bundles (``.mrb``).

    Args:
        path: a folder written by ``hccai y90``, ``hccai demo`` or ``hccai sample`` (or any folder of
            volumes, ``.seg.nrrd`` segmentations, CSV tables and ``plan.json``/``results.json``), or a
            ``.mrb`` file.
        more: further folders or bundles shown together with the first, e.g. the ``hccai sample`` folder
            whose CT and segmentation a ``hccai y90`` folder's dose was planned on. The first dose map found
            is shown; tables of the same name are told apart by their folder's name.

    Returns:
        A :class:`ViewerData`; files that could not be read are listed in its ``notes``.

    Raises:
        ViewerInputError: the path does not exist, is a file other than a ``.mrb``, is a damaged scene
            bundle, or holds nothing viewable.
    """
    if more:
        return _merged([gather(one) for one in (path, *more)])
    source = Path(path).expanduser()
    if not source.exists():
        raise ViewerInputError(f"No such output folder or scene bundle: '{source}'")
    data = ViewerData(source=source)
    if source.is_file():
        if source.suffix.lower() != ".mrb":
            raise ViewerInputError(f"'{source}' is neither an output folder nor a Slicer scene bundle (.mrb)")
        _read_bundle(data, source)
    elif source.is_dir():
        try:
            files = sorted(p for p in source.iterdir() if p.is_file())
        except OSError as error:
            raise ViewerInputError(f"Cannot list the folder '{source}': {error.strerror or error}") from error
        for bundle in (p for p in files if p.suffix.lower() == ".mrb"):
            _read_bundle(data, bundle)
        for file in files:
            _read_file(data, file)
        for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
            _read_dicom_folder(data, folder)
    else:
        raise ViewerInputError(f"'{source}' is neither an output folder nor a Slicer scene bundle (.mrb)")
    data.segmentations.sort(key=_voxels, reverse=True)  # stable: the finest grid first, else the first found
    if data.empty:
        raise ViewerInputError(
            f"'{source}' holds nothing to view: no image volume ({', '.join(VOLUME_SUFFIXES)}), segmentation "
            f"(.seg.nrrd), scene bundle (.mrb), table (.csv) or plan.json/results.json"
            + (f" ({'; '.join(data.notes)})" if data.notes else "")
        )
    return data
