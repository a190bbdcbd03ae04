"""Data contracts reach the real registry: apply registers metadata and rule sets, plan diffs
them, check refuses removing PII encryption.

One cluster and its registry (RegistryProcess, as `streamplane up` runs it) for the module,
with the example spec applied once; each test edits a copy of the spec and a subject no
other test of the module changes. Needs the registry to store ``metadata`` and ``ruleSet``
with each version (Confluent's data contracts).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamplane.model import load_spec
from streamplane.reconcile import compute_plan, connect
from tests.integration.conftest import PORT_SHIFT
from tests.integration.reconcile.conftest import EXAMPLE, apply_spec, platform
from tests.integration.reconcile.test_schemas import Applied, sp

#: The cluster (and registry) of this module; between test_schemas.py's and the counter's.
CONTRACTS_OFFSET = 20190 + PORT_SHIFT
IDENTITIES = "risk.customers.identities-value"  # pii: encrypt-pii by default
AUTHORIZATIONS = "payments.card.authorizations-value"  # the id-present CEL condition


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    spec_dir = tmp_path_factory.mktemp("contracts") / "platform"
    shutil.copytree(EXAMPLE, spec_dir)
    with platform("contracts", port_offset=CONTRACTS_OFFSET) as (cluster, registry):
        spec = load_spec(spec_dir)
        apply_spec(spec, connect(spec, data_dir=cluster.dir.root))
        yield Applied(cluster, registry, spec_dir)


def test_apply_registers_each_schema_with_its_contract_and_replans_empty(
    applied: Applied,
) -> None:
    latest = applied.get(f"/subjects/{IDENTITIES}/versions/latest")
    [rule] = latest["ruleSet"]["domainRules"]
    assert (rule["name"], rule["type"], rule["mode"], rule["tags"]) == (
        "encrypt-pii",
        "ENCRYPT",
        "WRITEREAD",
        ["PII"],
    )
    assert rule["params"]["encrypt.kek.name"] == "estate-pii"
    assert latest["metadata"]["properties"] == {"owner": "kyc-team@example.com"}
    by_id = applied.get(f"/schemas/ids/{latest['id']}")
    assert by_id["ruleSet"]["domainRules"][0]["name"] == "encrypt-pii"
    condition = applied.get(f"/subjects/{AUTHORIZATIONS}/versions/latest")["ruleSet"]
    assert condition["domainRules"][0]["expr"] == "message.id != ''"

    spec = load_spec(applied.spec_dir)
    plan = compute_plan(spec, connect(spec, data_dir=applied.cluster.dir.root)).plan
    assert [a for a in plan.actions if a.kind in ("schema", "compatibility")] == []
    check = sp("check", str(applied.spec_dir), *applied.data, "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    assert json.loads(check.stdout)["counts"]["unchanged"] == 12


def test_a_changed_rule_is_a_new_version_shown_as_a_diff_and_applied(
    applied: Applied, tmp_path: Path
) -> None:
    spec_dir = applied.copy(tmp_path / "spec")
    tenant = spec_dir / "tenants" / "payments.yaml"
    tenant.write_text(
        tenant.read_text().replace(
            "expr: \"message.id != ''\"", "expr: \"message.id != '' && size(message.id) < 64\""
        )
    )
    plan = sp("plan", str(spec_dir), *applied.data, "--detailed-exitcode")
    assert plan.returncode == 3, plan.stdout + plan.stderr
    assert f"~ schema {AUTHORIZATIONS}" in plan.stdout
    assert "version: 1 → 2" in plan.stdout and "rules: id-present → ~id-present" in plan.stdout
    assert "same schema, new data contract" in plan.stdout

    done = sp("apply", str(spec_dir), *applied.data, "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    assert applied.get(f"/subjects/{AUTHORIZATIONS}/versions") == [1, 2]
    rules = applied.get(f"/subjects/{AUTHORIZATIONS}/versions/latest")["ruleSet"]
    assert rules["domainRules"][0]["expr"] == "message.id != '' && size(message.id) < 64"
    again = sp("plan", str(spec_dir), *applied.data, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr


def test_check_and_plan_refuse_to_stop_encrypting_a_pii_topic(
    applied: Applied, tmp_path: Path
) -> None:
    spec_dir = applied.copy(tmp_path / "spec")
    risk = spec_dir / "tenants" / "risk.yaml"
    risk.write_text(risk.read_text().replace("classification: pii", "classification: internal"))
    check = sp("check", str(spec_dir), *applied.data)
    assert check.returncode == 1, check.stdout + check.stderr
    assert re.search(rf"refused +{re.escape(IDENTITIES)} ", check.stdout)
    assert "the latest version encrypts the fields tagged PII (rule encrypt-pii)" in check.stdout
    plan = sp("plan", str(spec_dir), *applied.data)
    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert f"! ~ schema {IDENTITIES}" in plan.stdout
    refused = sp("apply", str(spec_dir), *applied.data, "--auto-approve")
    assert refused.returncode == 1
    assert applied.get(f"/subjects/{IDENTITIES}/versions") == [1]
