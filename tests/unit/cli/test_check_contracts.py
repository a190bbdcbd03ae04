"""``streamplane check`` on data contracts: removing PII encryption exits 1, new rules are listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.unit.cli.test_check import run_check
from tests.unit.reconcile.fake_registry import EXAMPLE, FakeRegistry, registered

IDENTITIES = "risk.customers.identities-value"


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "platform"
    shutil.copytree(EXAMPLE, dest)
    return dest


def test_removing_a_pii_topics_encryption_is_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, spec_dir: Path
) -> None:
    risk = spec_dir / "tenants" / "risk.yaml"
    risk.write_text(risk.read_text().replace("classification: pii", "classification: internal"))
    result, _ = run_check(monkeypatch, registered(FakeRegistry()), spec_dir)
    assert result.exit_code == 1, result.output
    assert f"refused      {IDENTITIES}" in result.output
    assert "rules: encrypt-pii → -encrypt-pii" in result.output
    assert "· the latest version encrypts the fields tagged PII (rule encrypt-pii)" in result.output
    assert "keep the ENCRYPT rule" in result.output
    assert result.output.rstrip().endswith(
        "0 incompatible, 1 refused. 1 cannot be registered as the spec has it (see above)."
    )


def test_the_json_report_counts_refusals_and_lists_contract_changes(
    monkeypatch: pytest.MonkeyPatch, spec_dir: Path
) -> None:
    risk = spec_dir / "tenants" / "risk.yaml"
    risk.write_text(risk.read_text().replace("classification: pii", "classification: internal"))
    result, _ = run_check(monkeypatch, registered(FakeRegistry()), spec_dir, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["counts"]["refused"] == 1
    [entry] = [s for s in report["schemas"] if s["subject"] == IDENTITIES]
    assert entry["status"] == "refused"
    assert entry["contract_changes"] == [
        {"key": "rules", "before": "encrypt-pii", "after": "-encrypt-pii"}
    ]
    assert entry["refusal_alternative"].startswith("keep the ENCRYPT rule")


def test_a_new_condition_rule_is_listed_and_the_check_passes(
    monkeypatch: pytest.MonkeyPatch, spec_dir: Path
) -> None:
    fake = registered(FakeRegistry())
    subject = "payments.card.authorizations-value"
    text = fake.versions[subject][0][2]
    fake.versions.pop(subject)
    fake.holding(subject, text)  # registered before the contract existed
    result, _ = run_check(monkeypatch, fake, spec_dir)
    assert result.exit_code == 0, result.output
    assert "rules: none → +id-present" in result.output
    assert "note: new CONDITION rule id-present (CEL, WRITE): from this version on, producers'" in (
        result.output
    )
    assert "1 compatible, 0 incompatible. All can be registered." in result.output
