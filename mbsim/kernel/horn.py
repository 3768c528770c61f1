"""The loaded horn: its maps, as Python methods (names follow ``bpf/mbb_proto.h``)."""
from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path

from mbsim.deploy.snapshot_file import Entry
from mbsim.kernel import programs, tc
from mbsim.kernel import wire as P

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
C_PASSED, C_DONE, C_EXPIRED, C_PROBES = 0, 1, 2, 3
DECISIONS = {0: "pass", 1: "answer_open", 2: "answer_fallback", 3: "answer_capacity", 4: "probe",
             5: "response", 6: "response_late", 7: "response_stale", 8: "timeout"}
STATUSES = {P.ST_OK: "ok", P.ST_ERROR: "error", P.ST_NOT_FOUND: "not_found"}


class Event(ctypes.Structure):
    """``struct mbb_event`` of bpf/mbb_proto.h (32 bytes)."""

    _fields_ = [("ts_ns", ctypes.c_uint64), ("req_id", ctypes.c_uint32), ("upstream_addr", ctypes.c_uint32),
                ("upstream_port", ctypes.c_uint16), ("decision", ctypes.c_uint8), ("status", ctypes.c_uint8),
                ("latency_us", ctypes.c_uint32), ("key", ctypes.c_uint32), ("pad", ctypes.c_uint32)]


assert ctypes.sizeof(Event) == 32


def event(data) -> Event:
    return ctypes.cast(data, ctypes.POINTER(Event)).contents


@dataclass
class SlotTotals:
    """Sums over window slots: requests seen, responses, their latency sums (us), errors."""

    requests: int = 0
    count: int = 0
    sum_us: int = 0
    sumsq_us: int = 0
    errors: int = 0

    def add(self, s) -> None:
        self.requests += s.requests
        self.count += s.count
        self.sum_us += s.sum_us
        self.sumsq_us += s.sumsq_us
        self.errors += s.errors


class Horn:
    """Compile the horn for ``upstream`` with the exported constants in ``config_dir``."""

    def __init__(self, config_dir: str | Path, upstream: programs.Upstream) -> None:
        self.upstream = upstream
        self.bpf = programs.compile_horn(config_dir, upstream)
        self.egress = programs.sched_cls(self.bpf, "horn_egress")
        self.ingress = programs.sched_cls(self.bpf, "horn_ingress")
        self.config = self.bpf["config"]
        self.counters = self.bpf["counters"]
        self.inflight = self.bpf["inflight"]
        self.snapshot = self.bpf["snapshot"]
        self.window = self.bpf["window"]
        self.watermark = self.bpf["watermark"]
        self.slot_ns = int(self._const("MBB_SLOT_NS", config_dir))
        self.slot_count = int(self._const("MBB_SLOT_COUNT", config_dir))

    @staticmethod
    def _const(name: str, config_dir: str | Path) -> str:
        for line in (Path(config_dir) / "mbb_settings.h").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "#define" and parts[1] == name:
                return parts[2].removesuffix("ULL")
        raise KeyError(name)

    # -- control maps -----------------------------------------------------------
    def set_config(self, state: int, capacity: int, window_us: int) -> None:
        v = self.config.Leaf()
        v.state, v.capacity, v.window_us = state, capacity, window_us
        self.config[ctypes.c_int(0)] = v

    def get_config(self) -> tuple[int, int, int]:
        v = self.config[ctypes.c_int(0)]
        return v.state, v.capacity, v.window_us

    def set_counter(self, idx: int, value: int) -> None:
        self.counters[ctypes.c_int(idx)] = ctypes.c_ulonglong(value & (2 ** 64 - 1))

    def counter(self, idx: int) -> int:
        return self.counters[ctypes.c_int(idx)].value

    def in_flight(self) -> int:
        return self.counter(C_PASSED) - self.counter(C_DONE) - self.counter(C_EXPIRED)

    def load_snapshot(self, entries: list[Entry]) -> None:
        for e in entries:
            leaf = self.snapshot.Leaf()
            leaf.status, leaf.len = e.status, len(e.value)
            ctypes.memmove(ctypes.addressof(leaf.value), e.value, len(e.value))
            self.snapshot[self.snapshot.Key(e.key)] = leaf

    # -- measurements -----------------------------------------------------------
    def read_slots(self, after_epoch: int, until_epoch: int) -> tuple[SlotTotals, int]:
        """Sum the slots with after_epoch < epoch <= until_epoch over every CPU.
        Returns the totals and the newest epoch included."""
        tot = SlotTotals()
        newest = after_epoch
        for idx in range(self.slot_count):
            for s in self.window.getvalue(ctypes.c_int(idx)):
                if after_epoch < s.epoch <= until_epoch:
                    tot.add(s)
                    newest = max(newest, s.epoch)
        return tot, newest

    def take_watermarks(self) -> list[int]:
        """Per-CPU in-flight high-water marks since the last call (and reset them)."""
        vals = [int(v) for v in self.watermark.getvalue(ctypes.c_int(0))]
        self.watermark[ctypes.c_int(0)] = self.watermark.Leaf()  # Leaf is one u64 per CPU, zeroed
        return vals

    def expire(self, older_than_ns: int) -> list[tuple[int, int]]:
        """Close in-flight entries sent before ``now - older_than_ns``; (id, age ns) of each closed."""
        now = time.monotonic_ns()
        closed = []
        for k, v in list(self.inflight.items()):
            age = now - v.value
            if age > older_than_ns:
                try:
                    del self.inflight[k]
                except KeyError:
                    continue  # the response won the race
                closed.append((k.value, age))
        if closed:
            self.set_counter(C_EXPIRED, self.counter(C_EXPIRED) + len(closed))
        return closed

    def attach(self, ns: str | None, dev: str, prio: int = 49) -> list[tc.Attachment]:
        return [tc.attach(self.egress, ns, dev, "egress", prio), tc.attach(self.ingress, ns, dev, "ingress", prio)]
