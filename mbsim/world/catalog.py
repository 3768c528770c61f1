"""Built-in scenarios, by name (``mbsim scenarios`` lists them).

Each reproduces a situation of the seed article with mbsim's default service (16 workers,
lognormal service times with mean 1 ms and sigma 0.5, 0.2 ms RTT, a client with a 100 ms
timeout and 2 retries) and an SLO of P99 <= 10 ms in at least 99 % of one-second windows.
"""
from __future__ import annotations

from pathlib import Path

from mbsim.errors import ConfigError
from mbsim.params import from_dict, loads_strict, read_text
from mbsim.world.faults import Faults
from mbsim.world.network import Network
from mbsim.world.scenario import Scenario
from mbsim.world.service import Service
from mbsim.world.slo import Slo
from mbsim.world.workload import Workload

_SLO = Slo(target_ms=10.0, percentile=99.0, budget=0.01)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="loss12",
            description="12% packet loss on each leg at 5K req/s (article 1: network jitter "
                        "with 12% loss; plain breaker P99 84 ms, ox-horn 3.1 ms claimed)",
            duration_s=20.0, warmup_s=2.0,
            workload=Workload(rate_rps=5000.0),
            network=Network(loss_request=0.12, loss_response=0.12),
            slo=_SLO,
        ),
        Scenario(
            name="db-down",
            description="the backend hangs from 4 s to 9 s at 5K req/s (article 1: backend DB "
                        "fully down; plain breaker P99 1200 ms, ox-horn 2.8 ms claimed)",
            duration_s=20.0, warmup_s=2.0,
            workload=Workload(rate_rps=5000.0),
            faults=Faults(down=((4.0, 9.0),), down_mode="hang"),
            slo=_SLO,
        ),
        Scenario(
            name="tail-spike",
            description="10K req/s on 32 workers with long-tail spikes (article 2.5): 1% of requests take 20x, and "
                        "every 5 s a 0.5 s window takes 4x",
            duration_s=20.0, warmup_s=2.0,
            service=Service(workers=32),
            workload=Workload(rate_rps=10000.0, spike_fraction=0.01, spike_factor=20.0,
                              spike_windows=tuple((t, t + 0.5, 4.0) for t in (3.0, 8.0, 13.0, 18.0))),
            slo=_SLO,
        ),
        Scenario(
            name="sustained",
            description="load ramps from 5K to 15K req/s over 8 s on 16 workers (94 % of their capacity) and "
                        "stays there (a sustained climb: the tuning terrain 'sustained', article 2.4)",
            duration_s=20.0, warmup_s=2.0,
            workload=Workload(rate_rps=5000.0, ramps=((2.0, 10.0, 15000.0),)),
            slo=_SLO,
        ),
        Scenario(
            name="noisy",
            description="5K req/s with 3% loss per leg and 20 ms delay spikes for 0.3 s every 2 s (the tuning "
                        "terrain 'noisy', article 2.4)",
            duration_s=20.0, warmup_s=2.0,
            workload=Workload(rate_rps=5000.0),
            network=Network(loss_request=0.03, loss_response=0.03),
            faults=Faults(delay_spikes=tuple((t, t + 0.3, 20.0) for t in range(3, 20, 2))),
            slo=_SLO,
        ),
        Scenario(
            name="partition",
            description="a network partition drops every packet from 4 s to 7 s at 5K req/s "
                        "(article 4.3: the local snapshot must take over)",
            duration_s=20.0, warmup_s=2.0,
            workload=Workload(rate_rps=5000.0),
            faults=Faults(partitions=((4.0, 7.0),)),
            slo=_SLO,
        ),
        Scenario(
            name="overload",
            description="a healthy backend asked for twice what it can do: 16K req/s of capacity, load ramps "
                        "from 8K to 32K req/s over 6 s, holds 6 s, falls back to 8K over 2 s (no fault: "
                        "shed the excess, keep the goodput, do not trip)",
            duration_s=26.0, warmup_s=2.0,
            workload=Workload(rate_rps=8000.0, ramps=((4.0, 10.0, 32000.0), (16.0, 18.0, 8000.0))),
            slo=_SLO,
        ),
    )
}


def register(sc: Scenario) -> Scenario:
    """Add ``sc`` to the built-in scenarios under ``sc.name`` (a name may be used once)."""
    if sc.name in SCENARIOS:
        raise ConfigError(f"a scenario named {sc.name!r} already exists")
    SCENARIOS[sc.name] = sc
    return sc


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None


def names() -> list[str]:
    return list(SCENARIOS)


def load(name: str) -> Scenario:
    """A built-in scenario by name, or a scenario JSON file (a name ending in ``.json``)."""
    if name.endswith(".json"):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"scenario file {name} not found")
        data = loads_strict(read_text(path), str(path))
        if not isinstance(data, dict):
            raise ConfigError(f"{name}: a scenario file holds a JSON object")
        return from_dict(Scenario, data)
    return get(name)
