"""Timing helper shared by the benchmark scripts (imported as ``from _common import median_time``; the scripts run
as ``python benchmarks/<capability>.py``, which puts this folder on ``sys.path``)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["median_time"]


def median_time(function: Callable[[], object], repeats: int, warm_up: bool = False) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``function`` (``time.perf_counter``).

    Args:
        function: The work to time, called without arguments.
        repeats: Number of timed calls.
        warm_up: Call ``function`` once untimed first (imports, model loading, allocations, kernels).

    Returns:
        The median of the timed calls in seconds.
    """
    if warm_up:
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
