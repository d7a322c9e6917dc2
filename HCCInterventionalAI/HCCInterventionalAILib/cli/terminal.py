"""Maps the library's progress protocol onto a terminal progress bar; Ctrl+C cancels cleanly."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from ..progress import CancelToken, Progress

__all__ = ["terminal_progress"]


@contextlib.contextmanager
def terminal_progress(description: str, enabled: bool = True) -> Iterator[Progress]:
    """A :class:`Progress` drawing a rich progress bar; the first Ctrl+C asks the work to cancel."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    token = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def request_cancel(signum, frame):  # noqa: ARG001 - signal handler signature
        token.cancel()
        signal.signal(signal.SIGINT, previous)  # a second Ctrl+C interrupts hard

    signal.signal(signal.SIGINT, request_cancel)
    try:
        if not enabled:
            yield Progress(None, token)
            return
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                   TimeElapsedColumn(), TextColumn("{task.fields[message]}"))
        with RichProgress(*columns, transient=False) as bar:
            task = bar.add_task(description, total=1.0, message="")
            yield Progress(lambda fraction, message: bar.update(task, completed=fraction, message=message), token)
    finally:
        signal.signal(signal.SIGINT, previous)
