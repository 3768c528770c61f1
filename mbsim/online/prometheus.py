"""A real Prometheus: start one that scrapes the controller, and ask it PromQL.

:class:`LocalPrometheus` runs Debian's ``prometheus`` binary with its own configuration
and storage in a temporary directory, scraping the given targets every ``scrape_s``
(250 ms by default), on a free loopback port; it stops (and its storage goes) when the
context closes. A user with their own server passes its URL to :class:`PromQL` instead.

:class:`PromQL` is the HTTP API (``/api/v1/query`` and ``query_range``). When the server
cannot be reached, or answers with an error, it raises :class:`PrometheusUnavailable`, a
one-line :class:`MbsimError`: the online tuner catches it, keeps the last good settings
and says so.
"""
from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mbsim.errors import MbsimError


class PrometheusUnavailable(MbsimError):
    """Prometheus could not be reached, or could not answer."""


def binary() -> str:
    """The ``prometheus`` executable."""
    found = shutil.which("prometheus")
    if not found:
        raise MbsimError("prometheus is not installed: apt-get install prometheus (or bash .ci/setup)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LocalPrometheus:
    """A Prometheus of our own, scraping ``targets`` (``ADDR:PORT``) every ``scrape_s``."""

    def __init__(self, targets: list[str], scrape_s: float = 0.25, port: int | None = None) -> None:
        if not 0.05 <= scrape_s <= 60:
            raise MbsimError(f"scrape interval must be 0.05-60 s, got {scrape_s}")
        self.targets = targets
        self.scrape_s = scrape_s
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: tempfile.TemporaryDirectory[str] | None = None

    def config(self) -> str:
        ms = max(1, round(self.scrape_s * 1000))
        return (f"global:\n  scrape_interval: {ms}ms\n  evaluation_interval: {ms}ms\n"
                f"scrape_configs:\n  - job_name: mbsim\n    scrape_interval: {ms}ms\n    scrape_timeout: {ms}ms\n"
                f"    static_configs:\n      - targets: {json.dumps(self.targets)}\n")

    def start(self, wait_s: float = 20.0) -> LocalPrometheus:
        self.dir = tempfile.TemporaryDirectory(prefix="mbsim-prometheus-")
        d = Path(self.dir.name)
        (d / "prometheus.yml").write_text(self.config())
        self.log = open(d / "prometheus.log", "wb")  # noqa: SIM115 - open while the process runs
        self.proc = subprocess.Popen(
            [binary(), f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MbsimError(f"prometheus exited ({self.proc.returncode}): {self.tail()}")
            if self._scraping():
                return self
            time.sleep(0.1)
        self.stop()
        raise MbsimError(f"prometheus did not scrape {', '.join(self.targets)} within {wait_s:g} s")

    def _scraping(self) -> bool:
        """Ready, with every target scraped once (its discovery takes about 5 s)."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=1) as r:
                active = json.load(r)["data"]["activeTargets"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return False
        return len(active) == len(self.targets) and all(t.get("lastScrape", "").startswith("20") for t in active)

    def tail(self) -> str:
        if self.dir is None:
            return ""
        text = (Path(self.dir.name) / "prometheus.log").read_text(errors="replace").strip().splitlines()
        return text[-1] if text else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.dir is not None:
            self.log.close()
            self.dir.cleanup()
            self.dir = None

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class PromQL:
    """Queries against the Prometheus at ``url``."""

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str, params: dict[str, str]) -> Any:
        q = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{q}", timeout=self.timeout_s) as r:
                body = json.load(r)
        except urllib.error.HTTPError as exc:
            try:
                err = json.load(exc).get("error", exc.reason)
            except (ValueError, OSError):
                err = exc.reason
            raise PrometheusUnavailable(f"prometheus at {self.url} refused the query: {err}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusUnavailable(f"prometheus at {self.url} is unreachable ({reason})") from None
        if body.get("status") != "success":
            raise PrometheusUnavailable(f"prometheus at {self.url}: {body.get('error', 'query failed')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        """An instant query (at unix time ``at``, default now): (labels, value) per series."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def value(self, expr: str, at: float | None = None) -> float:
        """The single value of an instant query; NaN when it returned no series."""
        rows = self.query(expr, at)
        return rows[0][1] if rows else math.nan

    def range(self, expr: str, start: float, end: float, step_s: float) -> list[tuple[dict[str, str],
                                                                                        list[tuple[float, float]]]]:
        """A range query: (labels, [(unix time, value)]) per series."""
        data = self._get("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                 "step": f"{step_s:g}"})
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in data["result"]]
