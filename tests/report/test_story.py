"""``mbsim run``: the whole story in an offline report, opened in a real browser."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kernel_fixtures import bpf_available

from mbsim.report.html import Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/setup adds it)")
# the report's own run skips the testbed stage, so that it can run beside the serial tests;
# test_the_verify_stage_runs_the_testbed_on_both_backends runs that stage alone (serial)
TINY: dict[str, Any] = {"scenarios": ["db-down"], "policies": ["mbb", "none", "hystrix-tuned"], "reps": 2, "budget": 4,
        "pareto_budget": 4, "verify_duration_s": 2, "verify": False}
NO_BPF = bpf_available()


def mbsim(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "mbsim", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    (d / "tiny.json").write_text(json.dumps(TINY))
    r = mbsim("run", "--quick", "--config", str(d / "tiny.json"), "--out", str(d / "report"))
    assert r.returncode == 0, r.stderr[-3000:]
    return d / "report", r


def chromium(*args, timeout=120):
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-dev-shm-usage", *args], capture_output=True, text=True, timeout=timeout)


def body_attributes(page: Path) -> dict[str, str]:
    r = chromium("--virtual-time-budget=15000", "--dump-dom", page.resolve().as_uri())
    assert r.returncode == 0, r.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", r.stdout)
    assert body, r.stdout[:500]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))


def test_every_stage_is_in_the_report(report):
    out, r = report
    html = (out / "index.html").read_text()
    for title in ("1. The model and the peers", "2. Healthy overload", "3. A tuned setting and its trade-off",
                  "4. The exported configuration", "5. The real kernel fallback against the prediction",
                  "6. Online tuning on the running horn", "Provenance"):
        assert title in html, title
    doc = json.loads((out / "results.json").read_text())
    assert [s["key"] for s in doc["stages"]] == ["model", "overload", "tuning", "export", "verify", "online"]
    online = doc["stages"][5]  # the demonstration on record (data/online/demo), with its goals
    assert online["skipped"] is None
    assert [g["goal"].split(":")[0] for g in online["goals"]] == ["online, with the rails", "online"]
    prov = doc["provenance"]
    assert prov["git"]["commit"] and prov["kernel"] and prov["packages"]["numpy"] and prov["seed"] == 1
    model = doc["stages"][0]["data"]
    assert {(row["scenario"], row["policy"]) for row in model["table"]} == {
        ("db-down", "none"), ("db-down", "breaker"), ("db-down", "mbb")}
    assert set(model["peers"]["policies"]) == {"mbb", "none", "hystrix-tuned"}
    export = doc["stages"][3]["files"]
    for kind in ("json", "yaml", "header", "object", "attach", "manifest", "crd"):
        assert Path(export[kind]).is_file(), kind
    verify = doc["stages"][4]  # off in this run's configuration: one line says so
    assert verify["skipped"] == "verification is off in the run configuration (verify: false)"
    assert "(stage skipped)" in r.stdout
    assert "report: " in r.stdout and "| model | mbb answers at least 99.9 %" in r.stdout


@pytest.mark.serial
@pytest.mark.skipif(NO_BPF is not None, reason=str(NO_BPF))
def test_the_verify_stage_runs_the_testbed_on_both_backends(tmp_path):
    """Stage 5 of the report alone: the default scenario under the three arms, on the real
    database (fitted first) and then on the emulated service."""
    from mbsim.formats.settings_file import SettingsFile
    from mbsim.report.story import RunConfig, stage_verify

    settings = SettingsFile().write(tmp_path / "settings.json")
    cfg = RunConfig(**(TINY | {"verify": True}), quick=True)
    st = stage_verify(cfg, str(settings), tmp_path / "report", lambda m: None)
    verify: dict[str, Any] = {"skipped": st.skipped, "data": st.data, "notes": st.notes, "goals": st.goals}
    assert verify["skipped"] is None, verify["skipped"]
    assert list(verify["data"]) == ["sqlite", "timer"]
    real = verify["data"]["sqlite"]
    assert real["backend"] == "sqlite" and "SQLite" in real["what_is_emulated"]
    assert set(real["scenarios"]["loss12"]) == {"none", "breaker", "horn"}
    held = [s for s in real["scenarios"] if s.startswith("held-out-")]
    assert held and all(set(real["scenarios"][s]) == {"none"} for s in held)  # loads the fit never saw
    assert any(n.startswith("The real database backend's model, fitted on this machine: The article's load "
                            "function") for n in verify["notes"])
    assert any(g["goal"].startswith("sqlite backend: held-out-") for g in verify["goals"])
    data = verify["data"]["timer"]
    arms = data["scenarios"]["loss12"]
    assert set(arms) == {"none", "breaker", "horn"}
    for arm in arms.values():
        assert arm["p99"]["measured"]["value"] > 0 and arm["p99"]["predicted"]["value"] > 0
        assert {g["name"] for g in arm["gates"]} == {"rate", "arrivals", "lateness", "independence"}
    assert arms["horn"]["success_ratio"]["measured"] >= 0.999  # the horn answers everything
    none = arms["none"]["success_ratio"]  # 12 % loss each way: about 1 % fails even after retries
    assert none["measured"] < 0.999 and abs(none["error_points"]) < 0.02
    assert any(g["goal"].startswith("timer backend: loss12: ox-horn success") for g in verify["goals"])
    # three runs per arm on distinct seeds; a comparison whose runs failed their gates has no verdict
    for arm in arms.values():
        assert [x["seed"] for x in arm["runs"]] == [1, 2, 3]
        passed = sum(1 for x in arm["runs"] if all(g["passed"] for g in x["gates"] if g["name"] != "independence"))
        for name in ("p50", "success_ratio"):
            planned = arm["across"]["planned"][name]
            assert planned["n"] == passed and planned["of"] == 3
            if passed < 2:
                assert planned["status"].startswith("not measured: ")
    for g in verify["goals"]:
        assert g["status"] in ("met", "missed") or g["status"].startswith(("not measured: ", "not meaningful: "))
        assert (g["met"] is None) == (g["status"] not in ("met", "missed"))
    ratio = next(g for g in data["goals"] if g["goal"].startswith("kernel answer"))
    assert ratio["value"] == data["kernel_vs_user"]["ratio"]  # measured in this run
    shown = next(g for g in verify["goals"] if g["goal"].startswith("timer backend: kernel answer"))
    assert f"{ratio['value']:.1f}x" in shown["value"]


def test_the_report_is_readable_offline(report):
    out, _ = report
    html = (out / "index.html").read_text()
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # every image inline, every link in-page
    assert "http://" not in html.split("<body")[0] and "https://" not in html.split("<body")[0]


@needs_chromium
def test_chromium_renders_every_table_and_image_and_requests_nothing(report):
    out, _ = report
    attrs = body_attributes(out / "index.html")
    assert attrs.get("loaded") == "yes", attrs
    html = (out / "index.html").read_text()
    assert int(attrs["images"]) == html.count("<img ") >= 5  # every stage's figures
    assert attrs["images-ok"] == attrs["images"]  # every image has a natural size above zero
    assert int(attrs["tables"]) == html.count("<table") >= 8
    assert attrs["requests"] == "0"


@needs_chromium
def test_a_page_that_reaches_out_is_caught(tmp_path):
    """The check above can fail: a page with an image from elsewhere counts a request."""
    page = Page("leaky")
    page.parts.append('<img src="http://10.255.255.1/x.png" alt="x">')
    path = page.write(tmp_path / "leaky.html")
    attrs = body_attributes(path)
    assert int(attrs["requests"]) >= 1 and attrs["images-ok"] == "0"


@needs_chromium
def test_a_screenshot_of_the_report_can_be_taken(report, tmp_path):
    out, _ = report
    shot = tmp_path / "shot.png"
    r = chromium(f"--screenshot={shot}", "--window-size=1280,1000", "--hide-scrollbars",
                 (out / "index.html").resolve().as_uri())
    assert r.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", r.stderr[-1000:]
    assert shot.stat().st_size > 20_000  # a page, not a blank image


@pytest.mark.parametrize("config, message", [
    ('{"budget": 1}', "budget must be in [2, 1000], got 1"),
    ('{"scenarios": ["nowhere"]}', "unknown scenario 'nowhere'"),
    ('{"policies": ["none"]}', "policies must include mbb"),
    ('{"reps": "3"}', "reps must be int"),
    ('{"colour": 1}', "unknown key 'colour'"),
    ('[1, 2]', "a run configuration is a JSON object"),
    ('{"slo": {"target_ms": -1}}', "slo.target_ms must be"),
    ('{"verify_scenario": "noisy"}', "verify_scenario must be one of"),
    ('{"verify_reps": 2}', "verify_reps must be in [3, 100], got 2"),
    ('{"verify_duration_s": "5"}', "verify_duration_s must be number"),
    ('{"verify_backends": ["mysql"]}', 'verify_backends lists each of sqlite, timer at most once, got ["mysql"]'),
    ('{"verify_backends": []}', "verify_backends lists each of sqlite, timer at most once, got []"),
    ('{"budget": 4, "budget": 5}', "duplicate"),
])
def test_bad_config_is_one_line(tmp_path, config, message):
    f = tmp_path / "c.json"
    f.write_text(config)
    r = mbsim("run", "--config", str(f), "--out", str(tmp_path / "r"), timeout=120)
    assert r.returncode == 2 and message in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    assert not (tmp_path / "r").exists()


def test_missing_config_is_one_line(tmp_path):
    r = mbsim("run", "--config", str(tmp_path / "none.json"), timeout=120)
    assert r.returncode == 2 and "no such file" in r.stderr and r.stderr.strip().count("\n") == 0


def test_a_second_run_into_the_same_directory_replaces_the_first(report, tmp_path):
    """The main job runs again where it ran before: its own studies are started afresh."""
    out, _ = report
    again = tmp_path / "report"
    shutil.copytree(out, again)
    first = json.loads((again / "studies" / "tuned" / "study.json").read_text())["provenance"]["created"]
    smaller = TINY | {"verify": False, "policies": ["mbb", "none"], "budget": 2, "pareto_budget": 2}
    (tmp_path / "tiny.json").write_text(json.dumps(smaller))
    r = mbsim("run", "--quick", "--config", str(tmp_path / "tiny.json"), "--out", str(again))
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"the earlier run's study {again / 'studies' / 'tuned'} replaced" in r.stderr
    evals = (again / "studies" / "tuned" / "evaluations.jsonl").read_text().splitlines()
    assert len(evals) == smaller["budget"] != TINY["budget"]  # the new study's, not the old one's appended to
    doc = json.loads((again / "results.json").read_text())
    assert doc["stages"][4]["skipped"]  # this run's results, not the first's
    assert json.loads((again / "studies" / "tuned" / "study.json").read_text())["provenance"]["created"] >= first


def test_a_foreign_directory_where_a_study_goes_is_left_alone(tmp_path):
    from mbsim.errors import ConfigError
    from mbsim.report.story import fresh_study

    (tmp_path / "tuned").mkdir()
    (tmp_path / "tuned" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError) as e:
        fresh_study(tmp_path, "tuned")
    assert str(e.value) == f"{tmp_path / 'tuned'} is not a study an earlier report wrote: move it away or choose " \
                           "another --out"
    assert (tmp_path / "tuned" / "notes.txt").read_text() == "mine"
    (tmp_path / "tuned" / "notes.txt").unlink()
    with pytest.raises(ConfigError):  # empty, no study.json: not ours either
        fresh_study(tmp_path, "tuned")
    store = fresh_study(tmp_path, "fresh")  # nothing there: nothing to replace
    assert store.dir == tmp_path / "fresh" and not store.dir.exists()


def test_the_online_stage_shows_the_demonstration_on_record_or_says_why_not(tmp_path):
    from mbsim.report.story import stage_online

    missing = stage_online(tmp_path, lambda m: None, tmp_path / "none.json")
    assert missing.skipped and "mbsim tune --online --demo" in missing.skipped
    st = stage_online(tmp_path, lambda m: None)
    rows = st.tables[0]["rows"]
    assert [r["arm"] for r in rows] == ["safe online BO", "plain online BO", "offline settings, fixed"]
    doc = json.loads((Path(__file__).resolve().parents[2] / "data/online/demo/result.json").read_text())
    safe = doc["summary"]["safe"]
    assert rows[0]["windows over the SLO"] == f"{safe['over']} of {safe['windows']}"
    assert st.goals[0]["met"] == (safe["over_share"] <= 0.01)
    assert st.figures and st.figures[0][0].is_file()
