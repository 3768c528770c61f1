"""Shared fixtures of the kernel tests: exported settings, a compiled horn, the rig."""
from __future__ import annotations

import os

import pytest

from mbsim import snapshot
from mbsim.export import export
from mbsim.settings_file import SettingsFile


def bpf_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        import bcc  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"bcc not importable: {exc}"
    return None


needs_bpf = pytest.mark.skipif(bpf_available() is not None, reason=str(bpf_available()))


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    SettingsFile().write(d / "settings.json")
    export(d / "settings.json", d / "out")
    snapshot.write(d / "snapshot.json", {k: f"snap:{k}" for k in range(1, 101)})
    return d
