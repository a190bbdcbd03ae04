"""The newest model from the ``model-updates`` topic, swapped in without a restart.

Every scorer instance reads the whole topic (by assignment, no consumer group: each needs
every model, as with a GlobalKTable). Before the scorer takes its first transaction,
:meth:`ModelFeed.start` reads the topic to its end and loads the newest model; after
that a background thread keeps reading, and each newer version is parsed *on that
thread* and then published by replacing one reference. The scorer reads the reference
once per batch, so a swap happens between two batches, costs the scoring thread nothing
(the parse, the slow part, is done elsewhere), and every decision names the version that
made it. A model that does not load (unknown kind, other features) is logged and
skipped: the scorer keeps deciding with the one it has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from blueprints.fraud.model import Model, ModelUpdate, RuleModel
from streamplane.kafka import ConnectionSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Swap:
    version: int
    #: Wall-clock ms when the new model became the current one.
    at_ms: int
    #: Seconds spent parsing it (off the scoring thread).
    load_seconds: float


class ModelFeed:
    """``current`` is the newest model read so far (the baseline rules before any)."""

    def __init__(
        self,
        topic: str,
        *,
        connection: ConnectionSettings,
        group: str,
        decode: Callable[[bytes], Any],
        initial: Model | None = None,
    ) -> None:
        self.topic = topic
        self._decode = decode
        self.current: Model = initial if initial is not None else RuleModel()
        self.swaps: list[Swap] = []
        self.rejected: list[tuple[int, str]] = []
        self._consumer = Consumer(
            connection.librdkafka(
                **{
                    # The application's group, by assignment only (never joined).
                    "group.id": group,
                    "enable.auto.commit": False,
                    "enable.partition.eof": True,
                    "isolation.level": "read_committed",
                    "log_level": 3,
                }
            )
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, *, timeout_s: float = 60.0) -> Model:
        """Read every model published so far; return the one now current."""
        metadata = self._consumer.list_topics(self.topic, timeout=30)
        found = metadata.topics.get(self.topic)
        if found is None or found.error is not None:
            raise RuntimeError(f"cannot read the model topic {self.topic}: apply the spec first")
        partitions = sorted(found.partitions)
        self._consumer.assign([TopicPartition(self.topic, p, -2) for p in partitions])
        behind = set(partitions)
        deadline = time.monotonic() + timeout_s
        while behind:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic} not read to its end within {timeout_s:.0f}s")
            for message in self._consumer.consume(100, 0.2):
                if self._eof(message):
                    behind.discard(message.partition() or 0)
                    continue
                self._offer(message.value())
        self._thread = threading.Thread(target=self._follow, name="model-feed", daemon=True)
        self._thread.start()
        return self.current

    def _follow(self) -> None:
        while not self._stop.is_set():
            for message in self._consumer.consume(100, 0.2):
                if not self._eof(message):
                    self._offer(message.value())

    def _eof(self, message: Any) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("model feed: %s", error.str())
        return True

    def _offer(self, value: bytes | None) -> None:
        if value is None:
            return
        began = time.monotonic()
        try:
            update = ModelUpdate.from_record(self._decode(value))
        except Exception as exc:  # noqa: BLE001 - a bad record must not stop the feed
            log.warning("model feed: skipped an unreadable model update: %s", exc)
            return
        if update.version <= self.current.version:
            return
        try:
            model = update.load()
        except Exception as exc:  # noqa: BLE001 - keep deciding with the current model
            self.rejected.append((update.version, str(exc)))
            log.warning("model v%d not loaded, keeping v%d: %s", update.version,
                        self.current.version, exc)  # fmt: skip
            return
        self.current = model  # one reference replaced: the scorer sees it at its next batch
        self.swaps.append(Swap(update.version, int(time.time() * 1000), time.monotonic() - began))
        log.info("model v%d (%s) is current", update.version, update.kind)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._consumer.close()
