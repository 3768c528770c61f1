"""``mbsim apply`` as a library: validate, compile, attach, load, control, clean up.

Everything is checked before anything is touched: root and bcc, the exported config and
its header (constants in bounds, and the ones the config implies), the snapshot (UTF-8,
strict keys, no more entries than the map holds), the upstream and its MAC, the namespace
and the device - and that no running mbsim (or any filter at mbsim's handle and priority)
already uses the device. A second apply on the same device is refused, naming the first.

Cleanup removes only what this process attached (filters running its own programs, the
clsact qdisc if it added it and nothing else uses it, its neighbour pin, restoring what
was there). While it runs, the controller checks every second that its programs are
still attached; if someone removed them, it says so and stops (exit 1).
"""
from __future__ import annotations

import json
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from mbsim.deploy.export import kernel_constants, load_config, read_header
from mbsim.errors import ConfigError, MbsimError
from mbsim.formats import snapshot_file
from mbsim.kernel import netns, programs, tc
from mbsim.kernel.control import ControlServer
from mbsim.kernel.controller import Controller
from mbsim.kernel.exporter import Exporter, parse_addr
from mbsim.kernel.horn import Horn

MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")


def _resolve_mac(ns: str | None, dev: str, upstream: programs.Upstream, wait_s: float = 1.0) -> str | None:
    """The upstream's MAC from the neighbour table, nudging ARP with one UDP datagram."""
    def lookup() -> str | None:
        e = tc.neighbour(ns, dev, upstream.addr)
        if e and e["lladdr"] and not set(e["state"]) & {"FAILED", "INCOMPLETE"}:
            typed: str | None = e["lladdr"]
            return typed
        return None

    mac = lookup()
    if mac:
        return mac
    s = netns.socket_in(ns)
    try:
        s.sendto(b"", (upstream.addr, 9))  # discard port: only ARP matters
    except OSError:
        pass
    finally:
        s.close()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        mac = lookup()
        if mac:
            return mac
        time.sleep(0.02)
    return None


