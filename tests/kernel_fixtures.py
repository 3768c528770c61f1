"""What the kernel tests need: root and an importable bcc (CI has both), and a plain UDP
server and client on the rig."""
from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbsim.formats import wire as P
from mbsim.kernel import netns
from mbsim.kernel.rig import CLIENT_ADDR, SERVER_ADDR, Rig


def bpf_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        import bcc  # noqa: F401
    except Exception as exc:
        return f"bcc not importable: {exc}"
    return None


needs_bpf = pytest.mark.skipif(bpf_available() is not None, reason=str(bpf_available()))



NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def as_nobody(args: list[str], home: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m mbsim ARGS`` as the unprivileged user nobody. Skips, saying why, when nobody
    cannot reach this checkout's Python or package (a clone into a private directory, such as
    one ``mktemp -d`` made): what is tested is mbsim's message, not the file permissions."""
    import mbsim

    for target in (Path(sys.executable), Path(mbsim.__file__)):
        for d in target.parents:
            if not d.stat().st_mode & 0o001:
                pytest.skip(f"{d} is not searchable by other users (mode {oct(d.stat().st_mode & 0o777)}), "
                            f"so nobody cannot run this checkout's mbsim")
    return subprocess.run([*NOBODY, sys.executable, "-m", "mbsim", *args], capture_output=True, text=True,
                          env={**os.environ, "HOME": home}, timeout=timeout)

# a plain UDP server and client on the rig, for the kernel's own tests (the testbed has the real ones)
class UdpServer(threading.Thread):
    """A real UDP server in the rig's server namespace. It answers ``live:<key>``; while
    ``error`` is set it answers status ERROR; ``delay_s`` holds each answer."""

    def __init__(self, rig: Rig, port: int = 7000, delay_s: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.delay_s = delay_s
        self.error = False
        self.received = 0
        self.ids: list[int] = []
        self.sock = netns.socket_in(rig.server_ns)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((SERVER_ADDR, port))
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if not ready:
                continue
            data, peer = self.sock.recvfrom(2048)
            msg = P.parse(data)
            if msg is None or msg.is_response:
                continue
            self.received += 1
            self.ids.append(msg.req_id)
            if self.delay_s:
                time.sleep(self.delay_s)
            status = P.ST_ERROR if self.error else P.ST_OK
            self.sock.sendto(P.response(msg.req_id, msg.key, b"live:%d" % msg.key, status), peer)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=2)
        self.sock.close()


class UdpClient:
    """A real UDP client in the rig's client namespace."""

    def __init__(self, rig: Rig, port: int = 7000) -> None:
        self.sock = netns.socket_in(rig.client_ns)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((CLIENT_ADDR, 0))
        self.sock.connect((SERVER_ADDR, port))
        self.sock.setblocking(False)

    def send(self, req_id: int, key: int, fallback: bool = False) -> None:
        self.sock.send(P.request(req_id, key, fallback))

    def recv(self, timeout: float) -> P.Message | None:
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        return P.parse(self.sock.recv(2048))

    def ask(self, req_id: int, key: int, fallback: bool = False, timeout: float = 0.5) -> P.Message | None:
        """Send one request and wait for the answer with the same id."""
        self.send(req_id, key, fallback)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            m = self.recv(left)
            if m is not None and m.req_id == req_id:
                return m
        return None

    def close(self) -> None:
        self.sock.close()


def udp_rig(prefix: str) -> Iterator[Rig]:
    """A rig with a plain UDP server and client on it (``rig.server``, ``rig.client``), for a
    fixture to yield; everything mbsim attached is removed afterwards."""
    from mbsim.kernel import tc

    with Rig(prefix=prefix) as r:
        server = UdpServer(r)
        server.start()
        client = UdpClient(r)
        r.server, r.client = server, client  # type: ignore[attr-defined]  # the concrete object's own attribute
        yield r
        client.close()
        server.stop()
    tc.detach_mine()
