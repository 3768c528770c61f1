"""The running controller's control socket: read its state, hot-load settings.

``mbsim apply`` listens on a Unix stream socket named after its device,
``/run/mbsim/control/<netns>-<dev>.sock`` (``MBSIM_STATE``'s directory). A request is one
JSON object on one line; the answer is one line too:

* ``{"op": "get"}``: the settings in force and the controller's live state;
* ``{"op": "set", "settings": {...}, "reason": "proposal"}``: put these settings in force
  (:meth:`Controller.hot_load`); the answer gives their generation and how long the update
  took: from the request's arrival (parsing and checking the settings included) to the
  flip (``update_us``), and the hot load alone (``load_us``).

The online tuner (``mbsim tune --online --netns NS --dev IF``) finds the socket by the same
name. The controller serves it between its polls, waiting on it instead of sleeping.
"""
from __future__ import annotations

import json
import math
import os
import select
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbsim.errors import MbsimError
from mbsim.kernel import tc
from mbsim.mbb.settings import MbbSettings
from mbsim.params import from_dict, to_dict

if TYPE_CHECKING:  # pragma: no cover
    from mbsim.kernel.controller import Controller


def path_for(ns: str | None, dev: str) -> Path:
    """The control socket of the apply running at ``dev`` in ``ns``."""
    return tc.STATE.parent / "control" / f"{ns or 'root'}-{dev}.sock"


def state_of(c: Controller) -> dict[str, Any]:
    """What ``get`` answers: the settings in force and the live state."""
    return {"settings": to_dict(c.s), "gen": c.horn.gen, "window_ms": c.window_ms, "capacity": c.capacity,
            "state": c._name(c.state), "limit_rps": None if math.isinf(c.limit_rps) else c.limit_rps,
            "watermark_p95": c.watermark_p95, "terrain": c.terrain.terrain, "in_flight": c.horn.in_flight(),
            "changes": dict(c.changes), "metrics": c.metrics_at}


class ControlServer:
    """The listening socket; :meth:`serve` answers what arrived, waiting up to ``wait_s``."""

    def __init__(self, ns: str | None, dev: str) -> None:
        self.path = path_for(ns, dev)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()  # the apply on this device was checked free: a dead one left it
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.sock.listen(8)
        self.sock.setblocking(False)

    def serve(self, controller: Controller, wait_s: float) -> int:
        """Answer every request waiting (after up to ``wait_s`` for the first); returns how many."""
        ready, _, _ = select.select([self.sock], [], [], wait_s)
        n = 0
        while ready:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                break
            with conn:
                conn.settimeout(1.0)
                try:
                    line = _read_line(conn)
                    reply = self.answer(controller, line)
                except (OSError, ValueError) as exc:
                    reply = {"ok": False, "error": f"bad request: {exc}"}
                try:
                    conn.sendall((json.dumps(reply) + "\n").encode())
                except OSError:
                    pass
            n += 1
        return n

    @staticmethod
    def answer(controller: Controller, line: bytes) -> dict[str, Any]:
        t0 = time.perf_counter_ns()
        msg = json.loads(line)
        if not isinstance(msg, dict) or msg.get("op") not in ("get", "set"):
            return {"ok": False, "error": "op must be 'get' or 'set'"}
        if msg["op"] == "get":
            return {"ok": True, **state_of(controller)}
        try:
            settings = from_dict(MbbSettings, msg.get("settings") or {}, "settings")
            rec = controller.hot_load(settings, str(msg.get("reason", "operator")))
        except MbsimError as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "gen": rec["gen"], "update_us": (time.perf_counter_ns() - t0) / 1e3 - rec["rebuilt_us"]
                + rec["update_us"], "load_us": rec["update_us"], "rebuilt_us": rec["rebuilt_us"]}

    def close(self) -> None:
        self.sock.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _read_line(conn: socket.socket, limit: int = 1 << 20) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            raise ValueError("request longer than 1 MiB")
    return buf


def request(ns: str | None, dev: str, msg: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request to the apply running at ``dev`` in ``ns``; its answer."""
    p = path_for(ns, dev)
    if not p.exists():
        raise MbsimError(f"no mbsim apply is running at {dev} in {ns or 'the root namespace'} ({p} is missing)")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(p))
        s.sendall((json.dumps(msg) + "\n").encode())
        line = _read_line(s)
    except OSError as exc:
        raise MbsimError(f"the apply at {dev} did not answer on {p}: {exc}") from None
    finally:
        s.close()
    reply: dict[str, Any] = json.loads(line) if line else {"ok": False, "error": "no answer"}
    return reply
