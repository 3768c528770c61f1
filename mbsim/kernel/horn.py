"""The loaded horn: its maps, as Python methods (names follow ``bpf/mbb_proto.h``)."""
from __future__ import annotations

import ctypes
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbsim.deploy.export import read_header
from mbsim.errors import MbsimError
from mbsim.formats import wire as P
from mbsim.formats.snapshot_file import Entry, tail_sum
from mbsim.kernel import programs, tc

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
C_PASSED, C_DONE, C_EXPIRED, C_PROBES, C_ACTIVE, C_RATE_EPOCH, C_RATE_COUNT = 0, 1, 2, 3, 4, 5, 6
DECISIONS = {0: "pass", 1: "answer_open", 2: "answer_fallback", 3: "answer_capacity", 4: "probe",
             5: "response", 6: "response_late", 7: "response_stale", 8: "timeout", 9: "answer_rate",
             10: "refuse_rate"}
#: decisions that are new requests (a FALLBACK re-ask is a request seen before)
OFFERED = ("pass", "probe", "answer_open", "answer_capacity", "answer_rate", "refuse_rate")
#: new requests the kernel decided without passing them (the window slots do not count them)
NOT_PASSED = ("answer_open", "answer_capacity", "answer_rate", "refuse_rate")
LOG_DECISIONS = 0x1  # MBB_CFG_LOG_DECISIONS
RATE_REFUSE = 0x2  # MBB_CFG_RATE_REFUSE
STATUSES = {P.ST_OK: "ok", P.ST_ERROR: "error", P.ST_NOT_FOUND: "not_found"}


class Event(ctypes.Structure):
    """``struct mbb_event`` of bpf/mbb_proto.h (32 bytes)."""

    _fields_ = [("ts_ns", ctypes.c_uint64), ("req_id", ctypes.c_uint32), ("client_addr", ctypes.c_uint32),
                ("client_port", ctypes.c_uint16), ("decision", ctypes.c_uint8), ("status", ctypes.c_uint8),
                ("latency_us", ctypes.c_uint32), ("key", ctypes.c_uint32), ("cfg_gen", ctypes.c_uint32)]


assert ctypes.sizeof(Event) == 32


def event(data: Any) -> Event:
    return ctypes.cast(data, ctypes.POINTER(Event)).contents


def client_of(ev: Event) -> str:
    """``ADDR:PORT`` of the client an event is about."""
    return f"{socket.inet_ntoa(struct.pack('=I', ev.client_addr))}:{ev.client_port}"


@dataclass
class SlotTotals:
    """Sums over window slots: requests seen, responses, their latency sums (us), errors."""

    requests: int = 0
    count: int = 0
    sum_us: int = 0
    sumsq_us: int = 0
    errors: int = 0

    def add(self, s: Any) -> None:
        self.requests += s.requests
        self.count += s.count
        self.sum_us += s.sum_us
        self.sumsq_us += s.sumsq_us
        self.errors += s.errors


