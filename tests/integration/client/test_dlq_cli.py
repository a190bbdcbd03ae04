"""``streamplane dlq inspect`` and ``streamplane dlq replay`` against the real cluster."""

from __future__ import annotations

import json

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from confluent_kafka import Consumer as RawConsumer
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.client import (
    REPLAYED_FROM_HEADER,
    Consumer,
    DeadLetterOwner,
    Producer,
    Record,
    dlq_topic,
)
from streamplane.local import LocalCluster
from tests.integration.client.conftest import Estate

runner = CliRunner()


def park(estate: Estate, topic: str, values: list[bytes]) -> None:
    """Produce ``values`` and let a consumer whose handler always fails park them all."""
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, telemetry=estate.telemetry()
    ) as producer:
        for value in values:
            producer.produce(topic, value, key=value)

    def refuse(record: Record) -> None:
        raise LookupError(f"no customer for {record.value.decode()}")

    with Consumer.for_application(
        estate.spec, "auditor", connection=estate.connection, telemetry=estate.telemetry()
    ) as consumer:
        consumer.run(refuse, max_records=len(values), idle_timeout_s=30)


def read_all(estate: Estate, topic: str) -> list[tuple[bytes, dict[str, bytes]]]:
    """Every record of partition 0 (transaction markers take offsets but are not records)."""
    reader = RawConsumer(
        estate.connection.librdkafka(**{"group.id": "read-all", "enable.partition.eof": True})
    )
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found: list[tuple[bytes, dict[str, bytes]]] = []
    at_end = False
    while not at_end:
        for msg in reader.consume(100, 1.0):
            error = msg.error()
            if error is None:
                found.append((msg.value() or b"", dict(msg.headers() or [])))
            elif error.code() == KafkaError._PARTITION_EOF:
                at_end = True
    reader.close()
    return found


def dlq(estate: Estate, app: str, topic: str) -> str:
    """The application's own dead-letter topic for ``topic``."""
    return dlq_topic(DeadLetterOwner.of(estate.spec.applications[app]), topic)


def cli(cluster: LocalCluster, *args: str) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(cluster.dir.root)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_dlq_inspect_lists_parked_records_with_their_headers(
    estate: Estate, cluster1: LocalCluster
) -> None:
    topic = estate.topic("raw")
    parked = dlq(estate, "auditor", topic)
    estate.create(topic, parked)
    park(estate, topic, [b"c-1", b"c-2", b"c-3"])
    spec = ("--spec", str(estate.spec.root))

    # fulfilment and auditor both consume the topic, each parking in its own topics.
    ambiguous = runner.invoke(app, ["dlq", "inspect", topic, *spec])
    assert ambiguous.exit_code == 1
    said = ambiguous.output + str(ambiguous.exception)
    assert "applications auditor, fulfilment each park records" in said and "--app" in said
    spec = (*spec, "--app", "auditor")
    listed = json.loads(cli(cluster1, "dlq", "inspect", topic, *spec, "--json", "--limit", "2"))
    assert {entry["topic"] for entry in listed} == {parked}
    assert [entry["offset"] for entry in listed] == [0, 1]
    first = listed[0]
    assert first["error"] == {
        "kind": "handler", "class": "LookupError", "message": "no customer for c-1",
    }  # fmt: skip
    assert first["origin"] == {"topic": topic, "partition": 0, "offset": 0}
    assert first["failed_app"] == "auditor" and first["producer_app"] == "checkout"
    assert first["headers"]["streamplane-app"] == "checkout"
    assert first["failed_at"] is not None and first["attempts"] == 1

    text = cli(cluster1, "dlq", "inspect", topic, *spec)
    assert "LookupError: no customer for c-2" in text
    assert f"from:    {topic}[0]@2" in text
    assert "header   streamplane-failed-app: auditor" in text
    assert "3 record(s) shown" in text
    # Without a spec, the dead-letter topic is named outright.
    assert "3 record(s) shown" in cli(cluster1, "dlq", "inspect", parked)


def test_dlq_replay_sends_each_record_back_once_even_when_interrupted_and_rerun(
    estate: Estate, cluster1: LocalCluster
) -> None:
    topic = estate.topic("raw")
    parked = dlq(estate, "auditor", topic)
    estate.create(topic, parked)
    park(estate, topic, [b"r-1", b"r-2", b"r-3"])
    spec = ("--spec", str(estate.spec.root), "--app", "auditor")

    dry = json.loads(cli(cluster1, "dlq", "replay", topic, *spec, "--dry-run", "--json"))
    assert dry["dry_run"] is True and dry["replayed"] == 0 and len(dry["records"]) == 3
    # auditor has no retry topic: the records go back to the topic itself.
    assert (dry["dead_letter_topic"], dry["target"]) == (parked, topic)
    assert estate.end_offsets(topic) == [3]  # a dry run changes nothing

    # A replay that stops after one record, then a rerun: the rest, and nothing twice.
    first = json.loads(cli(cluster1, "dlq", "replay", topic, *spec, "--limit", "1", "--json"))
    assert first["replayed"] == 1
    rest = cli(cluster1, "dlq", "replay", topic, *spec)
    assert f"replayed 2 record(s) from {parked} to {topic}" in rest
    assert "every consumer of it reads them again" in rest
    # The dead-letter topic by its own name: the spec knows it is auditor's.
    again = json.loads(cli(cluster1, "dlq", "replay", parked, *spec[:2], "--json"))
    assert again["replayed"] == 0

    records = read_all(estate, topic)
    assert [value for value, _ in records] == [b"r-1", b"r-2", b"r-3", b"r-1", b"r-2", b"r-3"]
    for offset, (_, headers) in enumerate(records[3:]):
        assert headers[REPLAYED_FROM_HEADER] == f"{parked}/0/{offset}".encode()
        assert headers["streamplane-app"] == b"checkout"
        assert "streamplane-error-class" not in headers


def test_dlq_inspect_decodes_values_by_their_schema_id(
    estate: Estate, cluster1: LocalCluster
) -> None:
    topic = estate.topic("placed")  # Avro: schemas/order.avsc
    estate.create(topic, dlq(estate, "fulfilment", topic))
    orders = [{"id": f"o{i}", "amount_minor": 100 * i, "currency": "CHF"} for i in range(2)]
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, registry=estate.registry_url,
        telemetry=estate.telemetry(),
    ) as producer:  # fmt: skip
        for order in orders:
            producer.produce(topic, order)

    def refuse(record: Record) -> None:
        raise LookupError(f"no warehouse for {record.value['id']}")

    with Consumer.for_application(
        estate.spec, "fulfilment", connection=estate.connection, registry=estate.registry_url,
        topics=[topic], telemetry=estate.telemetry(),
    ) as consumer:  # fmt: skip
        consumer.run(refuse, max_records=len(orders), idle_timeout_s=30)

    spec = ("--spec", str(estate.spec.root), "--app", "fulfilment")
    listed = json.loads(
        cli(cluster1, "dlq", "inspect", topic, *spec, "--json", "--registry", estate.registry_url)
    )
    decoded = [entry["decoded"] for entry in listed]
    assert [d["value"] for d in decoded] == orders
    assert {d["format"] for d in decoded} == {"AVRO"} and decoded[0]["schema_id"] is not None
    text = cli(cluster1, "dlq", "inspect", topic, *spec, "--registry", estate.registry_url)
    assert f"(AVRO schema {decoded[0]['schema_id']}) {json.dumps(orders[1])}" in text
