"""Finding (or installing) PostgreSQL for the local throwaway server, without running it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from streamplane.errors import ClusterError
from streamplane.local import _postgres


def test_without_binaries_and_without_install_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_postgres, "_installed_bin", lambda: None)
    with pytest.raises(ClusterError, match="sudo apt-get install -y postgresql"):
        _postgres.find_postgres_bin(install=False)


@pytest.mark.parametrize(("uid", "prefix"), [(0, []), (1000, ["sudo", "-n"])])
def test_missing_binaries_are_installed_with_apt_and_sudo_only_when_not_root(
    monkeypatch: pytest.MonkeyPatch, uid: int, prefix: list[str]
) -> None:
    found = iter([None, Path("/usr/lib/postgresql/15/bin")])
    monkeypatch.setattr(_postgres, "_installed_bin", lambda: next(found))
    monkeypatch.setattr(_postgres.os, "geteuid", lambda: uid)
    commands: list[list[str]] = []

    def run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(_postgres.subprocess, "run", run)
    assert _postgres.find_postgres_bin() == Path("/usr/lib/postgresql/15/bin")
    assert commands == [
        [*prefix, "apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    ]


def test_a_failed_install_refreshes_the_package_lists_and_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = iter([None, Path("/usr/lib/postgresql/16/bin")])
    monkeypatch.setattr(_postgres, "_installed_bin", lambda: next(found))
    monkeypatch.setattr(_postgres.os, "geteuid", lambda: 0)
    results = iter([100, 0, 0])
    commands: list[list[str]] = []

    def run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, next(results), "", "E: Unable to locate package")

    monkeypatch.setattr(_postgres.subprocess, "run", run)
    _postgres.find_postgres_bin()
    assert [c[:2] for c in commands] == [
        ["apt-get", "install"],
        ["apt-get", "update"],
        ["apt-get", "install"],
    ]


def test_the_server_runs_as_the_postgres_user_when_we_are_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_postgres.os, "geteuid", lambda: 0)
    server = _postgres.LocalPostgres(port=28050, root=tmp_path / "pg")
    server._bin = Path("/usr/lib/postgresql/15/bin")
    server.root = tmp_path
    commands: list[list[str]] = []

    def run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(_postgres.subprocess, "run", run)
    server._run("pg_ctl", "status")
    assert commands == [
        ["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "status"]
    ]
    assert "host=127.0.0.1 port=28050" in server.conninfo
