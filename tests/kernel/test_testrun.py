"""The horn on crafted packets, in the kernel, with BPF_PROG_TEST_RUN."""
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_fixtures import needs_bpf

from mbsim.formats import wire as P
from mbsim.formats.snapshot_file import Entry
from mbsim.kernel import horn as H
from mbsim.kernel import programs, testrun

pytestmark = [needs_bpf, pytest.mark.bpf]

TC_ACT_OK, TC_ACT_REDIRECT = 0, 7
CMAC, SMAC = P.mac("02:00:00:00:00:01"), P.mac("02:00:00:00:00:02")
CIP, SIP = P.ip4("10.77.0.1"), P.ip4("10.77.0.2")
VALUE = b"snapshot says hello"


@pytest.fixture(scope="module")
def horn(exported):
    h = H.Horn(exported / "out", programs.Upstream("10.77.0.2", 7000))
    h.load_snapshot([Entry(42, VALUE), Entry(43, b"broken", P.ST_ERROR)])
    h.events.open_ring_buffer(lambda *a: None)
    return h


def request(req_id=7, key=42, fallback=False, **kw):
    return P.udp_frame(CMAC, SMAC, CIP, SIP, 40000, 7000, P.request(req_id, key, fallback), ip_id=99, **kw)


def expected_answer(req_id=7, key=42, value=VALUE, status=P.ST_OK):
    return P.udp_frame(SMAC, CMAC, SIP, CIP, 7000, 40000, P.response(req_id, key, value, status, fallback=True),
                       ip_id=99)


def run(horn, frame):
    r = testrun.run(horn.egress.fd, frame)
    horn.bpf.ring_buffer_consume()
    return r


def test_open_answers_with_the_exact_response(horn):
    horn.set_config(H.OPEN, 256, 50_000)
    r = run(horn, request())
    assert r.retval == TC_ACT_REDIRECT
    assert r.data == expected_answer()
    assert len(r.data) == P.RESP_FRAME
    assert P.frame_checksums_ok(r.data)
    msg = P.parse(r.data[42:])
    assert msg.is_response and msg.fallback and msg.value == VALUE and msg.req_id == 7


def test_snapshot_status_and_miss(horn):
    horn.set_config(H.OPEN, 256, 50_000)
    assert run(horn, request(key=43)).data == expected_answer(key=43, value=b"broken", status=P.ST_ERROR)
    assert run(horn, request(key=999)).data == expected_answer(key=999, value=b"", status=P.ST_NOT_FOUND)


def test_closed_passes_untouched_and_records_in_flight(horn):
    horn.set_config(H.CLOSED, 256, 50_000)
    before = horn.counter(H.C_PASSED)
    frame = request(req_id=1234)
    r = run(horn, frame)
    assert r.retval == TC_ACT_OK and r.data == frame
    assert horn.counter(H.C_PASSED) == before + 1
    assert horn.inflight[horn.flow("10.77.0.1", 40000, 1234)].value > 0


def client_request(addr, sport, req_id, fallback=False):
    return P.udp_frame(CMAC, SMAC, P.ip4(addr), SIP, sport, 7000, P.request(req_id, 42, fallback), ip_id=99)


def test_duplicate_ids_never_leak_the_in_flight_count(horn):
    """Defect: PASSED was counted twice for an id sent twice while in flight, and one answer
    closed it once: the count leaked until every request was answered for capacity."""
    horn.set_config(H.CLOSED, 256, 50_000)
    for k in list(horn.inflight.keys()):
        del horn.inflight[k]
    for c in (H.C_PASSED, H.C_DONE, H.C_EXPIRED):
        horn.set_counter(c, 0)
    # two clients (and two ports of one client) reuse the same 40 ids, each id sent twice
    clients = [("10.77.0.1", 40000), ("10.77.0.1", 40001), ("10.77.0.9", 40000)]
    for addr, port in clients:
        for i in range(40):
            for _ in range(2):
                assert run(horn, client_request(addr, port, i)).retval == TC_ACT_OK
    assert horn.in_flight() == horn.entries() == 3 * 40  # one entry per (client, port, id)
    # each request is closed once, by its re-ask: nothing remains, nothing leaked
    for addr, port in clients:
        for i in range(40):
            assert run(horn, client_request(addr, port, i, fallback=True)).retval == TC_ACT_REDIRECT
    assert horn.in_flight() == horn.entries() == 0
    # with capacity 20, twenty later requests all pass: none is answered for capacity
    horn.set_config(H.CLOSED, 20, 50_000)
    assert [run(horn, client_request("10.77.0.1", 41000, 1000 + i)).retval for i in range(20)] == [TC_ACT_OK] * 20


