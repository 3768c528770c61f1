"""The mbsim UDP request/response protocol (bpf/PROTOCOL.md), and whole frames for tests.

Request payload (12 bytes, big-endian)::

    magic u16 = 0x4D42 | version u8 = 1 | flags u8 | request id u32 | key u32

Response payload (80 bytes): the same header with the RESPONSE flag, then
``status u16 | value length u16 | value (64 bytes, zero-padded)``. An answer from the
snapshot carries RESPONSE | FALLBACK. Constants mirror ``bpf/mbb_proto.h``.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = 0x4D42
VERSION = 1
F_RESPONSE = 0x01
F_FALLBACK = 0x02
ST_OK, ST_ERROR, ST_NOT_FOUND = 0, 1, 2
VALUE_SIZE = 64
REQ_LEN = 12
RESP_LEN = REQ_LEN + 4 + VALUE_SIZE
ETH, IP, UDP = 14, 20, 8
REQ_FRAME = ETH + IP + UDP + REQ_LEN
RESP_FRAME = ETH + IP + UDP + RESP_LEN
MARK = 0x4D424F58

_HDR = struct.Struct("!HBBII")
_RESP_TAIL = struct.Struct("!HH")


@dataclass(frozen=True)
class Message:
    req_id: int
    key: int
    flags: int = 0
    status: int = ST_OK
    value: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.flags & F_RESPONSE)

    @property
    def fallback(self) -> bool:
        return bool(self.flags & F_FALLBACK)


def request(req_id: int, key: int, fallback: bool = False) -> bytes:
    return _HDR.pack(MAGIC, VERSION, F_FALLBACK if fallback else 0, req_id, key)


def response(req_id: int, key: int, value: bytes, status: int = ST_OK, fallback: bool = False) -> bytes:
    if len(value) > VALUE_SIZE:
        raise ValueError(f"value of {len(value)} bytes exceeds {VALUE_SIZE}")
    flags = F_RESPONSE | (F_FALLBACK if fallback else 0)
    return (_HDR.pack(MAGIC, VERSION, flags, req_id, key) + _RESP_TAIL.pack(status, len(value))
            + value.ljust(VALUE_SIZE, b"\0"))


def parse(payload: bytes) -> Message | None:
    """Decode a request or response payload; None if it is not this protocol."""
    if len(payload) < REQ_LEN:
        return None
    magic, version, flags, req_id, key = _HDR.unpack_from(payload)
    if magic != MAGIC or version != VERSION:
        return None
    if not flags & F_RESPONSE:
        return Message(req_id, key, flags) if len(payload) == REQ_LEN else None
    if len(payload) != RESP_LEN:
        return None
    status, length = _RESP_TAIL.unpack_from(payload, REQ_LEN)
    value = payload[REQ_LEN + 4: REQ_LEN + 4 + min(length, VALUE_SIZE)]
    return Message(req_id, key, flags, status, value)


# -- whole frames (tests, BPF_PROG_TEST_RUN) ----------------------------------------

def checksum(data: bytes) -> int:
    """RFC 1071 internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    typed: int = ~s & 0xFFFF
    return typed


def mac(text: str) -> bytes:
    return bytes(int(b, 16) for b in text.split(":"))


def ip4(text: str) -> bytes:
    return bytes(int(b) for b in text.split("."))


def udp_frame(src_mac: bytes, dst_mac: bytes, src_ip: bytes, dst_ip: bytes, sport: int, dport: int,
              payload: bytes, ip_id: int = 1, frag_off: int = 0x4000, ttl: int = 64,
              proto: int = 17) -> bytes:
    """An Ethernet + IPv4 + UDP frame with correct checksums."""
    udp_len = UDP + len(payload)
    ip_hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, IP + udp_len, ip_id, frag_off, ttl, proto, 0, src_ip, dst_ip)
    ip_hdr = ip_hdr[:10] + struct.pack("!H", checksum(ip_hdr)) + ip_hdr[12:]
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, proto, udp_len)
    udp_hdr = struct.pack("!HHHH", sport, dport, udp_len, 0)
    c = checksum(pseudo + udp_hdr + payload) or 0xFFFF
    udp_hdr = udp_hdr[:6] + struct.pack("!H", c)
    return dst_mac + src_mac + b"\x08\x00" + ip_hdr + udp_hdr + payload


def frame_checksums_ok(frame: bytes) -> bool:
    """Are the IPv4 header and UDP checksums of ``frame`` valid?"""
    ip_hdr = frame[ETH:ETH + IP]
    if checksum(ip_hdr) != 0:
        return False
    src, dst = ip_hdr[12:16], ip_hdr[16:20]
    udp = frame[ETH + IP:]
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
    return checksum(pseudo + udp) == 0
