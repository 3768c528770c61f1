"""The testbed's client: an open-loop generator with the client library, a receiver, and
the user-space snapshot sidecar of the plain-breaker arm.

**Open loop.** Request *i* is sent at its planned time ``planned[i]`` (CLOCK_MONOTONIC), the
simulator's own arrival *i* for the same seed, whatever the answers do: the sender sleeps
until 150 us before each due time and spins, on an absolute schedule. Its lateness (actual
send minus planned) is kept per request. Latency is measured from the planned time, so a
stall cannot hide behind the requests it delayed (coordinated omission); the latency from
the actual first send is kept too.

**Client library** (per arm, :mod:`mbsim.verify.arms`): every timer - the attempt's
timeout, the back-off before a retry, the hard deadline, the FALLBACK re-ask repeated every
``reask_ms`` until answered (a re-ask can be lost too) - is an event of the same schedule
as the sends, so a re-ask is as punctual as a send. The breaker arm runs the article's
breaker (:mod:`mbsim.mbb.breaker`) on the answers and timeouts.

**Receiver.** A separate process (it shares the sockets) pinned to the other CPU: a
receiver thread would fight the spinning sender for the GIL. It reads each answer's kernel
receive time (SO_TIMESTAMPNS, CLOCK_REALTIME, converted to monotonic with one offset) and
writes it into shared arrays; live answers also go to a ring that the sender reads for the
breaker and for error answers. It also reads the kernel's transmit timestamp of each send
on the upstream socket (SO_TIMESTAMPING, software, tagged with the socket's send counter;
the sender records which request id each count is): the realized sends the simulator is
given (:func:`mbsim.verify.run.realized_arrivals`).

Request ids carry the request's index and attempt: ``id = index * 4 + attempt``.
"""
from __future__ import annotations

import dataclasses
import math
import resource
import select
import signal
import socket
import struct
import time
from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Any

import numpy as np

from mbsim.formats import wire as P
from mbsim.mbb.breaker import BreakerSettings
from mbsim.outcome import Outcome
from mbsim.verify import proc
from mbsim.verify.arms import Arm
from mbsim.verify.server import ATTEMPTS
from mbsim.verify.shared import SharedArrays
from mbsim.world.client import Client

SO_TIMESTAMPNS = 35  # Python 3.11 has no constant for it
SO_TIMESTAMPING = 37  # the same; also the type of its control message
# transmit timestamps, software, each tagged with the socket's send counter, no packet copy
SOF_TX = (1 << 1) | (1 << 4) | (1 << 7) | (1 << 11)  # TX_SOFTWARE | SOFTWARE | OPT_ID | OPT_TSONLY
SOF_OPT_RX_FILTER = 1 << 17  # report no receive timestamp through SO_TIMESTAMPING (SO_TIMESTAMPNS does)
IP_RECVERR = 11
TX_MAX_NS = 5_000_000  # a transmit timestamp later than this after the send is not that send's
RING = 1 << 20
STATES = 1 << 16
ARRIVE, DEADLINE, REASK, TIMEOUT, RETRY = range(5)
REASKS_MAX = 200  # re-asks of one request before the client gives up on the fallback too


def arrays(n: int) -> SharedArrays:
    """The shared arrays of a run of ``n`` requests (times in CLOCK_MONOTONIC ns, 0 = never)."""
    m = n * ATTEMPTS
    return SharedArrays({
        "planned": (n, "i8"), "keys": (n, "u4"),
        "sent": (m, "i8"),  # each attempt's send
        "live": (m, "i8"), "live_status": (m, "i1"),  # each attempt's live answer
        "fb": (n, "i8"), "fb_status": (n, "i1"),  # the first answer from a snapshot (kernel or sidecar)
        "asked_fb": (n, "i8"),  # the first FALLBACK ask (re-ask or sidecar)
        "gave_up": (n, "i8"),  # the client gave up: a timeout
        "error_at": (n, "i8"),  # the last attempt's error answer, with no fallback
        "tx": (m, "i8"),  # each attempt's kernel transmit timestamp (0: none)
        "tx_rid": (RING, "i8"),  # the request id of the k-th send on the upstream socket (k mod RING)
        "ring": (RING, "i8"), "ring_w": (8, "i8"),  # live answers, for the sender
        "progress": (8, "i8"),  # [requests sent, sender done, its major faults, its involuntary switches]
        "states": (2 * STATES, "i8"), "states_n": (8, "i8"),  # the client breaker's (time, state) changes
    })


