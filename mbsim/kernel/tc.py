"""Attach and detach TC programs with pyroute2, and remember exactly what was done.

Every change is written to a state file *before* it is made, so that ``mbsim detach`` (or
the next ``apply``) can undo it even after the process was SIGKILLed. What is recorded is
what this process owns, and cleanup removes only that:

* a filter: mbsim's handle 0x4d42 ("MB") at a priority, *and* the id of the program it
  runs - a filter at the same handle and priority that runs another program (someone
  else's) is left alone;
* the clsact qdisc, only when mbsim added it; it is removed once no filter is left on it;
* a pinned neighbour entry, with the entry that was there before: an administrator's
  permanent entry is left as it was, and a replaced entry is restored.

Before attaching, :func:`check_free` refuses a device that a live mbsim process, or any
filter at mbsim's handle and priority, already uses, and names it.
"""
from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from mbsim.errors import MbsimError
from mbsim.kernel import netns

HANDLE = 0x4D42
PRIO = 49
PARENTS = {"ingress": "ffff:fff2", "egress": "ffff:fff3"}
STATE = Path(os.environ.get("MBSIM_STATE", "/run/mbsim/attached.json"))
T = TypeVar("T")


@dataclass(frozen=True)
class Attachment:
    netns: str | None
    dev: str
    direction: str  # ingress | egress | qdisc | neigh | netns (a namespace mbsim created)
    prio: int
    name: str  # program name (or "clsact", "neigh")
    pid: int  # the process that made the change
    prog_id: int | None = None  # the program a filter runs
    neigh: str | None = None  # an address whose neighbour entry mbsim pinned on dev
    neigh_prev: dict[str, Any] | None = None  # that entry before mbsim touched it (None: there was none)
    started: float = 0.0  # unix time of the change

    @property
    def where(self) -> str:
        return f"{self.netns}/{self.dev}" if self.netns else self.dev


def _read_state() -> list[Attachment]:
    if not STATE.exists():
        return []
    try:
        return [Attachment(**a) for a in json.loads(STATE.read_text())]
    except (ValueError, TypeError) as exc:
        raise MbsimError(f"{STATE}: unreadable state file ({exc}); remove it after checking `tc filter show`") \
            from None


def _write_state(items: list[Attachment]) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(a) for a in items], indent=1))
    tmp.replace(STATE)


def _record(a: Attachment) -> Attachment:
    _write_state([*_read_state(), a])
    return a


def _forget(a: Attachment) -> None:
    _write_state([x for x in _read_state() if x != a])


def _netlink(ns: str | None, op: Callable[[Any], T]) -> T:
    """``op(ipr)`` with a pyroute2 socket in namespace ``ns`` (None: ours). pyroute2 runs its
    own asyncio loop, which cannot start inside a running one (a Jupyter kernel's): there it
    runs in a thread of its own."""
    from pyroute2 import IPRoute, NetNS

    def call() -> T:
        with (NetNS(ns) if ns else IPRoute()) as ipr:
            return op(ipr)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def ifindex(ns: str | None, dev: str) -> int:
    found = _netlink(ns, lambda ipr: ipr.link_lookup(ifname=dev))
    if not found:
        where = f"namespace {ns!r}" if ns else "the root namespace"
        raise MbsimError(f"no interface {dev!r} in {where}")
    typed: int = found[0]
    return typed


