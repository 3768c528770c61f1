"""What the online loop reads from Prometheus: the SLO's P99 and the unserved share, per window.

Both come from the controller's metrics (:mod:`mbsim.kernel.exporter`), with PromQL over a
window that ends at a given time:

* **P99 (ms)**: ``histogram_quantile(0.99, sum by (le) (increase(
  mbsim_response_latency_seconds_bucket[W])))`` - responses, late responses and timeouts;
  NaN when nothing was answered in the window;
* **unserved share**: of the requests offered in the window (passed, probes and every
  answer or refusal of a new request), those the upstream did not serve in time: answered
  from the snapshot (breaker open, over capacity, over the rate limit), refused, or timed
  out. This is the objective: the upstream should serve as much as the SLO allows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from mbsim.online.prometheus import PromQL

OFFERED = "passed|probe|answered_open|answered_capacity|answered_rate|refused_rate"
UNSERVED = "answered_open|answered_capacity|answered_rate|refused_rate|timeout"


def p99_expr(span_s: float, quantile: float = 0.99) -> str:
    return (f"histogram_quantile({quantile:g}, sum by (le) "
            f"(increase(mbsim_response_latency_seconds_bucket[{_ms(span_s)}])))")


def share_expr(span_s: float) -> str:
    w = _ms(span_s)
    return (f'sum(increase(mbsim_decisions_total{{decision=~"{UNSERVED}"}}[{w}])) / '
            f'sum(increase(mbsim_decisions_total{{decision=~"{OFFERED}"}}[{w}]))')


def offered_expr(span_s: float) -> str:
    return f'sum(increase(mbsim_decisions_total{{decision=~"{OFFERED}"}}[{_ms(span_s)}]))'


def _ms(span_s: float) -> str:
    return f"{max(1, round(span_s * 1000))}ms"


@dataclass(frozen=True)
class Reading:
    """One window: its end (unix s), P99 (ms; NaN: no answers), unserved share, offered count."""

    end: float
    p99_ms: float
    unserved: float
    offered: float

    def over(self, slo_ms: float) -> bool:
        return math.isfinite(self.p99_ms) and self.p99_ms > slo_ms


def read(q: PromQL, end: float, span_s: float, quantile: float = 0.99) -> Reading:
    """The window of ``span_s`` ending at unix time ``end``."""
    p99 = q.value(p99_expr(span_s, quantile), end)
    share = q.value(share_expr(span_s), end)
    offered = q.value(offered_expr(span_s), end)
    return Reading(end, p99 * 1e3 if math.isfinite(p99) else math.nan,
                   share if math.isfinite(share) else math.nan, offered if math.isfinite(offered) else 0.0)
