"""``hccai view``: results in the browser without Slicer, registered through the ``hccai.commands`` entry point.

See :mod:`HCCInterventionalAILib.cli` for the contract; the command reads the folder or scene bundle first
(a bad input ends in one line and exit code 2 before any server starts), then serves the viewer on localhost
until Ctrl+C, which stops it cleanly with exit code 0.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from ..cli.errors import user_errors

__all__ = ["PortUnavailableError", "free_port", "register", "require_port"]


class PortUnavailableError(ValueError):
    """The viewer cannot listen on the requested host and port (in use, not this machine's address, no rights)."""


def require_port(host: str, port: int) -> int:
    """Check that a server can listen on ``host:port`` now; port 0 picks a free one.

    Returns:
        The port (the operating system's choice for 0).

    Raises:
        PortUnavailableError: the address is in use, not an address of this machine, or needs privileges.
    """
    try:
        with socket.create_server((host, port)) as probe:  # SO_REUSEADDR as aiohttp: only a listener blocks it
            return int(probe.getsockname()[1])
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise PortUnavailableError(f"Cannot serve the viewer on {host}:{port}: {reason}") from error


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free now (the operating system's choice)."""
    return require_port(host, 0)


def register(app: typer.Typer) -> None:
    """Add the ``view`` command to the root ``hccai`` app."""

    @app.command("view")
    def view(
        sources: Annotated[list[Path], typer.Argument(
            help="An output folder (hccai y90, hccai demo, hccai sample) or a Slicer scene bundle (.mrb); more "
                 "are shown together (e.g. a hccai y90 folder and the hccai sample folder it was planned on).",
            show_default=False)],
        port: Annotated[int, typer.Option(help="TCP port; 0 (default) picks a free one.", min=0, max=65535)] = 0,
        host: Annotated[str, typer.Option(
            help="Interface to listen on. The default serves this machine only; another address exposes the "
                 "results to the network.")] = "127.0.0.1",
        no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser.")] = False,
    ) -> None:
        """Look at results in the browser: slices with segment outlines and dose, 3D surfaces, DVH and tables.

        Serves an interactive viewer on http://127.0.0.1:PORT/ until Ctrl+C. Nothing is written.
        """
        import signal

        from .app import require_viewer_packages, serve
        from .data import gather

        with user_errors(cancelled="Viewer stopped."):
            require_viewer_packages()
            data = gather(*sources)
            for note in data.notes:
                typer.secho(f"Note: {note}", fg=typer.colors.YELLOW, err=True)
            chosen = require_port(host, port)
            typer.echo(f"{', '.join(str(source) for source in sources)}: {data.describe()}")
            try:
                signal.signal(signal.SIGTERM, signal.default_int_handler)  # a polite kill stops it like Ctrl+C
                serve(data, host=host, port=chosen, open_browser=not no_browser)
            except KeyboardInterrupt:
                pass
        typer.echo("Viewer stopped.")
