"""``mbsim apply`` as a library: validate, compile, attach, load, control, clean up."""
from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from mbsim.deploy import snapshot_file
from mbsim.deploy.export import load_config
from mbsim.errors import MbsimError
from mbsim.kernel import netns, programs, tc
from mbsim.kernel.controller import Controller
from mbsim.kernel.horn import Horn


def _resolve_mac(ns: str | None, dev: str, upstream: programs.Upstream, wait_s: float = 1.0) -> str | None:
    """The upstream's MAC from the neighbour table, nudging ARP with one UDP datagram."""
    def lookup() -> str | None:
        out = netns.ip("-j", "neigh", "show", upstream.addr, "dev", dev, netns=ns, check=False).stdout
        for e in json.loads(out or "[]"):
            if e.get("lladdr") and not set(e.get("state", [])) & {"FAILED", "INCOMPLETE"}:
                return e["lladdr"]
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
                 log: Callable[[dict], None] | None = None, log_decisions: bool = True) -> None:
        # root and bcc first, then validate everything before anything is attached
        programs.require_bpf()
        self.sf = load_config(config_dir)
        self.entries = snapshot_file.load(snapshot)
        self.upstream = programs.Upstream.parse(upstream)
        if ns is not None and not netns.exists(ns):
            raise MbsimError(f"network namespace {ns!r} does not exist")
        if netns.is_root_namespace(ns) and not allow_host_interface:
            raise MbsimError(f"{dev} is in the host's root namespace: refusing without --allow-host-interface")
        tc.ifindex(ns, dev)
        self.config_dir, self.ns, self.dev = Path(config_dir), ns, dev
        self.upstream_mac = upstream_mac
        self.log = log or (lambda rec: None)
        self.log_decisions = log_decisions
        self.horn: Horn | None = None
        self.controller: Controller | None = None

    def __enter__(self) -> Applied:
        leftovers = tc.detach(only_dead=True)
        if leftovers:
            self.log({"type": "cleanup", "removed": len(leftovers)})
        self.horn = Horn(self.config_dir, self.upstream)
        self.horn.load_snapshot(self.entries)
        try:
            self.controller = Controller(self.horn, self.sf.settings, self.log, self.log_decisions)
            self.horn.attach(self.ns, self.dev)
            mac = self.upstream_mac or _resolve_mac(self.ns, self.dev, self.upstream)
            if mac:
                tc.pin_neighbour(self.ns, self.dev, self.upstream.addr, mac)
            else:
                self.log({"type": "warning", "message": f"could not resolve {self.upstream.addr}'s MAC on "
                          f"{self.dev}: its neighbour entry is not pinned, so during a partition that drops ARP "
                          f"the horn will stop seeing requests once the entry goes stale (pass --upstream-mac)"})
            self.log({"type": "applied", "netns": self.ns, "dev": self.dev, "upstream": str(self.upstream),
                      "snapshot_entries": len(self.entries), "neighbour_pinned": mac,
                      "capacity": self.controller.capacity, "window_ms": self.controller.window_ms})
        except BaseException:
            tc.detach_mine()
            raise
        return self

    def __exit__(self, *exc) -> None:
        removed = tc.detach_mine()
        self.log({"type": "detached", "removed": len(removed)})


def run_apply(args, out: TextIO) -> int:
    """The CLI's apply: stream JSON lines until Ctrl-C, SIGTERM or ``--duration``."""
    stop = {"flag": False}

    def on_term(signum, _frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def log(rec: dict) -> None:
        out.write(json.dumps(rec, default=str) + "\n")
        out.flush()

    with Applied(args.dir, args.netns, args.dev, args.upstream, args.snapshot, args.allow_host_interface,
                 args.upstream_mac, log, not args.quiet) as applied:
        assert applied.controller is not None
        applied.controller.run(args.duration, lambda: stop["flag"])
    return 0


