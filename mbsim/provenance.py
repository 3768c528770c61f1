"""How a result was made: git revision, packages, kernel, command, time.

Everything mbsim writes under ``data/`` carries this block next to the settings and
seeds that produced it.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGES = ("mbsim", "numpy", "scipy", "simpy", "pandas", "matplotlib", "scikit-optimize", "optuna",
            "dask", "distributed", "pyroute2", "hypothesis")


def git_revision(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool}`` of the checkout mbsim runs from. Dirty means
    uncommitted changes to tracked files outside ``data/``: results being regenerated there
    do not change the code that makes them."""
    where = Path(cwd) if cwd else Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                     ":(exclude)data"], cwd=where, capture_output=True, text=True,
                                    timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha, "dirty": dirty}


ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


def guard_write(target: str | os.PathLike[str], allow_dirty: bool = False) -> None:
    """Refuse to write results under the repository's ``data/`` from a tree with
    uncommitted changes to tracked files, unless ``allow_dirty``: a result there must say
    which code made it. Elsewhere anything goes (the provenance still says dirty)."""
    from mbsim.errors import ConfigError

    where = Path(target).resolve()
    if allow_dirty or not where.is_relative_to(DATA):
        return
    git = git_revision(ROOT)
    if git["dirty"]:
        raise ConfigError(f"{target} is under data/, and the working tree has uncommitted changes: commit them "
                          f"first, or pass --allow-dirty (the result will say it came from a dirty tree)")


def dirty_banner(prov: dict[str, Any]) -> str:
    """A line for the top of a markdown result written from a dirty tree ('' otherwise)."""
    git = prov.get("git") or {}
    if git.get("dirty"):
        return (f"**Written from a dirty tree** (commit {str(git.get('commit'))[:12]} plus uncommitted changes): "
                f"these numbers may not be reproducible from any commit.\n\n")
    return ""


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["python3-bpfcc"] = _debian_version("python3-bpfcc")  # bcc comes from Debian, not PyPI
    return out


def _debian_version(package: str) -> str | None:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True,
                           text=True, timeout=5)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(**extra: Any) -> dict[str, Any]:
    """The provenance block; ``extra`` (settings, seeds, scenario...) is merged in."""
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else None,
        "git": git_revision(),
        "python": platform.python_version(),
        "packages": versions(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        **extra,
    }
