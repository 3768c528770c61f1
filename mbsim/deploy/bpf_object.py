"""The horn as a standalone eBPF object, for nodes that load it with ``tc`` alone.

``mbsim export`` copies the horn's C source (``mbb_horn.c``, ``mbb_compat.h``,
``mbb_proto.h`` from ``bpf/``) next to the generated ``mbb_settings.h`` and builds it with
clang into ``mbb_horn.o``: libbpf-style BTF maps, pinned by name, two programs in sections
``tc/horn_egress`` and ``tc/horn_ingress``. ``build-object.sh`` in the same directory
rebuilds it from those files alone. The same source is what ``mbsim apply`` compiles with
BCC (``-DMBB_BCC``).
"""
from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

from mbsim.errors import MbsimError

SOURCES = ("mbb_horn.c", "mbb_compat.h", "mbb_proto.h")
BPF_DIR = Path(__file__).resolve().parents[2] / "bpf"


def arch_include() -> str:
    """Debian's multiarch include directory (asm/ types for the kernel UAPI headers)."""
    return f"/usr/include/{platform.machine()}-linux-gnu"


def clang_command(out: Path) -> list[str]:
    return ["clang", "-O2", "-g", "-target", "bpf", f"-I{arch_include()}", f"-I{out}", "-c",
            str(out / "mbb_horn.c"), "-o", str(out / "mbb_horn.o")]


def build_script() -> str:
    return """#!/bin/sh
# Rebuild mbb_horn.o from the sources beside this script (clang and libbpf-dev from Debian).
set -eu
cd "$(dirname "$0")"
clang -O2 -g -target bpf -I"/usr/include/$(uname -m)-linux-gnu" -I. -c mbb_horn.c -o mbb_horn.o
echo "built $(pwd)/mbb_horn.o"
"""


def copy_sources(out: Path) -> list[Path]:
    paths = []
    for name in SOURCES:
        src = BPF_DIR / name
        if not src.is_file():
            raise MbsimError(f"{src}: missing (the horn's source ships with mbsim's repository)")
        shutil.copyfile(src, out / name)
        paths.append(out / name)
    return paths


def build(out: Path) -> Path | None:
    """Build ``out/mbb_horn.o`` from the sources and header in ``out``; None when clang is
    not installed (the caller says so). A compile error is a one-line MbsimError."""
    if shutil.which("clang") is None:
        return None
    r = subprocess.run(clang_command(out), capture_output=True, text=True)
    if r.returncode != 0:
        first = next((line for line in r.stderr.splitlines() if "error" in line), r.stderr.strip()[:200])
        raise MbsimError(f"clang could not build mbb_horn.o: {first}")
    return out / "mbb_horn.o"
