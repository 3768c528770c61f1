"""What the kernel tests need: root and an importable bcc (CI has both)."""
from __future__ import annotations

import os

import pytest


def bpf_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        import bcc  # noqa: F401
    except Exception as exc:
        return f"bcc not importable: {exc}"
    return None


needs_bpf = pytest.mark.skipif(bpf_available() is not None, reason=str(bpf_available()))
