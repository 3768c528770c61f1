"""What the README's quick reference says about the catalogs holds for the code."""
from __future__ import annotations

import re
from pathlib import Path

from mbsim import policies
from mbsim.world import catalog

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_scenarios_line_names_every_built_in_scenario():
    line = re.search(r"^mbsim scenarios +# the (\w+): (.*)$", README, re.M)
    assert line, "README: the 'mbsim scenarios' line is missing"
    names = [n.strip() for n in line.group(2).split(",")]
    assert names == list(catalog.names())
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    assert line.group(1) == words[len(names) - 1]


def test_the_policies_line_names_policies_that_exist():
    line = re.search(r"^mbsim policies +# (.*)$", README, re.M)
    assert line
    named = re.findall(r"[a-z0-9][a-z0-9-]*", line.group(1).split("(")[0])
    assert named and set(named) <= set(policies.names())


def test_the_layout_table_lists_the_import_contract_s_layers_in_order():
    import tomllib

    root = Path(__file__).resolve().parents[2]
    contract = next(c for c in tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
                    if c["type"] == "layers")
    declared = [name.strip() for layer in contract["layers"] for name in layer.split("|")]
    table = re.findall(r"^\| (\d+) \| `mbsim/(\w+)/` \|", README, re.M)
    assert [name for _, name in table] == declared
    # siblings in one layer of the contract share a number in the table, and numbers fall going down
    numbers = {name: int(n) for n, name in table}
    for layer in contract["layers"]:
        assert len({numbers[n.strip()] for n in layer.split("|")}) == 1
    assert [int(n) for n, _ in table] == sorted((int(n) for n, _ in table), reverse=True)
