"""Connections to Kafka: typed connection settings at the edge of the librdkafka dicts."""

from __future__ import annotations

from streamplane.kafka._connection import ConnectionSettings
from streamplane.kafka._quorum import QuorumInfo, describe_quorum

__all__ = ["ConnectionSettings", "QuorumInfo", "describe_quorum"]
