"""The real backend on the testbed: an outage is another process's lock on the database, and
the server's worker meets it as SQLite makes it (hang: waits it out; error: fails at once)."""
import dataclasses
from typing import Literal

import numpy as np
import pytest
from kernel_fixtures import needs_bpf

from mbsim.verify.arms import ARMS
from mbsim.verify.testbed import Testbed
from mbsim.world import catalog
from mbsim.world.client import Client
from mbsim.world.faults import Faults
from mbsim.world.service import Service

pytestmark = [needs_bpf, pytest.mark.bpf]
DOWN = (1.5, 2.5)


@pytest.fixture(scope="module")
def testbed():
    with Testbed(backend="sqlite", db_rows=50_000) as tb:
        yield tb


def outage(mode: Literal["hang", "error"]):
    sc = catalog.get("db-down")
    return dataclasses.replace(sc, duration_s=3.5, warmup_s=0.5, service=Service(workers=1, mean_ms=0.3),
                               workload=dataclasses.replace(sc.workload, rate_rps=500.0),
                               client=Client(timeout_ms=2000.0, max_retries=0),
                               faults=Faults(down=(DOWN,), down_mode=mode))


def at(raw, column):
    """A job column in scenario seconds."""
    return (raw.jobs[column] - raw.t0_ns) / 1e9


def test_hang_the_worker_waits_for_the_lock_and_every_request_is_answered(testbed):
    raw = testbed.run(outage("hang"), ARMS["none"], seed=1)
    start, end = at(raw, "start_ns"), at(raw, "end_ns")
    assert raw.jobs["error"].sum() == 0 and raw.server["errors"] == 0
    assert raw.server["answered"] == raw.server["received"] == len(raw.arrays["planned"])
    # no query finished while the lock was held; the one caught by it ended after the release
    assert not np.any((end > DOWN[0] + 0.05) & (end < DOWN[1] - 0.005))
    caught = (start < DOWN[1] - 0.005) & (end > DOWN[0] + 0.05)
    assert caught.sum() == 1 and end[caught][0] >= DOWN[1] - 0.005
    assert end[caught][0] - start[caught][0] > 0.9 * (DOWN[1] - DOWN[0]) - 0.05  # its service time: the wait
    # the requests that arrived during the outage waited in the queue, and were served after it
    arrived = (at(raw, "arrival_ns") > DOWN[0] + 0.05) & (at(raw, "arrival_ns") < DOWN[1] - 0.05)
    assert arrived.sum() > 300 and np.all(end[arrived] >= DOWN[1] - 0.005)


def test_error_the_worker_fails_at_once_with_the_real_error_and_the_client_sees_it(testbed):
    raw = testbed.run(outage("error"), ARMS["none"], seed=1)
    arrival, end = at(raw, "arrival_ns"), at(raw, "end_ns")
    err = raw.jobs["error"] == 1
    inside = (arrival > DOWN[0] + 0.05) & (arrival < DOWN[1] - 0.05)
    outside = (arrival < DOWN[0] - 0.05) | (arrival > DOWN[1] + 0.2)
    assert inside.sum() > 300 and err[inside].all() and not err[outside].any()
    assert np.percentile((end - arrival)[inside], 99) < 0.01  # fast: no waiting on the lock
    assert raw.server["errors"] == err.sum() > 0
