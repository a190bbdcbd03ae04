"""The consumer's offset and rebalance bookkeeping: commit only what was processed.

Split from ``_consumer`` (the batch loop): the next offset of each partition's last processed
record is kept pending, stored in librdkafka right before a commit, and committed by the
:class:`CommitPolicy` (after every batch, or at most every interval), synchronously on
revocation and close; lost partitions drop what they had pending. librdkafka reads stored
offsets only when asked to commit them (auto-commit is off in every profile), so storing
them then commits exactly what storing them after every batch would, without a native call
per batch (per record, when records trickle in one at a time).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from streamplane.client._deadletter import RetryPauses
from streamplane.client._metrics import ConsumerStats

logger = logging.getLogger("streamplane.client._consumer")


@dataclass(frozen=True)
class CommitPolicy:
    """When processed offsets are committed.

    ``sync``: after every batch, waiting for the broker (at most one batch re-delivered
    after a crash; a round trip per batch). ``async``: at most every ``interval_s``
    without waiting (more re-delivered after a crash; no round trip on the hot path).
    Both commit synchronously on revocation and on close.
    """

    mode: Literal["sync", "async"] = "async"
    interval_s: float = 1.0


class CommitBookkeeping:
    """Stores and commits processed offsets, and follows the group's rebalances.

    The attributes are the consumer's own (set in ``Consumer.__init__``).
    """

    app_id: str
    group_id: str
    commit_policy: CommitPolicy
    _consumer: confluent_kafka.Consumer
    _stats: ConsumerStats | None
    _pending: dict[tuple[str, int], int]
    _stored_since_commit: bool
    _last_commit: float
    _commit_started: deque[tuple[str, float]]
    _pauses: RetryPauses
    _backlog: list[Message]

    # ------------------------------------------------------------------ offsets
    def _store_pending(self) -> None:
        """Hand the pending offsets to librdkafka, which commits what is stored."""
        if not self._pending:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items()]
        self._pending.clear()
        self._consumer.store_offsets(offsets=offsets)
        self._stored_since_commit = True

    def _maybe_commit(self) -> None:
        if not (self._pending or self._stored_since_commit):
            return
        policy = self.commit_policy
        if policy.mode == "sync":
            self._commit_sync("batch")
        elif time.monotonic() - self._last_commit >= policy.interval_s:
            self._store_pending()
            self._stored_since_commit = False
            self._last_commit = time.monotonic()
            self._commit_started.append(("async", time.perf_counter()))
            try:
                self._consumer.commit(asynchronous=True)
            except KafkaException as exc:
                self._commit_started.pop()
                self._commit_failed(exc.args[0] if exc.args else None)

    def _commit_sync(self, reason: str) -> None:
        """Commit what was processed and wait; nothing to commit is not an error."""
        self._store_pending()
        self._stored_since_commit = False
        self._last_commit = time.monotonic()
        started = time.perf_counter()
        # The commit callback fires for synchronous commits too; keep the queue in step.
        self._commit_started.append(("sync", started))
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError._NO_OFFSET:
                return
            self._commit_failed(error)
            if reason == "close":
                raise
            return
        if self._stats is not None:
            self._stats.commit_took("sync", time.perf_counter() - started)

    def _committed(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        mode, started = self._commit_started.popleft() if self._commit_started else ("", 0.0)
        if err is not None:
            if err.code() != KafkaError._NO_OFFSET:
                self._commit_failed(err)
            return
        if mode == "async" and self._stats is not None:
            self._stats.commit_took("async", time.perf_counter() - started)

    def _commit_failed(self, err: KafkaError | None) -> None:
        if self._stats is not None:
            self._stats.error("commit")
        # Offsets stay stored: the next commit carries them again.
        self._stored_since_commit = True
        logger.warning(
            "offset commit failed: %s",
            err.str() if isinstance(err, KafkaError) else err,
            extra={"app": self.app_id, "group": self.group_id},
        )

    # ------------------------------------------------------------------ rebalance
    def _assigned(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        logger.info(
            "assigned %s",
            ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions),
            extra={"app": self.app_id, "group": self.group_id},
        )

    def _revoked(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        # Cooperative rebalance: only these partitions move. Commit what was processed
        # while they are still ours, so their next owner starts exactly after it.
        self._commit_sync("revoke")
        self._forget(partitions)
        logger.info(
            "revoked %s",
            ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions),
            extra={"app": self.app_id, "group": self.group_id},
        )

    def _lost(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked: another member may own them already; committing would be wrong.
        for tp in partitions:
            self._pending.pop((tp.topic, tp.partition), None)
        self._forget(partitions)
        logger.warning(
            "lost %d partitions (session timed out); their uncommitted records will be "
            "processed again by their new owner",
            len(partitions),
            extra={"app": self.app_id, "group": self.group_id},
        )

    def _forget(self, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._pauses.forget(gone)
        self._backlog = [m for m in self._backlog if (m.topic(), m.partition()) not in gone]
        if self._stats is not None:
            for tp in gone:
                self._stats.lag.pop(tp, None)
