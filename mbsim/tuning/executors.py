"""Where evaluations run: a local process pool (the default) or a Dask cluster.

Both take a batch of calls and yield results as each finishes, so that the study can
save every evaluation the moment it exists.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import as_completed
from typing import Any

from mbsim import processes
from mbsim.errors import MbsimError


class LocalExecutor:
    """``workers`` processes on this machine (1: run inline, in this process); they die
    with this process (:mod:`mbsim.processes`)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.pool = processes.pool(self.workers) if self.workers > 1 else None

    def run(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> Iterator[Any]:
        if self.pool is None:
            for args in calls:
                yield fn(*args)
            return
        futures = [self.pool.submit(fn, *args) for args in calls]
        for f in as_completed(futures):
            yield f.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


class DaskExecutor:
    """The workers of a Dask distributed scheduler at ``address`` (``tcp://host:8786``)."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise MbsimError("Dask distributed is not installed (pip install 'dask[distributed]')") from None
        try:
            self.client = Client(address, timeout="10s")  # type: ignore[no-untyped-call]  # dask is untyped
        except (OSError, TimeoutError) as exc:
            raise MbsimError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        self.workers = max(1, sum(w.get("nthreads", 1) for w in self.client.scheduler_info()["workers"].values()))

    def run(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> Iterator[Any]:
        from distributed import as_completed as dask_completed
        futures = [self.client.submit(fn, *args, pure=False) for args in calls]
        for f in dask_completed(futures):  # type: ignore[no-untyped-call]  # dask is untyped
            yield f.result()

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]  # dask is untyped
