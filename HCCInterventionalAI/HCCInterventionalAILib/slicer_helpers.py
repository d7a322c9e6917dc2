"""Slicer-side helpers shared by the extension's module files (``HCCInterventionalAI.py``, ``Y90Dosimetry.py``,
``AblationSimulator.py``): Python requirements, library reload, progress bar and Cancel wiring, layout, enum labels.

The module files import this at their top, before their Python requirements are installed, so it imports only
the standard library at import time; ``slicer`` (and through it Qt and VTK) is imported inside the functions.
It lives in the main module's library: the other modules declare ``HCCInterventionalAI`` as a dependency, so
Slicer loads that module, and puts this package on the path, before them.

Example (a module file)::

    from HCCInterventionalAILib.slicer_helpers import enum_labels, ensure_python_requirements, module_resource_path

    @enum_labels(lambda: {"GLASS": _("Glass (TheraSphere)"), "RESIN": _("Resin (SIR-Spheres)")})
    class Microsphere(Enum):
        GLASS = "glass"
        RESIN = "resin"

    ensure_python_requirements(module_resource_path(__file__, "requirements.txt"), requester="Y-90 Dosimetry")
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # pragma: no cover - type hints only
    from .progress import CancelToken

__all__ = [
    "NEVER_PIP_INSTALL",
    "RequirementsDeclinedError",
    "SegmentRolePickers",
    "WorkerPoller",
    "cancellable",
    "ensure_pyradiomics",
    "ensure_python_requirements",
    "ensure_pytorch",
    "enum_labels",
    "layout_manager",
    "module_resource_path",
    "progress_to_widgets",
    "read_requirements",
    "reload_libraries",
    "show_in_layout",
    "show_segmentation_in_3d",
]

EnumT = TypeVar("EnumT", bound=Enum)


def module_resource_path(module_file: str, relative_path: str) -> str:
    """Absolute path of a file in a module's ``Resources`` folder.

    Args:
        module_file: the module file (``__file__`` of ``Y90Dosimetry.py``, ...); its folder holds ``Resources``.
        relative_path: path inside ``Resources``, e.g. ``"requirements.txt"``.
    """
    return os.path.join(os.path.dirname(os.path.abspath(module_file)), "Resources", relative_path)


class RequirementsDeclinedError(RuntimeError):
    """The user declined installing Python packages a module needs (or a required extension is missing)."""


#: Packages pip must never install into Slicer's Python: PyTorch comes from the PyTorch extension
#: (``PyTorchUtils``), which picks the build for the computer's GPU; a dependency that names torch (MONAI)
#: must not pull a generic wheel.
NEVER_PIP_INSTALL = ("torch", "torchvision")

#: pyradiomics builds a C extension against the numpy already in Slicer: no build isolation, and its build
#: requirements installed first (the flags its own installation notes give for an existing numpy).
PYRADIOMICS_BUILD_REQUIREMENTS = ("setuptools", "wheel", "versioneer")
PYRADIOMICS_INSTALL_ARGS = ("--no-build-isolation", "pyradiomics>=3.0.1")


def _distribution_name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0]


def _canonical(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(requirements_file: str) -> list[str]:
    """The requirement lines of a pip requirements file (comments and blank lines dropped).

    Raises:
        ValueError: the file names a package that must come from elsewhere (torch: the PyTorch extension).
    """
    with open(requirements_file, encoding="utf-8") as file:
        requirements = [line.split("#", 1)[0].strip() for line in file]
    requirements = [line for line in requirements if line]
    for requirement in requirements:
        if _canonical(_distribution_name(requirement)) in NEVER_PIP_INSTALL:
            raise ValueError(f"{requirements_file} names '{requirement}': PyTorch must come from the PyTorch "
                             "extension (ensure_pytorch), never from a requirements file")
    return requirements


def _missing(requirements: Iterable[str]) -> list[str]:
    import importlib.metadata

    missing = []
    for requirement in requirements:
        try:
            importlib.metadata.version(_distribution_name(requirement))
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing


def _declined(requester: str, packages: str) -> RequirementsDeclinedError:
    from slicer.i18n import tr as _

    return RequirementsDeclinedError(_(
        "{requester} cannot run without these Python packages: {packages}. They were not installed; run the "
        "step again and accept the installation, or install them from the Python console with "
        "slicer.util.pip_install.").format(requester=requester, packages=packages))


def ensure_python_requirements(requirements_file: str, requester: str) -> None:
    """Install the packages listed in ``requirements_file`` that are missing, after asking the user.

    Uses ``slicer.pydeps.pip_ensure`` (Slicer 5.11+) with ``skip_packages`` = :data:`NEVER_PIP_INSTALL`, so that
    no dependency pulls a pip build of PyTorch; older Slicer versions ask with a confirmation dialog and install
    with ``slicer.util.pip_install``.

    Args:
        requirements_file: a pip requirements file (one requirement a line, ``#`` comments).
        requester: the module's display name, shown in the question.

    Raises:
        RequirementsDeclinedError: the user declined the installation (a message naming the packages).
        ValueError: the file names torch.
    """
    import slicer

    requirements = read_requirements(requirements_file)
    pydeps = getattr(slicer, "pydeps", None)
    if pydeps is None:
        try:
            pydeps = importlib.import_module("slicer.pydeps")
        except ImportError:
            pydeps = None
    if pydeps is not None and hasattr(pydeps, "pip_ensure"):
        import inspect

        from packaging.requirements import Requirement

        options: dict[str, Any] = {"requester": requester}
        if "skip_packages" in inspect.signature(pydeps.pip_ensure).parameters:  # Slicer 5.11 lacks it
            options["skip_packages"] = list(NEVER_PIP_INSTALL)
        try:
            pydeps.pip_ensure([Requirement(r) for r in requirements], **options)
        except RuntimeError as error:  # pip_ensure raises RuntimeError when the user declines
            raise _declined(requester, ", ".join(requirements)) from error
        return

    from slicer.i18n import tr as _

    missing = _missing(requirements)
    if not missing:
        return
    packages = ", ".join(missing)
    if not slicer.util.confirmOkCancelDisplay(
        _("{requester} needs these Python packages: {packages}. Install them now?").format(
            requester=requester, packages=packages),
        windowTitle=_("Install Python packages"),
    ):
        raise _declined(requester, packages)
    slicer.util.pip_install(missing)


def ensure_pytorch(requester: str, version_requirement: str | None = ">=2.6") -> None:
    """Make sure PyTorch is installed, through the PyTorch extension's ``PyTorchUtils`` (never ``pip install
    torch``): it asks the user and picks the build for the computer's GPU (CUDA) or the CPU.

    Args:
        requester: the module's display name, shown in messages.
        version_requirement: e.g. ``">=2.6"`` (pyproject's ``ai`` extra), passed to ``installTorch``.

    Raises:
        RequirementsDeclinedError: the PyTorch extension is missing or the user declined the installation.
    """
    from slicer.i18n import tr as _

    try:
        import PyTorchUtils
    except ModuleNotFoundError as error:
        raise RequirementsDeclinedError(_(
            "{requester} needs the PyTorch extension for this step: install 'PyTorch' from the Extensions "
            "Manager and restart Slicer.").format(requester=requester)) from error
    logic = PyTorchUtils.PyTorchUtilsLogic()
    if logic.torchInstalled():
        return
    torch = logic.installTorch(askConfirmation=True, torchVersionRequirement=version_requirement)
    if torch is None:
        raise _declined(requester, f"torch{version_requirement or ''} (from the PyTorch extension)")


def ensure_pyradiomics(requester: str) -> None:
    """Install pyradiomics into Slicer's Python if missing, after asking: its build requirements first, then
    pyradiomics itself with ``--no-build-isolation`` so that it builds against Slicer's numpy.

    Raises:
        RequirementsDeclinedError: the user declined the installation.
    """
    import slicer
    from slicer.i18n import tr as _

    if not _missing(["pyradiomics"]):
        return
    if not slicer.util.confirmOkCancelDisplay(
        _("{requester} needs the Python package pyradiomics (built on this computer; a few minutes). "
          "Install it now?").format(requester=requester),
        windowTitle=_("Install Python packages"),
    ):
        raise _declined(requester, "pyradiomics")
    slicer.util.pip_install(list(PYRADIOMICS_BUILD_REQUIREMENTS))
    slicer.util.pip_install(list(PYRADIOMICS_INSTALL_ARGS))


def reload_libraries(package_names: Iterable[str]) -> None:
    """Reload the already imported modules of our library packages, deepest submodules first.

    Used by a module's Reload button in developer mode, before Slicer reloads the module file itself.
    A module that cannot be reloaded is logged, not fatal.

    Args:
        package_names: top-level package names, e.g. ``("Y90DosimetryLib", "HCCInterventionalAILib")``.
    """
    packages = set(package_names)
    names = [name for name in sys.modules if name.split(".")[0] in packages]
    for name in sorted(names, key=lambda n: n.count("."), reverse=True):
        module = sys.modules.get(name)
        if module is not None:
            try:
                importlib.reload(module)
            except Exception:
                logging.exception(f"Could not reload {name}")


def progress_to_widgets(progress_bar: Any, status_label: Any) -> Callable[[float, str], None]:
    """A progress callback (fraction 0–1, message) that updates a progress bar (0–100) and a status label and
    keeps the GUI responsive (the Cancel button can be pressed while the work runs)."""

    def callback(fraction: float, message: str) -> None:
        import slicer

        progress_bar.value = int(round(100 * fraction))
        if message:
            status_label.text = message
        slicer.app.processEvents()

    return callback


@contextlib.contextmanager
def cancellable(status_label: Any, set_running: Callable[[CancelToken | None], None]) -> Iterator[CancelToken]:
    """Run long work that the user may cancel with the button that started it.

    ``set_running`` is called with a new ``CancelToken`` before the block (the widget keeps it and turns its
    button into Cancel) and with None after it, whatever happened. The block passes the token to the
    logic; when the user cancels, the block ends quietly and ``status_label`` says so. Other errors propagate
    (to ``slicer.util.tryWithErrorDisplay``).

    Example::

        with cancellable(self.ui.statusLabel, self._setRunning) as cancelToken:
            outputs = self.logic.plan(..., cancelToken=cancelToken)

    Args:
        status_label: label that shows the outcome of a cancelled run.
        set_running: the widget's ``_setRunning(cancelToken or None)``.
    """
    from slicer.i18n import tr as _

    from .progress import Cancelled, CancelToken

    token = CancelToken()
    set_running(token)
    try:
        yield token
    except Cancelled:
        status_label.text = _("Cancelled; nothing was added to the scene.")
    finally:
        set_running(None)


class WorkerPoller:
    """Follow a worker process (a started :class:`~.process_runner.ProcessRunner`) from a ``qt.QTimer`` in the GUI
    thread: its progress and log lines reach the widgets while Slicer stays responsive, and ``on_success`` is
    called once it has ended well.

    ``set_running`` is called with the runner (the widget turns its button into Cancel, which calls
    ``runner.cancel()``) and with None when the worker has ended. ``status_label`` shows the last log line as
    tooltip, the cancellation, or the worker's last error line.

    Args:
        runner: the started worker (its ``progress`` callback is typically :func:`progress_to_widgets`).
        status_label: the module's status label.
        set_running: the widget's ``_setRunning(runner or None)``.
        on_success: called with the runner after a zero exit code (reads the outputs into the scene).
        interval_ms: polling interval.
    """

    def __init__(self, runner: Any, status_label: Any, set_running: Callable[[Any], None],
                 on_success: Callable[[Any], None], interval_ms: int = 100) -> None:
        import qt

        self.runner, self.status_label, self.set_running, self.on_success = runner, status_label, set_running, on_success
        self.lines: list[str] = []
        forward = runner.log
        runner.log = lambda line: (self.lines.append(line), self._show_log(), forward and forward(line))
        set_running(runner)
        self.timer = qt.QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        self.timer.start()

    def _show_log(self) -> None:
        self.status_label.toolTip = "\n".join(self.lines[-20:])

    def stop(self) -> None:
        """Stop polling (the widget is destroyed); the worker is cancelled if it still runs."""
        self.timer.stop()
        if self.runner.process is not None and self.runner.process.poll() is None:
            self.runner.cancel()

    def poll(self) -> int | None:
        """Forward the worker's lines; when it has ended, stop the timer and report. Returns its exit code."""
        from slicer.i18n import tr as _

        code = self.runner.poll()
        if code is None:
            return None
        self.timer.stop()
        self.set_running(None)
        if self.runner.cancelled:
            self.status_label.text = _("Cancelled; nothing was added to the scene.")
        elif code != 0:
            error = next((line for line in reversed(self.lines) if line.strip()), _("no message"))
            self.status_label.text = _("The worker process failed (exit code {code}): {error}").format(
                code=code, error=error.removeprefix("[stderr] "))
        else:
            self.on_success(self.runner)
        return code


def layout_manager() -> Any:
    """Slicer's layout manager, or None without the application (headless MRML) or its main window."""
    import slicer

    app = getattr(slicer, "app", None)
    return app.layoutManager() if app is not None else None


def show_in_layout(table_node: Any = None, chart_node: Any = None) -> None:
    """Switch to a layout with a table view (and a plot view when ``chart_node`` is given) and show them there.

    Does nothing without the application's layout manager (headless).

    Args:
        table_node: a ``vtkMRMLTableNode`` for the table view, or None.
        chart_node: a ``vtkMRMLPlotChartNode`` for the plot view, or None.
    """
    import slicer

    manager = layout_manager()
    if manager is None:
        return
    manager.setLayout(slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpPlotTableView if chart_node is not None
                      else slicer.vtkMRMLLayoutNode.SlicerLayoutFourUpTableView)
    if table_node is not None:
        application_logic = slicer.app.applicationLogic()
        application_logic.GetSelectionNode().SetActiveTableID(table_node.GetID())
        application_logic.PropagateTableSelection()
    if chart_node is not None:
        slicer.modules.plots.logic().ShowChartInLayout(chart_node)


def show_segmentation_in_3d(segmentation_node: Any) -> None:
    """Show a segmentation in the slice views and, as closed surfaces, in the 3D view (its focal point reset when
    the application has a 3D view)."""
    segmentation_node.CreateDefaultDisplayNodes()
    segmentation_node.CreateClosedSurfaceRepresentation()
    display_node = segmentation_node.GetDisplayNode()
    display_node.SetVisibility(True)
    display_node.SetVisibility3D(True)
    manager = layout_manager()
    if manager is not None and manager.threeDViewCount:
        manager.threeDWidget(0).threeDView().resetFocalPoint()


def enum_labels(labels: Callable[[], Mapping[str, str]]) -> Callable[[type[EnumT]], type[EnumT]]:
    """Class decorator: give a parameter-node ``Enum`` the ``label()`` method that Slicer's parameter node
    wrapper calls for the items of a combo box bound to it (without one, the combo box shows member names).

    Args:
        labels: returns ``{member name: display text}``. It is called when a label is needed, so the module
            file's ``_()`` translates the texts at display time, in the module's own translation context.

    Returns:
        The decorator; ``label()`` raises ``KeyError`` for a member without a text.
    """

    def decorate(enum_class: type[EnumT]) -> type[EnumT]:
        def label(self: Enum) -> str:
            return labels()[self.name]

        label.__doc__ = f"Display text of a {enum_class.__name__} member (translated)."
        enum_class.label = label
        return enum_class

    return decorate


class SegmentRolePickers:
    """Combo boxes that pick one segment per role ("" = detect the role from segment names), kept in step with the
    segmentation node (segments added, removed, renamed) and with the parameter-node field of each role.

    Args:
        widget: the module widget (a ``VTKObservationMixin``: its ``addObserver``/``removeObserver`` are used).
        combos: parameter-node field → (combo box, text of the "detect from names" entry).
        parameter_node: returns the module's parameter node (or None).
    """

    EVENTS = ("SegmentAdded", "SegmentRemoved", "SegmentModified")

    def __init__(self, widget: Any, combos: Mapping[str, tuple[Any, str]],
                 parameter_node: Callable[[], Any]) -> None:
        self._widget, self._combos, self._parameter_node = widget, dict(combos), parameter_node
        self._observed = None
        for field, (combo, _text) in self._combos.items():
            combo.connect("currentIndexChanged(int)", lambda index, field=field: self.onSelected(field, index))

    def follow(self, segmentation_node: Any) -> None:
        """Observe ``segmentation_node`` (None: stop) and refill the combo boxes when it changed, else reselect."""
        if segmentation_node is self._observed:
            self.select()
            return
        import slicer

        for node, method in ((self._observed, self._widget.removeObserver), (segmentation_node, self._widget.addObserver)):
            if node is not None:
                for event in self.EVENTS:
                    method(node.GetSegmentation(), getattr(slicer.vtkSegmentation, event), self.refill)
        self._observed = segmentation_node
        self.refill()

    def refill(self, caller: Any = None, event: Any = None) -> None:
        """List the observed segmentation's segments (after the "detect" entry) in every combo box."""
        segments = []
        if self._observed is not None:
            segmentation = self._observed.GetSegmentation()
            for index in range(segmentation.GetNumberOfSegments()):
                segment_id = segmentation.GetNthSegmentID(index)
                segments.append((segment_id, segmentation.GetSegment(segment_id).GetName()))
        for combo, auto_text in self._combos.values():
            was_blocked = combo.blockSignals(True)
            try:
                combo.clear()
                combo.addItem(auto_text, "")
                for segment_id, name in segments:
                    combo.addItem(name, segment_id)
            finally:
                combo.blockSignals(was_blocked)
        self.select()

    def select(self) -> None:
        """Show the segments stored in the parameter node (e.g. after loading a scene)."""
        parameters = self._parameter_node()
        for field, (combo, _text) in self._combos.items():
            selected = getattr(parameters, field) if parameters else ""
            index = max(combo.findData(selected), 0) if selected else 0
            if combo.currentIndex != index:
                was_blocked = combo.blockSignals(True)
                combo.currentIndex = index
                combo.blockSignals(was_blocked)

    def onSelected(self, field: str, index: int) -> None:
        """Store the segment ID chosen for a role ("" = detect from names)."""
        parameters = self._parameter_node()
        if not parameters or index < 0:
            return
        segment_id = self._combos[field][0].itemData(index) or ""
        if getattr(parameters, field) != segment_id:
            setattr(parameters, field, segment_id)
