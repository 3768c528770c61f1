"""The test rig: two network namespaces joined by a veth pair, a real UDP server and client.

    [ client ns: DEV_C 10.77.0.1 ] <--- veth ---> [ server ns: DEV_S 10.77.0.2 :PORT ]

The horn attaches at the client's interface (the caller's side); the chaos dropper at
a receiver's ingress. Addresses live only inside the namespaces the rig creates.
"""
from __future__ import annotations

import json
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mbsim.formats import wire as P
from mbsim.kernel import netns

CLIENT_ADDR, SERVER_ADDR = "10.77.0.1", "10.77.0.2"


def _mac(ns: str, dev: str) -> str:
    out = netns.ip("-j", "link", "show", dev, netns=ns).stdout
    typed: str = json.loads(out)[0]["address"]
    return typed


@dataclass
class Rig:
    prefix: str = "mbr"
    client_dev: str = "mbc0"
    server_dev: str = "mbs0"
    client_ns: str = field(init=False)
    server_ns: str = field(init=False)

    def __post_init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.client_ns = f"{self.prefix}{tag}c"
        self.server_ns = f"{self.prefix}{tag}s"

    def up(self) -> Rig:
        self.down()
        netns.ip("netns", "add", self.client_ns)
        netns.ip("netns", "add", self.server_ns)
        a, b = f"{self.client_ns}x", f"{self.server_ns}x"
        netns.ip("link", "add", a, "type", "veth", "peer", "name", b)
        netns.ip("link", "set", a, "netns", self.client_ns, "name", self.client_dev)
        netns.ip("link", "set", b, "netns", self.server_ns, "name", self.server_dev)
        for ns, dev, addr in ((self.client_ns, self.client_dev, CLIENT_ADDR),
                              (self.server_ns, self.server_dev, SERVER_ADDR)):
            netns.ip("addr", "add", f"{addr}/24", "dev", dev, netns=ns)
            netns.ip("link", "set", dev, "up", netns=ns)
            netns.ip("link", "set", "lo", "up", netns=ns)
        self.client_mac = _mac(self.client_ns, self.client_dev)
        self.server_mac = _mac(self.server_ns, self.server_dev)
        return self

    def down(self) -> None:
        for ns in (self.client_ns, self.server_ns):
            if netns.exists(ns):
                netns.ip("netns", "del", ns, check=False)

    def __enter__(self) -> Rig:
        return self.up()

    def __exit__(self, *exc: Any) -> None:
        self.down()

    def neigh(self) -> str | None:
        """State of the client's neighbour entry for the server (PERMANENT, REACHABLE, ...)."""
        out = netns.ip("-j", "neigh", "show", SERVER_ADDR, "dev", self.client_dev, netns=self.client_ns).stdout
        entries = json.loads(out or "[]")
        return ",".join(entries[0].get("state", [])) if entries else None


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
