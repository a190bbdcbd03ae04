from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamplane.errors import JavaRuntimeError
from streamplane.local import find_java
from streamplane.local._java import parse_java_major


def _fake_java(home: Path, version_line: str) -> Path:
    """A JAVA_HOME whose bin/java prints ``version_line`` the way a JDK does (on stderr)."""
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(0o755)
    return java


@pytest.mark.parametrize(
    ("version", "major"),
    [("1.8.0_392", 8), ("11.0.21", 11), ("17.0.15", 17), ("21", 21), ("25-ea", 25)],
)
def test_parse_java_major_handles_legacy_and_modern_schemes(version: str, major: int) -> None:
    assert parse_java_major(version) == major


def test_java_too_old_is_refused_naming_version_path_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java = _fake_java(tmp_path, 'openjdk version "11.0.21" 2023-10-17')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaRuntimeError) as info:
        find_java()
    message = str(info.value)
    assert "Java 11.0.21" in message and str(java) in message
    assert "too old" in message and "17" in message and "JAVA_HOME" in message


def test_java_missing_from_path_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JavaRuntimeError, match=r"Java not found \(no `java` on PATH\)"):
        find_java()


def test_java_home_without_java_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(JavaRuntimeError, match="has no bin/java"):
        find_java()


def test_java_17_from_java_home_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java = _fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    runtime = find_java()
    assert runtime.executable == java and runtime.major == 17


def test_the_machine_java_is_usable() -> None:
    # The integration tier depends on it; fail here first with a clear message.
    env_home = os.environ.get("JAVA_HOME")
    runtime = find_java()
    assert runtime.major >= 17, env_home
