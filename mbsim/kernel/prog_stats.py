"""The kernel's own statistics of a loaded program (``kernel.bpf_stats_enabled``)."""
from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from pathlib import Path

from mbsim.kernel.testrun import _libbpf

SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")


class ProgInfo(ctypes.Structure):
    """The head of ``struct bpf_prog_info`` (uapi/linux/bpf.h), up to the run statistics."""

    _fields_ = [
        ("type", ctypes.c_uint32), ("id", ctypes.c_uint32), ("tag", ctypes.c_uint8 * 8),
        ("jited_prog_len", ctypes.c_uint32), ("xlated_prog_len", ctypes.c_uint32),
        ("jited_prog_insns", ctypes.c_uint64), ("xlated_prog_insns", ctypes.c_uint64),
        ("load_time", ctypes.c_uint64), ("created_by_uid", ctypes.c_uint32), ("nr_map_ids", ctypes.c_uint32),
        ("map_ids", ctypes.c_uint64), ("name", ctypes.c_char * 16), ("ifindex", ctypes.c_uint32),
        ("gpl_compatible", ctypes.c_uint32), ("netns_dev", ctypes.c_uint64), ("netns_ino", ctypes.c_uint64),
        ("nr_jited_ksyms", ctypes.c_uint32), ("nr_jited_func_lens", ctypes.c_uint32),
        ("jited_ksyms", ctypes.c_uint64), ("jited_func_lens", ctypes.c_uint64), ("btf_id", ctypes.c_uint32),
        ("func_info_rec_size", ctypes.c_uint32), ("func_info", ctypes.c_uint64), ("nr_func_info", ctypes.c_uint32),
        ("nr_line_info", ctypes.c_uint32), ("line_info", ctypes.c_uint64), ("jited_line_info", ctypes.c_uint64),
        ("nr_jited_line_info", ctypes.c_uint32), ("line_info_rec_size", ctypes.c_uint32),
        ("jited_line_info_rec_size", ctypes.c_uint32), ("nr_prog_tags", ctypes.c_uint32),
        ("prog_tags", ctypes.c_uint64), ("run_time_ns", ctypes.c_uint64), ("run_cnt", ctypes.c_uint64),
    ]


def prog_info(prog_fd: int) -> ProgInfo:
    """The kernel's ``bpf_prog_info`` head of a loaded program (id, name, run statistics)."""
    lib = _libbpf()
    info = ProgInfo()
    size = ctypes.c_uint32(ctypes.sizeof(info))
    lib.bpf_obj_get_info_by_fd.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
    if lib.bpf_obj_get_info_by_fd(prog_fd, ctypes.byref(info), ctypes.byref(size)) != 0:
        raise OSError(ctypes.get_errno(), "bpf_obj_get_info_by_fd failed")
    return info


def run_stats(prog_fd: int) -> tuple[int, int]:
    """(total run time ns, run count) of a program, counted while stats are enabled."""
    info = prog_info(prog_fd)
    return int(info.run_time_ns), int(info.run_cnt)


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """Turn ``kernel.bpf_stats_enabled`` on for the block, then back to what it was."""
    before = SYSCTL.read_text().strip()
    SYSCTL.write_text("1")
    try:
        yield
    finally:
        SYSCTL.write_text(before)