@dataclass
class ClientConfig:
    arm: Arm
    client: Client  # the scenario's timeout, retries and back-off
    breaker: BreakerSettings
    deadline_ms: float
    upstream: tuple[str, int]
    sidecar: tuple[str, int] | None
    t0_ns: int
    rt_offset_ns: int  # CLOCK_REALTIME - CLOCK_MONOTONIC
    seed: int
    reask_ms: float = 1.0  # over the veth, where the dropper can lose a re-ask (horn arm)
    sidecar_reask_ms: float = 50.0  # over loopback, lossless: only a full socket buffer loses one
    closed_loop: bool = False  # a deliberately broken generator (tests of the validity gates)
    lag_ns: int = 0  # another one: every send this late
    force_open: bool = False  # calibration: the breaker arm's breaker refuses everything


def client_socket(addr: tuple[str, int], tx_timestamps: bool = False) -> socket.socket:
    """A connected, non-blocking UDP socket with kernel receive timestamps, and, with
    ``tx_timestamps``, a software transmit timestamp of each send on its error queue."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    if tx_timestamps:
        try:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, SOF_TX | SOF_OPT_RX_FILTER)
        except OSError:  # a kernel before 6.11 has no RX filter: the receiver ignores the extra message
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, SOF_TX)
    s.connect(addr)
    s.setblocking(False)
    return s


def drain_tx(sock: socket.socket, a: SharedArrays, off: int) -> None:
    """Read the transmit timestamps waiting on ``sock``'s error queue into ``a["tx"]``: the
    k-th send's (the kernel's counter) is request id ``a["tx_rid"][k]``'s first transmit,
    kept when it lies within :data:`TX_MAX_NS` after the sender's own clock at that send."""
    tx, tx_rid, sent = a["tx"], a["tx_rid"], a["sent"]
    while True:
        try:
            _data, anc, _flags, _addr = sock.recvmsg(64, 512, socket.MSG_ERRQUEUE)
        except (BlockingIOError, InterruptedError):
            return
        ts = key = None
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPING and len(value) >= 16:
                sec, nsec = struct.unpack("qq", value[:16])
                ts = sec * 1_000_000_000 + nsec - off
            elif level == socket.IPPROTO_IP and kind == IP_RECVERR and len(value) >= 16:
                key = struct.unpack("IBBBBII", value[:16])[6]  # ee_data: the send counter
        if ts is None or key is None:
            continue
        rid = int(tx_rid[key % RING])
        if 0 <= rid < len(tx) and tx[rid] == 0 and 0 <= ts - int(sent[rid]) <= TX_MAX_NS:
            tx[rid] = ts


