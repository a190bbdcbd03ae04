"""Data contracts in the plan: rule and metadata diffs, refusals, groups, saved plans, apply."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from streamplane.cli._render import render_plan
from streamplane.errors import PlanError
from streamplane.model import Contract
from streamplane.reconcile import Plan, SubjectReading, read_subjects, schema_changes
from streamplane.reconcile._schemas import (
    apply_schema_actions,
    observed_subjects,
    verify_schema_actions,
)
from tests.unit.reconcile.fake_registry import EXAMPLE, FakeRegistry, registered, spec_schemas

IDENTITIES = "risk.customers.identities-value"  # pii: the default encrypt-pii rule
AUTHORIZATIONS = "payments.card.authorizations-value"  # the id-present CEL condition
ENTRIES = "payments.ledger.entries-value"  # no contract


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "platform"
    shutil.copytree(EXAMPLE, dest)
    return dest


def plan_of(fake: FakeRegistry, spec_dir: Path = EXAMPLE) -> tuple[Plan, list[SubjectReading]]:
    readings = read_subjects(fake, list(spec_schemas(spec_dir).values()))
    actions, refusals = schema_changes(readings)
    return Plan("local", actions, refusals, observed=observed_subjects(readings)), readings


def shown(plan: Plan) -> str:
    console = Console(record=True, width=240, soft_wrap=True)
    render_plan(plan, console)
    return console.export_text()


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def without_contract(fake: FakeRegistry, subject: str) -> FakeRegistry:
    """The registry holding ``subject`` as before contracts: same text, no metadata/rules."""
    schema = spec_schemas()[subject]
    fake.versions.pop(subject)
    return fake.holding(subject, schema.text)


def test_a_new_subject_shows_its_rules_and_metadata(spec_dir: Path) -> None:
    plan, _ = plan_of(FakeRegistry(), spec_dir)
    text = shown(plan)
    assert f"+ schema {IDENTITIES}" in text
    assert "rules = encrypt-pii (ENCRYPT transform)" in text
    assert "properties.owner = kyc-team@example.com" in text
    assert "rules = id-present (CEL condition)" in text
    identities = next(a for a in plan.actions if a.resource == IDENTITIES)
    assert "new ENCRYPT rule encrypt-pii: fields tagged PII are encrypted" in identities.reason


def test_the_same_schema_with_a_new_contract_is_a_new_version_with_a_readable_diff() -> None:
    fake = without_contract(registered(FakeRegistry()), IDENTITIES)
    plan, readings = plan_of(fake)
    [action] = plan.actions
    assert (action.op, action.kind, action.resource) == ("update", "schema", IDENTITIES)
    changes = {c.key: (c.before, c.after) for c in action.changes}
    assert changes == {
        "version": ("1", "2"),
        "rules": ("none", "+encrypt-pii"),
        "properties.owner": ("none", "kyc-team@example.com"),
    }
    assert action.reason.startswith(
        "schemas/customer-identity.avsc: same schema, new data contract"
    )
    text = shown(plan)
    assert f"~ schema {IDENTITIES}" in text and "rules: none → +encrypt-pii" in text
    [reading] = [r for r in readings if r.schema.subject == IDENTITIES]
    assert reading.status == "compatible" and reading.registered_as == 1


def test_a_new_condition_rule_is_reported(spec_dir: Path) -> None:
    fake = registered(FakeRegistry())
    replace_in(
        spec_dir / "tenants" / "payments.yaml",
        "                    expr: \"message.id != ''\"\n",
        "                    expr: \"message.id != ''\"\n"
        "                  - {name: amount-positive, kind: CONDITION, mode: WRITE, type: CEL,\n"
        '                     expr: "message.amount_minor == null || message.amount_minor > 0"}\n',
    )
    plan, readings = plan_of(fake, spec_dir)
    [action] = plan.actions
    assert action.resource == AUTHORIZATIONS
    assert ("rules", "id-present", "+amount-positive") in [
        (c.key, c.before, c.after) for c in action.changes
    ]
    [reading] = [r for r in readings if r.schema.subject == AUTHORIZATIONS]
    [note] = reading.notes()
    assert note.startswith("new CONDITION rule amount-positive (CEL, WRITE): from this version on")
    assert reading.to_json()["notes"] == [note]


def test_reclassifying_a_pii_topic_cannot_remove_its_encryption(spec_dir: Path) -> None:
    fake = registered(FakeRegistry())
    replace_in(
        spec_dir / "tenants" / "risk.yaml", "classification: pii", "classification: internal"
    )
    plan, readings = plan_of(fake, spec_dir)
    assert [a.resource for a in plan.actions if a.kind == "schema"] == []
    [refusal] = plan.refusals
    assert refusal.resource == IDENTITIES and refusal.kind == "schema"
    assert "would stop encrypting personal data from version 2 on" in refusal.problem
    assert refusal.details == (
        "the latest version encrypts the fields tagged PII (rule encrypt-pii); the spec's "
        "version has no enabled ENCRYPT rule for PII, so they would be written in plain text",
    )
    assert "keep the ENCRYPT rule" in refusal.alternative
    [reading] = [r for r in readings if r.schema.subject == IDENTITIES]
    assert reading.status == "refused"
    assert "! ~ schema risk.customers.identities-value" in shown(plan)


def test_dropping_a_fields_pii_tag_is_refused_naming_the_field(spec_dir: Path) -> None:
    fake = registered(FakeRegistry())
    schema = spec_dir / "schemas" / "customer-identity.avsc"
    replace_in(schema, ', "confluent:tags": ["PII"]', "")
    replace_in(
        schema,
        '{"name": "id", "type": "string"}',
        '{"name": "id", "type": "string", "confluent:tags": ["PII"]}',
    )
    plan, _ = plan_of(fake, spec_dir)
    [refusal] = plan.refusals
    assert refusal.details == (
        "field io.streamplane.example.CustomerIdentity.email loses its PII tag, so the rule "
        "that encrypts it (encrypt-pii) would no longer apply: it would be written in plain "
        "text",
    )


def test_removing_a_non_pii_rule_is_a_new_version_that_clears_it(spec_dir: Path) -> None:
    fake = registered(FakeRegistry())
    text = (spec_dir / "tenants" / "payments.yaml").read_text()
    start = text.index("              # A data contract")
    end = text.index("            retention: 3d")
    (spec_dir / "tenants" / "payments.yaml").write_text(
        text[:start].replace(
            "            value_schema:\n              file: schemas/card-authorization.avsc\n",
            "            value_schema: schemas/card-authorization.avsc\n",
        )
        + text[end:]
    )
    plan, _ = plan_of(fake, spec_dir)
    [action] = plan.actions
    assert action.resource == AUTHORIZATIONS and action.payload["clears_contract"] is True
    assert ("rules", "id-present", "-id-present") in [
        (c.key, c.before, c.after) for c in action.changes
    ]
    apply_schema_actions(
        plan.actions, list(spec_schemas(spec_dir).values()), fake, step=lambda *_: None
    )
    latest = fake.version(AUTHORIZATIONS, "latest")
    assert latest is not None and latest.version == 2 and latest.contract.empty
    assert plan_of(fake, spec_dir)[0].actions == [], "converged"


def test_apply_registers_the_contract_and_the_next_plan_is_empty() -> None:
    fake = FakeRegistry()
    plan, _ = plan_of(fake)
    apply_schema_actions(plan.actions, list(spec_schemas().values()), fake, step=lambda *_: None)
    latest = fake.version(IDENTITIES, "latest")
    assert latest is not None
    assert [r["name"] for r in latest.contract.rules()] == ["encrypt-pii"]
    assert plan_of(fake)[0].actions == []


def test_a_saved_plan_is_refused_when_the_contract_changed_since(spec_dir: Path) -> None:
    fake = without_contract(registered(FakeRegistry()), IDENTITIES)
    plan, _ = plan_of(fake, spec_dir)
    replace_in(
        spec_dir / "tenants" / "risk.yaml",
        "owner: kyc-team@example.com}",
        "owner: kyc@example.com}",
    )
    with pytest.raises(
        PlanError, match=r"risk\.customers\.identities-value changed since the plan"
    ):
        verify_schema_actions(plan.actions, list(spec_schemas(spec_dir).values()))
    # Schemas without a contract keep the digest they had before contracts existed.
    entries = spec_schemas()[ENTRIES]
    import hashlib

    assert entries.digest == hashlib.sha256(entries.text.encode()).hexdigest()[:16]


def breaking(spec_dir: Path, *, major: str | None, group: str | None = None) -> None:
    """Make ledger entries' schema incompatible (a new field without default), and set its
    application.major.version and compatibility_group in the spec."""
    schema = spec_dir / "schemas" / "ledger-entry.avsc"
    doc = json.loads(schema.read_text())
    doc["fields"].append({"name": "currency", "type": "string"})
    schema.write_text(json.dumps(doc))
    extra = []
    if major is not None:
        extra.append(f'              properties: {{application.major.version: "{major}"}}')
    if group is not None:
        extra.append(f"              compatibility_group: {group}")
    if extra:
        replace_in(
            spec_dir / "tenants" / "payments.yaml",
            "            value_schema: schemas/ledger-entry.avsc\n",
            "            value_schema:\n              file: schemas/ledger-entry.avsc\n"
            + "\n".join(extra)
            + "\n",
        )


def entries_v1(fake: FakeRegistry, *, group: str | None) -> FakeRegistry:
    schema = spec_schemas()[ENTRIES]
    fake.versions.pop(ENTRIES)
    major = Contract({"properties": {"application.major.version": "1"}}, None)
    return fake.holding(ENTRIES, schema.text, contract=major, group=group)


def test_a_breaking_change_is_allowed_as_a_new_major_version_under_a_compatibility_group(
    spec_dir: Path,
) -> None:
    fake = entries_v1(registered(FakeRegistry()), group="application.major.version")
    breaking(spec_dir, major="2")
    plan, readings = plan_of(fake, spec_dir)
    assert not plan.refusals
    [action] = plan.actions
    assert ("properties.application.major.version", "1", "2") in [
        (c.key, c.before, c.after) for c in action.changes
    ]
    [reading] = [r for r in readings if r.schema.subject == ENTRIES]
    assert "application.major.version 1 → 2: a new major version" in reading.notes()


def test_a_breaking_change_in_the_same_major_version_is_told_to_bump_it(spec_dir: Path) -> None:
    fake = entries_v1(registered(FakeRegistry()), group="application.major.version")
    breaking(spec_dir, major="1")
    plan, _ = plan_of(fake, spec_dir)
    [refusal] = plan.refusals
    assert 'set properties: {application.major.version: "2"} on the schema' in refusal.alternative
    assert fake.checked[-1] is not None  # the registry judged it with the schema's metadata


def test_a_new_major_version_without_a_group_is_still_checked_against_the_old_one(
    spec_dir: Path,
) -> None:
    fake = entries_v1(registered(FakeRegistry()), group=None)
    breaking(spec_dir, major="2")
    plan, _ = plan_of(fake, spec_dir)
    [refusal] = plan.refusals
    assert "the subject has no compatibilityGroup" in refusal.alternative
    assert "add compatibility_group: application.major.version to the schema" in refusal.alternative


def test_the_spec_sets_the_group_before_the_new_major_version_is_registered(
    spec_dir: Path,
) -> None:
    fake = entries_v1(registered(FakeRegistry()), group=None)
    breaking(spec_dir, major="2", group="application.major.version")
    plan, _ = plan_of(fake, spec_dir)
    assert not plan.refusals
    kinds = [(a.kind, a.payload.get("group")) for a in plan.actions]
    assert kinds == [("compatibility", "application.major.version"), ("schema", None)]
    assert (
        "~ compatibility payments.ledger.entries-value (no group) → group application.major.version"
        in shown(plan)
    )
    apply_schema_actions(
        plan.actions, list(spec_schemas(spec_dir).values()), fake, step=lambda *_: None
    )
    assert fake.groups[ENTRIES] == "application.major.version"
    assert fake.writes == [("config", ENTRIES), ("register", ENTRIES)]
    assert plan_of(fake, spec_dir)[0].actions == []
