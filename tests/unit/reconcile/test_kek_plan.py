"""The spec's KEKs in the plan: create, update, undelete, refuse a new KMS key, never delete.

The planner is under test; the DEK registry is an in-memory stand-in with Confluent's
semantics (the real one is exercised over HTTP in tests/integration/reconcile/test_keks.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from streamplane.cli._render import render_plan
from streamplane.errors import PlanError, RegistryError
from streamplane.model import load_spec
from streamplane.reconcile import Action, Plan
from streamplane.reconcile._keks import (
    DOC_PREFIX,
    DesiredKek,
    apply_kek_actions,
    desired_keks,
    kek_changes,
    observe_keks_now,
    observed_keks,
    read_keks,
    rule_keks,
)
from tests.unit.reconcile.fake_registry import EXAMPLE, spec_schemas

#: Where the example spec names its KEK (found, so that editing the spec moves it).
KEK_LINE = "platform.yaml:" + str(
    1
    + next(
        i
        for i, line in enumerate((EXAMPLE / "platform.yaml").read_text().splitlines())
        if line == "  kek: estate-pii"
    )
)
PLATFORM_DOC = (
    f"{DOC_PREFIX}the KEK of the ENCRYPT rules of every tenant without an encryption of its own"
)


class FakeKeks:
    """Confluent's DEK registry, KEKs only, in memory."""

    url = "http://registry.test:8081"

    def __init__(self, *, available: bool = True) -> None:
        self.available = available
        self.keks: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str]] = []

    def holding(self, name: str, kms_key_id: str, **fields: Any) -> FakeKeks:
        self.keks[name] = {
            "name": name, "kmsType": "local-kms", "kmsKeyId": kms_key_id, "kmsProps": {},
            "shared": False, "ts": 1, "deleted": False, **fields,
        }  # fmt: skip
        return self

    def kek_names(self) -> list[str] | None:
        return sorted(self.keks) if self.available else None

    def kek(self, name: str) -> dict[str, Any] | None:
        found = self.keks.get(name)
        return None if found is None else dict(found)

    def create_kek(self, body: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("create", body["name"]))
        if body["name"] in self.keks:
            raise RegistryError(409, 40971, f"Key '{body['name']}' already exists")
        self.keks[body["name"]] = {**body, "ts": 2, "deleted": False}
        return dict(self.keks[body["name"]])

    def update_kek(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(("update", name))
        kek = self.keks.get(name)
        if kek is None or kek["deleted"]:
            raise RegistryError(404, 40470, f"Key '{name}' not found")
        # Confluent's UpdateKekRequest: kmsProps, doc and shared; nothing else.
        assert set(body) <= {"kmsProps", "doc", "shared"}, body
        kek.update(body)
        return dict(kek)

    def undelete_kek(self, name: str) -> None:
        self.writes.append(("undelete", name))
        self.keks[name]["deleted"] = False


def desired(name: str = "estate-pii", key: str = "estate-pii", **fields: Any) -> DesiredKek:
    return DesiredKek(
        name=name,
        kms_type=fields.pop("kms_type", "local-kms"),
        kms_key_id=key,
        tenant=fields.pop("tenant", None),
        where=(KEK_LINE,),
        doc=fields.pop("doc", PLATFORM_DOC),
        **fields,
    )


def plan_for(wanted: list[DesiredKek], fake: FakeKeks, **kwargs: Any) -> Plan:
    reading = read_keks(fake)
    actions, refusals, kept = kek_changes(wanted, reading, **kwargs)
    return Plan("local", actions, refusals, kept, observed=observed_keks(wanted, reading))


def shown(plan: Plan) -> str:
    console = Console(record=True, width=240, soft_wrap=True)
    render_plan(plan, console)
    return console.export_text()


def applied(plan: Plan, fake: FakeKeks) -> None:
    apply_kek_actions(plan.actions, fake, step=lambda *_: None)


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "platform"
    shutil.copytree(EXAMPLE, dest)
    return dest


def with_tenant_encryption(spec_dir: Path, block: str) -> None:
    path = spec_dir / "tenants" / "risk.yaml"
    text = path.read_text()
    anchor = "    clusters: [local]\n"
    path.write_text(text.replace(anchor, anchor + block, 1))


# ------------------------------------------------------------------------- the spec side
def test_the_spec_names_its_kek_once_and_the_example_gets_it_on_its_cluster() -> None:
    [kek] = desired_keks(load_spec(EXAMPLE), "local")
    assert (kek.name, kek.kms_type, kek.kms_key_id, kek.tenant) == (
        "estate-pii", "local-kms", "estate-pii", None,
    )  # fmt: skip
    assert kek.doc == PLATFORM_DOC and kek.where[0].endswith(KEK_LINE)
    assert kek.kms_props is None and kek.shared is None, "the spec leaves them to the registry"
    # The pii topic's default rule names it: the planner treats it as the rules' KEK.
    assert rule_keks(s.contract for s in spec_schemas().values()) == {"estate-pii"}


def test_a_tenant_kek_is_a_resource_of_that_tenant(spec_dir: Path) -> None:
    with_tenant_encryption(
        spec_dir, "    encryption: {kek: risk.pii, kms_type: local-kms, kms_key_id: risk-key}\n"
    )
    keks = {k.name: k for k in desired_keks(load_spec(spec_dir), "local")}
    assert sorted(keks) == ["estate-pii", "risk.pii"]
    assert keks["risk.pii"].tenant == "risk" and keks["risk.pii"].kms_key_id == "risk-key"
    assert keks["risk.pii"].doc == f"{DOC_PREFIX}the KEK of the ENCRYPT rules of tenant risk"
    assert keks["risk.pii"].where[0].endswith("tenants/risk.yaml:5")
    # Another cluster of the spec: the tenant is not there, so neither is its KEK.
    assert [k.name for k in desired_keks(load_spec(spec_dir), "elsewhere")] == ["estate-pii"]


def test_two_blocks_naming_one_kek_with_different_keys_is_an_error_naming_both(
    spec_dir: Path,
) -> None:
    with_tenant_encryption(
        spec_dir, "    encryption: {kek: estate-pii, kms_type: local-kms, kms_key_id: other}\n"
    )
    with pytest.raises(PlanError) as caught:
        desired_keks(load_spec(spec_dir), "local")
    message = str(caught.value)
    assert KEK_LINE in message and "tenants/risk.yaml:5" in message
    assert "local-kms key estate-pii and local-kms key other" in message


def test_a_tenant_repeating_the_specs_kek_shares_it(spec_dir: Path) -> None:
    with_tenant_encryption(
        spec_dir, "    encryption: {kek: estate-pii, kms_type: local-kms, kms_key_id: estate-pii}\n"
    )
    [kek] = desired_keks(load_spec(spec_dir), "local")
    assert kek.tenant is None and len(kek.where) == 2
    assert kek.doc.endswith("every tenant without an encryption of its own and tenant risk")


# ------------------------------------------------------------------------------ the plan
def test_a_missing_kek_is_created_with_its_kms_and_key_id() -> None:
    plan = plan_for([desired()], FakeKeks())
    [action] = plan.actions
    assert (action.op, action.kind, action.resource, action.tenant) == (
        "create", "kek", "estate-pii", None,
    )  # fmt: skip
    text = shown(plan)
    assert "+ kek estate-pii" in text
    assert "kmsType = local-kms" in text and "kmsKeyId = estate-pii" in text
    assert "# local-kms, key id estate-pii; created before the schemas" in text
    assert plan.observed == {"kek:estate-pii": "-"}


def test_the_same_kek_plans_nothing() -> None:
    fake = FakeKeks().holding("estate-pii", "estate-pii", doc=PLATFORM_DOC)
    plan = plan_for([desired()], fake)
    assert plan.actions == [] and plan.refusals == [] and plan.kept == []


def test_a_changed_doc_props_or_shared_flag_is_an_update_of_just_those() -> None:
    fake = FakeKeks().holding(
        "estate-pii", "estate-pii", doc="by hand", kmsProps={"a": "1"}, shared=True
    )
    plan = plan_for([desired(kms_props={"a": "2"}, shared=False)], fake)
    [action] = plan.actions
    assert (action.op, action.kind) == ("update", "kek")
    assert {c.key: (c.before, c.after) for c in action.changes} == {
        "doc": ("by hand", PLATFORM_DOC),
        "kmsProps": ("a=1", "a=2"),
        "shared": ("true", "false"),
    }
    applied(plan, fake)
    assert fake.writes == [("update", "estate-pii")]
    assert plan_for([desired(kms_props={"a": "2"}, shared=False)], fake).actions == []


def test_props_and_shared_the_spec_does_not_set_are_left_as_the_registry_has_them() -> None:
    fake = FakeKeks().holding(
        "estate-pii", "estate-pii", doc=PLATFORM_DOC, kmsProps={"k": "v"}, shared=True
    )
    assert plan_for([desired()], fake).actions == []


@pytest.mark.parametrize(
    ("have", "wanted", "shown_change"),
    [
        ({"kmsKeyId": "old-key"}, desired(), "kmsKeyId old-key → estate-pii"),
        ({"kmsType": "aws-kms"}, desired(), "kmsType aws-kms → local-kms"),
    ],
)
def test_a_new_kms_key_or_type_is_refused_with_a_new_kek_as_the_way(
    have: dict[str, Any], wanted: DesiredKek, shown_change: str
) -> None:
    fake = FakeKeks().holding("estate-pii", "estate-pii", doc=PLATFORM_DOC)
    fake.keks["estate-pii"].update(have)
    plan = plan_for([wanted], fake)
    assert plan.actions == []
    [refusal] = plan.refusals
    assert (refusal.kind, refusal.resource) == ("kek", "estate-pii")
    assert "cannot change a KEK's kmsType or kmsKeyId" in refusal.problem
    assert KEK_LINE in refusal.problem
    assert "name a new KEK in the spec (e.g. kek: estate-pii-2)" in refusal.alternative
    assert refusal.details == (shown_change,)
    assert "! ~ kek estate-pii" in shown(plan)


def test_a_soft_deleted_kek_the_spec_names_is_undeleted() -> None:
    fake = FakeKeks().holding("estate-pii", "estate-pii", doc=PLATFORM_DOC, deleted=True)
    plan = plan_for([desired()], fake)
    [action] = plan.actions
    assert [(c.key, c.before, c.after) for c in action.changes] == [("deleted", "true", "false")]
    assert "soft-deleted in the registry" in action.reason
    applied(plan, fake)
    assert fake.writes == [("undelete", "estate-pii")] and not fake.keks["estate-pii"]["deleted"]


def test_a_soft_deleted_kek_with_another_key_is_refused_not_undeleted() -> None:
    fake = FakeKeks().holding("estate-pii", "old", doc=PLATFORM_DOC, deleted=True)
    [refusal] = plan_for([desired()], fake).refusals
    assert "KEK estate-pii (soft-deleted) exists with local-kms key old" in refusal.problem


def test_a_kek_the_spec_dropped_is_kept_and_says_it_is_never_deleted() -> None:
    fake = (
        FakeKeks()
        .holding("estate-pii", "estate-pii", doc=PLATFORM_DOC)
        .holding("risk.by-hand", "k", doc="made by the team")
        .holding("payments.by-rule", "k")
        .holding("gone", "k", doc=PLATFORM_DOC, deleted=True)
    )
    plan = plan_for(
        [], fake, named_by_rules={"payments.by-rule"},
        tenant_of=lambda name: name.split(".")[0] if "." in name else None,
    )  # fmt: skip
    assert plan.actions == [] and plan.refusals == []
    kept = {k.resource: k for k in plan.kept}
    assert sorted(kept) == ["estate-pii", "risk.by-hand"], "rule-named and deleted ones: quiet"
    assert kept["estate-pii"].why.startswith("the spec no longer names it; apply never deletes")
    assert "not even with --allow-delete" in kept["estate-pii"].why
    assert kept["risk.by-hand"].why.startswith("not declared in the spec")
    assert (kept["estate-pii"].tenant, kept["risk.by-hand"].tenant) == (None, "risk")
    assert "· kek estate-pii: the spec no longer names it" in shown(plan)


def test_a_registry_without_a_dek_registry_refuses_the_kek_instead_of_failing_producers() -> None:
    plan = plan_for([desired()], FakeKeks(available=False))
    [refusal] = plan.refusals
    assert "has no DEK registry" in refusal.problem and plan.actions == []
    assert plan.observed == {}
    assert plan_for([], FakeKeks(available=False)).refusals == []


# ----------------------------------------------------------------- saved plans and apply
def test_kek_actions_sort_before_the_schemas_that_name_them_and_survive_a_saved_plan() -> None:
    schema = Action("create", "schema", "risk.customers.identities-value", None)
    plan = plan_for([desired()], FakeKeks())
    plan.actions.append(schema)
    plan.actions.sort(key=Action.sort_key)
    assert [a.kind for a in plan.actions] == ["kek", "schema"]
    again = Plan.from_json(json.loads(json.dumps(plan.to_json())))
    assert again.actions == plan.actions and again.observed == plan.observed


def test_a_saved_plan_sees_a_kek_appear_or_change() -> None:
    fake = FakeKeks()
    plan = plan_for([desired()], fake)
    assert observe_keks_now(fake, ["estate-pii"]) == plan.observed
    fake.holding("estate-pii", "estate-pii")
    assert observe_keks_now(fake, ["estate-pii"]) != plan.observed


def test_apply_creates_then_converges_when_run_again() -> None:
    fake = FakeKeks()
    plan = plan_for([desired()], fake)
    applied(plan, fake)
    assert fake.keks["estate-pii"]["doc"] == PLATFORM_DOC
    assert (fake.keks["estate-pii"]["shared"], fake.keks["estate-pii"]["kmsProps"]) == (False, {})
    applied(plan, fake)  # the same plan again: the KEK is there, nothing is written
    assert fake.writes == [("create", "estate-pii")]
    assert plan_for([desired()], fake).actions == []


def test_apply_stops_at_a_kek_made_meanwhile_with_another_key_and_lists_what_was_done() -> None:
    fake = FakeKeks()
    plan = plan_for([desired("a.kek", "a"), desired("b.kek", "b")], fake)
    fake.holding("b.kek", "someone-elses")
    with pytest.raises(PlanError) as caught:
        applied(plan, fake)
    message = str(caught.value)
    assert "+ kek b.kek failed: KEK b.kek now exists with local-kms key someone-elses" in message
    assert "these were:\n  + kek a.kek (local-kms, key id a)" in message
    assert "nor any schema registration" in message
    assert fake.keks["b.kek"]["kmsKeyId"] == "someone-elses", "never overwritten"
