"""The dead-letter writer's close: a producer made only to look topics up may not fail it."""

from __future__ import annotations

from typing import Any

import confluent_kafka
import pytest

from streamplane.client._deadletter import DeadLetterWriter


class FailingProducer:
    """What an idempotent producer of a principal without write rights does on flush."""

    def __init__(self, _config: dict[str, Any]) -> None:
        self.produced: list[str] = []

    def close(self) -> None:
        self.closed = True

    def flush(self, _timeout: float) -> int:
        raise confluent_kafka.KafkaException(
            confluent_kafka.KafkaError(confluent_kafka.KafkaError.CLUSTER_AUTHORIZATION_FAILED)
        )


def test_close_after_only_looking_up_topics_ignores_the_producers_fatal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(confluent_kafka, "Producer", FailingProducer)
    writer = DeadLetterWriter({}, timeout_s=1)
    writer._client()  # made, as the start-up check of the parking topics makes it
    writer.close()


def test_close_after_a_write_still_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confluent_kafka, "Producer", FailingProducer)
    writer = DeadLetterWriter({}, timeout_s=1)
    writer._client()
    writer._written = 1
    with pytest.raises(confluent_kafka.KafkaException):
        writer.close()
