"""Is a node ready? Ready means: it accepts the admin credentials and serves metadata.

We ask with the real client (librdkafka) rather than grepping the log for
"Kafka Server started", so readiness proves what users will rely on: SASL works
and the broker is registered and unfenced.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streamplane.kafka import ConnectionSettings


@dataclass(frozen=True)
class Probe:
    """What one node answered: the broker ids it sees, or why it did not answer."""

    brokers: frozenset[int]
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.error is None


def probe_node(settings: ConnectionSettings, *, timeout_s: float = 2.0) -> Probe:
    """Fetch cluster metadata from exactly the bootstrap server in ``settings``."""
    admin = AdminClient(
        settings.librdkafka(
            **{
                # The node is expected to be down while starting; keep librdkafka quiet.
                "log_level": 0,
                "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
                "reconnect.backoff.max.ms": 200,
            }
        )
    )
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return Probe(brokers=frozenset(), error=str(exc.args[0]))
    return Probe(brokers=frozenset(metadata.brokers))
