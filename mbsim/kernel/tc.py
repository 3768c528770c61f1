"""Attach and detach TC programs with pyroute2, and remember what was attached.

Every attachment is written to a state file *before* it is made, so that ``mbsim
detach`` (or the next ``apply``) can remove it even after the process was SIGKILLed.
mbsim's filters are recognisable by their handle 0x4d42 ("MB").
"""
from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from mbsim.errors import MbsimError
from mbsim.kernel import netns

HANDLE = 0x4D42
PARENTS = {"ingress": "ffff:fff2", "egress": "ffff:fff3"}
PARENT_IDS = {"ingress": 0xFFFFFFF2, "egress": 0xFFFFFFF3}
STATE = Path(os.environ.get("MBSIM_STATE", "/run/mbsim/attached.json"))


@dataclass(frozen=True)
class Attachment:
    netns: str | None
    dev: str
    direction: str  # ingress | egress
    prio: int
    name: str  # program name
    pid: int  # the process that attached it
    neigh: str | None = None  # an address whose neighbour entry mbsim pinned on dev


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


def _ipr(ns: str | None):
    from pyroute2 import IPRoute, NetNS
    return NetNS(ns) if ns else IPRoute()


def ifindex(ns: str | None, dev: str) -> int:
    with _ipr(ns) as ipr:
        found = ipr.link_lookup(ifname=dev)
    if not found:
        where = f"namespace {ns!r}" if ns else "the root namespace"
        raise MbsimError(f"no interface {dev!r} in {where}")
    return found[0]


def attach(fn, ns: str | None, dev: str, direction: str, prio: int) -> Attachment:
    """Attach loaded SCHED_CLS function ``fn`` (direct-action) at ``dev``'s ``direction``."""
    name = fn.name.decode() if isinstance(fn.name, bytes) else fn.name
    a = Attachment(ns, dev, direction, prio, name, os.getpid())
    _write_state([*_read_state(), a])
    idx = ifindex(ns, dev)
    with _ipr(ns) as ipr:
        try:
            ipr.tc("add", "clsact", idx)
        except Exception as exc:
            if getattr(exc, "code", None) != errno.EEXIST:
                raise MbsimError(f"cannot add clsact on {dev}: {exc}") from None
        try:
            ipr.tc("add-filter", "bpf", idx, HANDLE, fd=fn.fd, name=fn.name, parent=PARENTS[direction],
                   classid=1, direct_action=True, prio=prio)
        except Exception as exc:
            raise MbsimError(f"cannot attach {fn.name} at {dev} {direction}: {exc}") from None
    return a


def _delete_filter(a: Attachment) -> bool:
    try:
        idx = ifindex(a.netns, a.dev)
    except MbsimError:
        return False  # interface or namespace gone: nothing left to remove
    with _ipr(a.netns) as ipr:
        try:
            ipr.tc("del-filter", "bpf", idx, HANDLE, parent=PARENTS[a.direction], prio=a.prio)
            return True
        except Exception:
            return False


def filters(ns: str | None, dev: str) -> Iterator[tuple[str, int, str]]:
    """(direction, prio, name) of mbsim's filters on ``dev``."""
    idx = ifindex(ns, dev)
    with _ipr(ns) as ipr:
        for direction, parent in PARENT_IDS.items():
            try:
                found = ipr.get_filters(idx, parent=parent)
            except Exception:
                continue
            for f in found:
                opts = f.get_attr("TCA_OPTIONS")
                if f["handle"] == HANDLE and opts is not None:
                    yield direction, f.get_attr("TCA_PRIO") or (f["info"] >> 16), opts.get_attr("TCA_BPF_NAME")


def pin_neighbour(ns: str | None, dev: str, addr: str, lladdr: str) -> Attachment:
    """Make ``addr``'s neighbour entry permanent: TC egress runs after neighbour
    resolution, so a stale entry during a partition would starve the horn."""
    a = Attachment(ns, dev, "neigh", 0, "neigh", os.getpid(), neigh=addr)
    _write_state([*_read_state(), a])
    netns.ip("neigh", "replace", addr, "lladdr", lladdr, "nud", "permanent", "dev", dev, netns=ns)
    return a


def detach(only_dead: bool = False) -> list[Attachment]:
    """Remove what mbsim attached (all of it, or only that of processes no longer alive)."""
    items = _read_state()
    keep, removed = [], []
    for a in items:
        if only_dead and _alive(a.pid) and a.pid != os.getpid():
            keep.append(a)
            continue
        if a.direction == "neigh":
            netns.ip("neigh", "del", a.neigh or "", "dev", a.dev, netns=a.netns, check=False)
        else:
            _delete_filter(a)
        removed.append(a)
    _write_state(keep)
    return removed


def detach_mine() -> list[Attachment]:
    """Remove what this process attached."""
    items = _read_state()
    mine = [a for a in items if a.pid == os.getpid()]
    for a in mine:
        if a.direction == "neigh":
            netns.ip("neigh", "del", a.neigh or "", "dev", a.dev, netns=a.netns, check=False)
        else:
            _delete_filter(a)
    _write_state([a for a in items if a.pid != os.getpid()])
    return mine


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
