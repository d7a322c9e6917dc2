"""Stand-ins for the parts of 3D Slicer's Python API that need the Qt application, for headless module tests.

``slicer-core`` gives the REAL MRML library: ``slicer.vtkMRMLScene``, every node class, the module logics
and ``slicer.util``. It does not give what only the Slicer application has, and the module files
(``HCCInterventionalAI.py``, ``Y90Dosimetry.py``, ``AblationSimulator.py``) import some of it at load time:

* ``slicer.i18n`` (``tr``, ``translate``): identity functions here;
* ``slicer.ScriptedLoadableModule``: the four base classes, reduced to what the modules call
  (``ScriptedLoadableModuleTest`` is a ``unittest.TestCase``, as in Slicer; ``getParameterNode`` returns the
  scene's singleton ``vtkMRMLScriptedModuleNode``, as in Slicer);
* ``slicer.parameterNodeWrapper``: the decorator makes typed properties whose values live on that REAL
  scripted module node (parameters and node references), so ModifiedEvents are the node's own;
  ``connectGui`` only checks that every ``SlicerParameterName`` of the GUI names a field (no two-way binding);
* for widget tests only (:func:`install_gui`): fake Qt widgets built from the module's ``.ui`` file (just
  the attributes the modules use: ``text``, ``enabled``, ``value``, signals, combo-box items), and
  ``slicer.app`` / ``slicer.util.loadUI`` / ``childWidgetVariables`` / ``tryWithErrorDisplay`` replacements,
  and a ``qt`` module with only ``QTimer`` (no event loop: tests fire ``timer.timeout.emit()`` themselves).

Nothing here replaces an MRML class or ``slicer.util``'s MRML helpers. Everything is installed through a
``pytest.MonkeyPatch`` and only where missing, so undoing it restores ``sys.modules`` and the ``slicer``
module exactly (other tests check that libraries import no ``slicer`` and use slicer-core's own module).
``slicer`` is imported inside the functions: this file imports without slicer-core.
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import inspect
import logging
import os
import sys
import types
import typing
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

#: The repository root (module folders ``<root>/<Module>/<Module>.py``).
ROOT = Path(__file__).resolve().parents[1]


# -- slicer.i18n -------------------------------------------------------------------------------------------
def _i18n_module() -> types.ModuleType:
    module = types.ModuleType("slicer.i18n")
    module.tr = lambda text: text
    module.translate = lambda context, text: text
    return module


# -- slicer.ScriptedLoadableModule ---------------------------------------------------------------------------
class ScriptedLoadableModule:
    def __init__(self, parent):
        self.parent = parent
        self.moduleName = type(self).__name__


class ScriptedLoadableModuleLogic:
    def __init__(self, parent=None):
        name = type(self).__name__
        self.moduleName = name[: -len("Logic")] if name.endswith("Logic") else name

    def getParameterNode(self):
        """The scene's singleton scripted module node of this module (created on first use), as in Slicer."""
        import slicer

        node = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = slicer.vtkMRMLScriptedModuleNode()
            node.SetSingletonTag(self.moduleName)
            node.SetModuleName(self.moduleName)
            node.SetName(slicer.mrmlScene.GenerateUniqueName(self.moduleName))
            node = slicer.mrmlScene.AddNode(node)
        return node


class ScriptedLoadableModuleWidget:
    """No Qt: ``parent.isEntered`` is True and ``layout`` accepts widgets."""

    def __init__(self, parent=None):
        self.parent = parent if parent is not None else types.SimpleNamespace(isEntered=True)
        self.layout = types.SimpleNamespace(addWidget=lambda widget: None, addStretch=lambda stretch=0: None)
        self.moduleName = type(self).__name__.removesuffix("Widget")

    def setup(self):
        pass

    def resourcePath(self, filename):
        return os.path.join(os.path.dirname(sys.modules[type(self).__module__].__file__), "Resources", filename)

    def onReload(self):
        pass


