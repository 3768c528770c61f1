"""``mbsim calibrate``: the testbed's constants, measured, stored with provenance under
``data/calibration/`` and fed to the simulator.

Everything is measured as the verification measures it: by the testbed's own client, from
the planned send time to the answer's kernel receive time, at the target rate, against a
server whose service time is 1 us:

* **base**: the none arm - the client's send, the network, the server's loop and timer,
  the way back (each simulated attempt draws its round trip from these samples,
  ``network.rtt_samples_us``, and ``network.rtt_ms`` takes their mean); the same run
  gives the generator's lateness and the server's lateness at completing a job;
* **kernel**: the ox-horn arm with its breaker held OPEN: every request answered by the
  kernel from the snapshot (the simulator's ``snapshot.latency_samples_us`` for that arm);
* **user**: the plain-breaker arm with its breaker held open: every request answered by the
  user-space sidecar (the same, for that arm).

Then one ping-pong run, with the horn applied (CLOSED) and the sidecar up, alternates the
three round trips from the client namespace, each timed from just before ``send``: the
kernel-to-user ratio comes from that one run.

A calibration belongs to the machine (and the boot) that measured it
(:mod:`mbsim.machine`): :func:`for_this_machine` uses a stored one only there, and
measures this machine first otherwise. The one stored for this machine is
``data/calibration/this-machine.json`` (not committed); ``data/calibration/example-*.json``
are examples, labelled with theirs.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mbsim import exclusive, machine
from mbsim.errors import ConfigError
from mbsim.formats import wire as P
from mbsim.formats.settings_file import SettingsFile
from mbsim.kernel.rig import SERVER_ADDR
from mbsim.provenance import DATA, provenance
from mbsim.verify import proc
from mbsim.verify.arms import ARMS
from mbsim.verify.client import SO_TIMESTAMPNS, client_socket
from mbsim.verify.testbed import PORT, SIDECAR_PORT, Testbed
from mbsim.world.client import Client
from mbsim.world.load_function import LoadFunction
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.workload import Workload

SCHEMA = "mbsim.calibration/1"
DEFAULT_PATH = DATA / "calibration" / "this-machine.json"  # the repository's data/, wherever mbsim runs from
KEEP = 2000  # samples stored per distribution


def _rx_ns(sock: socket.socket, off: int, want_id: int, timeout_s: float) -> int | None:
    """Kernel receive time (monotonic ns) of the answer with id ``want_id``."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            return None
        data, anc, _f, _a = sock.recvmsg(256, socket.CMSG_SPACE(16))
        msg = P.parse(data)
        if msg is None or msg.req_id != want_id:
            continue
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                typed: int | None = sec * 1_000_000_000 + nsec - off
                return typed
        return time.monotonic_ns()
    return None


def _ping_pong(ns: str, n: int, out: Any, cpu: int | None) -> None:
    """In the client namespace: ``n`` rounds of base, kernel and user round trips (us)."""
    proc.settle(ns, cpu, "pingpong")
    off = proc.realtime_offset_ns()
    up = client_socket((SERVER_ADDR, PORT))
    side = client_socket(("127.0.0.1", SIDECAR_PORT))
    res: dict[str, list[float]] = {"base": [], "kernel": [], "user": []}
    for i in range(n):
        for name, sock, fallback in (("base", up, False), ("kernel", up, True), ("user", side, True)):
            rid = (i * 3 + len(res[name])) * 4
            t = time.monotonic_ns()
            sock.send(P.request(rid, 1 + i % 100, fallback))
            rx = _rx_ns(sock, off, rid, 0.5)
            if rx is not None:
                res[name].append((rx - t) / 1e3)
        time.sleep(0.0005)
    out.put(res)


def echo_scenario(rate_rps: float = 5000.0, duration_s: float = 4.0) -> Scenario:
    """The calibration's service: 1 us of service, 16 workers, no faults."""
    return Scenario(name="calibration", description="1 us service, no faults", duration_s=duration_s,
                    warmup_s=min(1.0, duration_s / 4), workload=Workload(rate_rps=rate_rps),
                    service=Service(workers=16, dist="deterministic", mean_ms=0.001, load=LoadFunction(gain=0.0)),
                    client=Client(timeout_ms=100.0, max_retries=0))


