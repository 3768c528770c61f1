"""The README's "Extending mbsim" examples run as written, each in a fresh interpreter
(so that what one registers cannot leak into other tests)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def examples() -> list[str]:
    text = README.read_text()
    section = text.split("## Extending mbsim", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_section_has_a_policy_a_scenario_a_fault_and_a_metric():
    blocks = examples()
    assert len(blocks) == 4
    assert "register(PolicySpec(" in blocks[0]
    assert "catalog.register(Scenario(" in blocks[1]
    assert "RequestFault(" in blocks[2]
    assert "declare(" in blocks[3] and "quantile=" in blocks[3] and "derive=" in blocks[3]


@pytest.mark.parametrize("k", range(4), ids=["policy", "scenario", "fault", "metric"])
def test_example_runs(k):
    code = examples()[k]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=README.parent)
    assert r.returncode == 0, r.stderr[-2000:]
