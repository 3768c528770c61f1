"""``mbsim tune --online`` as a library: the space, the running controller, Prometheus, the loop.

The space is offline tuning's (:func:`mbsim.tuning.space.build`) less what is compiled
into the running horn and cannot change while it runs: ``buffer.window_min_ms`` (it sets
the window slot's length) and ``fallback.deadline_ms`` (the clients' deadline and the
horn's constant); ``buffer.window_max_ms`` keeps under the span the compiled slots cover.
``buffer.capacity_max`` may go down to 2 (offline: 16): a running horn's in-flight
capacity below 16 is how it protects a small backend from a burst, and the re-tuning's
formula never gives less than 16 by itself. The study starts from the settings in force,
or from an offline study's best (``--from STUDY``), which it first puts in force.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mbsim.deploy.export import constants_of
from mbsim.dimension import Dimension
from mbsim.errors import ConfigError, MbsimError
from mbsim.formats import settings_file
from mbsim.kernel import control
from mbsim.mbb.settings import MbbSettings
from mbsim.online.loop import Loop, LoopConfig, OnlineResult
from mbsim.online.prometheus import PromQL
from mbsim.online.readings import Reading, read
from mbsim.params import from_dict, to_dict
from mbsim.provenance import provenance
from mbsim.tuning import space

COMPILED = ("buffer.window_min_ms", "fallback.deadline_ms")


def online_dims(settings: MbbSettings, names: list[str] | None = None) -> list[Dimension]:
    """Offline tuning's dimensions that a running horn can take, within what it compiled."""
    asked = set(names or [])
    bad = asked & set(COMPILED)
    if bad:
        raise ConfigError(f"{sorted(bad)[0]} is compiled into the running horn: tune it offline")
    dims = [d for d in space.build(names) if d.name not in COMPILED]
    consts = constants_of(settings)
    span_ms = consts["MBB_SLOT_NS"] * consts["MBB_SLOT_COUNT"] / 1e6
    out = []
    for d in dims:
        if d.name == "buffer.capacity_max":
            d = Dimension(d.name, 2, d.high, d.integer, d.log)
        if d.name == "buffer.window_max_ms":
            # the slots must keep covering the longest window (export.constants_of)
            hi = min(d.high, _widest_window(settings, span_ms))
            lo = min(d.low, hi * 0.5)
            d = Dimension(d.name, max(lo, settings.buffer.window_min_ms), hi, d.integer, d.log)
        out.append(d)
    return out


def _widest_window(settings: MbbSettings, span_ms: float) -> float:
    """The longest window_max_ms that compiles to the same slot count as ``settings``."""
    count = constants_of(settings)["MBB_SLOT_COUNT"]
    lo, hi = settings.buffer.window_min_ms, span_ms
    for _ in range(40):
        mid = (lo + hi) / 2
        try:
            same = constants_of(_with(settings, window_max_ms=mid))["MBB_SLOT_COUNT"] == count
        except MbsimError:
            same = False
        lo, hi = (mid, hi) if same else (lo, mid)
    return math.floor(lo)


def _with(settings: MbbSettings, **buffer: Any) -> MbbSettings:
    from dataclasses import replace

    return replace(settings, buffer=replace(settings.buffer, **buffer))


class ControlTarget:
    """The apply running at ``dev`` in ``ns``, through its control socket."""

    def __init__(self, ns: str | None, dev: str) -> None:
        self.ns, self.dev = ns, dev

    def get(self) -> dict[str, Any]:
        reply = control.request(self.ns, self.dev, {"op": "get"})
        if not reply.get("ok"):
            raise MbsimError(f"the controller at {self.dev}: {reply.get('error')}")
        return reply

    def settings(self) -> MbbSettings:
        s: MbbSettings = from_dict(MbbSettings, self.get()["settings"], "settings")
        return s

    def put(self, settings: MbbSettings, reason: str) -> dict[str, Any]:
        reply = control.request(self.ns, self.dev, {"op": "set", "settings": to_dict(settings), "reason": reason})
        if not reply.get("ok"):
            raise MbsimError(f"the controller at {self.dev} refused the settings: {reply.get('error')}")
        return reply


def prometheus_reader(url: str, timeout_s: float = 2.0) -> Callable[[float, float], Reading]:
    q = PromQL(url, timeout_s)

    def reader(end: float, span_s: float) -> Reading:
        return read(q, end, span_s)

    return reader


def start_settings(target: ControlTarget, source: str | None) -> MbbSettings:
    """The study's first point: ``source`` (a study name under data/studies, or a settings
    file) when given, else the settings in force."""
    if source is None:
        return target.settings()
    p = Path(source)
    if not p.exists():
        p = Path("data/studies") / source / "settings.json"
    if not p.exists():
        raise ConfigError(f"--from {source}: no such study (data/studies/{source}/settings.json) or settings file")
    s: MbbSettings = settings_file.load(p).settings
    return s


def run_online(cfg: LoopConfig, target: ControlTarget, reader: Callable[[float, float], Reading],
               start: MbbSettings, names: list[str] | None = None, say: Callable[[str], None] = print,
               out: Path | None = None, on_trial: Callable[[dict[str, Any]], None] | None = None) -> OnlineResult:
    """One online study; its result (with provenance) written to ``out`` when given."""
    prov = provenance(online=True, slo_ms=cfg.slo_ms, budget=cfg.budget, trial_s=cfg.trial_s, rails=cfg.rails,
                      mode=cfg.mode, seed=cfg.seed)
    dims = online_dims(start, names)
    if cfg.mode != "fixed":
        target.put(start, "start")
    loop = Loop(cfg, dims, start, target, reader, say, on_trial=on_trial)
    result = loop.run()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = {"schema": "mbsim.online/1", **result.to_dict(), "dims": [d.name for d in dims],
               "provenance": prov}
        out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return result
