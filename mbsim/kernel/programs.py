"""Compile the programs under ``bpf/`` with BCC, and check that we can."""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbsim.errors import MbsimError

# BCC 0.26 warns on every str argument; its API takes both.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="bcc")

BPF_DIR = Path(os.environ.get("MBSIM_BPF_DIR", Path(__file__).resolve().parents[2] / "bpf"))


def require_bpf() -> Any:
    """Return the ``bcc`` module, or raise a one-line MbsimError saying what is missing."""
    if os.geteuid() != 0:
        raise MbsimError("eBPF needs root (run as root, or use the simulator, which does not)")
    try:
        import bcc
    except Exception as exc:
        raise MbsimError(f"bcc is not importable ({exc.__class__.__name__}): run `bash .ci/setup` as root "
                         "(Debian python3-bpfcc; never the PyPI package named bcc)") from None
    if not Path("/sys/fs/bpf").exists():
        raise MbsimError("this kernel offers no BPF filesystem (/sys/fs/bpf)")
    return bcc


@dataclass(frozen=True)
class Upstream:
    addr: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Upstream:
        host, sep, port = text.rpartition(":")
        try:
            ip = ipaddress.IPv4Address(host)
            p = int(port)
        except ValueError:
            raise MbsimError(f"upstream must be IPV4:PORT, got {text!r}") from None
        if not sep or not 0 < p < 65536:
            raise MbsimError(f"upstream must be IPV4:PORT, got {text!r}")
        return cls(str(ip), p)

    @property
    def addr_be32(self) -> int:
        """The address as the u32 the kernel reads from the packet (network order in memory)."""
        typed: int = struct.unpack("=I", socket.inet_aton(self.addr))[0]
        return typed

    def __str__(self) -> str:
        return f"{self.addr}:{self.port}"


COMPAT = "mbb_compat.h"


def _source(name: str) -> str:
    """The text of ``bpf/NAME`` with the compatibility header pasted in: BCC rewrites map
    calls (``map.lookup(&k)``) only in its main file, so the accessors must be there."""
    text = (BPF_DIR / name).read_text()
    return text.replace(f'#include "{COMPAT}"', (BPF_DIR / COMPAT).read_text(), 1)


def _compile(source: str, cflags: list[str]) -> Any:
    bcc = require_bpf()
    try:
        return bcc.BPF(text=_source(source), cflags=[f"-I{BPF_DIR}", *cflags])
    except Exception as exc:
        raise MbsimError(f"BCC could not compile {source}: {str(exc).splitlines()[0]}") from None


def compile_horn(settings_dir: str | Path) -> Any:
    """The horn's BPF object, built by BCC (egress and ingress functions share its maps)."""
    settings_dir = Path(settings_dir).resolve()
    if not (settings_dir / "mbb_settings.h").is_file():
        raise MbsimError(f"{settings_dir}: no mbb_settings.h (run mbsim export first)")
    return _compile("mbb_horn.c", [f"-I{settings_dir}", "-DMBB_BCC"])


def compile_dropper() -> Any:
    return _compile("chaos_drop.c", [])


def compile_empty() -> Any:
    return _compile("empty.c", [])


def sched_cls(b: Any, name: str) -> Any:
    import bcc
    return b.load_func(name, bcc.BPF.SCHED_CLS)
