"""Declared and observed flows joined, and drawn, without a cluster."""

from __future__ import annotations

from pathlib import Path

from streamplane.lineage.flows import Flow, declared_flows, lineage, mermaid
from streamplane.model import load_spec, parking_topics
from tests.unit.lineage.test_asyncapi import EXAMPLE


def test_declared_flows_are_the_specs_produces_and_consumes() -> None:
    spec = load_spec(EXAMPLE)
    flows = declared_flows(spec)
    expected = sum(len(e.app.produces) + len(e.app.consumes) for e in spec.applications.values())
    parked = parking_topics(spec).values()
    expected += len(parked) + sum(1 for p in parked if p.kind == "retry")
    assert len(flows) == expected
    # dead_letters imply flows: the scorer parks in its retry topics and reads them back.
    retry = "risk.fraud.fraud-scorer.risk.fraud.features.retry.1"
    assert {Flow("fraud-scorer", d, retry) for d in ("produces", "consumes")} <= flows
    assert Flow("card-gateway", "produces", "payments.card.authorizations") in flows
    assert Flow("card-authorizer", "consumes", "payments.card.authorizations") in flows


def test_the_join_marks_each_flow_and_the_picture_follows() -> None:
    declared = {Flow("a", "produces", "t"), Flow("b", "consumes", "t")}
    observed = {Flow("a", "produces", "t"): {"5 of the last records"},
                Flow("group g", "consumes", "t"): {"group g committed"}}  # fmt: skip

    rows = lineage(declared, observed)

    assert [(r.flow.application, r.status) for r in rows] == [
        ("b", "declared, not observed"), ("group g", "UNDECLARED"), ("a", "declared, observed")
    ]  # fmt: skip
    picture = mermaid(rows).splitlines()
    assert picture[0] == "flowchart LR"
    edges = [line.strip() for line in picture if "->" in line]
    # Consumers point from the topic; unobserved flows are dotted; undeclared ones red.
    assert edges == ["t1 -.-> a0", "t1 --> a2", "a3 --> t1"]
    assert picture[-1] == "  linkStyle 1 stroke:#d33,stroke-width:2px"


def test_export_mermaid_draws_the_declared_flows_dotted(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from streamplane.cli import app

    out = tmp_path / "lineage.mmd"
    result = CliRunner().invoke(app, ["export", "mermaid", str(EXAMPLE), "--out", str(out)])

    assert result.exit_code == 0, result.output
    picture = out.read_text()
    spec = load_spec(EXAMPLE)
    assert picture.count("-.->") == len(declared_flows(spec))  # nothing observed: all dotted
    assert '(["payments.card.authorizations"])' in picture and "linkStyle" not in picture


def test_refusals_from_the_audit_trail_become_attempts_or_drift() -> None:
    from streamplane.lineage.flows import refused_flows
    from streamplane.security.audit import AuditRecord

    spec = load_spec(EXAMPLE)

    def denied(principal: str, operation: str, topic: str, at: str) -> AuditRecord:
        return AuditRecord(
            id=f"{principal}{operation}{topic}{at}", time=at, source="broker-1",
            principal=principal, client=None, operation=operation, resource_type="TOPIC",
            resource_name=topic, pattern_type="LITERAL", decision="denied",
        )  # fmt: skip

    records = [
        denied("User:fraud-scorer", "READ", "payments.ledger.entries", "2026-12-05T10:00:00Z"),
        denied("User:fraud-scorer", "READ", "payments.ledger.entries", "2026-12-05T11:00:00Z"),
        denied(
            "User:card-gateway", "WRITE", "payments.card.authorizations", "2026-12-05T09:00:00Z"
        ),
        denied("User:stranger", "DESCRIBE", "payments.card.authorizations", "2026-12-05T09:00:00Z"),
        denied("User:stranger", "ALTER", "payments.card.authorizations", "2026-12-05T09:00:00Z"),
        denied("User:stranger", "READ", "_schemas", "2026-12-05T09:00:00Z"),
    ]
    refused = refused_flows(spec, records)

    attempt = Flow("fraud-scorer", "consumes", "payments.ledger.entries")
    drift = Flow("card-gateway", "produces", "payments.card.authorizations")
    # Refused the topic's metadata: it tried to use it, not saying how.
    unknown = Flow("User:stranger", "reaches", "payments.card.authorizations")
    assert refused == {
        attempt: {"refused READ x2, last 2026-12-05T11:00:00Z"},
        drift: {"refused WRITE x1, last 2026-12-05T09:00:00Z"},
        unknown: {"refused DESCRIBE x1, last 2026-12-05T09:00:00Z"},
    }  # the ALTER and the platform's own topic are not flows
    rows = {r.flow: r for r in lineage(declared_flows(spec), {}, refused)}
    assert rows[attempt].status == "REFUSED attempt" and not rows[attempt].declared
    assert rows[drift].status == "declared, REFUSED"
