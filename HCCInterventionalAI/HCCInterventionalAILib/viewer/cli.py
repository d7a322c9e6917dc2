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

__all__ = ["free_port", "register"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free now (the operating system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


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
            chosen = port or free_port(host if host not in ("", "0.0.0.0") else "127.0.0.1")
            typer.echo(f"{', '.join(str(source) for source in sources)}: {data.describe()}")
            try:
                signal.signal(signal.SIGTERM, signal.default_int_handler)  # a polite kill stops it like Ctrl+C
                serve(data, host=host, port=chosen, open_browser=not no_browser)
            except KeyboardInterrupt:
                pass
        typer.echo("Viewer stopped.")
