"""A study on disk (:mod:`mbsim.tuning.storage`): what it writes, what it reads back after
a kill, and the one-line errors for everything else."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mbsim.errors import ConfigError
from mbsim.tuning.storage import StudyStore

CONFIG = {"schema": "mbsim.study/1", "scenario": "db-down"}


@pytest.mark.parametrize("name", ["", "a/b", ".hidden"])
def test_bad_names(name, tmp_path):
    with pytest.raises(ConfigError) as e:
        StudyStore(name, tmp_path)
    assert str(e.value) == f"bad study name {name!r}"


def test_create_writes_the_config_and_an_empty_log_once(tmp_path):
    s = StudyStore("s1", tmp_path)
    assert not s.exists and s.load_evaluations() == []
    s.create({**CONFIG, "where": Path("/x")})
    assert s.exists and s.dir == tmp_path / "s1"
    assert json.loads(s.config_path.read_text()) == {**CONFIG, "where": "/x"}
    assert s.config_path.read_text().startswith('{\n  "schema"') and s.evals_path.read_bytes() == b""
    assert not s.config_path.with_suffix(".tmp").exists()
    assert s.load_config()["scenario"] == "db-down"
    with pytest.raises(ConfigError, match=r"^study 's1' already exists in .*s1 \(resume it with --resume s1, "
                                          r"or choose another --name\)$"):
        s.create(CONFIG)
    lone = StudyStore("s2", tmp_path)  # a log without its config is a study too
    lone.dir.mkdir()
    lone.evals_path.touch()
    with pytest.raises(ConfigError, match="already exists"):
        lone.create(CONFIG)


def test_the_layout_on_disk(tmp_path):
    deep = StudyStore("s", tmp_path / "not" / "yet")  # the root is made as needed
    assert (deep.config_path.name, deep.evals_path.name, deep.settings_path.name) == (
        "study.json", "evaluations.jsonl", "settings.json")
    deep.create(CONFIG)
    assert deep.exists
    empty = StudyStore("e", tmp_path)
    empty.dir.mkdir()  # an empty directory left behind is no study
    empty.create(CONFIG)
    assert empty.exists
    late = StudyStore("late", tmp_path)
    late.dir.mkdir()
    late.append({"id": 0, "params": {}, "value": 0.0})  # the log is created if missing, rw-r--r--
    assert late.evals_path.stat().st_mode & 0o777 == 0o644


def test_bad_configs(tmp_path):
    s = StudyStore("s", tmp_path)
    with pytest.raises(ConfigError) as e:
        s.load_config()
    assert str(e.value) == f"no study 's' in {tmp_path} ({s.config_path} not found)"
    s.dir.mkdir()
    s.config_path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"study.json: corrupt study file \(Expecting property name"):
        s.load_config()
    for bad in ('["a"]', '{"schema": "other/1"}'):
        s.config_path.write_text(bad)
        with pytest.raises(ConfigError) as e:
            s.load_config()
        assert str(e.value) == f"{s.config_path}: not an mbsim study (schema mbsim.study/1)"


def test_appended_evaluations_come_back_and_a_cut_line_is_dropped(tmp_path):
    s = StudyStore("s", tmp_path)
    s.create(CONFIG)
    s.append({"id": 0, "params": {"a": 1}, "value": 1.5})
    s.append({"id": 1, "params": {"a": 2}, "value": 2.5, "at": Path("/p")})
    whole = s.evals_path.read_bytes()
    assert whole.count(b"\n") == 2 and whole.endswith(b"\n")
    with open(s.evals_path, "ab") as f:
        f.write(b"\n")  # a blank line is skipped
    s.append({"id": 2, "params": {"a": 3}, "value": 3.5})
    whole = s.evals_path.read_bytes()
    with open(s.evals_path, "ab") as f:
        f.write(b'{"id": 3, "params"')  # killed while writing
    r = StudyStore("s", tmp_path)
    assert [e["id"] for e in r.load_evaluations()] == [0, 1, 2] and r.load_evaluations()[1]["at"] == "/p"
    r.drop_unfinished_tail()
    assert r.evals_path.read_bytes() == whole
    fresh = StudyStore("s", tmp_path)
    fresh.load_evaluations()
    fresh.drop_unfinished_tail()  # nothing cut short: nothing dropped
    assert fresh.evals_path.read_bytes() == whole


@pytest.mark.parametrize("line, why", [(b"{oops}", "Expecting property name enclosed in double quotes: line 1 column 2 "
                                                   "(char 1)"),
                                       (b'{"id": 1, "params": {}}', "missing id, params or value"),
                                       (b'{"id": 1, "value": 2}', "missing id, params or value"),
                                       (b'{"params": {}, "value": 2}', "missing id, params or value"),
                                       (b"[1, 2]", "missing id, params or value")])
def test_a_corrupt_line_names_the_file_and_line(tmp_path, line, why):
    s = StudyStore("s", tmp_path)
    s.create(CONFIG)
    s.append({"id": 0, "params": {}, "value": 1.0})
    with open(s.evals_path, "ab") as f:
        f.write(line + b"\n")
    with pytest.raises(ConfigError) as e:
        s.load_evaluations()
    msg = str(e.value)
    assert msg.startswith(f"{s.evals_path}:2: corrupt evaluation ({why})")
    assert msg.endswith("); the study cannot resume until this line is fixed or removed")
