"""Lineage of the example estate with SDK traffic: what the applications are seen doing is
what the spec declares, and a raw confluent-kafka client using an application's
credentials shows up as undeclared."""

from __future__ import annotations

import json
import threading
import uuid

from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import Producer as KafkaProducer
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.client import Consumer, Producer, Record
from tests.integration.reconcile.conftest import EXAMPLE, Estate
from tests.integration.reconcile.test_dead_letters import registry

AUTHORIZATIONS = "payments.card.authorizations"


def lineage_rows(estate: Estate) -> list[dict[str, object]]:
    result = CliRunner().invoke(
        app,
        ["lineage", "graph", str(EXAMPLE), "--json", "--audit-hours", "0",
         "--data-dir", str(estate.cluster.dir.root)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_sdk_traffic_is_observed_as_declared_and_a_raw_client_as_undeclared(
    estate: Estate,
) -> None:
    run = uuid.uuid4().hex[:6]
    data_dir = estate.cluster.dir.root
    with Producer.for_application(
        estate.spec, "card-gateway", connection=estate.as_app("card-gateway"),
        registry=registry(estate, "card-gateway"), data_dir=data_dir,
    ) as producer:  # fmt: skip
        for n in range(20):
            producer.produce(
                AUTHORIZATIONS, {"id": f"{run}-{n}", "occurred_at": 1767225600000,
                                 "amount_minor": n}, key=f"{run}-{n}",
            )  # fmt: skip
    seen: list[Record] = []
    with Consumer.for_application(
        estate.spec, "card-authorizer", connection=estate.as_app("card-authorizer"),
        registry=registry(estate, "card-authorizer"), data_dir=data_dir,
    ) as consumer:  # fmt: skip
        consumer.run(seen.append, max_records=20, idle_timeout_s=30)
    assert len(seen) >= 20

    rows = {(r["application"], r["direction"], r["topic"]): r for r in lineage_rows(estate)}
    gateway = rows[("card-gateway", "produces", AUTHORIZATIONS)]
    authorizer = rows[("card-authorizer", "consumes", AUTHORIZATIONS)]
    assert gateway["declared"] and gateway["observed"], gateway
    assert authorizer["declared"] and authorizer["observed"], authorizer
    # Whatever the spec's applications are seen doing is what the spec declares (the
    # estate is shared: other tests' raw clients may show up, under names of their own).
    apps = set(estate.spec.applications)
    observed = [r for r in rows.values() if r["observed"] and r["application"] in apps]
    assert len(observed) >= 2 and all(r["declared"] for r in observed), [
        r for r in observed if not r["declared"]
    ]

    # A raw client with card-authorizer's credentials, in its group, is not card-authorizer;
    # a raw producer with card-gateway's writes records without the SDK's header.
    raw = KafkaProducer(estate.as_app("card-gateway").librdkafka(**{"client.id": "script"}))
    raw.produce(AUTHORIZATIONS, b"not through the SDK", key=run.encode())
    assert raw.flush(30) == 0
    group = estate.spec.applications["card-authorizer"].consumer_group
    intruder = KafkaConsumer(
        estate.as_app("card-authorizer").librdkafka(
            **{"group.id": group, "client.id": "notebook", "enable.auto.commit": False}
        )
    )
    intruder.subscribe([AUTHORIZATIONS])
    stop = threading.Event()
    assigned = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            intruder.poll(0.2)
            if intruder.assignment():
                assigned.set()

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        assert assigned.wait(60), "the raw client never joined the group"
        undeclared = [r for r in lineage_rows(estate) if not r["declared"]]
    finally:
        stop.set()
        thread.join(30)
        intruder.close()
    found = {(r["application"], r["direction"], r["topic"]) for r in undeclared}
    assert (f"client notebook in group {group}", "consumes", AUTHORIZATIONS) in found, found
    assert any(d == "produces" and t == AUTHORIZATIONS for _, d, t in found), found
    assert all(r["status"] == "UNDECLARED" for r in undeclared)
