"""One small protocol for progress reporting and cancellation of long work.

Libraries accept ``progress: Progress | None``. They call ``progress.update(fraction, message)`` at
natural steps, which also raises :class:`Cancelled` once the user has pressed Cancel. The Slicer widget
maps the callback to a progress bar + Cancel button, the CLI to a terminal progress bar; tests can pass a
list-collecting callback.

Example:
    >>> token = CancelToken()
    >>> seen = []
    >>> p = Progress(lambda f, m: seen.append((round(f, 2), m)), token)
    >>> for i, sub in enumerate(p.split(2)):
    ...     sub.update(1.0, f"part {i}")
    >>> seen
    [(0.5, 'part 0'), (1.0, 'part 1')]
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["Cancelled", "CancelToken", "Progress", "ProgressCallback", "as_progress"]

ProgressCallback = Callable[[float, str], None]
T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside long work when the user has asked to stop. Nothing partial is written."""


class CancelToken:
    """Thread-safe flag set by the GUI/CLI and polled by the work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("Cancelled by the user")


class Progress:
    """Reports a fraction in [start, end] of the overall job and checks for cancellation.

    Args:
        callback: called with (overall fraction 0–1, message); may be None.
        token: cancellation flag shared with the caller; a fresh one is created when omitted.
        start, end: the slice of the overall job this reporter covers (for nested steps).
    """

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        token: CancelToken | None = None,
        start: float = 0.0,
        end: float = 1.0,
    ) -> None:
        self.callback = callback
        self.token = token or CancelToken()
        self.start, self.end = float(start), float(end)

    def update(self, fraction: float, message: str = "") -> None:
        """Report progress within this step (0–1) and raise :class:`Cancelled` if requested."""
        self.token.raise_if_cancelled()
        if self.callback is not None:
            fraction = min(max(float(fraction), 0.0), 1.0)
            self.callback(self.start + (self.end - self.start) * fraction, message)

    def check(self) -> None:
        self.token.raise_if_cancelled()

    def sub(self, start: float, end: float) -> Progress:
        """A reporter for the part [start, end] (fractions of this step)."""
        span = self.end - self.start
        return Progress(self.callback, self.token, self.start + span * start, self.start + span * end)

    def split(self, n: int) -> list[Progress]:
        """``n`` equal consecutive sub-steps."""
        return [self.sub(i / n, (i + 1) / n) for i in range(max(n, 1))]

    def iterate(self, items: Iterable[T], total: int | None = None, message: str = "") -> Iterator[T]:
        """Yield items, reporting after each one."""
        if total is None:
            items = list(items)
            total = len(items)
        for index, item in enumerate(items, start=1):
            self.check()
            yield item
            self.update(index / max(total, 1), message or f"{index}/{total}")


def as_progress(progress: Progress | ProgressCallback | None) -> Progress:
    """Accept a Progress, a bare callback or None, and return a Progress."""
    if isinstance(progress, Progress):
        return progress
    return Progress(progress)
