"""A study on disk: ``data/studies/NAME/``.

* ``study.json`` - what the study is (scenario, objective, space, backend, seeds, budget),
  written once when it is created;
* ``evaluations.jsonl`` - one line per finished evaluation, appended and fsync'ed the
  moment it finishes, never rewritten;
* ``settings.json`` - the result (schema ``mbsim.settings/1``), written at the end.

After a kill, the evaluations that finished are all in the file; those that were running
are not, and are simply asked again. A line cut short by the kill (no newline at the end)
is an evaluation that did not finish: it is dropped when the study resumes. Anything else
unreadable is an error that names the file and line, and nothing is overwritten.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mbsim.errors import ConfigError

ROOT = Path("data/studies")


class StudyStore:
    def __init__(self, name: str, root: str | Path = ROOT) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"bad study name {name!r}")
        self.name = name
        self.dir = Path(root) / name
        self.config_path = self.dir / "study.json"
        self.evals_path = self.dir / "evaluations.jsonl"
        self.settings_path = self.dir / "settings.json"

    @property
    def exists(self) -> bool:
        return self.config_path.exists()

    def create(self, config: dict[str, Any]) -> None:
        if self.exists or self.evals_path.exists():
            raise ConfigError(f"study {self.name!r} already exists in {self.dir} (resume it with --resume "
                              f"{self.name}, or choose another --name)")
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2, default=str) + "\n")
        tmp.replace(self.config_path)
        self.evals_path.touch()

    def load_config(self) -> dict[str, Any]:
        if not self.exists:
            raise ConfigError(f"no study {self.name!r} in {self.dir.parent} ({self.config_path} not found)")
        try:
            cfg = json.loads(self.config_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{self.config_path}: corrupt study file ({exc})") from None
        if not isinstance(cfg, dict) or cfg.get("schema") != "mbsim.study/1":
            raise ConfigError(f"{self.config_path}: not an mbsim study (schema mbsim.study/1)")
        return cfg

    def load_evaluations(self) -> list[dict[str, Any]]:
        if not self.evals_path.exists():
            return []
        raw = self.evals_path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        out = []
        for k, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or "id" not in rec or "params" not in rec or "value" not in rec:
                    raise ValueError("missing id, params or value")
            except ValueError as exc:
                raise ConfigError(f"{self.evals_path}:{k}: corrupt evaluation ({exc}); the study cannot "
                                  f"resume until this line is fixed or removed") from None
            out.append(rec)
        if tail.strip():  # cut short by a kill: an evaluation that never finished
            self.cut_tail = len(raw) - len(tail)
        return out

    def drop_unfinished_tail(self) -> None:
        cut = getattr(self, "cut_tail", None)
        if cut is not None:
            with open(self.evals_path, "r+b") as f:
                f.truncate(cut)

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, default=str) + "\n").encode()
        fd = os.open(self.evals_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
