"""The audit shipper killed -9 during traffic: every event shipped once, none lost.

A principal with no ACLs asks for a topic's metadata again and again, so the broker logs a
stream of denials while the shipper is killed (SIGKILL, as a crash) and restarted several
times. Afterwards every line the broker logged about that principal must be in
``_streamplane_audit`` exactly once: counted raw, by event id, without the query's
deduplication (which would hide a duplicate).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from streamplane.kafka._admin import ClusterAdmin
from streamplane.local import LocalCluster
from streamplane.local._audit_service import AuditShipperProcess
from streamplane.security.audit._record import event_id
from streamplane.security.audit._shipper import (
    AUDIT_TOPIC,
    LogTail,
    committed_reader,
    read_to_end,
)
from tests.integration.security._audit import wait_caught_up

KILLS = 4


def _denied_traffic(cluster: LocalCluster, user: str, password: str, stop: threading.Event) -> int:
    """Metadata requests for a topic the user may not describe; how many were made."""
    settings = cluster.admin_settings().with_credentials(user, password)
    admin = AdminClient(settings.librdkafka(log_level=0))
    made = 0
    while not stop.is_set():
        # Refused by the authorizer: the topic is left out of the answer, and logged.
        admin.list_topics(topic="_streamplane_audit", timeout=10)
        made += 1
        time.sleep(0.02)
    return made


def _logged_ids(cluster: LocalCluster, principal: str) -> list[str]:
    """The event id of every line the brokers logged about ``principal``, in log order."""
    state = cluster.require_state()
    ids = []
    for node in state.node_ids():
        for line in LogTail(node, cluster.dir.node_logs(node)).lines(None, 10_000_000):
            if f"Principal = {principal} " in line.text:
                ids.append(event_id(state.cluster_id, line.node, line.inode, line.start))
    return ids


def _shipped_ids(cluster: LocalCluster, principal: str) -> Counter[str]:
    """How many times each of ``principal``'s events is in the audit topic (committed)."""
    settings = cluster.admin_settings()
    consumer = committed_reader(settings, f"probe-{uuid.uuid4().hex}")
    try:
        metadata = consumer.list_topics(AUDIT_TOPIC, timeout=30).topics[AUDIT_TOPIC]
        partitions = [TopicPartition(AUDIT_TOPIC, p, 0) for p in metadata.partitions]
        counts: Counter[str] = Counter()
        for msg in read_to_end(consumer, partitions, timeout_s=120):
            event = json.loads(msg.value() or b"{}")
            if event.get("principal") == principal:
                counts[event["id"]] += 1
        return counts
    finally:
        consumer.close()


def test_a_shipper_killed_during_traffic_loses_and_duplicates_nothing(
    cluster1: LocalCluster,
) -> None:
    user = f"auditee-{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    ClusterAdmin(cluster1.admin_settings()).upsert_scram({user: password})
    shipper = AuditShipperProcess(cluster1.dir)
    shipper.start()
    stop = threading.Event()
    made: list[int] = []
    traffic = threading.Thread(
        target=lambda: made.append(_denied_traffic(cluster1, user, password, stop))
    )
    traffic.start()
    try:
        for _ in range(KILLS):
            time.sleep(1.5)
            shipper.kill()
            time.sleep(0.3)  # lines pile up while it is down
            shipper.start()
        time.sleep(1.5)
    finally:
        stop.set()
        traffic.join(60)
    try:
        wait_caught_up(cluster1, shipper)
        principal = f"User:{user}"
        logged = _logged_ids(cluster1, principal)
        shipped = _shipped_ids(cluster1, principal)
    finally:
        shipper.stop()
    print(
        f"\naudit shipper killed -9 {KILLS} times: {made[0] if made else 0} denied requests, "
        f"{len(logged)} lines logged, {sum(shipped.values())} events shipped, "
        f"{len(set(logged) - set(shipped))} lost, {sum(n - 1 for n in shipped.values())} duplicated"
    )
    assert made and made[0] > 50, "the traffic ran"
    assert len(logged) >= made[0], "every request was logged (at least once)"
    assert len(set(logged)) == len(logged), "event ids are unique per log line"
    lost = set(logged) - set(shipped)
    duplicated = {i: n for i, n in shipped.items() if n > 1}
    assert not lost, f"{len(lost)} of {len(logged)} events lost across {KILLS} kills"
    assert not duplicated, f"{len(duplicated)} events shipped more than once"
    assert sum(shipped.values()) == len(logged)