class Horn:
    """Compile the horn for ``upstream`` with the exported constants in ``config_dir``."""

    def __init__(self, config_dir: str | Path, upstream: programs.Upstream) -> None:
        consts = read_header(Path(config_dir) / "mbb_settings.h")  # checked before anything compiles
        self.upstream = upstream
        self.bpf = programs.compile_horn(config_dir)
        self.egress = programs.sched_cls(self.bpf, "horn_egress")
        self.ingress = programs.sched_cls(self.bpf, "horn_ingress")
        self.config = self.bpf["mbb_config"]
        self.counters = self.bpf["mbb_counters"]
        self.inflight = self.bpf["mbb_inflight"]
        self.snapshot = self.bpf["mbb_snapshot"]
        self.window = self.bpf["mbb_window"]
        self.watermark = self.bpf["mbb_watermark"]
        self.events = self.bpf["mbb_events"]
        self.slot_ns = consts["MBB_SLOT_NS"]
        self.slot_count = consts["MBB_SLOT_COUNT"]
        self.snapshot_max = consts["MBB_SNAPSHOT_MAX"]
        self.decision_counters = self.bpf["mbb_decisions"]
        self.log_decisions = False  # every decision to the ring buffer (MBB_CFG_LOG_DECISIONS)
        self.gen = 0  # settings put in force so far
        self.active = 0  # the config slot in force
        self.rate_per_slot = 0
        self.refuse_over_rate = False
        self.set_config(CLOSED, 0, 0)  # nothing is answered for capacity until the controller sets it

    # -- control maps -----------------------------------------------------------
    def set_config(self, state: int, capacity: int, window_us: int, rate_per_slot: int | None = None,
                   refuse_over_rate: bool | None = None) -> int:
        """Put a setting in force: breaker state, in-flight capacity, window (us) and rate
        limit (requests per window slot, 0 for none; None keeps the one in force), for this
        horn's upstream. It is written whole into the config slot not in force, then the
        active index flips (one 8-byte store), so no packet sees half of it. Returns its
        generation (the events' ``cfg_gen``)."""
        if rate_per_slot is None:
            rate_per_slot = self.rate_per_slot
        if refuse_over_rate is None:
            refuse_over_rate = self.refuse_over_rate
        self.rate_per_slot, self.refuse_over_rate = rate_per_slot, refuse_over_rate
        self.gen += 1
        v = self.config.Leaf()
        v.state, v.capacity, v.window_us = state, capacity, window_us
        v.upstream_addr = self.upstream.addr_be32
        v.upstream_port = socket.htons(self.upstream.port)
        v.flags = (LOG_DECISIONS if self.log_decisions else 0) | (RATE_REFUSE if refuse_over_rate else 0)
        v.rate_per_slot = max(0, min(int(rate_per_slot), 2 ** 32 - 1))
        v.gen = self.gen & 0xFFFFFFFF
        spare = self.active ^ 1
        self.config[ctypes.c_int(spare)] = v
        self.set_counter(C_ACTIVE, spare)
        self.active = spare
        return self.gen

    def get_config(self) -> tuple[int, int, int]:
        """(state, capacity, window_us) of the setting in force."""
        v = self.config[ctypes.c_int(self.counter(C_ACTIVE) & 1)]
        return v.state, v.capacity, v.window_us

    def config_in_force(self) -> Any:
        """The whole config slot in force (``struct mbb_config``)."""
        return self.config[ctypes.c_int(self.counter(C_ACTIVE) & 1)]

    def set_counter(self, idx: int, value: int) -> None:
        self.counters[ctypes.c_int(idx)] = ctypes.c_ulonglong(value & (2 ** 64 - 1))

    def counter(self, idx: int) -> int:
        typed: int = self.counters[ctypes.c_int(idx)].value
        return typed

    def decisions(self) -> dict[str, int]:
        """How many of each decision the kernel made so far (summed over CPUs)."""
        m = self.decision_counters
        return {name: int(sum(m.getvalue(ctypes.c_int(code)))) for code, name in DECISIONS.items()}

    def in_flight(self) -> int:
        """Requests in flight: entries the kernel created minus those deleted (it equals the
        in-flight map's size, :meth:`entries`)."""
        return self.counter(C_PASSED) - self.counter(C_DONE) - self.counter(C_EXPIRED)

    def entries(self) -> int:
        """Entries in the in-flight map."""
        return sum(1 for _ in self.inflight)

    def flow(self, client: str, port: int, req_id: int) -> Any:
        """The in-flight map key of request ``req_id`` from ``client:port``."""
        k = self.inflight.Key()
        k.addr = programs.Upstream(client, port).addr_be32
        k.port = socket.htons(port)
        k.req_id = socket.htonl(req_id)
        return k

    def load_snapshot(self, entries: list[Entry]) -> None:
        if len(entries) > self.snapshot_max:
            raise MbsimError(f"the snapshot has {len(entries)} entries; the horn's map holds "
                             f"{self.snapshot_max} (MBB_SNAPSHOT_MAX)")
        for e in entries:
            leaf = self.snapshot.Leaf()
            leaf.status, leaf.len = e.status, len(e.value)
            leaf.csum = tail_sum(e.status, e.value)
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

    def expire(self, older_than_ns: int) -> list[tuple[str, int, int]]:
        """Delete in-flight entries sent before ``now - older_than_ns``: (client ADDR:PORT,
        request id, age ns) of each one deleted. Only deletes that succeed are counted
        (EXPIRED), so the in-flight count stays the map's size."""
        now = time.monotonic_ns()
        closed = []
        for k, v in list(self.inflight.items()):
            age = now - v.value
            if age > older_than_ns:
                try:
                    del self.inflight[k]
                except KeyError:
                    continue  # the response won the race
                client = f"{socket.inet_ntoa(struct.pack('=I', k.addr))}:{socket.ntohs(k.port)}"
                closed.append((client, socket.ntohl(k.req_id), age))
        if closed:
            self.set_counter(C_EXPIRED, self.counter(C_EXPIRED) + len(closed))
        return closed

    def attach(self, ns: str | None, dev: str, prio: int = tc.PRIO) -> list[tc.Attachment]:
        return [tc.attach(self.egress, ns, dev, "egress", prio), tc.attach(self.ingress, ns, dev, "ingress", prio)]
