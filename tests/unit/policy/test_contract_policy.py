"""pii-encryption: a pii topic's personal fields are tagged PII and encrypted with a KEK."""

from __future__ import annotations

import json
from pathlib import Path

from streamplane.model import load_spec
from streamplane.policy import Severity, has_errors, lint
from tests.unit.model.test_contracts import CUSTOMER, ENCRYPTION, EXAMPLE, line_of, write

UNTAGGED = {
    "type": "record",
    "name": "Customer",
    "namespace": "kyc",
    "fields": [{"name": "id", "type": "string"}, {"name": "email", "type": "string"}],
}


def pii_findings(root: Path) -> list[str]:
    return [f"{f.message} | {f.hint}" for f in lint(load_spec(root)) if f.rule == "pii-encryption"]


def test_the_example_estate_passes_with_its_encrypted_pii_topic() -> None:
    findings = lint(load_spec(EXAMPLE))
    assert not has_errors(findings), [str(f) for f in findings]


def test_a_pii_topic_without_a_kek_is_an_error_that_says_where_to_set_one(tmp_path: Path) -> None:
    root = write(tmp_path, "file: schemas/customer.avsc\n", top="")
    [finding] = [f for f in lint(load_spec(root)) if f.rule == "pii-encryption"]
    assert finding.severity is Severity.ERROR
    assert finding.message == (
        "pii topic has no KEK to encrypt its PII fields with, so its encrypt-pii rule cannot "
        "be made"
    )
    assert "at the top level of the spec, or on tenant kyc" in finding.hint
    assert finding.line == line_of(root, "file: schemas/customer.avsc")  # the value_schema


def test_a_pii_topic_without_a_pii_tagged_field_is_told_how_to_tag_one(tmp_path: Path) -> None:
    root = write(tmp_path, "file: schemas/customer.avsc\n")
    (root / "schemas" / "customer.avsc").write_text(json.dumps(UNTAGGED))
    [finding] = pii_findings(root)
    assert finding.startswith(
        "pii topic's value schema schemas/customer.avsc has no field tagged PII, so nothing of "
        "it would be encrypted"
    )
    assert '"confluent:tags": ["PII"] on the field in the schema' in finding
    # A tag given in the spec counts as well as one in the schema.
    tagged = write(tmp_path / "tagged", 'file: schemas/customer.avsc\ntags: {"**.email": [PII]}\n')
    (tagged / "schemas" / "customer.avsc").write_text(json.dumps(UNTAGGED))
    assert pii_findings(tagged) == []


def test_a_disabled_encrypt_rule_leaves_the_pii_fields_unencrypted(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        rules:
          domain:
            - {name: encrypt-pii, kind: TRANSFORM, mode: WRITEREAD, type: ENCRYPT, tags: [PII],
               disabled: true}
        """,
    )
    [finding] = pii_findings(root)
    assert finding.startswith("pii topic's value schema has no enabled ENCRYPT rule")


def test_the_rule_can_be_exempted_with_a_reason_like_any_other(tmp_path: Path) -> None:
    root = write(tmp_path, "file: schemas/customer.avsc\n", top="")
    spec_file = root / "spec.yaml"
    spec_file.write_text(
        spec_file.read_text()
        + "policy:\n  rules:\n    pii-encryption:\n      exemptions:\n"
        + '        - {resource: "kyc.*", reason: "tokenised upstream, keys held by the vault"}\n'
    )
    assert pii_findings(root) == []
    assert CUSTOMER["name"] == "Customer" and ENCRYPTION.startswith("encryption:")
