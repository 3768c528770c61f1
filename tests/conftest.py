import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

from mbsim.deploy.export import export
from mbsim.formats import snapshot_file as snapshot
from mbsim.formats.settings_file import SettingsFile


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """Default settings exported to a directory, and a 100-key snapshot beside them."""
    d = tmp_path_factory.mktemp("export")
    SettingsFile().write(d / "settings.json")
    export(d / "settings.json", d / "out")
    snapshot.write(d / "snapshot.json", {k: f"snap:{k}" for k in range(1, 101)})
    return d
