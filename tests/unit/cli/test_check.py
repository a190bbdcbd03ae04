"""``streamplane check``: its report and exit code, with the registry replaced by a fake client."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from streamplane.cli import check as check_cli
from streamplane.cli._app import app
from streamplane.model import Spec
from streamplane.reconcile import (
    RegistryEndpoint,
    SubjectReading,
    desired_schemas,
    read_subjects,
)
from tests.unit.reconcile.fake_registry import (
    AUTHORIZED,
    ENTRIES,
    EXAMPLE,
    FakeRegistry,
    edit,
    registered,
)


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "platform"
    shutil.copytree(EXAMPLE, dest)
    return dest


def run_check(
    monkeypatch: pytest.MonkeyPatch, fake: FakeRegistry, spec_dir: Path, *args: str
) -> tuple[Result, list[RegistryEndpoint | None]]:
    """Run the real command; only the HTTP client is swapped for ``fake``."""
    endpoints: list[RegistryEndpoint | None] = []

    def fake_check(
        spec: Spec, endpoint: RegistryEndpoint | None, *, cluster: str
    ) -> list[SubjectReading]:
        endpoints.append(endpoint)
        return read_subjects(fake, desired_schemas(spec, cluster))

    monkeypatch.setattr(check_cli, "check_schemas", fake_check)
    data_dir = spec_dir.parent / "no-cluster"
    result = CliRunner().invoke(app, ["check", str(spec_dir), "--data-dir", str(data_dir), *args])
    return result, endpoints


def test_all_registered_is_ok_and_exits_0(monkeypatch: pytest.MonkeyPatch, spec_dir: Path) -> None:
    result, _ = run_check(monkeypatch, registered(FakeRegistry()), spec_dir)
    assert result.exit_code == 0, result.output
    assert re.search(rf"unchanged +{AUTHORIZED} +schemas/card-authorized-v1.avsc", result.output)
    assert (
        "12 schema(s): 0 new, 12 unchanged, 0 compatible, 0 incompatible. All can be registered."
        in result.output
    )


def test_new_subjects_are_reported_as_new_and_compatible(
    monkeypatch: pytest.MonkeyPatch, spec_dir: Path
) -> None:
    result, _ = run_check(monkeypatch, FakeRegistry(), spec_dir, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["counts"]["new"] == 12
    assert {s["status"] for s in report["schemas"]} == {"new"}


def test_incompatible_public_event_exits_1_and_names_the_next_versioned_topic(
    monkeypatch: pytest.MonkeyPatch, spec_dir: Path
) -> None:
    edit(spec_dir, AUTHORIZED, {"name": "currency", "type": "string"})
    edit(spec_dir, ENTRIES, {"name": "note", "type": ["null", "string"], "default": None})
    result, _ = run_check(monkeypatch, registered(FakeRegistry()), spec_dir)
    assert result.exit_code == 1, result.output
    out = result.output
    assert re.search(rf"incompatible +{AUTHORIZED} .*version 1 → 2 under FULL_TRANSITIVE", out)
    assert "field paths: /fields/currency" in out
    assert (
        "an incompatible change to a public event must be published as a new versioned event" in out
    )
    assert "Add payments.card.authorized.v2 beside payments.card.authorized.v1" in out
    assert re.search(rf"\n +compatible +{ENTRIES} ", out)
    assert "1 compatible, 1 incompatible. 1 cannot be registered as the spec has it" in out


def test_json_report_carries_paths_messages_and_the_successor(
    monkeypatch: pytest.MonkeyPatch, spec_dir: Path
) -> None:
    edit(spec_dir, AUTHORIZED, {"name": "currency", "type": "string"})
    result, _ = run_check(monkeypatch, registered(FakeRegistry()), spec_dir, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert not report["ok"] and report["counts"]["incompatible"] == 1
    entry = next(s for s in report["schemas"] if s["subject"] == AUTHORIZED)
    assert entry["status"] == "incompatible" and entry["level"] == "FULL_TRANSITIVE"
    assert entry["paths"] == ["/fields/currency"] and entry["latest_version"] == 1
    assert entry["successor"] == "payments.card.authorized.v2"
    assert "new versioned event" in entry["alternative"]


def test_incompatible_private_topic_gets_no_versioned_topic_advice(
    monkeypatch: pytest.MonkeyPatch, spec_dir: Path
) -> None:
    edit(spec_dir, ENTRIES, {"name": "currency", "type": "string"})
    result, _ = run_check(monkeypatch, registered(FakeRegistry()), spec_dir)
    assert result.exit_code == 1
    assert "make the change compatible under BACKWARD" in result.output
    assert "versioned event" not in result.output


def test_registry_option_overrides_the_spec(
    monkeypatch: pytest.MonkeyPatch, spec_dir: Path
) -> None:
    result, endpoints = run_check(
        monkeypatch, registered(FakeRegistry()), spec_dir, "--registry", "http://ci-registry:8081/"
    )
    assert result.exit_code == 0, result.output
    (endpoint,) = endpoints
    assert endpoint is not None and endpoint.url == "http://ci-registry:8081"
    assert endpoint.how_to_fix == "check the --registry URL"


def test_registry_option_that_is_not_a_url_is_a_usage_error(spec_dir: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(spec_dir), "--registry", "x:1"])
    assert result.exit_code == 2
    assert "not an http:// or https:// URL" in result.output
