"""Read one cluster's actual state in a few batched calls."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streamplane.kafka import ConnectionSettings, admin_config, describe_client_quotas
from streamplane.kafka._admin import ClusterAdmin
from streamplane.model._topic_configs import TOPIC_CONFIGS
from streamplane.reconcile._plan import TopicActivity
from streamplane.reconcile._resources import AclEntry, ActualState, TopicState


def read_actual(settings: ConnectionSettings) -> ActualState:
    admin = ClusterAdmin(settings)
    topics, defaults = admin.describe_topics()
    users = admin.scram_users()
    state = ActualState(
        topics={
            t.name: TopicState(t.name, t.partitions, t.replication_factor, dict(t.overrides))
            for t in topics
        },
        acls={AclEntry(**vars(a)) for a in admin.describe_acls()},
        scram_users=set(users),
        scram_iterations=users,
        quotas=describe_client_quotas(settings),
        topic_defaults={k.name: k.default for k in TOPIC_CONFIGS.values() if k.default is not None},
    )
    # The cluster's own defaults (e.g. min.insync.replicas set on the brokers) win over Kafka's.
    state.topic_defaults.update(defaults)
    return state


def read_activity(settings: ConnectionSettings, topics: list[str]) -> dict[str, TopicActivity]:
    """Traffic evidence for deletion candidates: newest record time and active consumers."""
    if not topics:
        return {}
    now_ms = int(time.time() * 1000)
    admin = AdminClient(admin_config(settings, log_level=0))
    consumer = Consumer(
        settings.librdkafka(
            **{
                "group.id": f"_streamplane-evidence-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
    )
    try:
        metadata = admin.list_topics(timeout=30)
        active = _active_groups(admin)
        evidence = {}
        for topic in topics:
            parts = metadata.topics.get(topic)
            if parts is None:
                continue
            last_write, empty = _newest_record_ms(consumer, topic, list(parts.partitions))
            evidence[topic] = TopicActivity(
                last_write_ms=last_write,
                empty=empty,
                active_groups=tuple(sorted(active.get(topic, ()))),
                now_ms=now_ms,
            )
        return evidence
    finally:
        consumer.close()


def _newest_record_ms(
    consumer: Consumer, topic: str, partitions: list[int]
) -> tuple[int | None, bool]:
    """Timestamp of the newest record over all partitions, and whether the topic is empty."""
    tails = []
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high > low:
            tails.append(TopicPartition(topic, p, high - 1))
    if not tails:
        return None, True
    consumer.assign(tails)
    newest: int | None = None
    pending = {tp.partition for tp in tails}
    deadline = time.monotonic() + 10
    while pending and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        pending.discard(msg.partition())
        _, ts = msg.timestamp()
        newest = ts if newest is None else max(newest, ts)
    consumer.unassign()
    return newest, False


def _active_groups(admin: AdminClient) -> dict[str, set[str]]:
    """topic -> consumer groups with a member currently assigned one of its partitions."""
    try:
        listing = admin.list_consumer_groups(request_timeout=30).result()
        ids = [g.group_id for g in listing.valid]
        if not ids:
            return {}
        described = admin.describe_consumer_groups(ids, request_timeout=30)
    except KafkaException:
        return {}
    active: dict[str, set[str]] = {}
    for group_id, future in described.items():
        try:
            group = future.result()
        except KafkaException:
            continue
        for member in group.members:
            for tp in member.assignment.topic_partitions if member.assignment else []:
                active.setdefault(tp.topic, set()).add(group_id)
    return active