def pingpong(tb: Testbed, rounds: int, echo: Scenario | None = None) -> dict[str, np.ndarray]:
    """``rounds`` rounds of the base, kernel-answer and user-space-answer round trips (us),
    alternated from the client namespace with the horn applied (CLOSED) and the sidecar up,
    the machine held exclusively."""
    with exclusive.machine(), tb.background(echo or echo_scenario(), ARMS["horn"], seed=1, sidecar=True):
        q: mp.Queue[Any] = mp.get_context("fork").Queue()
        p = mp.get_context("fork").Process(target=_ping_pong, args=(tb.rig.client_ns, rounds, q, 1), daemon=True)
        p.start()
        rtt = q.get(timeout=60 + rounds * 0.01)
        p.join(5)
    return {k: np.array(v) for k, v in rtt.items()}


def kernel_to_user(pp: dict[str, np.ndarray]) -> float:
    """How many times faster the kernel's answer is than the user-space one (p50s)."""
    return float(np.median(pp["user"]) / np.median(pp["kernel"]))


def _summary(x: np.ndarray) -> dict[str, Any]:
    x = np.asarray(x, dtype=float)
    return {"n": int(x.size), "mean": float(x.mean()) if x.size else None,
            **{f"p{q}": float(np.percentile(x, q)) if x.size else None for q in (50, 90, 99)},
            "samples": thinned(x, KEEP, 3)}


def thinned(x: np.ndarray, keep: int = KEEP, digits: int = 3) -> list[float]:
    """At most ``keep`` of ``x``'s values, evenly through its sorted order, rounded."""
    s = np.sort(np.asarray(x, dtype=float))
    if not s.size:
        return []
    return [round(float(v), digits) for v in s[np.linspace(0, s.size - 1, min(keep, s.size)).round().astype(int)]]


def calibrate(settings: SettingsFile | None = None, rounds: int = 2000, rate_rps: float = 5000.0,
              duration_s: float = 4.0, progress: Any=lambda msg: None) -> dict[str, Any]:
    """Measure the testbed's constants (see the module docstring); returns the document."""
    sf = settings or SettingsFile()
    echo = echo_scenario(rate_rps, duration_s)
    with Testbed(sf.settings) as tb:
        progress("base round trip, generator and server lateness (none arm)")
        base_run = tb.run(echo, ARMS["none"], seed=1)
        progress("kernel answers (ox-horn arm, held OPEN)")
        kernel_run = tb.run(echo, ARMS["horn"], seed=2, force_open=True)
        progress("user-space answers (plain-breaker arm, held open)")
        user_run = tb.run(echo, ARMS["breaker"], seed=3, force_open=True)
        progress("round trips in one run: base, kernel answer, user-space answer")
        pp = pingpong(tb, rounds, echo)
    a = base_run.arrays
    late = (a["sent"][0::4] - a["planned"]) / 1e3
    base = _answered_us(base_run, "live") - 1.0  # the 1 us of service
    kernel = _answered_us(kernel_run, "fb")
    user = _answered_us(user_run, "fb")
    for name, x in (("base", base), ("kernel", kernel), ("user", user)):
        if x.size < len(a["planned"]) // 2:
            raise ConfigError(f"calibration lost too many answers ({name}: {x.size} of {len(a['planned'])})")
    return {
        "schema": SCHEMA,
        "base_rtt_us": _summary(base),
        "kernel_answer_us": _summary(kernel),
        "user_answer_us": _summary(user),
        "pingpong_us": {k: _summary(v) for k, v in pp.items()},
        "kernel_to_user_p50_ratio": kernel_to_user(pp),
        "server_lateness_us": _summary(base_run.server["answer_lateness_ns"] / 1e3),
        "generator_lateness_us": _summary(late),
        "generator_rate_rps": rate_rps,
        "machine": machine.identity(),
        "testbed": testbed_conditions(tb),
        "provenance": provenance(rounds=rounds, rate_rps=rate_rps, duration_s=duration_s,
                                 settings=dataclasses.asdict(sf.settings)),
    }


def testbed_conditions(tb: Testbed) -> dict[str, Any]:
    """What the testbed held while it measured (a calibration is used only under the same)."""
    return {"pm_qos_us": proc.PM_QOS_US if tb.pm_qos else None}


