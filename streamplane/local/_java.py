"""Find a Java runtime new enough for the Kafka server modules (release 17)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streamplane.errors import JavaRuntimeError

#: Kafka 4.x compiles its server modules for release 17 (``minNonClientJavaVersion``).
MIN_JAVA_MAJOR = 17

_VERSION_RE = re.compile(r'version "(?P<v>[^"]+)"')

_INSTALL_HINT = (
    "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless) "
    "or point JAVA_HOME at one"
)


@dataclass(frozen=True)
class JavaRuntime:
    """A Java executable and its major version."""

    executable: Path
    major: int
    version: str


def parse_java_major(version: str) -> int:
    """Major version of a ``java -version`` string: "1.8.0_392" -> 8, "17.0.15" -> 17."""
    parts = version.split(".")
    if parts[0] == "1" and len(parts) > 1:
        return int(parts[1])
    return int(re.match(r"\d+", parts[0]).group(0))  # type: ignore[union-attr]


def _candidate() -> Path | None:
    # JAVA_HOME wins, as it does for Kafka's own scripts (kafka-run-class.sh).
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        path = Path(java_home) / "bin" / "java"
        return path if path.exists() else None
    found = shutil.which("java")
    return Path(found) if found else None


def find_java() -> JavaRuntime:
    """Return the Java runtime Kafka will run on, or explain why there is none."""
    executable = _candidate()
    if executable is None:
        where = (
            f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java"
            if os.environ.get("JAVA_HOME")
            else "no `java` on PATH"
        )
        raise JavaRuntimeError(f"Java not found ({where}); {_INSTALL_HINT}.")
    try:
        proc = subprocess.run(
            [str(executable), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise JavaRuntimeError(f"cannot run {executable}: {exc}; {_INSTALL_HINT}.") from exc
    match = _VERSION_RE.search(proc.stderr + proc.stdout)
    if proc.returncode != 0 or match is None:
        raise JavaRuntimeError(
            f"{executable} -version did not report a version "
            f"(exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:200]}); "
            f"{_INSTALL_HINT}."
        )
    version = match.group("v")
    major = parse_java_major(version)
    if major < MIN_JAVA_MAJOR:
        raise JavaRuntimeError(
            f"Java {version} at {executable} is too old: Kafka needs Java {MIN_JAVA_MAJOR} or "
            f"newer; {_INSTALL_HINT}."
        )
    return JavaRuntime(executable=executable, major=major, version=version)
