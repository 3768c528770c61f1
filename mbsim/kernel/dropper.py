"""The chaos dropper (``bpf/chaos_drop.c``) at a receiver's TC ingress: packet loss with a
32-bit threshold and partitions in CLOCK_MONOTONIC windows - the netem this kernel lacks.

Loss must be injected at the receiver: a drop at the sender's egress is reported back to
the sender, which just retries. It runs at priority 48, before the horn's ingress half
(49), and never drops the horn's own answers (their mark).
"""
from __future__ import annotations

import ctypes

from mbsim.kernel import programs, tc

PRIO = 48


def threshold(p: float) -> int:
    """The u32 threshold that drops a share ``p`` (``prandom < threshold``: 0 never drops)."""
    return min(2 ** 32 - 1, max(0, round(p * 2 ** 32)))


class Dropper:
    """The dropper attached at ``dev``'s ingress in ``ns``, dropping UDP to or from ``port``."""

    def __init__(self, ns: str | None, dev: str, port: int = 0) -> None:
        self.b = programs.compile_dropper()
        self.fn = programs.sched_cls(self.b, "chaos_drop")
        self.cfg = self.b["drop_config"]
        self.port = port
        self.set(0.0)
        self.attachment = tc.attach(self.fn, ns, dev, "ingress", PRIO)

    def set(self, loss: float = 0.0, partitions: tuple[tuple[int, int], ...] = ()) -> None:
        """Drop a share ``loss`` of packets, and every packet within the first window of
        ``partitions`` ((start ns, end ns), CLOCK_MONOTONIC). The map holds one window;
        :meth:`set` again for the next."""
        v = self.cfg.Leaf()
        v.threshold = threshold(loss)
        v.port = self.port
        if partitions:
            v.partition_start_ns, v.partition_end_ns = partitions[0]
        self.cfg[ctypes.c_int(0)] = v

    def stats(self) -> tuple[int, int]:
        """(packets seen, dropped) since it was loaded."""
        m = self.b["drop_stats"]
        seen, dropped = (sum(m.getvalue(m.Key(k))) for k in (0, 1))
        return int(seen), int(dropped)
