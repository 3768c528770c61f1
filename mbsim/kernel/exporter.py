"""The controller's live metrics for Prometheus (``mbsim apply --metrics ADDR:PORT``).

Names follow Prometheus's conventions: base units in the name (seconds, requests),
``_total`` on counters. Every sample is read from the kernel's maps or the controller when
Prometheus scrapes, except the latency histogram, which the controller fills from the
response events as they arrive.

===================================================  =========  ======================================
metric                                               type       what
===================================================  =========  ======================================
``mbsim_window_seconds``                             gauge      the window in force
``mbsim_capacity_requests``                          gauge      the in-flight capacity in force
``mbsim_breaker_state{state}``                       state set  closed, open or half_open (1 on the one)
``mbsim_in_flight_requests``                         gauge      requests passed and not yet answered
``mbsim_watermark_p95_requests``                     gauge      the per-CPU in-flight marks' P95
``mbsim_rate_limit_requests_per_second``             gauge      the watermark loop's limit (+Inf: none)
``mbsim_offered_requests_per_second{terrain}``       gauge      the last terrain sample's load
``mbsim_decisions_total{decision}``                  counter    the horn's decisions (below)
``mbsim_response_latency_seconds{terrain,mode}``     histogram  responses, late responses, timeouts
``mbsim_settings_changes_total{reason}``             counter    hot loads: proposal, rollback, restore...
``mbsim_settings_info{...,mode}``                    info       the settings in force
===================================================  =========  ======================================

``decision`` is one of ``passed``, ``probe``, ``answered_open``, ``answered_capacity``,
``answered_rate``, ``answered_fallback`` (the client's re-ask after its deadline),
``refused_rate``, ``expired`` (closed by the controller) and the responses (``response``,
``response_late``, ``response_stale``, ``timeout``). ``terrain`` and ``mode`` are the
article's labels (digest 2.4; :mod:`mbsim.world.terrain`, :func:`controller.mode_of`). Its
third label, ``component`` (gc, pool, timeout), names parts of a Go service that mbsim
does not have: it is left out.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, StateSetMetricFamily
from prometheus_client.registry import Collector

from mbsim.errors import ConfigError
from mbsim.kernel import horn as H
from mbsim.kernel.controller import Controller, mode_of
from mbsim.params import to_dict

#: latency buckets (s): 50 us to 1 s, finest where the deadline (ms) sits
BUCKETS = (5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 7.5e-4, 1e-3, 1.5e-3, 2e-3, 3e-3, 4e-3, 5e-3, 7.5e-3, 1e-2, 2e-2, 5e-2,
           0.1, 0.25, 0.5, 1.0)
DECISION_NAMES = {"pass": "passed", "answer_open": "answered_open", "answer_fallback": "answered_fallback",
                  "answer_capacity": "answered_capacity", "probe": "probe", "response": "response",
                  "response_late": "response_late", "response_stale": "response_stale", "timeout": "timeout",
                  "answer_rate": "answered_rate", "refuse_rate": "refused_rate"}


def flat(d: Any, prefix: str = "") -> dict[str, str]:
    """Nested settings as ``a_b_c`` -> text (an info metric's labels)."""
    out: dict[str, str] = {}
    for k, v in d.items():
        name = f"{prefix}_{k}" if prefix else k
        if isinstance(v, dict):
            out.update(flat(v, name))
        else:
            out[name] = str(v)
    return out


class ControllerCollector(Collector):
    """Reads the controller and the horn's maps at scrape time."""

    def __init__(self, controller: Controller) -> None:
        self.c = controller

    def collect(self) -> Iterator[Any]:
        c = self.c
        yield GaugeMetricFamily("mbsim_window_seconds", "The window in force.", value=c.window_ms / 1e3)
        yield GaugeMetricFamily("mbsim_capacity_requests", "The in-flight capacity in force.", value=c.capacity)
        state = c._name(c.state)
        yield StateSetMetricFamily("mbsim_breaker_state", "The breaker's state as the kernel has it.",
                                   value={s: s == state for s in ("closed", "open", "half_open")})
        yield GaugeMetricFamily("mbsim_in_flight_requests", "Requests passed and not yet answered.",
                                value=c.horn.in_flight())
        yield GaugeMetricFamily("mbsim_watermark_p95_requests",
                                "P95 over CPUs of the per-CPU in-flight high-water marks of the last period.",
                                value=c.watermark_p95)
        yield GaugeMetricFamily("mbsim_rate_limit_requests_per_second",
                                "The watermark loop's rate limit (+Inf: none).", value=c.limit_rps)
        g = GaugeMetricFamily("mbsim_offered_requests_per_second", "Offered load in the last terrain sample.",
                              labels=["terrain"])
        g.add_metric([c.terrain.terrain], c.terrain.rates[-1] if c.terrain.rates else 0.0)
        yield g
        d = CounterMetricFamily("mbsim_decisions", "The horn's decisions, summed over CPUs.", labels=["decision"])
        for name, n in c.horn.decisions().items():
            d.add_metric([DECISION_NAMES.get(name, name)], n)
        d.add_metric(["expired"], c.horn.counter(H.C_EXPIRED))
        yield d
        ch = CounterMetricFamily("mbsim_settings_changes", "Settings put in force while running, by reason.",
                                 labels=["reason"])
        for reason in sorted(set(c.changes) | {"proposal", "rollback", "restore"}):
            ch.add_metric([reason], c.changes.get(reason, 0))
        yield ch
        info = InfoMetricFamily("mbsim_settings", "The settings in force.")
        info.add_metric([], {**flat(to_dict(c.s)), "mode": mode_of(c.s), "gen": str(c.horn.gen)})
        yield info


class Exporter:
    """The metrics of ``controller``, served on ``addr:port`` (``port`` 0: any free one)."""

    def __init__(self, controller: Controller, addr: str, port: int) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(ControllerCollector(controller))
        self.latency = Histogram("mbsim_response_latency_seconds",
                                 "Round trip of the upstream's responses as the horn saw them, and of timeouts "
                                 "(at the client's re-ask).", ["terrain", "mode"], buckets=BUCKETS,
                                 registry=self.registry)
        c = controller

        def observe(latency_s: float, _decision: str) -> None:
            self.latency.labels(c.terrain.terrain, mode_of(c.s)).observe(latency_s)

        c.on_latency.append(observe)
        try:
            self.server, self.thread = start_http_server(port, addr, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"--metrics {addr}:{port}: cannot listen there ({exc.strerror})") from None
        self.addr, self.port = addr, self.server.server_port

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def parse_addr(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` of ``--metrics``."""
    addr, sep, port = text.rpartition(":")
    if not sep or not addr or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--metrics must be ADDR:PORT (for example 127.0.0.1:9464), got {text!r}")
    return addr, int(port)

