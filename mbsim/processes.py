"""Worker processes that die with their parent.

A study killed with SIGKILL cannot shut its pool down, and the workers of a plain
``ProcessPoolExecutor`` would run on as orphans. Every pool mbsim starts asks the kernel
(``prctl(PR_SET_PDEATHSIG)``) to SIGKILL each worker when the process that started it
exits, however it exits.
"""
from __future__ import annotations

import ctypes
import os
import signal
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (and exit now if the
    parent is already gone)."""
    parent = os.getppid()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    try:  # one BLAS thread per worker: the workers already fill the cores
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    if os.getppid() != parent:
        os._exit(1)


def pool(workers: int) -> ProcessPoolExecutor:
    """A process pool of ``workers`` whose workers die with this process."""
    return ProcessPoolExecutor(workers, initializer=die_with_parent)
