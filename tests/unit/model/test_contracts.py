"""Data contracts in the spec: what is registered with a schema, and located mistakes."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from streamplane.errors import SpecError
from streamplane.model import (
    DEFAULT_ENCRYPT_RULE,
    Spec,
    field_tags,
    load_spec,
    schema_contract,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"

CUSTOMER = {
    "type": "record",
    "name": "Customer",
    "namespace": "kyc",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "email", "type": ["null", "string"], "default": None},
        {
            "name": "address",
            "type": {
                "type": "record",
                "name": "Address",
                "fields": [{"name": "street", "type": "string", "confluent:tags": ["PII"]}],
            },
        },
    ],
}

ENCRYPTION = """\
encryption:
  kek: platform-kek
  kms_type: local-kms
  kms_key_id: platform-key
"""


def write(root: Path, value_schema: str, *, top: str = ENCRYPTION, tenant: str = "") -> Path:
    """A one-topic spec; ``value_schema`` is the YAML under the topic's value_schema key."""
    (root / "schemas").mkdir(parents=True, exist_ok=True)
    (root / "schemas" / "customer.avsc").write_text(json.dumps(CUSTOMER))
    lines = [
        "clusters:",
        "  - name: local",
        "    local: true",
        "tenants:",
        "  - name: kyc",
        "    owners: [kyc@example.com]",
        "    clusters: [local]",
        *(f"    {line}" for line in tenant.splitlines()),
        "    domains:",
        "      - name: customers",
        "        topics:",
        "          - name: identities",
        "            classification: pii",
        "            value_schema:",
        *(f"              {line}" for line in textwrap.dedent(value_schema).splitlines()),
    ]
    (root / "spec.yaml").write_text(top + "\n".join(lines) + "\n")
    return root


def load(root: Path) -> Spec:
    return load_spec(root)


def errors(root: Path) -> list[Any]:
    with pytest.raises(SpecError) as info:
        load_spec(root)
    return info.value.issues


def line_of(root: Path, text: str) -> int:
    """The 1-based line of the spec file that contains ``text``."""
    lines = (root / "spec.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def value_contract(spec: Spec) -> Any:
    return schema_contract(spec, spec.topics["kyc.customers.identities"], "value")


def test_the_example_pii_topic_gets_the_default_encrypt_rule_with_the_spec_kek() -> None:
    spec = load_spec(EXAMPLE)
    contract = schema_contract(spec, spec.topics["risk.customers.identities"], "value")
    [rule] = contract.rules()
    assert rule == {
        "name": DEFAULT_ENCRYPT_RULE,
        "doc": "Encrypts every field tagged PII (classification: pii).",
        "kind": "TRANSFORM",
        "mode": "WRITEREAD",
        "type": "ENCRYPT",
        "tags": ["PII"],
        "params": {
            "encrypt.kek.name": "estate-pii",
            "encrypt.kms.key.id": "estate-pii",
            "encrypt.kms.type": "local-kms",
        },
        "onFailure": "ERROR,NONE",
    }
    assert contract.metadata == {"properties": {"owner": "kyc-team@example.com"}}
    condition = schema_contract(spec, spec.topics["payments.card.authorizations"], "value")
    assert [r["type"] for r in condition.rules()] == ["CEL"]
    assert schema_contract(spec, spec.topics["payments.ledger.entries"], "value").empty


def test_spec_tags_properties_and_rules_become_confluent_metadata_and_rule_set(
    tmp_path: Path,
) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        tags: {"**.email": [PII]}
        properties: {owner: kyc-team, application.major.version: 1}
        sensitive: [owner]
        rules:
          domain:
            - {name: id-present, kind: CONDITION, mode: WRITE, type: CEL, expr: "message.id != ''"}
          migration:
            - {name: v1-to-v2, kind: TRANSFORM, mode: UPGRADE, type: JSONATA, expr: "$"}
        """,
    )
    contract = value_contract(load(root))
    assert contract.metadata == {
        "tags": {"**.email": ["PII"]},
        # Confluent's properties are strings: a YAML number is written as one.
        "properties": {"application.major.version": "1", "owner": "kyc-team"},
        "sensitive": ["owner"],
    }
    names = [r["name"] for r in contract.rule_set["domainRules"]]
    assert names == ["id-present", DEFAULT_ENCRYPT_RULE], "the default rule comes after"
    assert contract.rule_set["migrationRules"][0]["mode"] == "UPGRADE"
    fields = field_tags(load(root), load(root).topics["kyc.customers.identities"], "value")
    assert fields == {
        "kyc.Customer.id": set(),
        "kyc.Customer.email": {"PII"},
        "kyc.Customer.address": set(),
        "kyc.Address.street": {"PII"},
    }


def test_a_tenant_kek_wins_over_the_spec_one_and_an_own_encrypt_rule_replaces_the_default(
    tmp_path: Path,
) -> None:
    tenant = "encryption: {kek: kyc-kek, kms_type: local-kms, kms_key_id: kyc-key}\n"
    root = write(tmp_path, "file: schemas/customer.avsc\n", tenant=tenant)
    [rule] = value_contract(load(root)).rules()
    assert rule["params"]["encrypt.kek.name"] == "kyc-kek"
    own = write(
        tmp_path / "own",
        """\
        file: schemas/customer.avsc
        rules:
          domain:
            - {name: encrypt-deterministic, kind: TRANSFORM, mode: WRITEREAD, type: ENCRYPT,
               tags: [PII], params: {encrypt.dek.algorithm: AES256_SIV}}
        """,
    )
    [rule] = value_contract(load(own)).rules()
    assert rule["name"] == "encrypt-deterministic"
    assert rule["params"] == {
        "encrypt.dek.algorithm": "AES256_SIV",
        "encrypt.kek.name": "platform-kek",
        "encrypt.kms.key.id": "platform-key",
        "encrypt.kms.type": "local-kms",
    }


def test_an_unknown_rule_type_is_located_and_the_known_ones_listed(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        rules:
          domain:
            - name: check-id
              kind: CONDITION
              mode: WRITE
              type: CELL
              expr: "message.id != ''"
        """,
    )
    [issue] = errors(root)
    assert issue.line == line_of(root, "type: CELL")
    assert issue.message == 'rule "check-id": unknown rule type "CELL"'
    assert issue.hint is not None and issue.hint.startswith('did you mean "CEL"?')
    assert "CEL_FIELD, ENCRYPT, ENCRYPT_PAYLOAD, ENCRYPT_PER_SUBJECT, JSONATA" in issue.hint


