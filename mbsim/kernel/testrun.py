"""BPF_PROG_TEST_RUN through libbpf (BCC 0.26 has no binding for it).

Runs a loaded program on a crafted packet in the kernel, without any traffic, and
returns what it returned and the packet it left behind.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from typing import Any

from mbsim.errors import MbsimError


class _Opts(ctypes.Structure):
    _fields_ = [
        ("sz", ctypes.c_size_t),
        ("data_in", ctypes.c_void_p),
        ("data_out", ctypes.c_void_p),
        ("data_size_in", ctypes.c_uint32),
        ("data_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_void_p),
        ("ctx_out", ctypes.c_void_p),
        ("ctx_size_in", ctypes.c_uint32),
        ("ctx_size_out", ctypes.c_uint32),
        ("retval", ctypes.c_uint32),
        ("repeat", ctypes.c_int),
        ("duration", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("cpu", ctypes.c_uint32),
        ("batch_size", ctypes.c_uint32),
    ]


_lib = None


def _libbpf() -> Any:
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("bpf") or "libbpf.so.1"
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError as exc:
            raise MbsimError(f"libbpf not found ({exc}); install Debian libbpf1") from None
        lib.bpf_prog_test_run_opts.argtypes = [ctypes.c_int, ctypes.POINTER(_Opts)]
        lib.bpf_prog_test_run_opts.restype = ctypes.c_int
        _lib = lib
    return _lib


@dataclass(frozen=True)
class TestRun:
    retval: int
    data: bytes
    duration_ns: int  # mean per repetition, as the kernel measured it


def run(prog_fd: int, packet: bytes, repeat: int = 1, out_size: int = 512) -> TestRun:
    """Run the program ``prog_fd`` on ``packet`` ``repeat`` times (the packet is reset each time)."""
    lib = _libbpf()
    data_in = ctypes.create_string_buffer(packet, len(packet))
    data_out = ctypes.create_string_buffer(out_size)
    opts = _Opts(sz=ctypes.sizeof(_Opts), data_in=ctypes.cast(data_in, ctypes.c_void_p),
                 data_out=ctypes.cast(data_out, ctypes.c_void_p), data_size_in=len(packet),
                 data_size_out=out_size, repeat=repeat)
    rc = lib.bpf_prog_test_run_opts(prog_fd, ctypes.byref(opts))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"BPF_PROG_TEST_RUN failed: {os.strerror(err)}")
    return TestRun(opts.retval, data_out.raw[: opts.data_size_out], opts.duration)
