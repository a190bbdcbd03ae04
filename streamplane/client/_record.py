"""A consumed record as the application sees it: decoded key and value, plus provenance."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message

from streamplane.client._headers import APP_HEADER, SCHEMA_ID_HEADER, header_text, header_value


class Record:
    """One record handed to a handler.

    ``topic`` is the topic the record was produced to; when it comes back from a retry
    topic, ``read_from`` names that retry topic and ``attempt`` counts the earlier tries
    (0 on the first delivery). ``offset`` and ``timestamp_ms`` are read from ``message``
    when they were not given: most handlers never look at them, and asking librdkafka for
    both costs more per record than building the rest.
    """

    __slots__ = (
        "_offset",
        "_timestamp_ms",
        "attempt",
        "headers",
        "key",
        "message",
        "partition",
        "read_from",
        "topic",
        "value",
    )

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int | None,
        key: Any,
        value: Any,
        headers: list[tuple[str, Any]],
        timestamp_ms: int | None,
        message: Message,
        read_from: str | None = None,
        attempt: int = 0,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self._offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self._timestamp_ms = timestamp_ms
        self.message = message
        self.read_from = read_from or topic
        self.attempt = attempt

    @property
    def offset(self) -> int:
        """The record's offset in ``read_from``."""
        offset = self._offset
        if offset is None:
            offset = self._offset = self.message.offset() or 0
        return offset

    @property
    def timestamp_ms(self) -> int:
        """The record's timestamp (create or log-append time, as the topic says), in ms."""
        timestamp = self._timestamp_ms
        if timestamp is None:
            timestamp = self._timestamp_ms = self.message.timestamp()[1]
        return timestamp

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


class FetchedRecord(Record):
    """A record the consumer's batch loop hands over as fetched, from its own topic.

    Built positionally from what the loop already holds, with the offset and timestamp
    left to the message and no retry attempt: this is the one object the consumer
    allocates per record, so it makes only the stores it must.
    """

    __slots__ = ()

    #: Fetched from the topic itself, never from a retry topic.
    attempt = 0

    def __init__(
        self,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        headers: list[tuple[str, Any]],
        message: Message,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.message = message
        self.read_from = topic

    @property
    def offset(self) -> int:
        return self.message.offset() or 0

    @property
    def timestamp_ms(self) -> int:
        return self.message.timestamp()[1]
