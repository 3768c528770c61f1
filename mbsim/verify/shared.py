"""Arrays that several testbed processes read and write: numpy views of one anonymous
shared mapping, made before the processes fork (each child inherits the same pages)."""
from __future__ import annotations

import mmap
from collections.abc import Mapping

import numpy as np


class SharedArrays:
    """Named numpy arrays in one ``MAP_SHARED`` anonymous mapping, zero-filled."""

    def __init__(self, spec: Mapping[str, tuple[int, str]]) -> None:
        offsets, total = {}, 0
        for name, (n, dtype) in spec.items():
            size = int(n) * np.dtype(dtype).itemsize
            offsets[name] = (total, int(n), dtype)
            total += (size + 63) // 64 * 64  # cache-line aligned, so writers do not share lines
        self.mem = mmap.mmap(-1, max(total, 64), flags=mmap.MAP_SHARED)
        self.arrays = {name: np.frombuffer(self.mem, dtype=dtype, count=n, offset=off)
                       for name, (off, n, dtype) in offsets.items()}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def copy(self) -> dict[str, np.ndarray]:
        """Private copies of every array (to keep after the mapping is gone)."""
        return {k: v.copy() for k, v in self.arrays.items()}
