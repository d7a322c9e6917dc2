"""MRML scenes with Slicer's application and module logics, inside Slicer or headless (``slicer-core``).

Inside Slicer the application already owns a scene (``slicer.mrmlScene``) whose logics are set up.
Headless (the ``slicer-core`` wheel) nothing is: a bare ``vtkMRMLScene`` cannot even create markups
nodes, because the Markups logic registers those classes. :func:`new_scene` builds a scene the way
Slicer's core application does (application logic, Colors, Volumes, Segmentations with their
conversion rules, Markups, Tables, Plots, Transforms, Subject hierarchy, Sequences, Models), and
:func:`ensure_scene` gives any scene (one you made yourself, or ``None`` for ``slicer.mrmlScene``) the
same logics once. Every bridge function calls :func:`ensure_scene`, so they all work on any scene.

``slicer`` is imported inside the functions, never when this module is imported.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = [
    "SceneLogics",
    "application_logic",
    "ensure_scene",
    "import_slicer",
    "inside_slicer",
    "module_logic",
    "new_scene",
    "release_scene",
]

#: Module logics registered on headless scenes, by Slicer module name, with their class names.
MODULE_LOGIC_CLASSES: dict[str, str] = {
    "Volumes": "vtkSlicerVolumesLogic",
    "Segmentations": "vtkSlicerSegmentationsModuleLogic",
    "Markups": "vtkSlicerMarkupsLogic",
    "Tables": "vtkSlicerTablesLogic",
    "Plots": "vtkSlicerPlotsLogic",
    "Transforms": "vtkSlicerTransformLogic",
    "SubjectHierarchy": "vtkSlicerSubjectHierarchyModuleLogic",
    "Sequences": "vtkSlicerSequencesLogic",
    "Models": "vtkSlicerModelsLogic",
}

_SEGMENTATION_CONVERSION_RULES = (
    "vtkBinaryLabelmapToClosedSurfaceConversionRule",
    "vtkClosedSurfaceToBinaryLabelmapConversionRule",
    "vtkClosedSurfaceToFractionalLabelmapConversionRule",
    "vtkFractionalLabelmapToClosedSurfaceConversionRule",
)


@dataclass
class SceneLogics:
    """The application logic and module logics that serve one headless scene."""

    scene: Any
    application_logic: Any
    module_logics: dict[str, Any] = field(default_factory=dict)


_lock = threading.RLock()
_scene_logics: dict[int, SceneLogics] = {}  # keyed by id(scene); the entry holds the scene, so ids stay valid
_conversion_rules_registered = False


def import_slicer() -> ModuleType:
    """Import ``slicer`` (Slicer's own, or the ``slicer-core`` wheel) with a helpful message when missing.

    Raises:
        ImportError: neither running inside 3D Slicer nor ``slicer-core`` installed.
    """
    try:
        import slicer
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The scene bridge needs MRML: run inside 3D Slicer, or install the headless MRML libraries with "
            "`pip install 'slicer-core>=5.10'` (part of the `dev` extra)"
        ) from error
    if not hasattr(slicer, "vtkMRMLScene"):  # pragma: no cover - a foreign package named 'slicer'
        raise ImportError("The installed 'slicer' package has no MRML classes; install 'slicer-core'")
    return slicer


def inside_slicer() -> bool:
    """True when running in the 3D Slicer application (``slicer.app`` exists), False headless."""
    try:
        slicer = import_slicer()
    except ImportError:
        return False
    return getattr(slicer, "app", None) is not None


def _main_scene(slicer: ModuleType) -> Any:
    return getattr(slicer, "mrmlScene", None)


def _register_conversion_rules(slicer: ModuleType) -> None:
    """Register the segmentation representation converters once per process (Slicer does it at start-up)."""
    global _conversion_rules_registered
    if _conversion_rules_registered or inside_slicer():
        return
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    registered = {rule.GetClassName() for rule in factory.GetConverterRules()}
    for class_name in _SEGMENTATION_CONVERSION_RULES:
        rule_class = getattr(slicer, class_name, None)
        if rule_class is not None and class_name not in registered:
            factory.RegisterConverterRule(rule_class())
    _conversion_rules_registered = True


def _set_up_logics(slicer: ModuleType, scene: Any) -> SceneLogics:
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    logics = SceneLogics(scene, app_logic)
    # The application logic's own colour logic provides Slicer's built-in tables (Grey, Labels, Rainbow, Iron,
    # PET-*, ...). Slicer's vtkSlicerColorLogic would also load its colour files, which slicer-core lacks.
    color_logic = app_logic.GetColorLogic()
    color_logic.SetMRMLApplicationLogic(app_logic)
    color_logic.SetMRMLScene(scene)
    if scene.GetFirstNodeByName("Grey") is None:
        color_logic.AddDefaultColorNodes()
    app_logic.SetModuleLogic("Colors", color_logic)
    logics.module_logics["Colors"] = color_logic
    for module_name, class_name in MODULE_LOGIC_CLASSES.items():
        logic_class = getattr(slicer, class_name, None)
        if logic_class is None:  # e.g. a slicer-core build without Plots
            continue
        logic = logic_class()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(module_name, logic)
        logics.module_logics[module_name] = logic
    return logics


def ensure_scene(scene: Any = None) -> Any:
    """Return a scene ready for the bridge, setting up Slicer's logics on it once.

    Args:
        scene: a ``vtkMRMLScene``; ``None`` means ``slicer.mrmlScene`` (the application's scene inside
            Slicer, or the one :func:`new_scene` set headless).

    Returns:
        The scene.

    Raises:
        ValueError: ``scene`` is None and there is no ``slicer.mrmlScene``.
        TypeError: ``scene`` is not a ``vtkMRMLScene``.
    """
    slicer = import_slicer()
    if scene is None:
        scene = _main_scene(slicer)
        if scene is None:
            raise ValueError("No MRML scene given and slicer.mrmlScene is not set; create one with new_scene()")
    if not isinstance(scene, slicer.vtkMRMLScene):
        raise TypeError(f"Expected a vtkMRMLScene, got {type(scene).__name__}")
    if inside_slicer() and scene is _main_scene(slicer):
        return scene  # the application set up its own logics
    with _lock:
        if id(scene) not in _scene_logics:
            _register_conversion_rules(slicer)
            _scene_logics[id(scene)] = _set_up_logics(slicer, scene)
    return scene


def new_scene() -> Any:
    """A scene ready for the bridge.

    Inside Slicer this is the application's ``slicer.mrmlScene``. Headless it is a new
    ``vtkMRMLScene`` with the application logic and the module logics registered (see
    :data:`MODULE_LOGIC_CLASSES`); it also becomes ``slicer.mrmlScene`` when that is not set yet, so
    ``slicer.util`` helpers work on it.

    Returns:
        A ``vtkMRMLScene``.
    """
    slicer = import_slicer()
    if inside_slicer():
        return _main_scene(slicer)
    scene = ensure_scene(slicer.vtkMRMLScene())
    if _main_scene(slicer) is None:
        slicer.mrmlScene = scene
    return scene


def _logics(scene: Any) -> SceneLogics | None:
    return _scene_logics.get(id(ensure_scene(scene)))


def application_logic(scene: Any = None) -> Any:
    """The ``vtkSlicerApplicationLogic`` serving ``scene`` (Slicer's own for the application scene)."""
    logics = _logics(scene)
    if logics is None:  # the application scene inside Slicer
        return import_slicer().app.applicationLogic()
    return logics.application_logic


def module_logic(scene: Any, module_name: str) -> Any:
    """The logic of a Slicer module ("Segmentations", "Markups", ...) for ``scene``.

    Raises:
        KeyError: no logic of that name is registered.
    """
    logic = application_logic(scene).GetModuleLogic(module_name)
    if logic is None:
        raise KeyError(f"No '{module_name}' module logic is registered for this scene")
    return logic


def release_scene(scene: Any) -> None:
    """Forget the logics set up for a headless scene and clear it, so both can be freed.

    Does nothing to the application scene inside Slicer.
    """
    with _lock:
        logics = _scene_logics.pop(id(scene), None)
    if logics is None:
        return
    scene.Clear(True)
    logics.module_logics.clear()  # the logics go with their last reference and stop observing the scene
    slicer = import_slicer()
    if _main_scene(slicer) is scene:
        slicer.mrmlScene = None