def test_fallback_reask_is_answered_even_when_closed(horn):
    horn.set_config(H.CLOSED, 256, 50_000)
    run(horn, request(req_id=555))
    done = horn.counter(H.C_DONE)
    r = run(horn, request(req_id=555, fallback=True))
    assert r.retval == TC_ACT_REDIRECT and r.data == expected_answer(req_id=555)
    assert horn.counter(H.C_DONE) == done + 1  # its in-flight entry was closed as a timeout


def test_capacity_answers_when_too_many_in_flight(horn):
    horn.set_config(H.CLOSED, 0, 50_000)
    assert run(horn, request(req_id=77)).retval == TC_ACT_REDIRECT
    horn.set_config(H.CLOSED, 1 << 20, 50_000)
    assert run(horn, request(req_id=78)).retval == TC_ACT_OK


def _with_ip(frame, **fields):
    """Rewrite IP header fields (and fix the IP checksum) of an Ethernet frame."""
    ip = bytearray(frame[14:34])
    for name, value in fields.items():
        if name == "proto":
            ip[9] = value
        elif name == "frag":
            ip[6:8] = struct.pack("!H", value)
        elif name == "ihl":
            ip[0] = 0x40 | value
    ip[10:12] = b"\0\0"
    ip[10:12] = struct.pack("!H", P.checksum(bytes(ip)))
    return frame[:14] + bytes(ip) + frame[34:]


def malformed():
    good = request()
    ipv6 = SMAC + CMAC + b"\x86\xdd" + bytes(40) + good[34:]
    return {
        "truncated at 34": good[:34],
        "truncated at 50": good[:50],
        "wrong magic": good[:42] + b"\x4d\x43" + good[44:],
        "wrong version": good[:44] + b"\x02" + good[45:],
        "not udp": _with_ip(good, proto=6),
        "ipv6": ipv6,
        "more fragments": _with_ip(good, frag=0x2000),
        "fragment offset": _with_ip(good, frag=0x0001),
        "oversized": P.udp_frame(CMAC, SMAC, CIP, SIP, 40000, 7000, P.request(7, 42) + b"extra"),
        "other port": P.udp_frame(CMAC, SMAC, CIP, SIP, 40000, 7001, P.request(7, 42)),
        "other address": P.udp_frame(CMAC, SMAC, CIP, P.ip4("10.77.0.3"), 40000, 7000, P.request(7, 42)),
        "a response": P.udp_frame(CMAC, SMAC, CIP, SIP, 40000, 7000, P.response(7, 42, b"x")),
    }


@pytest.mark.parametrize("name", list(malformed()))
def test_malformed_packets_pass_untouched_even_when_open(horn, name):
    horn.set_config(H.OPEN, 256, 50_000)
    frame = malformed()[name]
    r = run(horn, frame)
    assert r.retval == TC_ACT_OK, name
    assert r.data == frame, name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=34, max_size=200), st.booleans())
def test_random_packets_pass_untouched_or_get_a_valid_answer(horn, data, open_):
    horn.set_config(H.OPEN if open_ else H.CLOSED, 256, 50_000)
    r = run(horn, data)
    if r.retval == TC_ACT_OK:
        assert r.data == data
    else:  # only a well-formed request to the upstream may be answered
        assert r.retval == TC_ACT_REDIRECT
        msg = P.parse(data[42:])
        assert msg is not None and not msg.is_response and len(data) == P.REQ_FRAME
        assert P.frame_checksums_ok(r.data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1), st.integers(1, 65535), st.integers(0, 65535))
def test_random_valid_requests_get_exact_answers(horn, req_id, key, sport, ip_id):
    horn.set_config(H.OPEN, 256, 50_000)
    frame = P.udp_frame(CMAC, SMAC, CIP, SIP, sport, 7000, P.request(req_id, key), ip_id=ip_id)
    r = run(horn, frame)
    value, status = (VALUE, P.ST_OK) if key == 42 else (b"broken", P.ST_ERROR) if key == 43 else (b"", P.ST_NOT_FOUND)
    want = P.udp_frame(SMAC, CMAC, SIP, CIP, 7000, sport, P.response(req_id, key, value, status, fallback=True),
                       ip_id=ip_id)
    assert r.retval == TC_ACT_REDIRECT and r.data == want


def test_dropper_threshold_semantics():
    b = programs.compile_dropper()
    fn = programs.sched_cls(b, "chaos_drop")
    cfg = b["drop_config"]
    frame = request()  # the dropper is not the horn: it drops by its own rule

    def set_threshold(t):
        v = cfg.Leaf()
        v.threshold, v.port = t, 7000
        cfg[cfg.Key(0)] = v

    set_threshold(0)
    assert all(testrun.run(fn.fd, frame).retval == 0xFFFFFFFF for _ in range(200))  # TC_ACT_UNSPEC: never
    set_threshold(2 ** 32 - 1)
    drops = sum(testrun.run(fn.fd, frame).retval == 2 for _ in range(2000))  # TC_ACT_SHOT
    assert drops >= 1995
