"""Resolve the pinned Kafka jars with Maven into a per-version cache.

Maven is the tool that understands Kafka's POMs (scopes, exclusions, version
mediation); re-implementing resolution in Python would drift from what the
tarball ships, so we drive ``mvn dependency:copy-dependencies`` and cache the result.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from streamplane.errors import FetchError

_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_DOWNLOADED_RE = re.compile(r"Downloaded from \S+: \S+/([^/\s]+\.(?:jar|pom))")
_MARKER = "complete.txt"


@dataclass(frozen=True)
class KafkaRuntime:
    """A complete, cached set of Kafka jars, and the brokers' guardrails plugin."""

    version: str
    lib_dir: Path
    guardrails_jar: Path | None = None

    @property
    def classpath(self) -> str:
        # The JVM expands "dir/*" itself; no need to list ninety jars.
        parts = [str(self.lib_dir / "*")]
        if self.guardrails_jar is not None:
            parts.append(str(self.guardrails_jar))
        return os.pathsep.join(parts)


def package_file(name: str) -> Path:
    """Path of a file shipped inside ``streamplane.local`` (pom.xml, templates)."""
    return Path(str(resources.files("streamplane.local").joinpath(name)))


def pinned_kafka_version(pom: Path | None = None) -> str:
    """The ``kafka.version`` property of the shipped pom.xml."""
    root = ET.parse(pom or package_file("pom.xml")).getroot()
    node = root.find("m:properties/m:kafka.version", _POM_NS)
    if node is None or not (node.text or "").strip():
        raise FetchError(f"{pom or 'pom.xml'} has no <kafka.version> property")
    return (node.text or "").strip()


