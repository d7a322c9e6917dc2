"""Options shared by every ``hccai`` command, so that all commands spell them the same way."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["DeviceOption", "OverwriteOption", "QuietOption"]

QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
OverwriteOption = Annotated[bool, typer.Option(
    "--overwrite", help="Replace an existing non-empty output (only once the new one is complete).")]
DeviceOption = Annotated[str, typer.Option(
    help="auto, cpu, cuda, cuda:N or mps; a requested device that is not available is an error.")]
