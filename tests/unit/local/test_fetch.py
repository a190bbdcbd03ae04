from __future__ import annotations

from pathlib import Path

import pytest

from streamplane.errors import FetchError
from streamplane.local import cached_runtime, fetch_runtime, pinned_kafka_version
from streamplane.local._fetch import package_file


def test_pinned_kafka_is_a_4x_release_without_the_unvalidated_jwt_default() -> None:
    version = pinned_kafka_version()
    major, minor, patch = (int(p) for p in version.split("."))
    assert major == 4
    assert (minor, patch) not in {(1, 0), (1, 1)}


def test_pom_pins_the_logging_binding_kafka_poms_lack() -> None:
    pom = package_file("pom.xml").read_text()
    assert "<artifactId>log4j-slf4j-impl</artifactId>" in pom
    assert "<slf4j.version>1.7.36</slf4j.version>" in pom


def test_incomplete_cache_is_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPLANE_CACHE", str(tmp_path))
    home = tmp_path / f"kafka-{pinned_kafka_version()}"
    (home / "lib").mkdir(parents=True)
    assert cached_runtime() is None  # no marker: a fetch was interrupted
    (home / "complete.txt").write_text("stale-digest\nkafka.jar\n")
    assert cached_runtime() is None  # the pom changed since


def test_fetch_without_maven_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMPLANE_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        FetchError, match=r"Maven \(`mvn`\) is not on PATH.*streamplane local fetch"
    ):
        fetch_runtime()
