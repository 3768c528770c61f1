import os

os.environ.setdefault("MPLBACKEND", "Agg")

import machine_lock
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


def pytest_configure(config):
    machine_lock.configure()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Every ``serial`` test (and every ``bpf`` one: they share the kernel's pins and the
    testbed's namespaces) goes to one xdist worker (``--dist loadgroup``)."""
    for item in items:
        if item.get_closest_marker("bpf") is not None and item.get_closest_marker("serial") is None:
            item.add_marker(pytest.mark.serial)
        if item.get_closest_marker("serial") is not None:
            item.add_marker(pytest.mark.xdist_group("serial"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """An ordinary test shares the machine; a measured testbed run takes it whole (tests/machine_lock.py)."""
    if item.get_closest_marker("serial") is not None:
        yield
        return
    with machine_lock.shared():
        yield