class ScriptedLoadableModuleTest(unittest.TestCase):
    """As in Slicer: a ``unittest.TestCase``; ``delayDisplay`` logs its message instead of showing it."""

    def delayDisplay(self, message, requestedDelay=None, msec=None):
        logging.info("[self test] %s", message)

    def takeScreenshot(self, name, description, type=-1):
        pass


def _scripted_loadable_module() -> types.ModuleType:
    module = types.ModuleType("slicer.ScriptedLoadableModule")
    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleLogic, ScriptedLoadableModuleWidget,
                ScriptedLoadableModuleTest):
        setattr(module, cls.__name__, cls)
    return module


# -- slicer.parameterNodeWrapper ------------------------------------------------------------------------------
class _ParameterNodeBase:
    """Typed view of a ``vtkMRMLScriptedModuleNode``: fields in ``_fields`` = {name: (type, default)}."""

    _fields: dict[str, tuple[Any, Any]] = {}

    def __init__(self, parameterNode):
        if parameterNode is None:
            raise ValueError("parameterNodeWrapper needs a vtkMRMLScriptedModuleNode")
        self.parameterNode = parameterNode
        self._guis: dict[int, dict] = {}

    # events and identity are the node's
    def AddObserver(self, event, callback, priority=0.0):
        return self.parameterNode.AddObserver(event, callback, priority)

    def RemoveObserver(self, tag):
        self.parameterNode.RemoveObserver(tag)

    def connectGui(self, ui) -> int:
        bound = {widget.param: widget for widget in vars(ui).values() if getattr(widget, "param", None)}
        unknown = sorted(set(bound) - set(self._fields))
        if unknown:
            raise ValueError(f"SlicerParameterName(s) {unknown} name no field of {type(self).__name__}")
        tag = max(self._guis, default=0) + 1
        self._guis[tag] = bound
        return tag

    def disconnectGui(self, tag) -> None:
        self._guis.pop(tag, None)


def _is_node_type(kind) -> bool:
    """A node class, or a ``Union`` of node classes (as Slicer's wrapper allows: the reference takes any of them)."""
    import slicer

    if typing.get_origin(kind) is typing.Union:
        return all(_is_node_type(member) for member in typing.get_args(kind))
    return isinstance(kind, type) and issubclass(kind, slicer.vtkMRMLNode)


def _field_property(name: str, kind, default):
    def getter(self):
        node = self.parameterNode
        if _is_node_type(kind):
            return node.GetNodeReference(name)
        if name not in node.GetParameterNames():
            return default
        text = node.GetParameter(name)
        if kind is bool:
            return text == "true"
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return kind[text]
        return kind(text)

    def setter(self, value):
        node = self.parameterNode
        if _is_node_type(kind):
            node.SetNodeReferenceID(name, value.GetID() if value is not None else None)
        elif kind is bool:
            node.SetParameter(name, "true" if value else "false")
        elif isinstance(value, enum.Enum):
            node.SetParameter(name, value.name)
        else:
            node.SetParameter(name, str(kind(value)))

    return property(getter, setter)


def parameterNodeWrapper(cls):
    """Typed properties for the annotated fields of ``cls``; defaults as Slicer's (0, "", False, first member)."""
    fields = {}
    for name, annotation in cls.__annotations__.items():
        kind = typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation
        if name in cls.__dict__:
            default = cls.__dict__[name]
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            default = next(iter(kind))
        else:
            default = {bool: False, int: 0, float: 0.0, str: "", Path: Path()}.get(kind)
        fields[name] = (kind, default)
    namespace = {"__doc__": cls.__doc__, "__module__": cls.__module__, "_fields": fields}
    namespace.update({name: _field_property(name, kind, default) for name, (kind, default) in fields.items()})
    return type(cls.__name__, (_ParameterNodeBase,), namespace)


def _parameter_node_wrapper_module() -> types.ModuleType:
    module = types.ModuleType("slicer.parameterNodeWrapper")
    module.parameterNodeWrapper = parameterNodeWrapper
    module.WithinRange = lambda minimum, maximum: ("WithinRange", minimum, maximum)
    module.Decimals = lambda decimals: ("Decimals", decimals)
    module.SingleStep = lambda step: ("SingleStep", step)
    return module


