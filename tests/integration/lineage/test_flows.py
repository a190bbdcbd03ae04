"""Lineage on a real cluster: SDK traffic matches the spec; clients outside it show up."""

from __future__ import annotations

import time

from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer as RawProducer

from streamplane.client import Consumer, Producer
from streamplane.kafka import ClusterInspector
from streamplane.lineage.flows import (
    UNNAMED_PRODUCER,
    Flow,
    declared_flows,
    lineage,
    mermaid,
    observed_consumers,
    observed_producers,
)
from tests.integration.lineage.conftest import Estate


def test_observed_flows_match_the_declared_ones_and_outsiders_are_undeclared(
    estate: Estate,
) -> None:
    raw = estate.topic("raw")
    estate.create(raw)
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, telemetry=estate.telemetry()
    ) as producer:
        for i in range(20):
            producer.produce(raw, f"order-{i}".encode())
    auditor = Consumer.for_application(
        estate.spec, "auditor", connection=estate.connection, telemetry=estate.telemetry(),
        commit="sync",
    )  # fmt: skip
    assert auditor.run(lambda r: None, max_records=20, idle_timeout_s=30) == 20
    auditor.close()
    # Outside the SDK: a producer that does not say who it is, an ad-hoc group, and a
    # client of its own in the auditor's group (reading with the auditor's rights).
    outsider = RawProducer(estate.connection.librdkafka())
    for i in range(3):
        outsider.produce(raw, f"manual-{i}".encode())
    assert outsider.flush(30) == 0
    adhoc = RawConsumer(estate.connection.librdkafka(**{
        "group.id": f"{estate.prefix}adhoc", "auto.offset.reset": "earliest",
        "enable.auto.commit": False}))  # fmt: skip
    adhoc.subscribe([raw])
    assert adhoc.consume(5, 30), "the ad-hoc consumer read nothing"
    adhoc.commit(asynchronous=False)
    adhoc.close()
    sneaky = RawConsumer(estate.connection.librdkafka(**{
        "group.id": f"{estate.prefix}auditor", "client.id": "sneaky",
        "enable.auto.commit": False}))  # fmt: skip
    sneaky.subscribe([raw])
    deadline = time.monotonic() + 30
    while not sneaky.assignment() and time.monotonic() < deadline:
        sneaky.poll(0.5)
    assert sneaky.assignment(), "the foreign client was given no partition"

    try:
        observed = observed_consumers(estate.spec, ClusterInspector(estate.connection))
    finally:
        sneaky.close()
    for flow, evidence in observed_producers(estate.spec, estate.connection).items():
        observed.setdefault(flow, set()).update(evidence)
    rows = {row.flow: row for row in lineage(declared_flows(estate.spec), observed)}
    mine = {flow: row for flow, row in rows.items() if flow.topic == raw}

    def status(application: str, direction: str) -> str:
        return mine[Flow(application, direction, raw)].status  # type: ignore[arg-type]

    assert status("checkout", "produces") == "declared, observed"
    assert "20 of the last records" in mine[Flow("checkout", "produces", raw)].evidence
    assert status("auditor", "consumes") == "declared, observed"
    assert status("fulfilment", "consumes") == "declared, not observed"
    assert status(UNNAMED_PRODUCER, "produces") == "UNDECLARED"
    assert status(f"group {estate.prefix}adhoc", "consumes") == "UNDECLARED"
    assert status(f"client sneaky in group {estate.prefix}auditor", "consumes") == "UNDECLARED"
    # Nothing else was observed on the topic: every other row is a declared flow.
    assert {f.application for f, r in mine.items() if not r.declared} == {
        UNNAMED_PRODUCER, f"group {estate.prefix}adhoc",
        f"client sneaky in group {estate.prefix}auditor",
    }  # fmt: skip
    picture = mermaid(list(mine.values()))
    assert picture.startswith("flowchart LR") and "linkStyle" in picture
