"""Which machine, and which boot of it, a measurement was made on.

A calibration of the testbed (round trips, answer latencies, the generator's lateness)
holds for one machine as it runs now: machines of the same kind differ by a factor of two
in base round trip, and a reboot (or a VM moved to another host) can change it too. So a
measurement records :func:`identity`, and :func:`differs` says why a recorded one does not
describe this machine.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

#: what must match, in the order a difference is reported
KEYS = ("machine_id", "boot_id", "kernel", "cpu_model", "cores")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def _cpu_model() -> str | None:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def identity() -> dict[str, Any]:
    """This machine: CPU model, core count, kernel release, machine id (``/etc/machine-id``)
    and boot id (new at every boot), and the host name (a label, not compared)."""
    return {"machine_id": _read("/etc/machine-id"), "boot_id": _read("/proc/sys/kernel/random/boot_id"),
            "kernel": platform.release(), "cpu_model": _cpu_model(), "cores": os.cpu_count(),
            "hostname": platform.node()}


def differs(recorded: Any, here: dict[str, Any] | None = None) -> str | None:
    """Why ``recorded`` (an :func:`identity`) is not this machine as it runs now, in a few
    words; None when it is."""
    if not isinstance(recorded, dict):
        return "it records no machine"
    now = here or identity()
    for key in KEYS:
        if recorded.get(key) != now[key]:
            what = key.replace("_", " ")
            return f"its {what} is {recorded.get(key)!r}, this machine's {now[key]!r}"
    return None


def label(recorded: Any) -> str:
    """A short name for a recorded machine: host, cores, CPU, kernel."""
    if not isinstance(recorded, dict):
        return "an unrecorded machine"
    return (f"{recorded.get('hostname') or 'host ?'} ({recorded.get('cores')} cores, {recorded.get('cpu_model')}, "
            f"Linux {recorded.get('kernel')})")