class Sender:
    """The schedule: arrivals and the client library's timers, in one heap."""

    def __init__(self, cfg: ClientConfig, a: SharedArrays, up: socket.socket, side: socket.socket | None) -> None:
        self.cfg, self.a, self.up, self.side = cfg, a, up, side
        self.planned, self.keys, self.sent = a["planned"], a["keys"], a["sent"]
        self.live, self.live_status, self.fb = a["live"], a["live_status"], a["fb"]
        self.ring, self.ring_w = a["ring"], a["ring_w"]
        self.tx_rid = a["tx_rid"]
        self.tx_n = 0  # sends on the upstream socket so far: the kernel's transmit counter
        self.n = len(self.planned)
        self.heap: list[tuple[int, int, int, int, int]] = []
        self.seq = 0
        self.attempt = np.zeros(self.n, dtype=np.int8)  # each request's current attempt
        self.done = np.zeros(self.n, dtype=bool)  # the client has what it will get
        self.breaker = cfg.breaker.build() if cfg.arm.breaker else None
        self.backoff = np.random.default_rng([cfg.seed, 0xB0])
        self.ring_r = 0
        self.timeout_ns = int(cfg.client.timeout_ms * 1e6) if math.isfinite(cfg.client.timeout_ms) else 1 << 62
        self.deadline_ns = int(cfg.deadline_ms * 1e6)
        # a re-ask to the sidecar repeated every millisecond would flood it whenever it is slower
        # than that (under load it shares a CPU with the server): a feedback, not a client
        self.reask_ns = int((cfg.sidecar_reask_ms if cfg.arm.sidecar else cfg.reask_ms) * 1e6)
        self.reasks = np.zeros(self.n, dtype=np.int16)
        self.state = 0

    def note_state(self, now: int) -> None:
        """Record the client breaker's state when it changes (decision accuracy, transitions)."""
        st = int(self.breaker.state(self.secs(now)))  # type: ignore[union-attr]
        if st != self.state:
            self.state = st
            k = int(self.a["states_n"][0])
            if k < STATES:
                self.a["states"][2 * k:2 * k + 2] = (now, st)
                self.a["states_n"][0] = k + 1

    def at(self, due: int, kind: int, i: int, attempt: int = 0) -> None:
        self.seq += 1
        heappush(self.heap, (due, self.seq, kind, i, attempt))

    def secs(self, ns: int) -> float:
        return (ns - self.cfg.t0_ns) / 1e9

    # -- sending --------------------------------------------------------------
    def send(self, i: int, attempt: int, now: int) -> None:
        """Attempt ``attempt`` of request ``i``: the breaker may refuse it (the sidecar answers)."""
        if self.breaker is not None:
            allowed = self.breaker.allow(self.secs(now)) and not self.cfg.force_open
            self.note_state(now)
            if not allowed:
                self.fallback(i, now)
                return
        self.attempt[i] = attempt
        rid = i * ATTEMPTS + attempt
        self.sent[rid] = time.monotonic_ns() if attempt else now
        self.tx_rid[self.tx_n % RING] = rid
        try:
            self.up.send(P.request(rid, int(self.keys[i])))
            self.tx_n += 1
        except OSError:
            pass  # a full socket buffer or a partition: the request is lost, as a packet would be
        if self.cfg.arm.deadline and attempt == 0:
            self.at(int(self.planned[i]) + self.deadline_ns, DEADLINE, i)
        if self.timeout_ns < (1 << 62):
            self.at(now + self.timeout_ns, TIMEOUT, i, attempt)

    def fallback(self, i: int, now: int) -> None:
        """Ask for the snapshot's answer: a FALLBACK re-ask that the kernel answers (horn
        arm), or the sidecar (breaker arm); repeated until answered."""
        a = self.a
        if a["asked_fb"][i] == 0:
            a["asked_fb"][i] = now
        rid = i * ATTEMPTS + int(self.attempt[i])
        sock = self.side if self.cfg.arm.sidecar else self.up
        if sock is not None:
            if sock is self.up:  # counted by the kernel's transmit counter too
                self.tx_rid[self.tx_n % RING] = rid
            try:
                sock.send(P.request(rid, int(self.keys[i]), fallback=True))
                if sock is self.up:
                    self.tx_n += 1
            except OSError:
                pass
        self.done[i] = True
        self.reasks[i] += 1
        if self.reasks[i] < REASKS_MAX:
            self.at(now + self.reask_ns, REASK, i)

    def give_up(self, i: int, now: int) -> None:
        self.a["gave_up"][i] = now
        self.done[i] = True

    def retry_or_end(self, i: int, attempt: int, now: int, after_ns: int = 0) -> None:
        """The attempt failed: retry after the back-off, or fall back, or give up."""
        c = self.cfg.client
        if attempt < c.max_retries:
            wait = round(c.backoff_s(attempt, float(self.backoff.random())) * 1e9)
            self.at(now + after_ns + wait, RETRY, i, attempt + 1)
        elif self.cfg.arm.sidecar:
            self.fallback(i, now)
        else:
            self.give_up(i, now)

    # -- what the receiver saw ------------------------------------------------
    def answers(self) -> None:
        """Live answers since the last look: the breaker hears of them, and an error answer
        is retried, or answered from the snapshot."""
        w = int(self.ring_w[0])
        while self.ring_r < w:
            rid = int(self.ring[self.ring_r % RING])
            self.ring_r += 1
            i, attempt = divmod(rid, ATTEMPTS)
            if self.done[i] or attempt != self.attempt[i]:
                continue  # an answer the client no longer waits for
            rx = int(self.live[rid])
            if self.cfg.arm.deadline and rx > self.planned[i] + self.deadline_ns:
                continue  # after the deadline: the re-ask settles it
            if rx - int(self.sent[rid]) > self.timeout_ns:
                continue  # after the attempt's timeout: the timer settles it
            err = self.live_status[rid] != P.ST_OK
            if self.breaker is not None:
                self.breaker.report(self.secs(rx), Outcome.ERROR if err else Outcome.SUCCESS,
                                    (rx - int(self.sent[rid])) / 1e9)
                self.note_state(rx)
            if not err:
                self.done[i] = True
            elif self.cfg.arm.deadline:
                self.fallback(i, rx)  # the model: an error answer goes to the snapshot at once
            elif self.cfg.arm.sidecar:
                self.fallback(i, rx)
            elif attempt < self.cfg.client.max_retries:
                self.retry_or_end(i, attempt, rx)
            else:
                self.a["error_at"][i] = rx
                self.done[i] = True

    # -- timers ----------------------------------------------------------------
    def fire(self, kind: int, i: int, attempt: int, now: int) -> None:
        if kind == DEADLINE:
            if not self.done[i]:
                if self.breaker is not None:
                    self.breaker.report(self.secs(now), Outcome.TIMEOUT, self.deadline_ns / 1e9)
                self.fallback(i, now)
        elif kind == REASK:
            if self.fb[i] == 0:
                self.done[i] = False  # fallback() sets it again
                self.fallback(i, now)
        elif kind == TIMEOUT:
            rid = i * ATTEMPTS + attempt
            if not self.done[i] and attempt == self.attempt[i] and self.live[rid] == 0:
                if self.breaker is not None:
                    self.breaker.report(self.secs(now), Outcome.TIMEOUT, self.timeout_ns / 1e9)
                    self.note_state(now)
                self.retry_or_end(i, attempt, now)
        elif kind == RETRY and not self.done[i]:
            self.send(i, attempt, now)

    # -- the loop ----------------------------------------------------------------
    def run(self) -> None:
        cfg, planned, prog = self.cfg, self.planned, self.a["progress"]
        i = 0
        lag = cfg.lag_ns
        while i < self.n or self.heap:
            next_send = int(planned[i]) if i < self.n else 1 << 62
            if self.heap and self.heap[0][0] <= next_send:
                due, _, kind, j, attempt = heappop(self.heap)
                now = proc.wait_until(due)
                self.answers()
                self.fire(kind, j, attempt, now)
                continue
            if cfg.closed_loop and i > 0:  # broken on purpose: wait for the previous answer
                while self.live[(i - 1) * ATTEMPTS] == 0 and self.fb[i - 1] == 0 and \
                        time.monotonic_ns() < next_send + 50_000_000:
                    pass
            now = proc.wait_until(next_send + lag)
            self.answers()
            self.send(i, 0, now)
            i += 1
            prog[0] = i
        ru = resource.getrusage(resource.RUSAGE_SELF)
        prog[2], prog[3] = ru.ru_majflt, ru.ru_nivcsw
        prog[1] = 1


