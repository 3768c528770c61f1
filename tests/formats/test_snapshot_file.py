"""Snapshot files are validated before anything is loaded into the kernel."""
import pytest

from mbsim.errors import ConfigError
from mbsim.formats import snapshot_file as snapshot


def test_valid_snapshot(tmp_path):
    p = tmp_path / "s.json"
    p.write_text('{"schema": "mbsim.snapshot/1", "entries": {"1": "a", "4294967295": {"hex": "00ff", "status": 1}}}')
    e = snapshot.load(p)
    assert [(x.key, x.value, x.status) for x in e] == [(1, b"a", 0), (4294967295, b"\x00\xff", 1)]


@pytest.mark.parametrize("text, message", [
    ('{"schema": "x", "entries": {"1": "a"}}', "schema must be"),
    ('{"schema": "mbsim.snapshot/1", "entries": {}}', "non-empty"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"-1": "a"}}', "not a decimal u32"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"4294967296": "a"}}', "not a u32"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"k": "a"}}', "not a decimal u32"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": {"value": "a", "status": 7}}}',
     "status must be the integer 0 or 1"),
    # the defects: "01" and "1" were merged, " 1" was accepted, and so was a boolean status
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": "a", "01": "b"}}', "leading zero"),
    ('{"schema": "mbsim.snapshot/1", "entries": {" 1": "a"}}', "leading zero"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"+1": "a"}}', "no sign"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": {"value": "a", "status": true}}}', "got True"),
    ('{"schema": "mbsim.snapshot/1", "entries": {"1": {"value": 5}}}', "value must be a string"),
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


def test_a_non_utf8_snapshot_is_one_clear_error(tmp_path):
    p = tmp_path / "s.json"
    p.write_bytes('{"schema": "mbsim.snapshot/1", "entries": {"1": "caf\xe9"}}'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        snapshot.load(p)


def test_the_map_value_carries_the_answer_s_checksum_share():
    from mbsim.formats import wire as P

    e = snapshot.Entry(7, b"hello", P.ST_OK)
    value = snapshot.map_value(e)
    assert len(value) == 8 + P.VALUE_SIZE and value[8:13] == b"hello"
    # the share is the sum of the tail's 16-bit words: its complement, folded with the rest of
    # an answer's words, is the UDP checksum (checked against frames in test_bpf_testrun)
    tail = b"\x00\x00\x00\x05hello".ljust(4 + P.VALUE_SIZE, b"\0")
    words = [int.from_bytes(tail[i:i + 2], "little") for i in range(0, len(tail), 2)]
    assert snapshot.tail_sum(0, b"hello") == sum(words)
