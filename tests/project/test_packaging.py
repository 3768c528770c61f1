"""environment.yml (conda) and pyproject.toml (pip) name the same packages."""
import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONDA_NAMES = {"pytorch": "torch", "types-pyyaml": "types-pyyaml"}  # conda-forge name -> PyPI name
NOT_PACKAGES = {"python", "pip", "-e ."}


def _name(spec: str) -> str:
    return re.split(r"[<>=!\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(d) for d in meta["dependencies"]}
    for deps in meta["optional-dependencies"].values():
        names |= {_name(d) for d in deps if not d.startswith("mbsim[")}
        if "dask[distributed]" in deps or any(d.startswith("dask[distributed]") for d in deps):
            names.add("distributed")  # the extra is a package of its own on conda-forge
    return names


def conda_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(d) for d in dep["pip"] if d.strip() not in NOT_PACKAGES}
        elif _name(dep) not in NOT_PACKAGES:
            names.add(CONDA_NAMES.get(_name(dep), _name(dep)))
    return names


def test_environment_and_pyproject_list_the_same_packages():
    assert conda_packages() == pyproject_packages()


def test_the_all_extra_covers_every_extra():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (spec,) = meta["all"]
    listed = set(spec.split("[", 1)[1].rstrip("]").split(","))
    assert listed == set(meta) - {"all"}


def test_environment_names_its_channel_and_the_os_parts():
    text = (ROOT / "environment.yml").read_text()
    env = yaml.safe_load(text)
    assert env["channels"] == ["conda-forge"]
    for os_part in ("python3-bpfcc", "clang", "bpftool", "libbpf-dev"):
        assert os_part in text
    assert not any(isinstance(d, str) and _name(d) == "bcc" for d in env["dependencies"])  # from the OS