def cache_root() -> Path:
    """``$STREAMPLANE_CACHE`` or ``~/.cache/streamplane``."""
    env = os.environ.get("STREAMPLANE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "streamplane"


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def cached_runtime() -> KafkaRuntime | None:
    """The cached runtime if complete (the shipped pom.xml's jars and the built plugin)."""
    jars = _cached_jars()
    if jars is None or jars.guardrails_jar is None:
        return None
    return jars


def _cached_jars() -> KafkaRuntime | None:
    """The cached jars if complete for the shipped pom.xml (the plugin may be missing)."""
    pom = package_file("pom.xml")
    version = pinned_kafka_version(pom)
    lib = _cached_lib(pom, cache_root() / f"kafka-{version}")
    if lib is None:
        return None
    return KafkaRuntime(version=version, lib_dir=lib, guardrails_jar=cached_guardrails())


def _cached_lib(pom: Path, home: Path) -> Path | None:
    """``home/lib`` if a complete resolution of ``pom`` is there."""
    marker = home / _MARKER
    if not marker.exists():
        return None
    lines = marker.read_text().splitlines()
    if not lines or lines[0] != _pom_digest(pom):
        return None
    lib = home / "lib"
    if not all((lib / jar).exists() for jar in lines[1:]):
        return None
    return lib


def _guardrails_sources() -> list[Path]:
    root = package_file("guardrails")
    return [root / "pom.xml", *sorted((root / "src").rglob("*.java"))]


def _guardrails_home() -> Path:
    digest = hashlib.sha256()
    for path in _guardrails_sources():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return cache_root() / f"guardrails-{digest.hexdigest()[:16]}"


def cached_guardrails() -> Path | None:
    """The built guardrails jar for the shipped sources, or None."""
    jar = _guardrails_home() / "target" / "streamplane-guardrails.jar"
    return jar if jar.exists() else None


def build_guardrails(mvn: str) -> Path:
    """Compile the guardrails plugin (``guardrails/``) once per version of its sources.

    Only the compiler and jar goals run: the plugin has no tests or resources of its own
    (its behaviour is tested against a real broker), so Maven needs nothing else.
    """
    jar = cached_guardrails()
    if jar is not None:
        return jar
    home = _guardrails_home()
    staging = home.with_name(home.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(package_file("guardrails"), staging)
    cmd = [mvn, "-B", "-q", "-f", str(staging / "pom.xml"), "compiler:compile", "jar:jar"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=staging, check=False)
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        errors = [ln.strip() for ln in lines if "ERROR" in ln][:8] or lines[-10:]
        raise FetchError(
            f"Maven could not build the guardrails plugin (exit {done.returncode}):\n"
            + "\n".join(errors)
        )
    shutil.rmtree(home, ignore_errors=True)
    staging.rename(home)
    return home / "target" / "streamplane-guardrails.jar"


def fetch_runtime(*, on_progress: Callable[[str], None] | None = None) -> KafkaRuntime:
    """Resolve the jars and build the plugin once; a no-op when the cache is complete."""
    cached = _cached_jars()
    if cached is not None and cached.guardrails_jar is not None:
        return cached
    mvn = _maven()
    if cached is not None:
        return replace(cached, guardrails_jar=build_guardrails(mvn))
    pom = package_file("pom.xml")
    version = pinned_kafka_version(pom)
    lib = _resolve(mvn, pom, cache_root() / f"kafka-{version}", f"Kafka {version}", on_progress)
    return KafkaRuntime(version=version, lib_dir=lib, guardrails_jar=build_guardrails(mvn))


def _maven() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FetchError(
            "Maven (`mvn`) is not on PATH; it resolves the Kafka jars from Maven Central. "
            "Install it (Debian: apt-get install maven) and run `streamplane local fetch`."
        )
    return mvn


def _resolve(
    mvn: str, pom: Path, home: Path, what: str, on_progress: Callable[[str], None] | None
) -> Path:
    """Copy the runtime dependencies of ``pom`` into ``home/lib`` with Maven, atomically."""
    staging = home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    # Maven may write a target/ beside the POM; the shipped one may be read-only.
    work_pom = home / "pom.xml"
    shutil.copyfile(pom, work_pom)
    cmd = [
        mvn, "-B", "-f", str(work_pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    output: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=home
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            match = _DOWNLOADED_RE.search(line)
            if match and on_progress is not None:
                on_progress(match.group(1))
    if proc.returncode != 0:
        errors = [ln.strip() for ln in output if "[ERROR]" in ln][:5] or output[-10:]
        raise FetchError(
            f"Maven could not resolve {what} (exit {proc.returncode}):\n"
            + "\n".join(errors)
            + "\nCheck access to Maven Central, then run `streamplane local fetch` again."
        )
    lib = home / "lib"
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    jars = sorted(p.name for p in lib.glob("*.jar"))
    # Written last: a fetch killed midway leaves no marker and is redone next time.
    (home / _MARKER).write_text("\n".join([_pom_digest(pom), *jars]) + "\n")
    return lib


def pinned_mirror_version() -> str:
    """The ``mirror.version`` of the shipped mirror-pom.xml (MirrorMaker 2's own jars)."""
    pom = package_file("mirror-pom.xml")
    node = ET.parse(pom).getroot().find("m:properties/m:mirror.version", _POM_NS)
    if node is None or not (node.text or "").strip():
        raise FetchError(f"{pom} has no <mirror.version> property")
    return (node.text or "").strip()


def cached_mirror_runtime() -> Path | None:
    """The folder of MirrorMaker 2's jars if complete, else None."""
    pom = package_file("mirror-pom.xml")
    return _cached_lib(pom, cache_root() / f"mirror-{pinned_mirror_version()}")


def fetch_mirror_runtime(*, on_progress: Callable[[str], None] | None = None) -> Path:
    """MirrorMaker 2's jars (``connect-mirror`` and its runtime), resolved once.

    Kept apart from the brokers' jars: the pinned MM2 version is not the brokers' (see
    mirror-pom.xml), and one classpath must hold one version of the Kafka clients.
    """
    version = pinned_mirror_version()
    return fetch_pom_jars(
        package_file("mirror-pom.xml"), f"mirror-{version}", f"MirrorMaker {version}", on_progress
    )


def fetch_pom_jars(
    pom: Path, name: str, what: str, on_progress: Callable[[str], None] | None = None
) -> Path:
    """The runtime jars of ``pom``, resolved once into ``<cache>/<name>/lib`` (kept apart
    from the brokers' jars: one classpath, one version of each library)."""
    home = cache_root() / name
    cached = _cached_lib(pom, home)
    if cached is not None:
        return cached
    return _resolve(_maven(), pom, home, what, on_progress)
