"""Applications connect as themselves: the README's SDK example, run as written, as the
applications of the example spec, and the SDK's refusals of topics the spec does not list.

The module lays a directory out as a user's checkout is after `make up` and `apply`: the
example spec in ``examples/platform`` and the local cluster (with its registry) in
``.streamplane`` beside it, so the example runs from there exactly as the README prints it.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka import Producer as RawProducer

from streamplane.client import (
    ClientError,
    Consumer,
    DeadLetterOwner,
    Producer,
    Record,
    dlq_topic,
    retry_topic,
)
from streamplane.client._identity import application_connection
from streamplane.local import LocalCluster
from streamplane.model import Spec, load_spec
from streamplane.reconcile import connect
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT
from tests.integration.reconcile.conftest import EXAMPLE, apply_spec, platform

#: This module's own cluster and registry: no other cluster of a run uses these ports.
LAYOUT_OFFSET = 20115 + PORT_SHIFT
README = Path(__file__).resolve().parents[3] / "README.md"
AUTHORIZATIONS = "payments.card.authorizations"

#: The README's SDK example, character for character (test_the_readme_shows_this_example).
README_EXAMPLE = """\
from pathlib import Path

from streamplane.client import Consumer, Producer, Record
from streamplane.model import load_spec

spec = load_spec(Path("examples/platform"))

# Each application connects as itself: its principal, with the password `apply` generated
# in .streamplane/secrets/; the cluster and its registry come from the spec. No admin.
with Producer.for_application(spec, "card-gateway") as producer:
    producer.produce(
        "payments.card.authorizations",
        {"id": "a-1", "occurred_at": 1767225600000, "amount_minor": 1250},
        key="card-42",
    )  # a bytes value, or a dict that does not fit the topic's Avro schema, raises SchemaViolation
    # a topic card-gateway does not produce, e.g. risk.fraud.features, raises ClientError

def authorize(record: Record) -> None:
    print(record.value, record.producer_app, record.schema_id)  # raise: retried, then parked

with Consumer.for_application(spec, "card-authorizer") as consumer:
    consumer.run(authorize, idle_timeout_s=10)  # returns after 10 s without a record
"""


@dataclass
class Layout:
    """A checkout after `make up` and `apply`: ``root/examples/platform``, ``root/.streamplane``."""

    root: Path
    cluster: LocalCluster
    spec: Spec

    @property
    def data_dir(self) -> Path:
        return self.root / ".streamplane"

    def end_offsets(self, topic: str) -> list[int]:
        """High watermarks of every partition, read as the platform's admin."""
        reader = RawConsumer(
            self.cluster.admin_settings().librdkafka(**{"group.id": "probe", "log_level": 0})
        )
        try:
            partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
            return [
                reader.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                for p in sorted(partitions)
            ]
        finally:
            reader.close()

    def values(self, topic: str) -> list[bytes]:
        """Every value of ``topic``, read as the platform's admin."""
        settings = {
            "group.id": f"probe-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "log_level": 0,
        }
        reader = RawConsumer(self.cluster.admin_settings().librdkafka(**settings))
        partitions = len(self.end_offsets(topic))
        reader.subscribe([topic])
        found: list[bytes] = []
        ended: set[int] = set()
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline and len(ended) < partitions:
                msg = reader.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    ended.add(msg.partition() or 0)
                    continue
                found.append(msg.value() or b"")
        finally:
            reader.close()
        return found


@pytest.fixture(scope="module")
def layout() -> Iterator[Layout]:
    root = TEST_ROOT / "readme-layout"
    shutil.rmtree(root, ignore_errors=True)
    spec_dir = root / "examples" / "platform"
    shutil.copytree(EXAMPLE, spec_dir)
    with platform("readme-layout/.streamplane", port_offset=LAYOUT_OFFSET) as (cluster, _):
        spec = load_spec(spec_dir)
        apply_spec(spec, connect(spec, data_dir=cluster.dir.root))
        yield Layout(root, cluster, spec)


# ------------------------------------------------------------------ the README's example
def test_the_readme_shows_this_example() -> None:
    assert README_EXAMPLE in README.read_text(), (
        "the SDK example in README.md differs from README_EXAMPLE; the test below runs "
        "README_EXAMPLE, so keep the two identical"
    )