def conditions_differ(doc: dict[str, Any]) -> str | None:
    """Why ``doc`` was measured under other testbed conditions than this testbed holds."""
    had = (doc.get("testbed") or {}).get("pm_qos_us")
    if had != proc.PM_QOS_US:
        return (f"it was measured without the testbed's PM QoS request of {proc.PM_QOS_US} us" if had is None
                else f"it was measured under a PM QoS request of {had} us, the testbed holds {proc.PM_QOS_US}")
    return None


def _answered_us(raw: Any, which: str) -> np.ndarray:
    """Latency (us) from the planned send of every request answered (live or from a snapshot)."""
    a = raw.arrays
    t = a["live"][0::4] if which == "live" else a["fb"]
    ok = t > 0
    typed: np.ndarray = (t[ok] - a["planned"][ok]) / 1e3
    return typed


def save(doc: dict[str, Any], path: str | Path = DEFAULT_PATH) -> Path:
    """Write ``doc`` whole (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def for_this_machine(path: str | Path | None, measure: Callable[[], dict[str, Any]],
                     say: Callable[[str], None] = lambda m: None, default: Path | None = None,
                     loader: Callable[[Path], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The calibration to use here: the one in ``path`` (default ``default``,
    :data:`DEFAULT_PATH`) when it was measured on this machine since its last boot;
    otherwise ``measure()``'s, stored at ``default``, after one line to ``say`` that says
    why. ``loader`` reads and checks a stored one (default :func:`load`)."""
    default = default or DEFAULT_PATH
    where = Path(path) if path is not None else default
    if where.is_file():
        doc = (loader or load)(where)
        why = machine.differs(doc.get("machine")) or conditions_differ(doc)
        if why is None:
            say(f"calibration from {where} (measured on this machine)")
            return doc
        say(f"{where} was measured on another machine or boot, or under other conditions ({why}): calibrating "
            "this one first")
    elif path is not None:
        raise ConfigError(f"{where}: no such calibration file")
    else:
        say(f"no calibration for this machine yet: measuring it first (stored in {default})")
    doc = measure()
    save(doc, default)
    return doc


def read(path: str | Path, schema: str, what: str, command: str) -> dict[str, Any]:
    """The JSON document at ``path`` whose schema is ``schema``, or a one-line error that
    names ``what`` it should be and the ``command`` that makes one."""
    from mbsim.params import loads_strict, read_text

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no {what} (run {command})")
    doc = loads_strict(read_text(path), str(path))
    if not isinstance(doc, dict) or doc.get("schema") != schema:
        raise ConfigError(f"{path}: not a {what} (schema {schema})")
    return doc


def load(path: str | Path = DEFAULT_PATH) -> dict[str, Any]:
    doc = read(path, SCHEMA, "calibration", "mbsim calibrate")
    if not isinstance((doc.get("base_rtt_us") or {}).get("mean"), (int, float)):
        raise ConfigError(f"{path}: base_rtt_us has no mean")
    for key in ("base_rtt_us", "kernel_answer_us", "user_answer_us"):
        samples = (doc.get(key) or {}).get("samples")
        if not isinstance(samples, list) or not samples or not all(isinstance(v, (int, float)) and v >= 0
                                                                    for v in samples):
            raise ConfigError(f"{path}: {key} has no usable samples")
    return doc


def apply(sc: Scenario, cal: dict[str, Any], arm: str) -> Scenario:
    """``sc`` with the measured constants: each attempt's round trip drawn from the measured
    base round trips (their mean is ``rtt_ms``, for what needs one figure) unless ``sc``
    brings its own (a fitted backend's, :func:`backend_fit.on_backend`), and the measured
    answer latencies of the arm's fallback (the kernel's or the sidecar's)."""
    if sc.network.rtt_samples_us:  # the scenario brings its own (a fitted backend's)
        rtt_ms, rtts = sc.network.rtt_ms, sc.network.rtt_samples_us
    else:
        rtt_ms = cal["base_rtt_us"]["mean"] / 1e3
        rtts = tuple(float(v) for v in cal["base_rtt_us"].get("samples") or ())
    samples = cal["kernel_answer_us"]["samples"] if arm == "horn" else cal["user_answer_us"]["samples"]
    return dataclasses.replace(
        sc, network=dataclasses.replace(sc.network, rtt_ms=rtt_ms, rtt_samples_us=rtts),
        snapshot=dataclasses.replace(sc.snapshot, latency_samples_us=tuple(float(v) for v in samples)))
