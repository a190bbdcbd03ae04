"""An application's dead_letters, applied: its parking topics exist, and it parks and retries
records in them with nothing but its own credentials.

The example spec gives fraud-scorer ``dead_letters: {retries: [5s, 1m]}`` on
risk.fraud.features; the estate fixture has applied it. Its parking topics are its own, in
its namespace: risk.fraud.fraud-scorer.risk.fraud.features.retry.1 and so on.
"""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer as RawProducer
from confluent_kafka.admin import AdminClient

from streamplane.client import Consumer, Producer, Record, RegistrySettings
from streamplane.local import RegistryProcess
from tests.integration.reconcile.conftest import ESTATE_OFFSET, Estate

ORIGIN = "risk.fraud.features"
#: fraud-scorer's parking topics for ORIGIN start with this.
PARKED = f"risk.fraud.fraud-scorer.{ORIGIN}"


def registry(estate: Estate, app: str) -> RegistrySettings:
    conn = estate.as_app(app)
    url = RegistryProcess(estate.cluster.dir, port_offset=ESTATE_OFFSET).url
    return RegistrySettings.of(url, conn)


def parked_values(estate: Estate, topic: str) -> list[tuple[bytes | None, dict[str, bytes]]]:
    """Every record of ``topic`` (admin), as (value, headers)."""
    reader = RawConsumer(estate.cluster.admin_settings().librdkafka(**{
        "group.id": f"probe-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
        "enable.partition.eof": True, "log_level": 0,
    }))  # fmt: skip
    reader.subscribe([topic])
    found: list[tuple[bytes | None, dict[str, bytes]]] = []
    ended: set[int] = set()
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            msg = reader.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                ended.add(msg.partition() or 0)
                if len(ended) == 6:
                    break
                continue
            found.append((msg.value(), dict(msg.headers() or [])))
    finally:
        reader.close()
    return found


def test_apply_created_the_parking_topics_in_the_consumers_namespace(estate: Estate) -> None:
    admin = AdminClient(estate.cluster.admin_settings().librdkafka(**{"log_level": 0}))
    topics = admin.list_topics(timeout=10).topics
    for name in (f"{PARKED}.retry.1", f"{PARKED}.retry.2", f"{PARKED}.dlq"):
        assert name in topics, sorted(topics)
        assert len(topics[name].partitions) == len(topics[ORIGIN].partitions) == 6
    assert not any(n.startswith(f"{ORIGIN}.") for n in topics)  # nothing old-style


def test_the_application_parks_and_retries_with_its_own_credentials(estate: Estate) -> None:
    run = uuid.uuid4().hex[:8]
    good = [f"{run}-ok-{i}" for i in range(3)]
    flaky = good[1]
    with Producer.for_application(
        estate.spec, "fraud-feature-builder", connection=estate.as_app("fraud-feature-builder"),
        registry=registry(estate, "fraud-feature-builder"),
    ) as producer:  # fmt: skip
        for key in good:
            producer.produce(
                ORIGIN, {"id": key, "occurred_at": 1767225600000, "amount_minor": 5}, key=key
            )
    # A poison pill: bytes no schema can read, written by the platform's admin.
    pill = f"{run}-not-avro".encode()
    raw = RawProducer(estate.cluster.admin_settings().librdkafka(**{"log_level": 0}))
    raw.produce(ORIGIN, pill, key=b"pill")
    assert raw.flush(15) == 0

    handled: dict[str, tuple[int, str]] = {}
    failed_once: set[str] = set()
    consumer = Consumer.for_application(
        estate.spec, "fraud-scorer", connection=estate.as_app("fraud-scorer"),
        registry=registry(estate, "fraud-scorer"),
    )  # fmt: skip

    def handle(record: Record) -> None:
        key = record.value["id"]
        if not key.startswith(run):
            return  # other tests' records
        if key == flaky and key not in failed_once:
            failed_once.add(key)
            raise RuntimeError("scoring service unavailable")
        handled[key] = (record.attempt, record.read_from)
        if set(handled) == set(good):
            consumer.stop()

    started = time.monotonic()
    try:
        consumer.run(handle, idle_timeout_s=30)
    finally:
        consumer.close()
    # The flaky record came back from retry topic 1 after its 5 s delay; the others at once.
    assert handled[flaky] == (1, f"{PARKED}.retry.1")
    assert all(handled[k] == (0, ORIGIN) for k in good if k != flaky)
    assert time.monotonic() - started >= 5
    retried = [
        h for v, h in parked_values(estate, f"{PARKED}.retry.1") if v and flaky.encode() in v
    ]
    assert len(retried) == 1 and retried[0]["streamplane-failed-app"] == b"fraud-scorer"
    dead = [h for v, h in parked_values(estate, f"{PARKED}.dlq") if v == pill]
    assert len(dead) == 1
    assert dead[0]["streamplane-error-kind"] == b"deserialization"
    assert dead[0]["streamplane-origin-topic"] == ORIGIN.encode()
