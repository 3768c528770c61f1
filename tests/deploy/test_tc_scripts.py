"""The exported tc scripts do what `mbsim apply` does with tc and bpftool alone: they load
the prebuilt object in a namespace pair, answer from the snapshot while OPEN, pass while
CLOSED, answer FALLBACK re-asks, and leave nothing behind."""
import glob
import os
import shutil
import subprocess

import pytest
from kernel_fixtures import UdpClient, UdpServer, needs_bpf

from mbsim.deploy.export import export
from mbsim.formats import snapshot_file
from mbsim.formats.settings_file import SettingsFile
from mbsim.kernel import tc
from mbsim.kernel.rig import SERVER_ADDR, Rig

pytestmark = [needs_bpf, pytest.mark.bpf,
              pytest.mark.skipif(shutil.which("clang") is None or shutil.which("bpftool") is None,
                                 reason="needs clang and bpftool (.ci/setup installs them)")]
PINS = "/sys/fs/bpf/tc/globals/mbb_*"


@pytest.fixture
def out(tmp_path):
    SettingsFile().write(tmp_path / "settings.json")
    snapshot_file.write(tmp_path / "snapshot.json", {k: f"tc:{k}" for k in range(1, 51)})
    files = export(tmp_path / "settings.json", tmp_path / "out", snapshot=tmp_path / "snapshot.json")
    assert "object" in files and files["object"].stat().st_size > 0
    return tmp_path / "out"


@pytest.fixture
def rig(tmp_path):
    for p in glob.glob(PINS):  # a crashed run's pins would be reused by tc
        os.unlink(p)
    with Rig(prefix="mbs") as r:
        server = UdpServer(r)
        server.start()
        client = UdpClient(r)
        r.server, r.client = server, client  # type: ignore[attr-defined]  # the concrete object's own attribute
        r.marks = tmp_path / "marks"  # type: ignore[attr-defined]  # the concrete object's own attribute
        yield r
        client.close()
        server.stop()


def script(rig, out, name, **env):
    return subprocess.run(["nsenter", f"--net=/run/netns/{rig.client_ns}", "sh", str(out / name)],
                          env={**os.environ, "DEV": rig.client_dev, "MARK_DIR": str(rig.marks), **env},
                          capture_output=True, text=True, timeout=60)


def test_attach_answers_from_the_snapshot_while_open_and_detach_leaves_nothing(rig, out):
    r = script(rig, out, "tc-attach.sh", UPSTREAM=f"{SERVER_ADDR}:7000", STATE="open")
    assert r.returncode == 0, r.stderr
    assert {f[0] for f in tc.filters(rig.client_ns, rig.client_dev)} == {"egress", "ingress"}
    got = [rig.client.ask(100 + i, 1 + i % 50) for i in range(200)]
    assert all(m is not None and m.fallback and m.value == b"tc:%d" % m.key for m in got)
    assert rig.server.received == 0
    r = script(rig, out, "tc-detach.sh")
    assert r.returncode == 0, r.stderr
    assert not tc.filters(rig.client_ns, rig.client_dev)
    assert not tc.has_clsact(rig.client_ns, rig.client_dev)
    assert not glob.glob(PINS)
    assert not rig.marks.exists()  # its mark directory, emptied, is removed too
    after = [rig.client.ask(1000 + i, 1) for i in range(5)]  # nothing answers locally any more
    assert all(m is not None and not m.fallback for m in after) and rig.server.received == 5


def test_closed_passes_to_the_server_and_reasks_are_answered_locally(rig, out):
    r = script(rig, out, "tc-attach.sh", UPSTREAM=f"{SERVER_ADDR}:7000")
    assert r.returncode == 0, r.stderr
    try:
        live = [rig.client.ask(i, 1 + i % 50) for i in range(100)]
        assert all(m is not None and not m.fallback and m.value == b"live:%d" % m.key for m in live)
        assert rig.server.received == 100
        reasks = [rig.client.ask(5000 + i, 7, fallback=True) for i in range(20)]
        assert all(m is not None and m.fallback and m.value == b"tc:7" for m in reasks)
        assert rig.server.received == 100
        r = script(rig, out, "tc-attach.sh", UPSTREAM=f"{SERVER_ADDR}:7000")  # twice: refused
        assert r.returncode == 2 and "already has a filter" in r.stderr
    finally:
        assert script(rig, out, "tc-detach.sh").returncode == 0
    assert not tc.filters(rig.client_ns, rig.client_dev) and not glob.glob(PINS)


def test_bad_input_to_the_attach_script_is_one_line(rig, out):
    for env, message in (({"UPSTREAM": "nonsense"}, "IPV4:PORT"), ({"UPSTREAM": f"{SERVER_ADDR}:99999"}, "bad port"),
                         ({"UPSTREAM": f"{SERVER_ADDR}:7000", "STATE": "maybe"}, "STATE must be")):
        r = script(rig, out, "tc-attach.sh", **env)
        assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not tc.filters(rig.client_ns, rig.client_dev)


def test_build_object_rebuilds_it_from_the_exported_sources_alone(out, tmp_path):
    elsewhere = tmp_path / "copy"
    shutil.copytree(out, elsewhere)
    (elsewhere / "mbb_horn.o").unlink()
    r = subprocess.run(["sh", str(elsewhere / "build-object.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (elsewhere / "mbb_horn.o").read_bytes()[:4] == b"\x7fELF"
