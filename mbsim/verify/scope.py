"""What verification covers, and what the testbed needs from the machine."""
from __future__ import annotations

import os
import subprocess

from mbsim.errors import MbsimError

# the article's table 1 (loss12, db-down, tail-spike) and the partition
VERIFIED = ("loss12", "db-down", "tail-spike", "partition")


def needs_testbed(what: str) -> None:
    """One line, before anything starts, when this machine cannot run the testbed."""
    from mbsim.kernel import programs

    try:
        programs.require_bpf()
    except MbsimError as exc:
        raise MbsimError(f"{what} needs root and a BPF-capable kernel ({exc}); the simulator works without "
                         f"them: mbsim simulate --scenario db-down") from None
    if not os.path.exists("/var/run/netns") and subprocess.run(
            ["ip", "netns", "list"], capture_output=True, check=False).returncode != 0:
        raise MbsimError(f"{what} needs network namespaces (iproute2's ip netns)")
