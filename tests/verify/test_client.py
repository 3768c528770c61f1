"""The testbed client's kernel transmit timestamps, on loopback: each send's timestamp lands
on its request id, after the sender's own clock at that send."""
import select
import socket
import time

import numpy as np

from mbsim.formats import wire as P
from mbsim.verify import client
from mbsim.verify.proc import realtime_offset_ns


def test_each_send_gets_its_kernel_transmit_timestamp_by_request_id():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    up = client.client_socket(server.getsockname(), tx_timestamps=True)
    a = client.arrays(50)
    off = realtime_offset_ns()
    rids = [i * 4 for i in range(50)]
    rids[7] = 7 * 4 + 1  # a retry's id: attempt 1 of request 7
    for k, rid in enumerate(rids):
        a["sent"][rid] = time.monotonic_ns()
        a["tx_rid"][k % client.RING] = rid
        up.send(P.request(rid, 1))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and np.count_nonzero(a["tx"]) < len(rids):
        select.select([up], [], [], 0.05)
        client.drain_tx(up, a, off)
    tx, sent = a["tx"], a["sent"]
    assert np.count_nonzero(tx) == len(rids) and all(tx[r] > 0 for r in rids)
    delay = np.array([tx[r] - sent[r] for r in rids])
    assert np.all(delay >= 0) and np.all(delay < client.TX_MAX_NS)  # after the sender's clock, and close
    assert tx[7 * 4] == 0  # attempt 0 of request 7 was never sent


def test_a_timestamp_that_does_not_fit_its_send_is_refused():
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    up = client.client_socket(server.getsockname(), tx_timestamps=True)
    a = client.arrays(4)
    a["tx_rid"][0] = 0
    a["sent"][0] = time.monotonic_ns() + 10 * client.TX_MAX_NS  # the counter points at the wrong send
    up.send(P.request(0, 1))
    time.sleep(0.05)
    client.drain_tx(up, a, realtime_offset_ns())
    assert a["tx"][0] == 0
