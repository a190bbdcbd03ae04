"""Where the consumer parks what it cannot process: retry topics, then the dead-letter topic.

Split from ``_consumer`` (the batch loop): a record whose handler failed goes to the next
retry topic of the :class:`DeadLetterPolicy` (its partition paused until the retry is
due) or to its dead-letter topic, with headers saying where it came from and why. Both
belong to the consuming application: ``<prefix><domain>.<app>.<topic>.retry.<n>|.dlq``.
"""

from __future__ import annotations

import logging
import time

import confluent_kafka
from confluent_kafka import Message, TopicPartition

from streamplane.client._deadletter import (
    DeadLetterPolicy,
    DeadLetterWriter,
    RetryPauses,
    failure_headers,
)
from streamplane.client._errors import ClientError
from streamplane.client._headers import message_headers
from streamplane.client._metrics import ConsumerStats

logger = logging.getLogger("streamplane.client._consumer")


class Parking:
    """Parks failed records and checks that their topics exist.

    The attributes are the consumer's own (set in ``Consumer.__init__``).
    """

    app_id: str
    group_id: str
    topics: list[str]
    dead_letters: DeadLetterPolicy | None
    _consumer: confluent_kafka.Consumer
    _stats: ConsumerStats | None
    _pauses: RetryPauses
    _writer: DeadLetterWriter
    _retry_of: dict[str, tuple[str, int]]

    def _check_parking_topics(self) -> None:
        """Retry topics must exist to be subscribed; a missing DLQ is worth a warning now."""
        if self.dead_letters is None:
            return
        dead_letters = [self.dead_letters.dlq_topic(topic) for topic in self.topics]
        missing = self._writer.missing([*self._retry_of, *dead_letters])
        retries = [t for t in missing if t in self._retry_of]
        if retries:
            raise ClientError(
                f"retry topics {', '.join(retries)} do not exist; give the application "
                "`dead_letters: {retries: [...]}` in the spec and apply it, or drop "
                "retry_delays_s"
            )
        if missing:
            logger.warning(
                "dead-letter topics %s do not exist: a poison pill will stop the consumer",
                ", ".join(missing),
                extra={"app": self.app_id, "group": self.group_id},
            )

    def _pause_until(self, topic: str, partition: int, offset: int, due_ms: int) -> None:
        tp = TopicPartition(topic, partition, offset)
        self._consumer.pause([tp])
        # Rewind to the head record: what was fetched after it is fetched again on resume.
        self._consumer.seek(tp)
        self._pauses.pause(topic, partition, due_ms)

    def _park(
        self, msg: Message, exc: BaseException, *, kind: str, origin: str, attempt: int
    ) -> None:
        policy = self.dead_letters
        if policy is None:
            raise exc
        destination, delay = policy.destination(
            origin, attempt=attempt, retryable=kind == "handler"
        )
        now = time.time_ns() // 1_000_000
        headers = failure_headers(
            message_headers(msg), kind=kind, exc=exc, topic=msg.topic() or origin,
            partition=msg.partition() or 0, offset=msg.offset() or 0,
            timestamp_ms=msg.timestamp()[1], app=self.app_id, attempts=attempt + 1,
            now_ms=now, delay_s=delay,
        )  # fmt: skip
        try:
            self._writer.write(destination, key=msg.key(), value=msg.value(), headers=headers)
        except ClientError:
            if self._stats is not None:
                self._stats.error("dead_letter")
            raise
        if self._stats is not None:
            self._stats.dead_lettered[destination] = (
                self._stats.dead_lettered.get(destination, 0) + 1
            )
        logger.warning(
            "parked a record that failed (%s: %s) in %s",
            type(exc).__name__,
            exc,
            destination,
            extra={
                "app": self.app_id, "topic": msg.topic(), "partition": msg.partition(),
                "offset": msg.offset(), "destination": destination, "error_kind": kind,
            },
        )  # fmt: skip