def _tc_json(ns: str | None, *args: str) -> list[dict[str, Any]]:
    """``tc -j ARGS`` in ``ns`` (read-only queries: ``-n`` is safe for them)."""
    cmd = ["tc", *(["-n", ns] if ns else []), "-j", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return []
    try:
        out = json.loads(r.stdout or "[]")
    except ValueError:
        return []
    return out if isinstance(out, list) else []


def filters(ns: str | None, dev: str) -> list[tuple[str, int, str, int | None]]:
    """(direction, prio, program name, program id) of the filters at mbsim's handle on ``dev``."""
    out = []
    for direction in PARENTS:
        for f in _tc_json(ns, "filter", "show", "dev", dev, direction):
            opts = f.get("options") or {}
            if opts.get("handle") == hex(HANDLE):
                prog = opts.get("prog") or {}
                out.append((direction, int(f.get("pref", 0)), opts.get("bpf_name", "?"), prog.get("id")))
    return out


def any_filters(ns: str | None, dev: str) -> bool:
    """Does any filter (mbsim's or not) remain on ``dev``'s clsact?"""
    return any(_tc_json(ns, "filter", "show", "dev", dev, d) for d in PARENTS)


def has_clsact(ns: str | None, dev: str) -> bool:
    return any(q.get("kind") == "clsact" for q in _tc_json(ns, "qdisc", "show", "dev", dev))


def prog_id(fd: int) -> int:
    """The kernel's id of a loaded program."""
    from mbsim.kernel.prog_stats import prog_info
    return int(prog_info(fd).id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_free(ns: str | None, dev: str, prio: int = PRIO) -> None:
    """Refuse, naming the owner, a device where a live mbsim process attached something, or
    where a filter already sits at mbsim's handle and ``prio``. Touches nothing."""
    me = os.getpid()
    for a in _read_state():
        if a.netns == ns and a.dev == dev and a.pid != me and _alive(a.pid):
            since = time.strftime("%H:%M:%S", time.localtime(a.started)) if a.started else "earlier"
            raise MbsimError(f"mbsim (pid {a.pid}) has been attached to {a.where} since {since}; stop it "
                             f"first (kill {a.pid}, or mbsim detach)")
    taken = [f for f in filters(ns, dev) if f[1] == prio]
    if taken:
        direction, _, name, pid = taken[0]
        where = f"{ns}/{dev}" if ns else dev
        raise MbsimError(f"{where} {direction} already runs program {name!r} (id {pid}) at handle "
                         f"{HANDLE:#x} prio {prio}, not started by a running mbsim: remove it first "
                         f"(mbsim detach, or tc filter del dev {dev} {direction} prio {prio})")


def attach(fn: Any, ns: str | None, dev: str, direction: str, prio: int = PRIO) -> Attachment:
    """Attach loaded SCHED_CLS function ``fn`` (direct-action) at ``dev``'s ``direction``,
    adding the clsact qdisc if it is missing (and recording that mbsim added it)."""
    name = fn.name.decode() if isinstance(fn.name, bytes) else fn.name
    idx = ifindex(ns, dev)
    if not has_clsact(ns, dev):
        qd = _record(Attachment(ns, dev, "qdisc", 0, "clsact", os.getpid(), started=time.time()))
        try:
            _netlink(ns, lambda ipr: ipr.tc("add", "clsact", idx))
        except Exception as exc:
            _forget(qd)  # someone else added it in between: not ours
            if getattr(exc, "code", None) != errno.EEXIST:
                raise MbsimError(f"cannot add clsact on {dev}: {exc}") from None
    a = _record(Attachment(ns, dev, direction, prio, name, os.getpid(), prog_id=prog_id(fn.fd),
                           started=time.time()))
    try:
        _netlink(ns, lambda ipr: ipr.tc("add-filter", "bpf", idx, HANDLE, fd=fn.fd, name=fn.name,
                                        parent=PARENTS[direction], classid=1, direct_action=True, prio=prio))
    except Exception as exc:
        _forget(a)  # nothing was attached: never delete what sits there
        raise MbsimError(f"cannot attach {name} at {dev} {direction}: {exc}") from None
    return a


def attached(a: Attachment) -> bool:
    """Is filter ``a`` still on its device, running its program?"""
    try:
        ifindex(a.netns, a.dev)
    except MbsimError:
        return False
    return any(d == a.direction and p == a.prio and pid == a.prog_id for d, p, _, pid in filters(a.netns, a.dev))


def _delete_filter(a: Attachment) -> bool:
    """Delete filter ``a`` if it still runs the program that was attached (never another's)."""
    if not attached(a):
        return False
    idx = ifindex(a.netns, a.dev)
    try:
        _netlink(a.netns, lambda ipr: ipr.tc("del-filter", "bpf", idx, HANDLE, parent=PARENTS[a.direction],
                                             prio=a.prio))
        return True
    except Exception:
        return False


def _delete_qdisc(a: Attachment) -> bool:
    """Remove the clsact mbsim added, unless a filter (anyone's) still uses it."""
    try:
        idx = ifindex(a.netns, a.dev)
    except MbsimError:
        return False
    if not has_clsact(a.netns, a.dev) or any_filters(a.netns, a.dev):
        return False
    try:
        _netlink(a.netns, lambda ipr: ipr.tc("del", "clsact", idx))
        return True
    except Exception:
        return False


def neighbour(ns: str | None, dev: str, addr: str) -> dict[str, Any] | None:
    """The neighbour entry of ``addr`` on ``dev`` (lladdr, state), or None."""
    out = netns.ip("-j", "neigh", "show", addr, "dev", dev, netns=ns, check=False).stdout
    try:
        entries = json.loads(out or "[]")
    except ValueError:
        return None
    if not entries:
        return None
    e = entries[0]
    return {"lladdr": e.get("lladdr"), "state": e.get("state", [])}


def pin_neighbour(ns: str | None, dev: str, addr: str, lladdr: str) -> Attachment | None:
    """Make ``addr``'s neighbour entry permanent: TC egress runs after neighbour
    resolution, so a stale entry during a partition would starve the horn. An entry that
    is already permanent with that address is left alone (returns None)."""
    prev = neighbour(ns, dev, addr)
    if prev and "PERMANENT" in prev["state"] and (prev["lladdr"] or "").lower() == lladdr.lower():
        return None
    a = _record(Attachment(ns, dev, "neigh", 0, "neigh", os.getpid(), neigh=addr, neigh_prev=prev,
                           started=time.time()))
    netns.ip("neigh", "replace", addr, "lladdr", lladdr, "nud", "permanent", "dev", dev, netns=ns)
    return a


def _restore_neighbour(a: Attachment) -> None:
    """Undo a pin: put back the permanent entry that was there, or remove mbsim's so that the
    kernel resolves the address again."""
    prev = a.neigh_prev
    if prev and "PERMANENT" in prev.get("state", []) and prev.get("lladdr"):
        netns.ip("neigh", "replace", a.neigh or "", "lladdr", prev["lladdr"], "nud", "permanent", "dev", a.dev,
                 netns=a.netns, check=False)
    else:
        netns.ip("neigh", "del", a.neigh or "", "dev", a.dev, netns=a.netns, check=False)


def record_netns(name: str) -> Attachment:
    """Remember a namespace this process created (a testbed's), so that it goes with the
    rest: at its owner's cleanup, or at ``mbsim detach`` after a SIGKILL."""
    return _record(Attachment(name, "", "netns", 0, "netns", os.getpid(), started=time.time()))


def _undo(items: list[Attachment]) -> None:
    """Undo ``items`` in reverse order: filters, then the qdisc, then neighbour entries,
    then namespaces."""
    order = {"ingress": 0, "egress": 0, "qdisc": 1, "neigh": 2, "netns": 3}
    for a in sorted(items, key=lambda x: order.get(x.direction, 4)):
        if a.direction == "netns":
            if a.netns and netns.exists(a.netns):
                netns.ip("netns", "del", a.netns, check=False)
        elif a.direction == "neigh":
            _restore_neighbour(a)
        elif a.direction == "qdisc":
            _delete_qdisc(a)
        else:
            _delete_filter(a)


def detach(only_dead: bool = False) -> list[Attachment]:
    """Undo what mbsim did (all of it, or only that of processes no longer alive)."""
    items = _read_state()
    keep, removed = [], []
    for a in items:
        if only_dead and _alive(a.pid):  # this process's own records are alive too
            keep.append(a)
        else:
            removed.append(a)
    _undo(removed)
    _write_state(keep)
    return removed


def snapshot() -> list[Attachment]:
    """What mbsim has recorded now (to tell later which changes one piece of work made)."""
    return _read_state()


def made_since(before: list[Attachment]) -> list[Attachment]:
    """What this process recorded after ``before`` was taken."""
    return [a for a in _read_state() if a not in before and a.pid == os.getpid()]


def undo(items: list[Attachment]) -> list[Attachment]:
    """Undo exactly ``items`` (and forget them); other records of this process stay."""
    current = _read_state()
    mine = [a for a in items if a in current]
    _undo(mine)
    _write_state([a for a in current if a not in mine])
    return mine


def detach_mine() -> list[Attachment]:
    """Undo what this process did."""
    items = _read_state()
    mine = [a for a in items if a.pid == os.getpid()]
    _undo(mine)
    _write_state([a for a in items if a.pid != os.getpid()])
    return mine
