"""The results kept under ``data/``: each says how it was made (a commit, a clean tree, the
packages and kernel), and the example inputs are what ``mbsim examples`` writes today."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from mbsim.formats import settings_file
from mbsim.mbb.settings import MbbSettings

ROOT = Path(__file__).resolve().parents[2]


def tracked(suffix: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "data"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    return sorted(f for f in out if f.endswith(suffix))


def blocks(o):
    """Every provenance block (a dict with ``git`` and ``packages``) in a JSON document."""
    if isinstance(o, dict):
        if isinstance(o.get("git"), dict) and "packages" in o:
            yield o
        for v in o.values():
            yield from blocks(v)
    elif isinstance(o, list):
        for v in o:
            yield from blocks(v)


@pytest.mark.parametrize("path", tracked(".json"))
def test_every_result_says_which_clean_commit_made_it(path):
    found = list(blocks(json.loads((ROOT / path).read_text())))
    assert found, f"{path} has no provenance"
    for p in found:
        assert re.fullmatch(r"[0-9a-f]{40}", p["git"]["commit"] or ""), path
        assert p["git"]["dirty"] is False, f"{path} was written from a dirty tree"
        assert p["packages"]["numpy"] and p["kernel"] and p["python"], path


@pytest.mark.parametrize("path", tracked(".md"))
def test_no_written_result_carries_the_dirty_banner(path):
    assert "**Written from a dirty tree**" not in (ROOT / path).read_text()


def test_the_example_settings_are_todays_defaults():
    sf = settings_file.load(ROOT / "data/settings/article-defaults.json")
    assert sf.settings == MbbSettings()


def test_the_example_snapshot_answers_cached_k():
    doc = json.loads((ROOT / "data/snapshots/example.json").read_text())
    assert doc["entries"] == {str(k): f"cached:{k}" for k in range(1, 101)}
