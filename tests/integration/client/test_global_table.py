"""GlobalTable on a real cluster: whole on every instance, updated, restored, last write wins."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from confluent_kafka import Producer as KafkaProducer

from streamplane.client import GlobalTable
from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from tests.integration.conftest import create_topic


def compacted(connection: ConnectionSettings, partitions: int = 3) -> str:
    name = f"gt-{uuid.uuid4().hex[:8]}"
    create_topic(connection, name, partitions=partitions, config={"cleanup.policy": "compact"})
    return name


def wait_for(check: object, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_the_table_is_whole_before_start_returns_then_follows_and_restores(
    cluster1: LocalCluster, tmp_path: Path
) -> None:
    connection = cluster1.admin_settings()
    topic = compacted(connection)
    producer = KafkaProducer(connection.librdkafka())
    for version in (1, 2):
        for n in range(1000):
            producer.produce(topic, f"v{version}-{n}".encode(), key=f"k{n}".encode())
    for n in range(10):
        producer.produce(topic, None, key=f"k{n}".encode())  # deleted rows
    assert producer.flush(30) == 0

    table = GlobalTable(topic, connection=connection, path=tmp_path / "fx", decode=bytes.decode)
    first = table.start()
    assert first.records == 2010 and first.restored_rows == 0
    assert len(table) == 990
    assert table.get("k5") is None and table.get("k500") == "v2-500" and table.get("nope") is None

    producer.produce(topic, b"v3-500", key=b"k500")
    producer.produce(topic, b"back", key=b"k5")
    assert producer.flush(30) == 0
    assert wait_for(lambda: table.get("k500") == "v3-500" and table.get("k5") == "back")
    table.close()

    producer.produce(topic, b"v4-501", key=b"k501")  # written while the instance is down
    assert producer.flush(30) == 0
    again = GlobalTable(topic, connection=connection, path=tmp_path / "fx", decode=bytes.decode)
    try:
        restarted = again.start(follow=False)
        assert restarted.restored_rows == 1000, "rows come back from the local store"
        assert restarted.records == 1, "only the tail is read"
        assert again.get("k500") == "v3-500" and again.get("k501") == "v4-501"
        assert len(again) == 991
    finally:
        again.close()


def test_regional_copies_resolve_by_last_write_wins_on_the_record_timestamp(
    cluster1: LocalCluster, tmp_path: Path
) -> None:
    connection = cluster1.admin_settings()
    local, remote = compacted(connection, 1), compacted(connection, 1)
    now = int(time.time() * 1000)
    producer = KafkaProducer(connection.librdkafka())
    # The remote copy holds an older write of "rate" and a newer one of "limit".
    producer.produce(local, b"local-new", key=b"rate", timestamp=now)
    producer.produce(remote, b"remote-old", key=b"rate", timestamp=now - 5000)
    producer.produce(local, b"local-old", key=b"limit", timestamp=now - 5000)
    producer.produce(remote, b"remote-new", key=b"limit", timestamp=now)
    # Deleted here after the remote's last write: an older write does not bring it back.
    producer.produce(remote, b"remote-older", key=b"gone", timestamp=now - 2000)
    producer.produce(local, None, key=b"gone", timestamp=now - 1000)
    assert producer.flush(30) == 0
    for order in ([local, remote], [remote, local]):
        path = tmp_path / "-".join(order)
        with GlobalTable(order, connection=connection, path=path) as table:
            table.start(follow=False)
            assert table.get("rate") == b"local-new", order
            assert table.get("limit") == b"remote-new", order
            assert table.get("gone") is None, order