class Applied:
    """The horn attached at ``dev`` in ``ns`` with a controller; a context manager."""

    def __init__(self, config_dir: str | Path, ns: str | None, dev: str, upstream: str, snapshot: str | Path,
                 allow_host_interface: bool = False, upstream_mac: str | None = None,
                 log: Callable[[dict[str, Any]], None] | None = None, log_decisions: bool = False,
                 capacity_rps: float | None = None, metrics: str | None = None) -> None:
        # root and bcc first, then validate everything before anything is attached
        programs.require_bpf()
        self.config_dir = Path(config_dir)
        self.sf = load_config(config_dir)
        consts = read_header(self.config_dir / "mbb_settings.h")
        expected = kernel_constants(self.sf)
        differ = [k for k, v in expected.items() if consts.get(k) != v]
        if differ:
            raise ConfigError(f"{self.config_dir / 'mbb_settings.h'}: {differ[0]} is {consts.get(differ[0])} but "
                              f"the config implies {expected[differ[0]]}: export the settings again")
        self.entries = snapshot_file.load(snapshot)
        if len(self.entries) > consts["MBB_SNAPSHOT_MAX"]:
            raise ConfigError(f"{snapshot}: {len(self.entries)} entries, but the horn's map holds "
                              f"{consts['MBB_SNAPSHOT_MAX']} (MBB_SNAPSHOT_MAX)")
        self.upstream = programs.Upstream.parse(upstream)
        self.metrics_addr = parse_addr(metrics) if metrics else None
        if upstream_mac is not None and not MAC.fullmatch(upstream_mac):
            raise ConfigError(f"--upstream-mac must look like 02:00:00:00:00:02, got {upstream_mac!r}")
        if capacity_rps is not None and not 0 < capacity_rps < float("inf"):
            raise ConfigError(f"--capacity-rps must be positive and finite, got {capacity_rps}")
        if ns is not None and not netns.exists(ns):
            raise MbsimError(f"network namespace {ns!r} does not exist")
        if netns.is_root_namespace(ns) and not allow_host_interface:
            raise MbsimError(f"{dev} is in the host's root namespace: refusing without --allow-host-interface")
        tc.ifindex(ns, dev)
        tc.detach(only_dead=True)  # what a killed mbsim left behind is not in anyone's way
        tc.check_free(ns, dev)  # a running apply keeps its device: refuse, naming it
        self.ns, self.dev = ns, dev
        self.upstream_mac = upstream_mac
        self.capacity_rps = capacity_rps
        self.log = log or (lambda rec: None)
        self.log_decisions = log_decisions
        self.horn: Horn | None = None
        self.controller: Controller | None = None
        self.filters: list[tc.Attachment] = []
        self.made: list[tc.Attachment] = []
        self.control: ControlServer | None = None
        self.exporter: Exporter | None = None

    def __enter__(self) -> Applied:
        before = tc.snapshot()
        self.horn = Horn(self.config_dir, self.upstream)
        self.horn.load_snapshot(self.entries)
        try:
            self.controller = Controller(self.horn, self.sf.settings, self.log, self.log_decisions,
                                         capacity_rps=self.capacity_rps)
            self.filters = self.horn.attach(self.ns, self.dev)
            self.control = ControlServer(self.ns, self.dev)
            if self.metrics_addr is not None:
                self.exporter = Exporter(self.controller, *self.metrics_addr)
                self.controller.metrics_at = f"{self.exporter.addr}:{self.exporter.port}"
            mac = self.upstream_mac or _resolve_mac(self.ns, self.dev, self.upstream)
            pinned = None
            if mac:
                pinned = tc.pin_neighbour(self.ns, self.dev, self.upstream.addr, mac)
            else:
                self.log({"type": "warning", "message": f"could not resolve {self.upstream.addr}'s MAC on "
                          f"{self.dev}: its neighbour entry is not pinned, so during a partition that drops ARP "
                          f"the horn will stop seeing requests once the entry goes stale (pass --upstream-mac)"})
            self.log({"type": "applied", "netns": self.ns, "dev": self.dev, "upstream": str(self.upstream),
                      "snapshot_entries": len(self.entries), "neighbour": mac,
                      "neighbour_pinned_by_mbsim": pinned is not None,
                      "capacity": self.controller.capacity, "window_ms": self.controller.window_ms,
                      "control": str(self.control.path),
                      "metrics": f"{self.exporter.addr}:{self.exporter.port}" if self.exporter else None})
        except BaseException:
            self._close_servers()
            tc.undo(tc.made_since(before))
            raise
        finally:
            self.made = tc.made_since(before)  # what this apply changed, and nothing else
        return self

    def still_attached(self) -> str | None:
        """None while both programs are attached; otherwise what is missing."""
        for a in self.filters:
            if not tc.attached(a):
                return f"{a.name} is no longer attached at {a.where} {a.direction} (removed by someone else)"
        return None

    def _close_servers(self) -> None:
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None
        if self.control is not None:
            self.control.close()
            self.control = None

    def run(self, duration_s: float | None = None, should_stop: Callable[[], bool] = lambda: False) -> str | None:
        """The controller, serving the control socket, until stopped (see Controller.run)."""
        assert self.controller is not None
        return self.controller.run(duration_s, should_stop, self.still_attached, control=self.control)

    def __exit__(self, *exc: Any) -> None:
        self._close_servers()
        removed = tc.undo(self.made)
        self.log({"type": "detached", "removed": len(removed)})


def human(rec: dict[str, Any]) -> str:
    """One log record as a line for a person: its type, then its fields."""
    from mbsim.tables import fmt

    fields = ", ".join(f"{k.replace('_', ' ')} {fmt(v) if isinstance(v, float) else v}"
                       for k, v in rec.items() if k != "type")
    return f"{rec.get('type', 'event')}: {fields}" if fields else str(rec.get("type", "event"))


def run_apply(args: Any, out: TextIO, as_json: bool = True) -> int:
    """The CLI's apply: stream JSON lines until Ctrl-C, SIGTERM or ``--duration``. A signal
    during the setup stops it as soon as the step at hand (a compile) returns."""
    stop = {"flag": False}

    def on_signal(signum: Any, _frame: Any) -> None:
        stop["flag"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def log(rec: dict[str, Any]) -> None:
        out.write((json.dumps(rec, default=str) if as_json else human(rec)) + "\n")
        out.flush()

    try:
        applied = Applied(args.dir, args.netns, args.dev, args.upstream, args.snapshot, args.allow_host_interface,
                          args.upstream_mac, log, args.log_decisions, args.capacity_rps,
                          getattr(args, "metrics", None))
        if stop["flag"]:
            raise KeyboardInterrupt
        with applied:
            gone = applied.run(args.duration, lambda: stop["flag"])
        if gone:
            log({"type": "error", "message": gone})
            print(f"mbsim apply: error: {gone}", file=sys.stderr)
            return 1
        return 0
    finally:
        for s, h in old.items():
            signal.signal(s, h)
