"""The real CLI, as a user runs it: bad input gives a clear message and exit code 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _streamplane(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=60,
    )  # fmt: skip


def test_up_without_java_exits_1_and_says_what_to_install(tmp_path: Path) -> None:
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "nojava")}
    result = _streamplane("up", "--data-dir", str(tmp_path / "d"), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Java not found" in result.stderr and "openjdk-17" in result.stderr
    assert not (tmp_path / "d").exists()


def test_up_with_old_java_exits_1_naming_the_version(tmp_path: Path) -> None:
    java = tmp_path / "jdk11" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "jdk11")}
    result = _streamplane("up", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "Java 11.0.2" in result.stderr and "too old" in result.stderr


def test_two_nodes_is_a_usage_error(tmp_path: Path) -> None:
    result = _streamplane("up", "--nodes", "2", env=dict(os.environ), cwd=tmp_path)
    assert result.returncode == 2
    assert "1 or 3 nodes" in result.stderr


def test_status_without_a_cluster_says_how_to_start_one(tmp_path: Path) -> None:
    result = _streamplane(
        "status", "--data-dir", str(tmp_path / "none"), env=dict(os.environ), cwd=tmp_path
    )
    assert result.returncode == 1
    assert "no local cluster in" in result.stderr and "streamplane up" in result.stderr
