"""Slicer scene bundles (``.mrb``): save a whole scene into one file, load it back into a new scene.

A bundle is a zip of ``<name>/<name>.mrml`` and ``<name>/Data/*`` (volumes as compressed ``.nrrd``,
segmentations as ``.seg.nrrd``, tables as ``.tsv`` + ``.schema.tsv``, markups as ``.mrk.json``), the
format Slicer's File → Save writes and File → Open reads. Both directions use MRML's own routines
(``SaveSceneToSlicerDataBundleDirectory``, ``UnpackSlicerDataBundle`` + ``Connect``) in a temporary
directory that is always removed; the ``.mrb`` appears only when complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from .headless import application_logic, ensure_scene, import_slicer

__all__ = ["load_bundle", "save_bundle"]


def _messages_text(messages: Any) -> str:
    text = messages.GetAllMessagesAsString() if messages is not None else ""
    return f": {text.strip()}" if text and text.strip() else ""


def _add_missing_storage_nodes(scene: Any) -> None:
    """Give every saveable data node a compressed default storage node (MRML would add uncompressed-unknown)."""
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLStorableNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLStorableNode")
        if node.GetHideFromEditors() or not node.GetSaveWithScene() or node.GetStorageNode() is not None:
            continue
        if node.AddDefaultStorageNode() and node.GetStorageNode() is not None:
            node.GetStorageNode().SetUseCompression(1)


def save_bundle(scene: Any, path: str | os.PathLike[str]) -> Path:
    """Write the scene with all its data into a Slicer scene bundle.

    The scene itself is left as it was (MRML restores its storage paths after writing), except that data
    nodes without a storage node get a default one.

    Args:
        scene: the MRML scene (``None``: ``slicer.mrmlScene``).
        path: the ``.mrb`` file to write; its folder is created; an existing file is replaced.

    Returns:
        The absolute path of the written bundle.

    Raises:
        ValueError: the file name does not end in ``.mrb``.
        RuntimeError: MRML could not write the scene or its data (the messages say which node).
    """
    slicer = import_slicer()
    scene = ensure_scene(scene)
    path = Path(path).expanduser().resolve()
    if path.suffix.lower() != ".mrb":
        raise ValueError(f"A Slicer scene bundle must end in .mrb, got '{path.name}'")
    path.parent.mkdir(parents=True, exist_ok=True)
    _add_missing_storage_nodes(scene)
    with tempfile.TemporaryDirectory(prefix="hccai-mrb-") as temporary:
        bundle_dir = Path(temporary) / (path.stem.strip() or "scene")
        bundle_dir.mkdir()
        messages = slicer.vtkMRMLMessageCollection()
        if not scene.SaveSceneToSlicerDataBundleDirectory(str(bundle_dir), None, messages):
            raise RuntimeError(f"Could not save the scene to '{path}'{_messages_text(messages)}")
        archive = Path(temporary) / path.name
        if not application_logic(scene).Zip(str(archive), str(bundle_dir)) or not archive.is_file():
            raise RuntimeError(f"Could not compress the scene bundle '{path}'")
        partial = path.with_name(f".{path.name}.partial")
        try:
            shutil.copyfile(archive, partial)  # may cross file systems; the rename below may not
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return path


def _detach_from_unpack_directory(scene: Any, unpack_dir: Path, scene_dir: Path) -> None:
    """Point storage file names relative to the bundle, as Slicer does, since the unpacked files are deleted."""
    prefix = str(unpack_dir)
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLStorageNode")):
        storage = scene.GetNthNodeByClass(index, "vtkMRMLStorageNode")
        for file_index in range(-1, storage.GetNumberOfFileNames()):
            name = storage.GetFileName() if file_index < 0 else storage.GetNthFileName(file_index)
            if not name or not name.startswith(prefix):
                continue
            relative = os.path.relpath(name, scene_dir)
            if file_index < 0:
                storage.SetFileName(relative)
            else:
                storage.ResetNthFileName(file_index, relative)
    scene.SetStorableNodesModifiedSinceRead()


def load_bundle(path: str | os.PathLike[str], scene: Any = None) -> Any:
    """Load a Slicer scene bundle.

    Args:
        path: the ``.mrb`` file.
        scene: a scene to add the bundle's nodes to; by default a new headless scene (with the bridge's
            logics) that holds only the bundle's content.

    Returns:
        The scene holding the loaded nodes (their data read into memory).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a zip archive, or no ``.mrml`` scene inside.
        RuntimeError: MRML reported errors while reading the scene or its data.
    """
    slicer = import_slicer()
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"No scene bundle at '{path}'")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"'{path}' is not a Slicer scene bundle (not a zip archive)")
    fresh = scene is None
    scene = ensure_scene(slicer.vtkMRMLScene() if fresh else scene)
    original_url, original_root = scene.GetURL(), scene.GetRootDirectory()
    messages = slicer.vtkMRMLMessageCollection()
    with tempfile.TemporaryDirectory(prefix="hccai-mrb-") as temporary:
        unpack_dir = Path(temporary).resolve()
        mrml_file = slicer.vtkMRMLScene.UnpackSlicerDataBundle(str(path), str(unpack_dir), messages)
        if not mrml_file:
            raise ValueError(f"'{path}' holds no .mrml scene{_messages_text(messages)}")
        scene.SetURL(mrml_file)
        loaded = scene.Import(messages)  # Connect would also clear the default colour tables of a new scene
        _detach_from_unpack_directory(scene, unpack_dir, Path(mrml_file).parent)
    if fresh:
        scene.SetURL(str(path.with_suffix(".mrml")))
        scene.SetRootDirectory(str(path.parent))
    else:
        scene.SetURL(original_url or "")
        scene.SetRootDirectory(original_root or "")
    if not loaded or messages.GetNumberOfMessagesOfType(_error_event()) > 0:
        raise RuntimeError(f"Errors while loading the scene bundle '{path}'{_messages_text(messages)}")
    return scene


def _error_event() -> int:
    import vtk

    return vtk.vtkCommand.ErrorEvent
