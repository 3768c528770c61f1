"""The notebooks run top to bottom, and each .ipynb matches its jupytext .py twin."""
import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_paired_with_its_py(path):
    py = path.with_suffix(".py")
    assert py.exists(), f"{py.name} missing: pair it with jupytext --set-formats ipynb,py:percent"
    a = [c.source for c in jupytext.read(path).cells]
    b = [c.source for c in jupytext.read(py).cells]
    assert a == b, f"{path.name} and {py.name} differ: run jupytext --sync {py.name}"


# 04-verify and 05-online run the testbed (as root): they need the machine to itself
EXECUTED = [pytest.param(p, marks=pytest.mark.serial) if "verify" in p.name or "online" in p.name else p
            for p in NOTEBOOKS]


@pytest.mark.parametrize("path", EXECUTED, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
