"""The real backend's database: a SQLite file the testbed builds, the queries a request runs,
and the faults that act on it.

The table ``items`` has ``rows`` rows (1 million by default, 64 MB): an integer primary key,
a group column (``GROUPS`` groups, indexed, its rows scattered through the table), a real
and a 32-byte text. A request's key chooses its work:

* a **light** request sums ``val`` over a key range of ``LIGHT_ROWS`` rows (the range's
  length and start both come from the key), on this kind of machine 40-600 us;
* a **heavy** request (a tail spike) sums ``val`` over one group's rows, scattered through
  the index (about 1.5 ms);
* inside a scenario's spike window of factor f, a light range is f times longer and a
  heavy request aggregates f groups.

Faults on the real database (rollback-journal mode, so that a writer's lock stops readers):

* backend down, ``hang``: another process (:func:`hold_lock`) holds ``BEGIN EXCLUSIVE``
  for the outage; a worker's connection waits on its busy timeout (:data:`HANG_TIMEOUT_S`)
  and goes on when the lock is released;
* backend down, ``error``: the same lock, and the workers connect with no busy timeout:
  they fail at once with SQLite's own error ("database is locked").
"""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mbsim.errors import ConfigError

ROWS = 1_000_000
GROUPS = 1000
LIGHT_ROWS = (500, 7500)  # a light request's range length: from its key, in [low, high)
HANG_TIMEOUT_S = 600.0  # a hanging worker's busy timeout: longer than any outage
SCHEMA_VERSION = 1


def build(path: str | Path, rows: int = ROWS, seed: int = 0) -> Path:
    """Build the database at ``path`` (written whole: a reader never sees half of it), or
    keep the one there when it was built with the same rows, seed and schema."""
    path = Path(path)
    if rows < 2 * LIGHT_ROWS[1] or rows > 50_000_000:
        raise ConfigError(f"the database needs {2 * LIGHT_ROWS[1]} to 50,000,000 rows, got {rows}")
    stamp = f"{SCHEMA_VERSION}:{rows}:{seed}"
    if path.is_file():
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
                if c.execute("SELECT v FROM meta WHERE k = 'stamp'").fetchone() == (stamp,):
                    return path
        except sqlite3.Error:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    rng = np.random.default_rng([seed, 0xDB])
    grp, val = rng.integers(0, GROUPS, rows), rng.random(rows)
    c = sqlite3.connect(tmp)
    try:
        c.execute("PRAGMA journal_mode = delete")
        c.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, val REAL NOT NULL, "
                  "pad TEXT NOT NULL)")
        pad = "x" * 32
        c.executemany("INSERT INTO items VALUES (?, ?, ?, ?)",
                      ((i + 1, int(g), float(v), pad) for i, (g, v) in enumerate(zip(grp, val))))
        c.execute("CREATE INDEX items_grp ON items (grp)")
        c.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT)")
        c.execute("INSERT INTO meta VALUES ('stamp', ?)", (stamp,))
        c.commit()
    finally:
        c.close()
    os.replace(tmp, path)
    return path


def light_range(key: int, rows: int, factor: float = 1.0) -> tuple[int, int]:
    """The first and last id that a light request with ``key`` sums (a spike window's
    ``factor`` lengthens the range)."""
    h = (key * 2654435761) & 0xFFFFFFFF  # Knuth's multiplicative hash: length and start from the key
    low, high = LIGHT_ROWS
    length = min(rows, round((low + h % (high - low)) * max(factor, 1.0)))
    start = 1 + (h >> 8) % (rows - length + 1)
    return start, start + length - 1


def groups_of(key: int, factor: float = 1.0) -> list[int]:
    """The groups a heavy request with ``key`` aggregates (``factor`` of them in a spike window)."""
    return [(key * 7919 + k * 131) % GROUPS for k in range(max(1, round(factor)))]


@dataclass(frozen=True)
class Database:
    """A built database file and how many rows it has."""

    path: Path
    rows: int = ROWS

    def connect(self, mode: str = "hang") -> sqlite3.Connection:
        """A worker's read-only connection: ``hang`` waits out a lock (its busy timeout is
        :data:`HANG_TIMEOUT_S`), ``error`` fails at once on one."""
        timeout = HANG_TIMEOUT_S if mode == "hang" else 0.0
        c = sqlite3.connect(self.path, timeout=timeout, check_same_thread=False, isolation_level=None)
        c.execute("PRAGMA query_only = 1")
        return c

    def query(self, conn: sqlite3.Connection, key: int, heavy: bool, factor: float = 1.0) -> float:
        """Run the request's query; returns its result (raises ``sqlite3.Error`` as SQLite does)."""
        if heavy:
            total = 0.0
            for g in groups_of(key, factor):
                row = conn.execute("SELECT sum(val) FROM items WHERE grp = ?", (g,)).fetchone()
                total += row[0] or 0.0
            return total
        lo, hi = light_range(key, self.rows, factor)
        row = conn.execute("SELECT sum(val) FROM items WHERE id BETWEEN ? AND ?", (lo, hi)).fetchone()
        return float(row[0] or 0.0)


def hold_lock(path: str | Path, windows_ns: list[tuple[int, int]], held: Any = None) -> None:
    """Hold ``BEGIN EXCLUSIVE`` on the database at ``path`` from each window's start to its
    end (CLOCK_MONOTONIC ns): the backend is down. ``held`` (a shared int64, optional)
    counts the windows whose lock was really taken."""
    c = sqlite3.connect(path, timeout=HANG_TIMEOUT_S, isolation_level=None)
    try:
        for start, end in windows_ns:
            _sleep_until(start)
            c.execute("BEGIN EXCLUSIVE")  # waits for the readers in flight (PENDING stops new ones)
            if held is not None:
                held.value += 1
            _sleep_until(end)
            c.execute("ROLLBACK")
    finally:
        c.close()


def _sleep_until(due_ns: int) -> None:
    while (left := due_ns - time.monotonic_ns()) > 0:
        time.sleep(min(left / 1e9, 0.05))