def test_an_unknown_kind_and_a_migration_mode_in_domain_rules_are_refused(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        rules:
          domain:
            - {name: a, kind: CHECK, mode: WRITE, type: CEL, expr: "true"}
            - {name: b, kind: TRANSFORM, mode: UPGRADE, type: JSONATA, expr: "$"}
            - {name: c, kind: CONDITION, mode: SOMETIMES, type: CEL, expr: "true"}
        """,
    )
    found = {i.message: i for i in errors(root)}
    kind = found['rule "a": unknown rule kind "CHECK"']
    assert kind.hint == "CONDITION refuses records that fail the rule; TRANSFORM changes them"
    assert kind.line == line_of(root, "kind: CHECK")
    mode = found['rule "b": mode "UPGRADE" is a migration rule mode']
    assert mode.hint == "domain rules take WRITE, READ, WRITEREAD; move the rule under `migration`"
    assert 'rule "c": unknown mode "SOMETIMES"' in found


def test_an_encrypt_rule_without_a_kek_says_where_to_name_one(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        rules:
          domain:
            - {name: encrypt, kind: TRANSFORM, mode: WRITEREAD, type: ENCRYPT, tags: [PII]}
        """,
        top="",
    )
    [issue] = errors(root)
    assert issue.message == 'rule "encrypt": an ENCRYPT rule needs a KEK, and none is set'
    assert issue.line == line_of(root, "name: encrypt")
    assert "set `encryption: {kek: <name>" in (issue.hint or "")
    assert "(or on tenant kyc)" in (issue.hint or "")


@pytest.mark.parametrize(
    ("rule_type", "expr", "expected"),
    [
        ("CEL", "message.id !=", "the CEL expression does not parse"),
        ("CEL_FIELD", "name == 'email' ; value.(", "the CEL_FIELD expression does not parse"),
        ("JSONATA", '$merge([$, {"a": ', "the JSONATA expression does not parse"),
    ],
)
def test_an_expression_that_does_not_parse_is_located(
    tmp_path: Path, rule_type: str, expr: str, expected: str
) -> None:
    mode = "UPGRADE" if rule_type == "JSONATA" else "WRITE"
    section = "migration" if rule_type == "JSONATA" else "domain"
    kind = "TRANSFORM" if rule_type != "CEL" else "CONDITION"
    root = write(
        tmp_path,
        f"""\
        file: schemas/customer.avsc
        rules:
          {section}:
            - name: r
              kind: {kind}
              mode: {mode}
              type: {rule_type}
              expr: {json.dumps(expr)}
        """,
    )
    [issue] = errors(root)
    assert issue.message.startswith(f'rule "r": {expected}: ')
    assert issue.line == line_of(root, "expr:")


