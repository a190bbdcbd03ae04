"""The spec's schemas reach the real registry over HTTP: plan, apply, saved plans, check.

One cluster and its registry (RegistryProcess, as `streamplane up` runs it) for the
module, with the example spec applied once. Each test edits a copy of that spec and a
subject no other test changes, so the tests do not depend on their order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from streamplane.local import LocalCluster, RegistryProcess
from streamplane.model import load_spec
from streamplane.reconcile import compute_plan, connect, desired_schemas
from tests.integration.reconcile.conftest import EXAMPLE, SCHEMAS_OFFSET, apply_spec, platform

AUTHORIZED = "payments.card.authorized.v1-value"  # public event, FULL_TRANSITIVE
BALANCE = "payments.ledger.balance-changed.v1-value"  # public event, FULL_TRANSITIVE
DECISION = "risk.fraud.decision.v1-value"  # public event, FULL_TRANSITIVE
ENTRIES = "payments.ledger.entries-value"  # private, the registry's level
OPTIONAL_NOTE = {"name": "note", "type": ["null", "string"], "default": None}


@dataclass
class Applied:
    cluster: LocalCluster
    registry: RegistryProcess
    spec_dir: Path

    @property
    def data(self) -> list[str]:
        return ["--data-dir", str(self.cluster.dir.root)]

    def http(self) -> httpx.Client:
        """The registry as an operator reaches it: the admin principal, HTTP basic auth."""
        password = self.cluster.credentials().admin_password
        return httpx.Client(base_url=self.registry.url, auth=("admin", password), timeout=30)

    def answers(self) -> bool:
        try:
            with self.http() as client:
                return client.get("/subjects").status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str) -> Any:
        with self.http() as client:
            return client.get(path).json()

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.spec_dir, dest)
        return dest


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    spec_dir = tmp_path_factory.mktemp("schemas") / "platform"
    shutil.copytree(EXAMPLE, spec_dir)
    with platform("schemas", port_offset=SCHEMAS_OFFSET) as (cluster, registry):
        spec = load_spec(spec_dir)
        apply_spec(spec, connect(spec, data_dir=cluster.dir.root))
        yield Applied(cluster, registry, spec_dir)


def sp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", *args], capture_output=True, text=True,
        timeout=300, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip


def add_field(spec_dir: Path, file: str, field: dict[str, Any]) -> None:
    path = spec_dir / "schemas" / file
    schema = json.loads(path.read_text())
    schema["fields"].append(field)
    path.write_text(json.dumps(schema, indent=2))


def test_apply_registers_every_schema_with_the_declared_level_and_replans_empty(
    applied: Applied,
) -> None:
    subjects = set(applied.get("/subjects"))
    expected = {s.subject for s in desired_schemas(load_spec(applied.spec_dir), "local")}
    assert len(expected) == 12 and expected <= subjects
    for subject in (AUTHORIZED, BALANCE, DECISION):
        assert applied.get(f"/config/{subject}") == {"compatibilityLevel": "FULL_TRANSITIVE"}
    # No level in the spec: the subject follows the registry's global level.
    assert applied.get(f"/config/{ENTRIES}")["error_code"] == 40408
    assert applied.get(f"/subjects/{ENTRIES}/versions") == [1]

    spec = load_spec(applied.spec_dir)
    plan = compute_plan(spec, connect(spec, data_dir=applied.cluster.dir.root)).plan
    assert plan.actions == [] and plan.refusals == []
    out = sp("plan", str(applied.spec_dir), *applied.data, "--detailed-exitcode")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No changes." in out.stdout
    check = sp("check", str(applied.spec_dir), *applied.data, "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["counts"] == {
        "new": 0, "unchanged": 12, "compatible": 0, "incompatible": 0, "refused": 0,
    }  # fmt: skip


def test_compatible_edit_plans_the_next_version_and_apply_registers_it(
    applied: Applied, tmp_path: Path
) -> None:
    spec_dir = applied.copy(tmp_path / "spec")
    add_field(spec_dir, "balance-changed-v1.avsc", OPTIONAL_NOTE)
    plan = sp("plan", str(spec_dir), *applied.data, "--detailed-exitcode")
    assert plan.returncode == 3, plan.stdout + plan.stderr
    assert f"~ schema {BALANCE}" in plan.stdout and "version: 1 → 2" in plan.stdout
    assert "compatible under FULL_TRANSITIVE" in plan.stdout
    as_json = json.loads(sp("plan", str(spec_dir), *applied.data, "--json").stdout)
    assert [(a["op"], a["kind"], a["resource"]) for a in as_json["actions"]] == [
        ("update", "schema", BALANCE)
    ]

    done = sp("apply", str(spec_dir), *applied.data, "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    assert applied.get(f"/subjects/{BALANCE}/versions") == [1, 2]
    latest = json.loads(applied.get(f"/subjects/{BALANCE}/versions/latest")["schema"])
    assert [f["name"] for f in latest["fields"]][-1] == "note"
    again = sp("plan", str(spec_dir), *applied.data, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_incompatible_edit_is_refused_and_check_names_the_next_versioned_topic(
    applied: Applied, tmp_path: Path
) -> None:
    spec_dir = applied.copy(tmp_path / "spec")
    add_field(spec_dir, "card-authorized-v1.avsc", {"name": "currency", "type": "string"})
    plan = sp("plan", str(spec_dir), *applied.data)
    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert f"! ~ schema {AUTHORIZED}" in plan.stdout
    assert "at /fields/currency" in plan.stdout and "under FULL_TRANSITIVE" in plan.stdout
    assert "payments.card.authorized.v2 beside payments.card.authorized.v1" in plan.stdout

    refused = sp("apply", str(spec_dir), *applied.data, "--auto-approve")
    assert refused.returncode == 1 and "Nothing was applied" in refused.stderr
    assert applied.get(f"/subjects/{AUTHORIZED}/versions") == [1]

    check = sp("check", str(spec_dir), *applied.data)
    assert check.returncode == 1, check.stdout + check.stderr
    assert re.search(rf"incompatible +{AUTHORIZED} ", check.stdout)
    assert "field paths: /fields/currency" in check.stdout
    assert "must be published as a new versioned event instead" in check.stdout
    assert "Add payments.card.authorized.v2 beside payments.card.authorized.v1" in check.stdout
    report = json.loads(sp("check", str(spec_dir), *applied.data, "--json").stdout)
    entry = next(s for s in report["schemas"] if s["subject"] == AUTHORIZED)
    assert (entry["status"], entry["paths"], entry["successor"]) == (
        "incompatible",
        ["/fields/currency"],
        "payments.card.authorized.v2",
    )
    assert any("/fields/currency" in m for m in entry["messages"])


def test_a_change_is_judged_under_the_level_the_spec_proposes_and_apply_sets_it_first(
    applied: Applied, tmp_path: Path
) -> None:
    spec_dir = applied.copy(tmp_path / "spec")
    tenant_file = spec_dir / "tenants" / "payments.yaml"
    tenant_file.write_text(
        tenant_file.read_text().replace(
            "value_schema: schemas/ledger-entry.avsc",
            "value_schema: {file: schemas/ledger-entry.avsc, compatibility: FULL}",
        )
    )
    schema_file = spec_dir / "schemas" / "ledger-entry.avsc"
    original = schema_file.read_text()
    schema = json.loads(original)
    # Dropping a field without a default: fine under the registry's BACKWARD, not under FULL.
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "occurred_at"]
    schema_file.write_text(json.dumps(schema))

    try:
        _judged_under_the_proposed_level(applied, spec_dir, schema_file, original)
    finally:
        with applied.http() as client:  # back to the global level, as the other tests expect
            client.delete(f"/config/{ENTRIES}")


def _judged_under_the_proposed_level(
    applied: Applied, spec_dir: Path, schema_file: Path, original: str
) -> None:
    with applied.http() as client:
        subjects_before = client.get("/subjects", params={"deleted": "true"}).json()
    spec = load_spec(spec_dir)
    plan = compute_plan(spec, connect(spec, data_dir=applied.cluster.dir.root)).plan
    (refusal,) = plan.refusals
    assert refusal.resource == ENTRIES and "under FULL at /fields/occurred_at" in refusal.problem
    assert any(m.startswith("FORWARD") for m in refusal.details)
    assert [(a.kind, a.resource) for a in plan.actions] == [("compatibility", ENTRIES)]
    # Judged without touching the real subject, and without writing anything.
    assert applied.get(f"/config/{ENTRIES}")["error_code"] == 40408
    with applied.http() as client:
        everything = client.get("/subjects", params={"deleted": "true"}).json()
    assert everything == subjects_before  # judging under FULL wrote nothing
    check = sp("check", str(spec_dir), *applied.data)
    assert check.returncode == 1 and "under FULL" in check.stdout
    assert "make the change compatible under FULL" in check.stdout

    schema_file.write_text(original)
    level_only = sp("plan", str(spec_dir), *applied.data)
    assert f"~ compatibility {ENTRIES} BACKWARD (global) → FULL" in level_only.stdout
    assert sp("apply", str(spec_dir), *applied.data, "--auto-approve").returncode == 0
    assert applied.get(f"/config/{ENTRIES}") == {"compatibilityLevel": "FULL"}
    empty = sp("plan", str(spec_dir), *applied.data, "--detailed-exitcode")
    assert empty.returncode == 0, empty.stdout


def test_saved_plan_is_refused_when_the_subject_got_a_new_version_since(
    applied: Applied, tmp_path: Path
) -> None:
    spec_dir = applied.copy(tmp_path / "spec")
    add_field(spec_dir, "fraud-decision-v1.avsc", OPTIONAL_NOTE)
    saved = tmp_path / "plan.json"
    assert sp("plan", str(spec_dir), *applied.data, "--out", str(saved)).returncode == 0
    # Meanwhile a producer registers another compatible version.
    current = json.loads(applied.get(f"/subjects/{DECISION}/versions/latest")["schema"])
    current["fields"].append({"name": "channel", "type": ["null", "string"], "default": None})
    with applied.http() as client:
        client.post(
            f"/subjects/{DECISION}/versions", json={"schema": json.dumps(current)}
        ).raise_for_status()
    refused = sp("apply", str(saved), *applied.data, "--auto-approve")
    assert refused.returncode == 1
    assert f"schema:{DECISION} changed (version 1" in refused.stderr
    assert "nothing was applied" in refused.stderr
    assert applied.get(f"/subjects/{DECISION}/versions") == [1, 2]


def test_unreachable_registry_stops_plan_and_apply_before_any_change(
    applied: Applied, tmp_path: Path
) -> None:
    spec_dir = applied.copy(tmp_path / "spec")
    tenant_file = spec_dir / "tenants" / "payments.yaml"
    tenant_file.write_text(
        tenant_file.read_text().replace(
            "          - name: entries\n",
            "          - name: notes\n            partitions: 1\n          - name: entries\n",
            1,
        )
    )
    applied.registry.stop()
    try:
        plan = sp("plan", str(spec_dir), *applied.data)
        assert plan.returncode == 1
        message = " ".join(plan.stderr.split())
        assert f"the schema registry at {applied.registry.url} is not reachable" in message
        assert "streamplane up" in message
        refused = sp("apply", str(spec_dir), *applied.data, "--auto-approve")
        assert refused.returncode == 1 and "not reachable" in refused.stderr
        admin = AdminClient(applied.cluster.admin_settings().librdkafka())
        assert "payments.ledger.notes" not in admin.list_topics(timeout=10).topics
        # What the message says to do works: `up` on the running cluster starts the registry.
        up = sp("up", *applied.data)
        assert up.returncode == 0, up.stdout + up.stderr
        assert applied.answers()
    finally:
        if not applied.answers():
            applied.registry.start()
    plan = sp("plan", str(spec_dir), *applied.data)
    assert plan.returncode == 0 and "+ topic payments.ledger.notes" in plan.stdout
