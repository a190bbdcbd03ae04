"""Who may read a topic by the ACLs: literal, prefixed and wildcard grants, ALL, DENY."""

from __future__ import annotations

from streamplane.kafka._admin import AclTuple
from streamplane.lineage.access import readers_by_acl
from streamplane.model import load_spec
from tests.unit.lineage.test_asyncapi import EXAMPLE


def acl(principal: str, name: str, *, op: str = "READ", pattern: str = "LITERAL",
        permission: str = "ALLOW", kind: str = "TOPIC") -> AclTuple:  # fmt: skip
    return AclTuple(f"User:{principal}", kind, name, pattern, op, permission, "*")


def test_grants_name_applications_and_deny_wins() -> None:
    spec = load_spec(EXAMPLE)
    topic = "payments.card.authorizations"
    acls = [
        acl("card-authorizer", topic),
        acl("auditor-tool", "payments.", pattern="PREFIXED"),
        acl("everyone-reader", "*", op="ALL"),
        acl("card-gateway", topic, op="WRITE"),  # writing is not reading
        acl("ledger-writer", "payments.card.", pattern="PREFIXED"),
        acl("ledger-writer", topic, permission="DENY"),
        acl("kyc-service", topic, kind="GROUP"),  # a group of that name, not the topic
    ]

    readers = readers_by_acl(spec, acls, [topic, "risk.fraud.features"])

    assert readers[topic] == ["User:auditor-tool", "User:everyone-reader", "card-authorizer"]
    assert readers["risk.fraud.features"] == ["User:everyone-reader"]
