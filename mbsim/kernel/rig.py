"""The rig: two network namespaces joined by a veth pair.

    [ client ns: DEV_C 10.77.0.1 ] <--- veth ---> [ server ns: DEV_S 10.77.0.2 :PORT ]

The horn attaches at the client's interface (the caller's side); the chaos dropper at
a receiver's ingress. Addresses live only inside the namespaces the rig creates. The
verification's testbed (:mod:`mbsim.verify.testbed`) runs its UDP service and client on it,
and so does ``mbsim bench bpf``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

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
