"""Errors the client SDK raises, all under :class:`streamplane.errors.StreamplaneError`.

StreamplaneError
├── ProfileError            (streamplane.kafka) a client configuration breaks its profile
└── ClientError             a producer or consumer cannot do what was asked
    ├── SchemaViolation     a value does not match the schema its topic declares; refused
    │                       before it reaches the broker
    ├── DeliveryError       records were not acknowledged by the cluster (carries them)
    └── DeadLetterError     a poison pill could not be parked; the consumer stops rather
                            than lose it
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamplane.errors import StreamplaneError

if TYPE_CHECKING:
    from confluent_kafka import KafkaError


class ClientError(StreamplaneError):
    """A producer or consumer of the SDK cannot do what was asked."""


class SchemaViolation(ClientError):
    """A value does not fit the schema its topic declares; nothing was sent."""

    def __init__(self, message: str, *, topic: str, declared: str) -> None:
        super().__init__(message)
        self.topic = topic
        self.declared = declared


@dataclass(frozen=True)
class DeliveryFailure:
    """One record the cluster did not acknowledge: where it was going, its bytes, and why.

    librdkafka's delivery reports do not carry the record's headers, so they are not here.
    """

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes | None
    error: KafkaError

    @property
    def reason(self) -> str:
        return f"{self.error.name()}: {self.error.str()}"


class DeliveryError(ClientError):
    """Records were not delivered: failed (``failures``) or still in flight (``pending``)."""

    def __init__(
        self, message: str, *, failures: Sequence[DeliveryFailure] = (), pending: int = 0
    ) -> None:
        super().__init__(message)
        self.failures = list(failures)
        self.pending = pending


class DeadLetterError(ClientError):
    """A record that failed could not be written to its retry or dead-letter topic."""

    def __init__(self, message: str, *, record: Any = None) -> None:
        super().__init__(message)
        self.record = record
