"""A fixture that runs a test module's torch work on one CPU thread (imported by the enhancement tests).

On a shared machine whose cores are already busy, torch's default of one thread per core makes its threads wait
for each other: a 40-step Noise2Self fit measured 2.3 s on one thread and 30.6 s on two with a load average of 7 on
2 cores. The results do not depend on the thread count; the previous setting is restored after each test module (module scope, so that module-scoped fixtures run on one
thread too).
"""

from __future__ import annotations

import pytest

__all__ = ["one_torch_thread"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """torch.set_num_threads(1) for the test (nothing when torch is missing)."""
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
