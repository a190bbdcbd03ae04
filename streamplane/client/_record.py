"""A consumed record as the application sees it: decoded key and value, plus provenance."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message

from streamplane.client._headers import APP_HEADER, SCHEMA_ID_HEADER, header_text, header_value


class Record:
    """One record handed to a handler.

    ``topic`` is the topic the record was produced to; when it comes back from a retry
    topic, ``read_from`` names that retry topic and ``attempt`` counts the earlier tries
    (0 on the first delivery). The consumer builds one per record, positionally: keyword
    arguments would cost it 0.3 µs a record.
    """

    __slots__ = (
        "attempt",
        "headers",
        "key",
        "message",
        "offset",
        "partition",
        "read_from",
        "timestamp_ms",
        "topic",
        "value",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: Any,
        value: Any,
        headers: list[tuple[str, Any]],
        timestamp_ms: int,
        message: Message,
        read_from: str | None = None,
        attempt: int = 0,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp_ms = timestamp_ms
        self.message = message
        self.read_from = read_from or topic
        self.attempt = attempt

    def header(self, name: str) -> bytes | None:
        """The last value of header ``name``, or None."""
        return header_value(self.headers, name)

    @property
    def producer_app(self) -> str | None:
        """The application that produced the record (``streamplane-app``), when known."""
        return header_text(self.headers, APP_HEADER)

    @property
    def schema_id(self) -> int | None:
        """The registry id of the value's schema (``streamplane-schema-id``), when known."""
        text = header_text(self.headers, SCHEMA_ID_HEADER)
        return int(text) if text is not None and text.isdigit() else None

    @property
    def raw_value(self) -> bytes | None:
        return self.message.value()

    @property
    def raw_key(self) -> bytes | None:
        return self.message.key()

    def __repr__(self) -> str:
        return (
            f"Record(topic={self.topic!r}, partition={self.partition}, offset={self.offset}, "
            f"key={self.key!r}, attempt={self.attempt})"
        )