def test_the_readme_example_runs_as_written_as_the_applications(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(layout.root)
    admin = layout.cluster.credentials().admin_password
    printed = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(printed):
        exec(compile(README_EXAMPLE, "README.md", "exec"), {"__name__": "readme_example"})
    took = time.monotonic() - started
    lines = printed.getvalue().splitlines()
    ours = [line for line in lines if "'id': 'a-1'" in line]
    assert ours, lines
    # The consumer read what card-gateway wrote, with its schema id: both ran as themselves.
    assert ours[-1].endswith("card-gateway " + ours[-1].rsplit(" ", 1)[-1])
    assert ours[-1].rsplit(" ", 1)[-1].isdigit()
    assert admin not in printed.getvalue()
    print(f"README example: {took:.1f} s")


def test_what_the_readme_says_of_a_raising_handler_is_true(layout: Layout) -> None:
    """`# raise: retried, then parked`: card-authorizer's `dead_letters: {retries: [5s]}`."""
    run = uuid.uuid4().hex[:8]
    poison = f"{run}-poison"
    with Producer.for_application(layout.spec, "card-gateway", data_dir=layout.data_dir) as p:
        p.produce(AUTHORIZATIONS, {"id": poison, "occurred_at": 1767225600000}, key=poison)
    owner = DeadLetterOwner.of(layout.spec.applications["card-authorizer"])
    tries: list[tuple[int, str]] = []
    consumer = Consumer.for_application(layout.spec, "card-authorizer", data_dir=layout.data_dir)

    def authorize(record: Record) -> None:
        if record.value["id"] != poison:
            return  # another test's authorization
        tries.append((record.attempt, record.read_from))
        if record.attempt == 1:
            consumer.stop()  # after this failure is parked
        raise RuntimeError("the card network is unavailable")

    with consumer:
        consumer.run(authorize, idle_timeout_s=30)
    assert tries == [(0, AUTHORIZATIONS), (1, retry_topic(owner, AUTHORIZATIONS, 1))]
    parked = layout.values(dlq_topic(owner, AUTHORIZATIONS))
    assert sum(poison.encode() in value for value in parked) == 1


# ------------------------------------------------------------------ identity and scope
def test_the_producer_connects_with_the_applications_own_principal(layout: Layout) -> None:
    conn = application_connection(layout.spec, "card-gateway", data_dir=layout.data_dir).connection
    assert conn.username == "card-gateway"
    before = sum(layout.end_offsets(AUTHORIZATIONS))
    with Producer.for_application(
        layout.spec, "card-gateway", data_dir=layout.data_dir
    ) as producer:
        assert producer.config["sasl.username"] == "card-gateway"
        producer.produce(AUTHORIZATIONS, {"id": "own-1", "occurred_at": 1767225600000})
    assert sum(layout.end_offsets(AUTHORIZATIONS)) == before + 1
    # The broker sees card-gateway, not admin: a topic outside its ACLs is refused there too.
    errors: list[KafkaError | None] = []
    raw = RawProducer(conn.librdkafka(**{"log_level": 0}))
    raw.produce("risk.fraud.features", b"x", on_delivery=lambda err, _m: errors.append(err))
    raw.flush(15)
    assert errors and errors[0] is not None
    assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]


def test_another_tenants_topic_is_refused_before_the_broker(layout: Layout) -> None:
    before = layout.end_offsets("risk.fraud.features")
    with (
        Producer.for_application(layout.spec, "card-gateway", data_dir=layout.data_dir) as producer,
        pytest.raises(ClientError) as info,
    ):
        producer.produce("risk.fraud.features", {"id": "f-1"})
    message = str(info.value)
    assert "application card-gateway may not produce to risk.fraud.features" in message
    assert "tenant payments, domain card, " in message and "payments.yaml:" in message
    assert "produces only payments.card.authorizations" in message
    assert "risk.fraud.features belongs to risk.fraud" in message
    assert layout.end_offsets("risk.fraud.features") == before


def test_the_consumer_connects_as_the_application_and_reads_only_what_it_consumes(
    layout: Layout,
) -> None:
    with pytest.raises(ClientError, match=r"card-authorizer may not consume risk.fraud.features"):
        Consumer.for_application(
            layout.spec, "card-authorizer", data_dir=layout.data_dir,
            topics=["risk.fraud.features"],
        )  # fmt: skip
    with Consumer.for_application(
        layout.spec, "card-authorizer", data_dir=layout.data_dir
    ) as consumer:
        assert consumer.config["sasl.username"] == "card-authorizer"
        assert consumer.group_id == "payments.card-authorizer"
