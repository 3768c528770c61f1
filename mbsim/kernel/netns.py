"""Network namespaces: run code or open sockets inside one (Linux: setns is per thread)."""
from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import subprocess
from collections.abc import Iterator

from mbsim.errors import MbsimError

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def path(name: str) -> str:
    return f"/var/run/netns/{name}"


def exists(name: str) -> bool:
    return os.path.exists(path(name))


@contextlib.contextmanager
def inside(name: str | None) -> Iterator[None]:
    """Run the block with this thread in namespace ``name`` (None: stay where we are)."""
    if name is None:
        yield
        return
    if not exists(name):
        raise MbsimError(f"network namespace {name!r} does not exist")
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(path(name), os.O_RDONLY)
    try:
        _setns(there)
        try:
            yield
        finally:
            _setns(here)
    finally:
        os.close(here)
        os.close(there)


def socket_in(name: str | None, family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """A socket that lives in namespace ``name``, usable from any thread."""
    with inside(name):
        return socket.socket(family, kind)


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run iproute2's ``ip`` (in ``netns`` if given)."""
    cmd = ["ip"] + (["-n", netns] if netns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise MbsimError(f"{' '.join(cmd)}: {r.stderr.strip() or r.returncode}")
    return r


def is_root_namespace(name: str | None) -> bool:
    """Is ``name`` (None: ours) the host's network namespace? That is PID 1's, or ours
    when PID 1's cannot be read (in a container, ours is the host's as far as we can act)."""
    try:
        init = os.stat("/proc/1/ns/net")
    except PermissionError:
        init = os.stat("/proc/self/ns/net")
    target = os.stat(path(name)) if name else os.stat("/proc/self/ns/net")
    return (init.st_dev, init.st_ino) == (target.st_dev, target.st_ino)
