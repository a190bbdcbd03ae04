"""The brokers' log lines as audit records: decisions, hidden resources, refused
authentications, and lines the parser does not know (kept raw, never dropped)."""

from __future__ import annotations

from streamplane.security.audit._record import AUTHENTICATE, HIDDEN, parse_authorizer_line

PREFIX = "[2026-12-05 12:00:00,123]"
DECISION = (
    "Principal = User:alpha-scram is {verdict} operation = {op} from host = 127.0.0.1 on "
    "resource = Topic:LITERAL:beta.orders.events for request = {req} with resourceRefCount "
    "= 1 based on rule {rule} (kafka.authorizer.logger)\n"
)


def _parse(line: str):  # type: ignore[no-untyped-def]
    return parse_authorizer_line(line, source="broker:1", id="e1")


def test_a_denial_names_who_what_where_and_the_rule() -> None:
    record = _parse(f"{PREFIX} INFO " + DECISION.format(
        verdict="Denied", op="WRITE", req="Produce", rule="DefaultDeny"))  # fmt: skip
    assert (record.principal, record.operation, record.decision) == (
        "User:alpha-scram", "WRITE", "denied",
    )  # fmt: skip
    assert (record.resource_type, record.resource_name, record.pattern_type) == (
        "Topic", "beta.orders.events", "LITERAL",
    )  # fmt: skip
    assert (record.client, record.acl, record.request) == ("127.0.0.1", "DefaultDeny", "Produce")
    assert record.time == "2026-12-05T12:00:00.123+00:00"


def test_a_trace_denial_only_hid_a_resource_and_a_grant_is_allowed() -> None:
    hidden = _parse(f"{PREFIX} TRACE " + DECISION.format(
        verdict="Denied", op="DESCRIBE", req="Metadata", rule="DefaultDeny"))  # fmt: skip
    assert hidden.decision == HIDDEN
    allowed = _parse(f"{PREFIX} DEBUG " + DECISION.format(
        verdict="Allowed", op="CREATE", req="CreateTopics", rule="SuperUser"))  # fmt: skip
    assert allowed.decision == "allowed" and allowed.acl == "SuperUser"


def test_a_refused_authentication_is_a_denied_authenticate_on_its_listener() -> None:
    record = _parse(
        f"{PREFIX} INFO [SocketServer listenerType=BROKER, nodeId=1] Failed authentication with "
        "/127.0.0.1 (channelId=127.0.0.1:9192-127.0.0.1:53452-3) (SSL handshake failed) "
        "(org.apache.kafka.common.network.Selector)\n"
    )
    assert (record.operation, record.decision, record.principal) == (AUTHENTICATE, "denied", None)
    assert (record.resource_type, record.resource_name) == ("Listener", "127.0.0.1:9192")
    assert (record.client, record.request) == ("127.0.0.1", "SSL handshake failed")


def test_an_unknown_line_is_kept_raw() -> None:
    record = _parse("something Kafka 5 might log\n")
    assert (record.decision, record.operation, record.raw) == (
        "unknown", "unknown", "something Kafka 5 might log",
    )  # fmt: skip
