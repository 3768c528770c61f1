"""Verification: the model's predictions against the real kernel fallback on a real testbed.

Each scenario runs twice: on the testbed (namespaces joined by veth, a real UDP server, an
open-loop load generator, the eBPF dropper, and for the ox-horn the exported program with
its controller), and in the simulator with the same seed, arrivals, settings and the
constants measured by calibration. The two are compared with intervals.

What the testbed emulates: the service-time process (c workers and a FIFO queue, service
times drawn from the scenario's distribution, inflated by the load function and tail
spikes, outages) - the server waits on timers instead of burning CPU. What is real: the
sockets, the kernel path, the horn, the dropper, client timing and the controller.

``arms`` (none, plain breaker, ox-horn), ``server`` (the backend), ``client`` (the
open-loop generator, the client library and the receiver), ``testbed`` (the network and
the processes), ``measure`` (per-request outcomes -> metrics with intervals), ``gates``
(validity gates after Lancet), ``calibrate`` (the testbed's constants), ``predict`` (the
simulator on the same inputs), ``verdict`` (predicted against measured, the goals),
``plots``, ``run`` (the whole verification, written under ``data/verification/``).
"""
