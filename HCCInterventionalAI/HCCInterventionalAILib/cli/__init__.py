"""The ``hccai`` command-line tool (headless use, batch work on cohorts), and the contract for adding commands.

The shared tool (:mod:`.main`) holds ``version``, ``demo``, ``sample``, ``segment`` and ``models``; it never
imports a capability library. Capabilities add their own commands through the ``hccai.commands`` entry-point
group in ``pyproject.toml``::

    [project.entry-points."hccai.commands"]
    y90 = "Y90DosimetryLib.cli:register"

Contract for ``register(app: typer.Typer) -> None`` (in ``<Capability>Lib/cli.py``):

- It adds one or more commands to the root app (``@app.command("name")`` or ``app.add_typer(sub, name=...)``),
  and does nothing else: module import and ``register`` must stay cheap (import numpy/SimpleITK/torch inside the
  command body), because every ``hccai`` call registers every command. A command name already taken is an error.
- Inputs become the capability's request dataclass (one vocabulary with the GUI and the demo); the work runs in
  the capability's library function, which receives the staging folder.
- The command body is wrapped, in this order, in

  1. :func:`user_errors` (output): user errors (``ValueError`` subclasses, missing files, model errors, missing
     optional packages, see :func:`is_user_error`; extend with :func:`register_user_error`) end in one red line
     on stderr and exit code 2, no traceback; Ctrl+C / :class:`~HCCInterventionalAILib.progress.Cancelled` end
     in "cancelled; nothing was written to <output>" and exit code 130;
  2. :func:`~HCCInterventionalAILib.device.check_device` for a ``--device`` option (an unknown or unavailable
     device is an error before any work);
  3. :func:`~HCCInterventionalAILib.outputs.atomic_output` (a folder) or
     :func:`~HCCInterventionalAILib.outputs.atomic_file` (one file) with ``overwrite=`` the ``--overwrite``
     flag: checks the path and takes the lock before any computation, and publishes the outputs only when
     complete;
  4. :func:`terminal_progress` (``enabled=not quiet``): a progress bar whose first Ctrl+C cancels cleanly.

- Use the shared options :data:`QuietOption`, :data:`OverwriteOption`, :data:`DeviceOption`.

Example::

    def register(app: typer.Typer) -> None:
        @app.command("ablation")
        def ablation(output: Path = Path("hccai-ablation"), device: DeviceOption = "auto",
                     overwrite: OverwriteOption = False, quiet: QuietOption = False) -> None:
            '''Simulate ...'''
            from .pipeline import run_ablation_cli

            with user_errors(output):
                check_device(device)
                with atomic_output(output, overwrite=overwrite) as staging, \\
                        terminal_progress("hccai ablation", enabled=not quiet) as progress:
                    run_ablation_cli(..., staging, device=device, progress=progress)
            typer.echo(f"Outputs in {output}")
"""

from __future__ import annotations

from ..device import check_device
from ..outputs import atomic_file, atomic_output
from .errors import fail, is_user_error, one_line, register_user_error, user_errors
from .options import DeviceOption, OverwriteOption, QuietOption
from .terminal import terminal_progress

__all__ = [
    "DeviceOption",
    "OverwriteOption",
    "QuietOption",
    "atomic_file",
    "atomic_output",
    "check_device",
    "fail",
    "is_user_error",
    "one_line",
    "register_user_error",
    "terminal_progress",
    "user_errors",
]