# -- installation ----------------------------------------------------------------------------------------------
class Headless:
    """A real MRML scene as ``slicer.mrmlScene`` plus the stand-ins; :meth:`load` loads a module file."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        import slicer

        from HCCInterventionalAILib.scene import ensure_scene

        self.monkeypatch = monkeypatch
        self.slicer = slicer
        stand_ins = {"i18n": _i18n_module(), "ScriptedLoadableModule": _scripted_loadable_module(),
                     "parameterNodeWrapper": _parameter_node_wrapper_module()}
        for name, module in stand_ins.items():
            if f"slicer.{name}" in sys.modules or hasattr(slicer, name):  # the real one (inside Slicer): keep it
                continue
            monkeypatch.setitem(sys.modules, f"slicer.{name}", module)
            monkeypatch.setattr(slicer, name, module, raising=False)
        # A scene with Slicer's logics (not via new_scene(), which would set slicer.mrmlScene behind our back).
        self.scene = ensure_scene(slicer.vtkMRMLScene())
        monkeypatch.setattr(slicer, "mrmlScene", self.scene, raising=False)
        self.modules: dict[str, types.ModuleType] = {}

    def load(self, name: str) -> types.ModuleType:
        """Load ``<root>/<name>/<name>.py`` as module ``name`` (removed from ``sys.modules`` afterwards)."""
        if name not in self.modules:
            folder = next((p.parent for p in ROOT.glob(f"*/{name}.py")), ROOT / name)  # e.g. HCCRadiomics
            spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            self.monkeypatch.setitem(sys.modules, name, module)
            spec.loader.exec_module(module)
            self.modules[name] = module
        return self.modules[name]

    def close(self) -> None:
        from HCCInterventionalAILib.scene import release_scene

        release_scene(self.scene)


def install(monkeypatch: pytest.MonkeyPatch) -> Headless:
    """Install the logic stand-ins and a fresh scene; call ``close()`` before the monkeypatch is undone."""
    return Headless(monkeypatch)


# -- widget stand-ins ---------------------------------------------------------------------------------------
class FakeWidget:
    """A Qt widget reduced to properties and signals; ``param`` is its ``SlicerParameterName``."""

    def __init__(self, name: str, cls: str, text: str = "", param: str | None = None):
        self.name, self.cls, self.param = name, cls, param
        self.text, self.toolTip, self.enabled, self.visible, self.value, self.checked = text, "", True, True, 0, False
        self.connections: dict[str, Any] = {}
        self.children: types.SimpleNamespace | None = None
        self._blocked = False

    def connect(self, signal, slot):
        self.connections[signal] = slot

    def emit(self, signal, *args):
        """Call the slot as PythonQt does: with as many of the signal's arguments as it takes."""
        slot = self.connections[signal]
        try:
            required = [p for p in inspect.signature(slot).parameters.values()
                        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
            args = args[: len(required)]
        except (TypeError, ValueError):
            pass
        return slot(*args)

    def hide(self):
        self.visible = False

    def setVisible(self, visible):
        self.visible = bool(visible)

    def blockSignals(self, block):
        old, self._blocked = self._blocked, bool(block)
        return old

    def setMRMLScene(self, scene):
        pass


class FakeComboBox(FakeWidget):
    """Items (text, data); setting ``currentIndex`` emits ``currentIndexChanged(int)`` unless blocked."""

    def __init__(self, name, cls, text="", param=None):
        super().__init__(name, cls, text, param)
        self.items: list[tuple[str, Any]] = []
        self._index = -1

    @property
    def currentIndex(self):
        return self._index

    @currentIndex.setter
    def currentIndex(self, index):
        changed, self._index = index != self._index, index
        if changed and not self._blocked and "currentIndexChanged(int)" in self.connections:
            self.emit("currentIndexChanged(int)", index)

    def clear(self):
        self.items = []
        self.currentIndex = -1

    def addItem(self, text, data=None):
        self.items.append((text, data))
        if self._index < 0:
            self.currentIndex = 0

    def findData(self, data):
        return next((i for i, (_text, d) in enumerate(self.items) if d == data), -1)

    def itemData(self, index):
        return self.items[index][1]

    def itemText(self, index):
        return self.items[index][0]


class FakeSignal:
    """A PythonQt signal attribute (``timer.timeout.connect(slot)``); :meth:`emit` calls the slots."""

    def __init__(self):
        self.slots: list[Any] = []

    def connect(self, slot):
        self.slots.append(slot)

    def emit(self, *args):
        for slot in list(self.slots):
            slot(*args)


class FakeQTimer:
    """``qt.QTimer`` without an event loop: the test fires ``timeout`` itself (``timer.timeout.emit()``)."""

    def __init__(self, parent=None):
        self.timeout, self.interval, self.active, self.singleShot = FakeSignal(), 0, False, False

    def setInterval(self, msec):
        self.interval = int(msec)

    def start(self, msec=None):
        if msec is not None:
            self.interval = int(msec)
        self.active = True

    def stop(self):
        self.active = False

    def isActive(self):
        return self.active


def widgets_from_ui(path) -> types.SimpleNamespace:
    """One fake widget per ``<widget>`` of a Qt Designer file, by object name (as childWidgetVariables)."""
    ui = types.SimpleNamespace()
    for element in ET.parse(path).getroot().iter("widget"):
        properties = {p.get("name"): p.findtext("string") for p in element.findall("property")}
        cls = element.get("class")
        factory = FakeComboBox if cls in ("QComboBox", "ctkComboBox") else FakeWidget
        setattr(ui, element.get("name"), factory(element.get("name"), cls, properties.get("text") or "",
                                                 properties.get("SlicerParameterName")))
    return ui


def install_gui(headless: Headless) -> types.SimpleNamespace:
    """Add the widget stand-ins (``slicer.app``, ``slicer.util.loadUI`` ...) to an installed :class:`Headless`.

    Returns:
        The fake ``slicer.app``: ``applicationLogic()`` is the scene's real ``vtkSlicerApplicationLogic``;
        ``errorDisplays`` lists the (message, exception) pairs that ``tryWithErrorDisplay`` reported.
    """
    from HCCInterventionalAILib.scene import application_logic

    slicer, monkeypatch = headless.slicer, headless.monkeypatch
    applicationLogic = application_logic(headless.scene)  # before slicer.app exists (see scene.headless)
    errorDisplays: list[tuple[str | None, Exception]] = []

    @contextlib.contextmanager
    def tryWithErrorDisplay(message=None, show=True, waitCursor=False):
        """As Slicer's in testing mode: no dialog, the exception is re-raised."""
        try:
            yield
        except Exception as error:
            errorDisplays.append((message, error))
            raise

    def loadUI(path):
        root = FakeWidget(Path(path).stem, "qMRMLWidget")
        root.children = widgets_from_ui(path)
        return root

    monkeypatch.setattr(slicer.util, "loadUI", loadUI)
    monkeypatch.setattr(slicer.util, "childWidgetVariables", lambda widget: widget.children)
    monkeypatch.setattr(slicer.util, "tryWithErrorDisplay", tryWithErrorDisplay)
    app = types.SimpleNamespace(processEvents=lambda: None, layoutManager=lambda: None,
                                applicationLogic=lambda: applicationLogic, testingEnabled=lambda: True,
                                errorDisplays=errorDisplays)
    monkeypatch.setattr(slicer, "app", app, raising=False)
    if "qt" not in sys.modules:  # inside Slicer the real one stays
        monkeypatch.setitem(sys.modules, "qt", types.SimpleNamespace(QTimer=FakeQTimer))
    return app


def make_widget(module: types.ModuleType):
    """Create and set up ``<Module>Widget`` of a loaded module file; returns (widget, ui)."""
    widget = getattr(module, module.__name__ + "Widget")()
    widget.setup()
    return widget, widget.ui