def run_sender(cfg: ClientConfig, a: SharedArrays, ns: str, cpu: int | None, up: socket.socket,
               side: socket.socket | None, go: Any, start: Any) -> None:
    """Send on schedule from ``go``; scenario time 0 is in ``start`` by then."""
    proc.settle(ns, cpu, "sender")
    go.wait()
    Sender(dataclasses.replace(cfg, t0_ns=proc.await_start(start)), a, up, side).run()


def run_receiver(cfg: ClientConfig, a: SharedArrays, ns: str, cpu: int | None, socks: list[socket.socket],
                 go: Any) -> None:
    """Record each answer's kernel receive time until SIGTERM."""
    proc.settle(ns, cpu, "receiver")
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_a: stop.update(flag=True))
    live, live_status, fb, fb_status = a["live"], a["live_status"], a["fb"], a["fb_status"]
    ring, ring_w = a["ring"], a["ring_w"]
    off = cfg.rt_offset_ns
    space = socket.CMSG_SPACE(16)
    n = len(fb)
    up = socks[0]  # the upstream socket: its error queue holds the transmit timestamps
    go.wait()
    while not stop["flag"]:
        ready, _, _ = select.select(socks, [], [], 0.05)
        if up in ready:
            drain_tx(up, a, off)
        for s in ready:
            while True:
                try:
                    data, anc, _flags, _addr = s.recvmsg(256, space)
                except BlockingIOError:
                    break
                rx = time.time_ns()
                for level, kind, value in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", value[:16])
                        rx = sec * 1_000_000_000 + nsec
                        break
                msg = P.parse(data)
                if msg is None or not msg.is_response:
                    continue
                i = msg.req_id // ATTEMPTS
                if not 0 <= i < n:
                    continue
                t = rx - off
                if msg.fallback:
                    if fb[i] == 0:
                        fb_status[i] = msg.status
                        fb[i] = t
                elif live[msg.req_id] == 0:
                    live_status[msg.req_id] = msg.status
                    live[msg.req_id] = t
                    w = int(ring_w[0])
                    ring[w % RING] = msg.req_id
                    ring_w[0] = w + 1


def run_sidecar(ns: str, cpu: int | None, addr: tuple[str, int], snapshot: dict[int, bytes], ready: Any) -> None:
    """The plain-breaker arm's fallback: a user-space process that answers FALLBACK asks from
    the snapshot, as the horn does in the kernel."""
    proc.settle(ns, cpu, "sidecar")
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_a: stop.update(flag=True))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(addr)
    ready.set()
    while not stop["flag"]:
        if not select.select([s], [], [], 0.05)[0]:
            continue
        data, peer = s.recvfrom(2048)
        msg = P.parse(data)
        if msg is None or msg.is_response:
            continue
        value = snapshot.get(msg.key)
        status = P.ST_OK if value is not None else P.ST_NOT_FOUND
        s.sendto(P.response(msg.req_id, msg.key, value or b"", status, fallback=True), peer)
