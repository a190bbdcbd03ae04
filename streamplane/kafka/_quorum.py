"""The KRaft quorum as the controllers see it.

confluent-kafka cannot ask who leads the metadata quorum: in KRaft the
``controller_id`` of a Metadata response is a random live broker. kafka-python's
admin client implements DescribeQuorum (forwarded by any broker to the active
controller), so that is what we use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamplane.kafka._connection import ConnectionSettings


@dataclass(frozen=True)
class QuorumInfo:
    leader_id: int
    leader_epoch: int
    high_watermark: int
    voters: tuple[int, ...]


def describe_quorum(settings: ConnectionSettings, *, timeout_s: float = 10.0) -> QuorumInfo:
    """Ask the active controller (through any broker) for the metadata quorum state."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(
        **settings.kafka_python(), request_timeout_ms=int(timeout_s * 1000), client_id="streamplane"
    )
    try:
        raw: dict[str, Any] = admin.describe_metadata_quorum()
    finally:
        admin.close()
    partition = raw["topics"][0]["partitions"][0]
    return QuorumInfo(
        leader_id=int(partition["leader_id"]),
        leader_epoch=int(partition["leader_epoch"]),
        high_watermark=int(partition["high_watermark"]),
        voters=tuple(int(v["replica_id"]) for v in partition["current_voters"]),
    )
