"""The real backend's database and server: the rows it builds, the work a request does, and
the faults as SQLite makes the workers meet them (a real lock held by another process)."""
from __future__ import annotations

import multiprocessing as mp
import socket
import sqlite3
import threading
import time
from typing import Literal

import numpy as np
import pytest

from mbsim.errors import ConfigError, MbsimError
from mbsim.formats import wire as P
from mbsim.verify import database as D
from mbsim.verify.db_server import FIELDS, DbServer, job_table
from mbsim.verify.server import ServerConfig
from mbsim.world.faults import Faults
from mbsim.world.scenario import Scenario
from mbsim.world.workload import Workload

ROWS = 20_000
_FORK = mp.get_context("fork")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = D.build(tmp_path_factory.mktemp("db") / "items.sqlite", ROWS, seed=3)
    return D.Database(path, ROWS)


def truth(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The group and value columns the build draws (the same generator)."""
    rng = np.random.default_rng([seed, 0xDB])
    return rng.integers(0, D.GROUPS, ROWS), rng.random(ROWS)


def test_the_database_holds_the_drawn_rows_in_rollback_journal_mode(db):
    c = sqlite3.connect(db.path)
    assert c.execute("SELECT count(*) FROM items").fetchone() == (ROWS,)
    # in WAL mode a writer's lock would not stop the readers: the outage needs rollback mode
    assert c.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert c.execute("SELECT tbl_name FROM sqlite_master WHERE name = 'items_grp'").fetchone() == ("items",)
    c.close()


def test_a_built_database_is_kept_and_a_different_one_rebuilt(db, tmp_path):
    mtime = db.path.stat().st_mtime_ns
    assert D.build(db.path, ROWS, seed=3) == db.path
    assert db.path.stat().st_mtime_ns == mtime
    other = D.build(tmp_path / "x.sqlite", ROWS, seed=4)
    with sqlite3.connect(other) as c:
        assert c.execute("SELECT v FROM meta").fetchone() == (f"{D.SCHEMA_VERSION}:{ROWS}:4",)


def test_too_few_rows_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="the database needs 15000 to 50,000,000 rows, got 10"):
        D.build(tmp_path / "x.sqlite", 10)


def test_a_light_request_sums_its_key_range_and_a_heavy_one_its_group(db):
    grp, val = truth()
    conn = db.connect()
    for key in (1, 77, 1001, 123_456):
        lo, hi = D.light_range(key, ROWS)
        assert D.LIGHT_ROWS[0] <= hi - lo + 1 < D.LIGHT_ROWS[1] and lo >= 1 and hi <= ROWS
        assert db.query(conn, key, heavy=False) == pytest.approx(val[lo - 1:hi].sum(), rel=1e-12)
        g = D.groups_of(key)
        assert db.query(conn, key, heavy=True) == pytest.approx(val[np.isin(grp, g)].sum(), rel=1e-12)


def test_a_spike_window_makes_the_same_request_do_more_work(db):
    lo, hi = D.light_range(42, ROWS)
    lo4, hi4 = D.light_range(42, ROWS, 4.0)
    assert hi4 - lo4 + 1 == min(ROWS, round((hi - lo + 1) * 4))
    assert len(D.groups_of(42, 4.0)) == 4 and len(set(D.groups_of(42, 4.0))) == 4


def test_the_workers_busy_timeout_is_what_their_mode_says(db):
    assert db.connect("hang").execute("PRAGMA busy_timeout").fetchone() == (int(D.HANG_TIMEOUT_S * 1000),)
    assert db.connect("error").execute("PRAGMA busy_timeout").fetchone() == (0,)


def _lock(db, hold_s: float) -> tuple[mp.process.BaseProcess, float]:
    """Another process holds the lock from 0.1 s to 0.1 + hold_s from now; returns when it
    has it and when it lets go (monotonic s)."""
    held = _FORK.Value("q", 0)
    t0 = time.monotonic_ns() + 100_000_000
    p = _FORK.Process(target=D.hold_lock, args=(db.path, [(t0, t0 + int(hold_s * 1e9))], held), daemon=True)
    p.start()
    while held.value == 0:
        time.sleep(0.005)
    return p, (t0 + hold_s * 1e9) / 1e9


def test_hang_mode_a_worker_waits_out_another_process_lock_and_goes_on(db):
    _grp, val = truth()
    conn = db.connect("hang")
    p, release = _lock(db, 0.4)
    t = time.monotonic()
    result = db.query(conn, 5, heavy=False)
    done = time.monotonic()
    p.join(5)
    lo, hi = D.light_range(5, ROWS)
    assert result == pytest.approx(val[lo - 1:hi].sum())
    assert done >= release - 0.01, "the query ran while the database was locked"
    # SQLite's busy handler polls: it sees the release within its sleep (at most 100 ms)
    assert done - release < 0.2
    assert done - t > 0.2


def test_error_mode_a_worker_fails_at_once_with_sqlites_own_error(db):
    conn = db.connect("error")
    p, _release = _lock(db, 0.5)
    t = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        db.query(conn, 5, heavy=False)
    assert time.monotonic() - t < 0.05
    p.join(5)
    assert db.query(conn, 5, heavy=False) > 0  # and works again once the lock is gone


# -- the server, on loopback ------------------------------------------------------------
def _serve(db, mode: Literal["hang", "error"], spike_fraction: float = 0.0, workers: int = 1):
    sc = Scenario(name="t", description="", duration_s=60.0, warmup_s=0.0,
                  workload=Workload(rate_rps=100.0, spike_fraction=spike_fraction),
                  faults=Faults(down_mode=mode))
    cfg = ServerConfig(sc, "127.0.0.1", 0, time.monotonic_ns(), np.zeros(0), np.full(8, 0.5), seed=1)
    stats = np.zeros(4, dtype=np.int64)
    jobs = np.zeros(1 + 1000 * len(FIELDS), dtype=np.int64)
    server = DbServer(cfg, db, stats, jobs, workers)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    th = threading.Thread(target=server.serve, args=(sock,), daemon=True)
    th.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    client.connect(sock.getsockname())
    return server, th, client, jobs


def _ask(client, rid: int, key: int):
    client.send(P.request(rid, key))
    return P.parse(client.recv(2048))


@pytest.mark.parametrize("workers", [1, 2])
def test_the_server_answers_from_the_database_and_records_each_job(db, workers):
    server, th, client, jobs = _serve(db, "hang", workers=workers)
    try:
        answers = [_ask(client, (i + 8) * 4, 100 + i) for i in range(20)]
    finally:
        server.stop = True
        th.join(2)
    assert [a.status for a in answers] == [P.ST_OK] * 20
    assert [a.req_id for a in answers] == [(i + 8) * 4 for i in range(20)]
    t = job_table(jobs)
    assert len(t["req_id"]) == 20 and not t["error"].any()
    assert np.all(t["end_ns"] > t["start_ns"]) and np.all(t["start_ns"] >= t["arrival_ns"])
    assert server.stats[0] == server.stats[1] == 20


def test_a_request_is_heavy_exactly_when_the_simulators_uniform_says(db):
    server, th, client, jobs = _serve(db, "hang", spike_fraction=0.6)  # first_spike is 0.5 for indices 0-7
    try:
        _ask(client, 3 * 4, 7)  # index 3, first attempt: 0.5 < 0.6
    finally:
        server.stop = True
        th.join(2)
    assert job_table(jobs)["heavy"].tolist() == [1]


def test_error_mode_the_server_answers_error_while_the_database_is_down(db):
    server, th, client, jobs = _serve(db, "error")
    try:
        p, _release = _lock(db, 0.5)
        down = _ask(client, 4, 9)
        p.join(5)
        up = _ask(client, 8, 9)
    finally:
        server.stop = True
        th.join(2)
    assert down.status == P.ST_ERROR and up.status == P.ST_OK
    assert job_table(jobs)["error"].tolist() == [1, 0]


def test_hang_mode_the_server_answers_once_the_lock_is_released(db):
    server, th, client, jobs = _serve(db, "hang")
    try:
        p, release = _lock(db, 0.4)
        a = _ask(client, 4, 9)
        answered = time.monotonic()
        p.join(5)
    finally:
        server.stop = True
        th.join(2)
    assert a.status == P.ST_OK and answered >= release - 0.01
    t = job_table(jobs)
    assert (t["end_ns"][0] - t["start_ns"][0]) / 1e9 > 0.2  # the wait is the job's service time


def test_a_testbed_refuses_an_unknown_backend():
    from mbsim.verify.testbed import Testbed

    with pytest.raises(MbsimError, match="backend must be one of sqlite, timer, got 'mysql'"):
        Testbed(backend="mysql")
