"""Snapshot files are validated before anything is loaded into the kernel."""
import pytest

from mbsim.deploy import snapshot_file as snapshot
from mbsim.errors import ConfigError


def test_valid_snapshot(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"schema": "mbsim.snapshot/1", "entries": {"1": "a", "4294967295": {"hex": "00ff", "status": 1}}}')
    e = snapshot.load(p)
    assert [(x.key, x.value, x.status) for x in e] == [(1, b"a", 0), (4294967295, b"\x00\xff", 1)]


@pytest.mark.parametrize("text, message", [
    ('{"schema": "x", "entries": {"1": "a"}}', "schema must be"),
    ('{"schema": "mbsim.snapshot/1", "entries": {}}', "non-empty"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"-1": "a"}}', "not a u32"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"k": "a"}}', "not an integer"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": {"value": "a", "status": 7}}}', "status must be 0 or 1"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": {"hex": "zz"}}}', "bad hex"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": 5}}', "must be a string"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": "a", "1": "b"}}', "duplicate parameter '1'"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": "a"}, "x": 1}', "unknown field 'x'"),
])
def test_invalid_snapshots(tmp_path, text, message):
    p = tmp_path / "s.json"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        snapshot.load(p)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        snapshot.load(tmp_path / "nope.json")
