"""Shared by both tiers: where test clusters live, and the guarantee that none outlives the run."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from streamplane.local import tagged_node_processes

#: Every test cluster lives under a directory of its run, below this root, so a run
#: can find (and stop) the node JVMs of an earlier run that was killed before its
#: fixtures could tear down, without touching a run that is still going.
RUNS_ROOT = Path("/tmp/streamplane-tests")
TEST_ROOT = RUNS_ROOT / f"run-{os.getpid()}"


def _stop_nodes_under(root: Path) -> list[int]:
    strays = tagged_node_processes(root)
    for proc in strays:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(strays, timeout=10)
    return [p.pid for p in strays]


def pytest_sessionstart(session: pytest.Session) -> None:
    RUNS_ROOT.mkdir(parents=True, exist_ok=True)
    for run in RUNS_ROOT.glob("run-*"):
        pid = int(run.name.removeprefix("run-"))
        if pid != os.getpid() and psutil.pid_exists(pid):
            continue  # another test run is alive: its clusters are its own
        _stop_nodes_under(run)
        shutil.rmtree(run, ignore_errors=True)
    TEST_ROOT.mkdir(parents=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Fixtures have torn down by now: any node still alive is a leak, and a failure.
    leaked = _stop_nodes_under(TEST_ROOT)
    if leaked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"FAILED: node processes left behind and killed: {leaked}", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def cluster_root(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh directory under TEST_ROOT named for the test."""
    name = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:80]
    path = TEST_ROOT / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    yield path