def test_a_tag_on_a_field_path_the_schema_does_not_have_is_refused_with_the_fields(
    tmp_path: Path,
) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        tags: {"kyc.Customer.emial": [PII]}
        """,
    )
    [issue] = errors(root)
    assert (
        issue.message == 'tag path "kyc.Customer.emial" matches no field of schemas/customer.avsc'
    )
    assert (issue.hint or "").startswith('did you mean "kyc.Customer.email"?')
    assert issue.line == line_of(root, "kyc.Customer.emial")


def test_a_field_rule_for_a_tag_no_field_carries_applies_to_nothing(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        rules:
          domain:
            - {name: mask-ssn, kind: TRANSFORM, mode: WRITE, type: CEL_FIELD, tags: [SSN],
               expr: "name == 'ssn' ; 'XXX'"}
        """,
    )
    [issue] = errors(root)
    assert (
        issue.message == 'rule "mask-ssn": no field carries tag SSN, so the rule applies to nothing'
    )


def test_actions_names_and_groups_are_checked(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        compatibility_group: application.major.version
        rules:
          domain:
            - {name: a, kind: CONDITION, mode: WRITE, type: CEL, expr: "true", onFailure: "ERROR,NONE"}
            - {name: a, kind: CONDITION, mode: WRITEREAD, type: CEL, expr: "true", onFailure: RETRY}
        """,
    )
    messages = {i.message for i in errors(root)}
    assert messages == {
        'rule "a": onFailure "ERROR,NONE" is not an action',
        'duplicate rule name "a"',
        'rule "a": onFailure "RETRY" is not an action',
        'compatibility_group is "application.major.version", but the schema\'s properties '
        "do not set it",
    }


def test_an_aws_kek_needs_a_key_arn_and_the_local_secret_is_only_for_local_kms(
    tmp_path: Path,
) -> None:
    top = "encryption: {kek: k, kms_type: aws-kms, kms_key_id: my-key, secret: {env: S}}\n"
    root = write(tmp_path, "file: schemas/customer.avsc\n", top=top)
    [issue] = errors(root)
    assert "an aws-kms kms_key_id is a key or alias ARN" in issue.message
    arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    good = write(
        tmp_path / "good",
        "file: schemas/customer.avsc\n",
        top=f"encryption: {{kek: k, kms_type: aws-kms, kms_key_id: {arn}}}\n",
    )
    [rule] = value_contract(load(good)).rules()
    assert rule["params"]["encrypt.kms.type"] == "aws-kms"


def test_encryption_may_be_set_in_another_file_of_the_spec(tmp_path: Path) -> None:
    root = write(tmp_path, "file: schemas/customer.avsc\n", top="")
    (root / "encryption.yaml").write_text(ENCRYPTION)
    [rule] = value_contract(load(root)).rules()
    assert rule["params"]["encrypt.kek.name"] == "platform-kek"


def test_the_example_spec_loads_with_its_contracts(tmp_path: Path) -> None:
    copy = tmp_path / "platform"
    shutil.copytree(EXAMPLE, copy)
    spec = load_spec(copy)
    assert spec.platform.encryption is not None and spec.platform.encryption.kek == "estate-pii"


def test_a_per_subject_rule_replaces_the_default_and_gets_the_spec_kek(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        """\
        file: schemas/customer.avsc
        rules:
          domain:
            - {name: forget-me, kind: TRANSFORM, mode: WRITEREAD, type: ENCRYPT_PER_SUBJECT,
               tags: [PII], params: {encrypt.subject.field: id}}
        """,
    )
    [rule] = value_contract(load(root)).rules()
    assert rule["type"] == "ENCRYPT_PER_SUBJECT"
    assert rule["params"]["encrypt.kek.name"] == "platform-kek"
    assert rule["params"]["encrypt.subject.field"] == "id"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("{}", "an ENCRYPT_PER_SUBJECT rule needs encrypt.subject.field"),
        ("{encrypt.subject.field: customer}", "names customer, which is not a field"),
        ("{encrypt.subject.field: street}", "the subject field street carries a tag the rule"),
    ],
)
def test_a_per_subject_rule_needs_a_plain_subject_field_of_the_schema(
    tmp_path: Path, params: str, message: str
) -> None:
    root = write(
        tmp_path,
        f"""\
        file: schemas/customer.avsc
        rules:
          domain:
            - {{name: forget-me, kind: TRANSFORM, mode: WRITEREAD, type: ENCRYPT_PER_SUBJECT,
               tags: [PII], params: {params}}}
        """,
    )
    [issue] = errors(root)
    assert message in issue.message
    assert issue.line == line_of(root, "forget-me") or issue.line == line_of(root, "params")
