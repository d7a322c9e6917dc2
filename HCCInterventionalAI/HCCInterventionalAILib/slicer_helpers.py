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
    "cancellable",
    "ensure_python_requirements",
    "enum_labels",
    "layout_manager",
    "module_resource_path",
    "progress_to_widgets",
    "reload_libraries",
    "show_in_layout",
]

EnumT = TypeVar("EnumT", bound=Enum)


def module_resource_path(module_file: str, relative_path: str) -> str:
    """Absolute path of a file in a module's ``Resources`` folder.

    Args:
        module_file: the module file (``__file__`` of ``Y90Dosimetry.py``, ...); its folder holds ``Resources``.
        relative_path: path inside ``Resources``, e.g. ``"requirements.txt"``.
    """
    return os.path.join(os.path.dirname(os.path.abspath(module_file)), "Resources", relative_path)


def ensure_python_requirements(requirements_file: str, requester: str) -> None:
    """Install the packages listed in ``requirements_file`` that are missing, after asking the user.

    Uses ``slicer.packaging.pip_ensure`` (Slicer 5.10+); older Slicer versions ask with a confirmation dialog
    and install with ``slicer.util.pip_install``.

    Args:
        requirements_file: a pip requirements file (one requirement a line, ``#`` comments).
        requester: the module's display name, shown in the question.

    Raises:
        RuntimeError: the user declined the installation.
    """
    import slicer
    from slicer.i18n import tr as _

    try:
        import slicer.packaging as packaging

        pip_ensure = packaging.pip_ensure
    except (ImportError, AttributeError):
        pip_ensure = None
    if pip_ensure is not None:
        pip_ensure(packaging.load_requirements(requirements_file), requester=requester)
        return

    import importlib.metadata
    import re

    with open(requirements_file, encoding="utf-8") as file:
        requirements = [line.split("#", 1)[0].strip() for line in file]
    missing = []
    for requirement in filter(None, requirements):
        distribution = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
    if not missing:
        return
    packages = ", ".join(missing)
    if not slicer.util.confirmOkCancelDisplay(
        _("{requester} needs these Python packages: {packages}. Install them now?").format(
            requester=requester, packages=packages),
        windowTitle=_("Install Python packages"),
    ):
        raise RuntimeError(_("{requester} cannot run without: {packages}").format(requester=requester,
                                                                                 packages=packages))
    slicer.util.pip_install(missing)


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
