"""Where a command writes is checked before it works: one line, and no run started."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from mbsim.cli.arguments import out_dir, out_file
from mbsim.errors import ConfigError


def test_an_unwritable_directory_or_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot write to /proc/nope/results: No such file or directory"):
        out_dir("/proc/nope/results")
    with pytest.raises(ConfigError, match=r"cannot write to /proc/nope/c.json"):
        out_file("/proc/nope/c.json")
    assert out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # what the probe made, it removed
    (tmp_path / "d").mkdir()
    assert out_file(tmp_path / "d" / "x.json") == tmp_path / "d" / "x.json"
    assert not list((tmp_path / "d").iterdir())


@pytest.mark.parametrize("args, where", [
    (["verify", "--out", "/proc/nope"], "/proc/nope"),
    (["calibrate", "--out", "/proc/nope/c.json"], "/proc/nope/c.json"),
    (["calibrate", "--backend", "sqlite", "--out", "/proc/nope/f.json"], "/proc/nope/f.json"),
    (["verify", "--backend", "sqlite", "--out", "/proc/nope"], "/proc/nope"),
    (["run", "--quick", "--out", "/proc/nope"], "/proc/nope"),
    (["tune", "--quick", "--out", "/proc/nope"], "/proc/nope"),
    (["compare", "--quick", "--out", "/proc/nope"], "/proc/nope"),
    (["bench", "sim", "--out", "/proc/nope/sim.json"], "/proc/nope/sim.json"),
])
def test_every_long_command_refuses_it_before_any_run(args, where):
    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "mbsim", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    line = f"mbsim {args[0]}: error: cannot write to {where}: No such file or directory"
    assert r.stderr.strip().splitlines() == [line]
    assert time.monotonic() - start < 60  # it stopped at the check: a run takes minutes


@pytest.mark.parametrize("args, line", [
    (["verify", "--backend", "sqlite", "--backend-fit", "/nowhere/fit.json"],
     "mbsim verify: error: --backend-fit /nowhere/fit.json: no such file"),
    (["verify", "--backend-fit", "/nowhere/fit.json"],
     "mbsim verify: error: --backend-fit is the sqlite backend's model: add --backend sqlite"),
])
def test_a_backend_fit_that_cannot_be_used_is_one_line_before_anything_runs(args, line):
    r = subprocess.run([sys.executable, "-m", "mbsim", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [line], r.stderr


def test_an_unknown_backend_is_refused_by_the_parser():
    r = subprocess.run([sys.executable, "-m", "mbsim", "calibrate", "--backend", "mysql"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "argument --backend: invalid choice: 'mysql' (choose from 'timer', 'sqlite')" \
        in r.stderr
