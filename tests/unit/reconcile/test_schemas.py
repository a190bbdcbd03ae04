"""Schema actions in the plan, read through a fake registry client (fake_registry.py)."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from streamplane.cli._render import render_plan
from streamplane.errors import PlanError, RegistryError, SpecError
from streamplane.local import ClusterState, DataDir
from streamplane.model import Contract, load_spec
from streamplane.reconcile import (
    Plan,
    RegistryEndpoint,
    SubjectReading,
    read_subjects,
    registry_endpoint,
    schema_changes,
)
from streamplane.reconcile._schemas import (
    apply_schema_actions,
    field_paths,
    observed_subjects,
    verify_schema_actions,
)
from tests.unit.reconcile.fake_registry import (
    AUTHORIZED,
    ENTRIES,
    EXAMPLE,
    MISSING_DEFAULT,
    FakeRegistry,
    edit,
    registered,
    spec_schemas,
)


def plan_of(fake: FakeRegistry, spec_dir: Path = EXAMPLE) -> tuple[Plan, list[SubjectReading]]:
    readings = read_subjects(fake, list(spec_schemas(spec_dir).values()))
    actions, refusals = schema_changes(readings)
    return Plan("local", actions, refusals, observed=observed_subjects(readings)), readings


def shown(plan: Plan) -> str:
    console = Console(record=True, width=200, soft_wrap=True)
    render_plan(plan, console)
    return console.export_text()


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "platform"
    shutil.copytree(EXAMPLE, dest)
    return dest


def test_new_subjects_are_created_with_the_level_the_spec_declares() -> None:
    plan, _ = plan_of(FakeRegistry())
    assert {(a.op, a.kind) for a in plan.actions} == {("create", "schema")}
    assert len(plan.actions) == 12 and not plan.refusals
    text = shown(plan)
    assert "tenant payments" in text and f"+ schema {AUTHORIZED}" in text
    assert "file = schemas/card-authorized-v1.avsc" in text and "type = AVRO" in text
    authorized = next(a for a in plan.actions if a.resource == AUTHORIZED)
    assert ("compatibility", None, "FULL_TRANSITIVE") in [
        (c.key, c.before, c.after) for c in authorized.changes
    ]
    entries = next(a for a in plan.actions if a.resource == ENTRIES)
    assert entries.payload["compatibility"] is None, "no level declared: the registry's stays"


def test_registered_schemas_plan_nothing_even_when_the_file_is_reformatted(
    spec_dir: Path,
) -> None:
    path = spec_dir / "schemas" / "ledger-entry.avsc"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=8))
    plan, readings = plan_of(registered(FakeRegistry()), spec_dir)
    assert plan.actions == [] and plan.refusals == []
    assert {r.status for r in readings} == {"unchanged"}
    assert "No changes." in shown(plan)


def test_compatible_change_shows_the_next_version_and_the_level_it_was_judged_under(
    spec_dir: Path,
) -> None:
    edit(spec_dir, AUTHORIZED, {"name": "currency", "type": "string", "default": "EUR"})
    plan, _ = plan_of(registered(FakeRegistry()), spec_dir)
    assert [(a.op, a.kind, a.resource) for a in plan.actions] == [("update", "schema", AUTHORIZED)]
    text = shown(plan)
    assert f"~ schema {AUTHORIZED}" in text and "version: 1 → 2" in text
    assert "compatible under FULL_TRANSITIVE" in text


def test_incompatible_public_event_is_refused_with_field_paths_and_the_next_versioned_topic(
    spec_dir: Path,
) -> None:
    edit(spec_dir, AUTHORIZED, {"name": "currency", "type": "string"})
    plan, _ = plan_of(registered(FakeRegistry()), spec_dir)
    assert plan.actions == []
    (refusal,) = plan.refusals
    assert (refusal.kind, refusal.resource, refusal.details) == (
        "schema",
        AUTHORIZED,
        (MISSING_DEFAULT,),
    )
    text = shown(plan)
    assert f"! ~ schema {AUTHORIZED}" in text and "at /fields/currency" in text
    assert "the registry would refuse it as version 2" in text
    assert "must be published as a new versioned event instead" in text
    assert "payments.card.authorized.v2 beside payments.card.authorized.v1" in text
    assert "1 refused" in text


def test_incompatible_private_topic_is_told_to_make_the_change_compatible(spec_dir: Path) -> None:
    edit(spec_dir, ENTRIES, {"name": "currency", "type": "string"})
    plan, _ = plan_of(registered(FakeRegistry()), spec_dir)
    (refusal,) = plan.refusals
    assert "make the change compatible under BACKWARD" in refusal.alternative
    assert "versioned event" not in refusal.alternative


def test_level_change_is_one_line_and_comes_before_the_schema(spec_dir: Path) -> None:
    spec_file = spec_dir / "tenants" / "payments.yaml"
    spec_file.write_text(
        spec_file.read_text().replace(
            "value_schema: schemas/ledger-entry.avsc",
            "value_schema: {file: schemas/ledger-entry.avsc, compatibility: FULL}",
        )
    )
    fake = registered(FakeRegistry())
    fake.levels[ENTRIES] = "BACKWARD"
    edit(spec_dir, ENTRIES, {"name": "note", "type": ["null", "string"], "default": None})
    plan, _ = plan_of(fake, spec_dir)
    assert [(a.kind, a.resource) for a in plan.actions] == [
        ("compatibility", ENTRIES),
        ("schema", ENTRIES),
    ]
    assert f"~ compatibility {ENTRIES} BACKWARD → FULL" in shown(plan)


def test_unpinned_subject_shows_the_global_level_it_follows(spec_dir: Path) -> None:
    fake = registered(FakeRegistry(global_level="FORWARD"))
    del fake.levels[AUTHORIZED]
    plan, _ = plan_of(fake, spec_dir)
    assert f"~ compatibility {AUTHORIZED} FORWARD (global) → FULL_TRANSITIVE" in shown(plan)


def test_a_proposed_level_is_judged_without_writing_to_the_registry(spec_dir: Path) -> None:
    # Dropping a field without a default is fine under BACKWARD (the registry's level) but
    # not under the spec's FULL: the old schema cannot read new data. The endpoint judges
    # only under the current level, so this verdict comes from the compatibility library.
    fake = registered(FakeRegistry())
    spec_file = spec_dir / "tenants" / "payments.yaml"
    spec_file.write_text(
        spec_file.read_text().replace(
            "value_schema: schemas/ledger-entry.avsc",
            "value_schema: {file: schemas/ledger-entry.avsc, compatibility: FULL}",
        )
    )
    path = spec_dir / spec_schemas(spec_dir)[ENTRIES].file
    schema = json.loads(path.read_text())
    schema["fields"] = [f for f in schema["fields"] if f["name"] != "occurred_at"]
    path.write_text(json.dumps(schema))
    plan, readings = plan_of(fake, spec_dir)
    (refusal,) = plan.refusals
    assert refusal.resource == ENTRIES and "/fields/occurred_at" in refusal.problem
    assert fake.writes == [], "a plan never writes to the registry"
    assert next(r for r in readings if r.schema.subject == ENTRIES).level == "FULL"


def test_none_proposed_needs_no_verdict(spec_dir: Path) -> None:
    fake = registered(FakeRegistry())
    spec_file = spec_dir / "tenants" / "payments.yaml"
    spec_file.write_text(
        spec_file.read_text().replace(
            "value_schema: schemas/ledger-entry.avsc",
            "value_schema: {file: schemas/ledger-entry.avsc, compatibility: NONE}",
        )
    )
    edit(spec_dir, ENTRIES, {"name": "currency", "type": "string"})
    plan, _ = plan_of(fake, spec_dir)
    assert not plan.refusals and fake.writes == []
    assert [(a.kind, a.op) for a in plan.actions] == [
        ("compatibility", "update"),
        ("schema", "update"),
    ]


def test_saved_plan_keeps_schema_refusals_and_what_the_registry_held(spec_dir: Path) -> None:
    edit(spec_dir, AUTHORIZED, {"name": "currency", "type": "string"})
    plan, _ = plan_of(registered(FakeRegistry()), spec_dir)
    again = Plan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again.refusals == plan.refusals
    assert again.observed[f"schema:{AUTHORIZED}"].startswith("version 1 ")
    assert again.observed[f"compatibility:{AUTHORIZED}"] == "FULL_TRANSITIVE"


def test_observed_marks_subjects_that_do_not_exist_yet() -> None:
    plan, _ = plan_of(FakeRegistry())
    assert plan.observed[f"schema:{ENTRIES}"] == "-"
    assert plan.observed[f"compatibility:{ENTRIES}"] == "-"


def test_field_paths_from_our_messages_and_confluents() -> None:
    ours = [
        MISSING_DEFAULT,
        "FORWARD: existing schema #2 of 2 (latest) cannot read data written with the new "
        "schema: /: writer type string does not match reader type record",
    ]
    confluent = [
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'x' at path "
        "'/fields/10/type' in the new schema has no default value', additionalInfo:'x'}"
    ]
    assert field_paths(ours) == ("/fields/currency", "/")
    assert field_paths(confluent) == ("/fields/10/type",)


def test_local_registry_url_is_8081_plus_the_clusters_port_offset(tmp_path: Path) -> None:
    DataDir(tmp_path).write_state(ClusterState("id", 1, 20150, "4.4.0"))
    endpoint = registry_endpoint(load_spec(EXAMPLE), data_dir=tmp_path)
    assert endpoint is not None and endpoint.url == "http://127.0.0.1:28231"
    assert "streamplane up" in endpoint.how_to_fix


def test_remote_cluster_registry_comes_from_the_spec_with_the_cluster_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spec.yaml").write_text(
        "clusters:\n"
        "  - name: prod\n"
        "    bootstrap_servers: kafka.example.com:9093\n"
        "    schema_registry: https://registry.example.com:8081/\n"
        "    auth: {username: platform-admin, password: {env: PROD_PW}}\n"
    )
    monkeypatch.setenv("PROD_PW", "s3cret")
    endpoint = registry_endpoint(load_spec(tmp_path))
    assert endpoint is not None
    assert (endpoint.url, endpoint.username, endpoint.password) == (
        "https://registry.example.com:8081",
        "platform-admin",
        "s3cret",
    )
    assert "spec.yaml:4" in endpoint.how_to_fix


def test_registry_url_that_is_not_http_is_a_spec_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        "clusters:\n  - name: local\n    local: true\n    schema_registry: registry:8081\n"
    )
    with pytest.raises(SpecError, match=r"spec.yaml:4:.*schema_registry: must be an http"):
        load_spec(tmp_path)


def test_unreachable_registry_names_the_url_and_how_to_start_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = RegistryEndpoint(
        f"http://127.0.0.1:{port}", "admin", "pw", how_to_fix="start it with `streamplane up`"
    )
    schemas = list(spec_schemas().values())
    with endpoint.client() as client, pytest.raises(PlanError) as caught:
        read_subjects(client, schemas)
    message = str(caught.value)
    assert f"the schema registry at http://127.0.0.1:{port} is not reachable" in message
    assert "streamplane up" in message


class FailingRegistry(FakeRegistry):
    """Refuses to register one subject, the way a registry answers an error."""

    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    def register(
        self,
        subject: str,
        schema_type: str,
        text: str,
        references: tuple[dict[str, Any], ...] = (),
        contract: Contract | None = None,
    ) -> int:
        if subject == self.failing:
            raise RegistryError(422, 42205, f"Subject {subject} is in read-only mode")
        return super().register(subject, schema_type, text, references, contract)


def test_apply_sets_the_level_before_registering_and_reports_exactly_what_was_applied() -> None:
    fake = FailingRegistry(failing="payments.ledger.balance-changed.v1-value")
    plan, _ = plan_of(fake)
    schemas = list(spec_schemas().values())
    steps: list[str] = []
    with pytest.raises(PlanError) as caught:
        apply_schema_actions(plan.actions, schemas, fake, step=lambda name, _: steps.append(name))
    message = str(caught.value)
    assert message.startswith(
        "+ schema payments.ledger.balance-changed.v1-value failed: Subject "
        "payments.ledger.balance-changed.v1-value is in read-only mode"
    )
    applied, not_applied = message.split("Not applied:")
    # In plan order: both analytics subjects and two of payments went in before the failure.
    assert f"~ compatibility {AUTHORIZED} = FULL_TRANSITIVE" in applied
    assert f"+ schema {AUTHORIZED} (id " in applied
    assert "~ compatibility payments.ledger.balance-changed.v1-value = FULL_TRANSITIVE" in applied
    assert "+ schema payments.ledger.balance-changed.v1-value\n" in not_applied
    assert f"+ schema {ENTRIES}" in not_applied and ENTRIES not in applied
    assert "Every Kafka change of the plan was applied" in message
    assert fake.writes.index(("config", AUTHORIZED)) < fake.writes.index(("register", AUTHORIZED))
    assert len(steps) == 7  # the card subjects (holders, its twin and vault) come first


def test_apply_refuses_a_schema_file_that_changed_since_the_plan(spec_dir: Path) -> None:
    edit(spec_dir, ENTRIES, {"name": "note", "type": ["null", "string"], "default": None})
    plan, _ = plan_of(registered(FakeRegistry()), spec_dir)
    edit(spec_dir, ENTRIES, {"name": "other", "type": ["null", "string"], "default": None})
    with pytest.raises(
        PlanError, match=r"ledger-entry\.avsc of subject \S+ changed since the plan"
    ):
        verify_schema_actions(plan.actions, list(spec_schemas(spec_dir).values()))
