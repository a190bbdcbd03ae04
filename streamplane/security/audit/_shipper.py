"""Ship every broker's authorization log to ``_streamplane_audit``, exactly once.

The brokers write each authorization decision to ``<node>/logs/kafka-authorizer.log``
(rolled by log4j to ``.1``, ``.2`` ...). The shipper tails those files and produces one
:class:`AuditRecord` per line. Its guarantee survives ``kill -9``: the events of a batch
and the new file positions (byte offset within a file known by its inode) are written in
one Kafka transaction, the positions to the compacted ``_streamplane_audit_positions``. On
start the shipper first fences any transaction a killed predecessor left open (same
``transactional.id``), then reads the committed positions back: a batch is either wholly
shipped with its positions or not at all, so nothing is lost and, for a ``read_committed``
reader, nothing is duplicated. Every event also carries a stable id (cluster, node, file,
offset) so a reader that is not transactional can drop repeats itself.

Kafka Connect's exactly-once source connectors do the same (KIP-618); a connector would need
a Connect worker per cluster, which the local runtime does not run: a hundred lines here do.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.kafka import ConnectionSettings
from streamplane.security.audit._record import AuditRecord, event_id, parse_authorizer_line

log = logging.getLogger(__name__)

AUDIT_TOPIC = "_streamplane_audit"
POSITIONS_TOPIC = "_streamplane_audit_positions"
_OWN_TOPICS = frozenset({AUDIT_TOPIC, POSITIONS_TOPIC})
LOG_NAME = "kafka-authorizer.log"
#: How many rolled files log4j keeps (templates/log4j2.yaml: DefaultRolloverStrategy max).
ROLLED = 10


@dataclass(frozen=True)
class Position:
    """Where shipping stands in one node's log: the file (by inode) and the byte offset."""

    inode: int
    offset: int


@dataclass(frozen=True)
class Line:
    node: int
    inode: int
    start: int
    end: int
    text: str


def ensure_audit_topic(settings: ConnectionSettings, *, timeout_s: float = 30.0) -> None:
    """The audit topic alone, if missing (what recording platform events needs)."""
    ensure_topics(settings, timeout_s=timeout_s, names=(AUDIT_TOPIC,))


def ensure_topics(
    settings: ConnectionSettings,
    *,
    timeout_s: float = 30.0,
    names: tuple[str, ...] = (AUDIT_TOPIC, POSITIONS_TOPIC),
) -> None:
    """The audit topic (kept 30 days) and the compacted positions topic, if missing."""
    admin = AdminClient(settings.librdkafka(**{"log_level": 3}))
    metadata = admin.list_topics(timeout=timeout_s)
    if all(name in metadata.topics for name in names):
        # Any live broker answers metadata; CreateTopics needs the controller and can hang
        # for the whole timeout while a broker is down, which is when an alert's audit
        # event is written.
        return
    brokers = len(metadata.brokers)
    rf = min(3, brokers)
    isr = str(max(1, rf - 1))
    wanted = {
        AUDIT_TOPIC: {"cleanup.policy": "delete", "retention.ms": str(30 * 86400_000)},
        POSITIONS_TOPIC: {"cleanup.policy": "compact"},
    }
    new = [
        NewTopic(name, 1, rf, config={"min.insync.replicas": isr, **config})
        for name, config in wanted.items()
        if name in names and name not in metadata.topics
    ]
    for name, future in admin.create_topics(new).items():
        try:
            future.result(timeout_s)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
            log.debug("%s exists", name)


class LogTail:
    """The unread complete lines of one node's authorization log, across rotations."""

    def __init__(self, node: int, logs: Path) -> None:
        self.node = node
        self.logs = logs

    def _files(self) -> list[Path]:
        """Oldest first: .10 ... .1, then the current file."""
        rolled = [self.logs / f"{LOG_NAME}.{i}" for i in range(ROLLED, 0, -1)]
        return [p for p in rolled if p.exists()] + [self.logs / LOG_NAME]

    def lines(self, at: Position | None, limit: int) -> Iterator[Line]:
        files = [(p, inode) for p in self._files() if (inode := _inode(p)) is not None]
        if not files:
            return
        start_index, offset = 0, 0
        if at is not None:
            found = [n for n, (_, inode) in enumerate(files) if inode == at.inode]
            if found:
                start_index, offset = found[0], at.offset
            else:
                # Its file is gone (rolled past what log4j keeps): the current file from
                # its start; what rolled away meanwhile cannot be read any more.
                start_index = len(files) - 1
                log.warning("node %d: the file at inode %d is gone", self.node, at.inode)
        count = 0
        last = len(files) - 1
        for index, (path, inode) in enumerate(files[start_index:], start=start_index):
            size = path.stat().st_size
            if offset > size:
                log.warning("node %d: %s was truncated; reading it from the start", self.node, path)
                offset = 0
            with path.open("rb") as handle:
                handle.seek(offset)
                while count < limit:
                    raw = handle.readline()
                    if not raw:
                        break  # the end of this file: on to the next, newer one
                    if not raw.endswith(b"\n") and index == last:
                        return  # a line still being written: the next pass takes it
                    text = raw.decode("utf-8", "replace")
                    yield Line(self.node, inode, offset, offset + len(raw), text)
                    offset += len(raw)
                    count += 1
                if count >= limit:
                    return
            offset = 0


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


class Shipper:
    """Tails the nodes' logs (node id -> log directory) into the audit topic."""

    def __init__(
        self,
        settings: ConnectionSettings,
        logs: dict[int, Path],
        *,
        cluster_id: str,
        status_file: Path | None = None,
        batch_max: int = 5000,
        idle_s: float = 0.2,
    ) -> None:
        self.settings = settings
        self.tails = {node: LogTail(node, path) for node, path in logs.items()}
        self.cluster_id = cluster_id
        self.status_file = status_file
        self.batch_max = batch_max
        self.idle_s = idle_s
        self.positions: dict[int, Position] = {}
        self.shipped = 0
        self._producer: Producer | None = None
        self._txn_id = f"_streamplane-audit-shipper-{cluster_id}"
        self._principal = f"User:{settings.username}"
        self._status_at = 0.0

    def start(self) -> None:
        ensure_topics(self.settings)
        self._producer = Producer(
            self.settings.librdkafka(**{
                "transactional.id": self._txn_id,
                "enable.idempotence": True, "acks": "all", "linger.ms": 20,
                "compression.type": "lz4", "log_level": 3,
            })
        )  # fmt: skip
        # Fences a killed predecessor's open transaction (aborted), so what follows reads
        # only committed positions.
        self._producer.init_transactions(60)
        self.positions = read_positions(self.settings)
        log.info("audit shipper started at %s", self.positions)

    def run(self, stop: threading.Event) -> None:
        self.start()
        while not stop.is_set():
            shipped = self.ship_once()
            if shipped == 0 or time.monotonic() - self._status_at > 1.0:
                self._write_status()
            if shipped < self.batch_max:
                # Caught up: a transaction per pause at most (each writes log lines of its
                # own, and the brokers log a decision for every fetch of every client).
                stop.wait(self.idle_s)

    def ship_once(self) -> int:
        """Ship one batch; how many events it held (0: nothing new)."""
        assert self._producer is not None, "start() first"
        batch: list[Line] = []
        for node, tail in self.tails.items():
            batch.extend(tail.lines(self.positions.get(node), self.batch_max - len(batch)))
            if len(batch) >= self.batch_max:
                break
        if not batch:
            return 0
        moved: dict[int, Position] = {}
        records: list[AuditRecord] = []
        for line in batch:
            moved[line.node] = Position(line.inode, line.end)
            record = parse_authorizer_line(
                line.text,
                source=f"broker:{line.node}",
                id=event_id(self.cluster_id, line.node, line.inode, line.start),
            )
            if not self._own(record):
                records.append(record)
        if records:
            # Only a batch with something to ship opens a transaction: one that held only
            # the shipper's own lines would log new ones, and so on forever. Positions of
            # skipped lines are committed with the next real batch (re-reading them after
            # a crash skips them again).
            producer = self._producer
            producer.begin_transaction()
            for record in records:
                producer.produce(
                    AUDIT_TOPIC, key=record.id.encode(), value=record.to_json().encode()
                )
            for node, position in moved.items():
                value = json.dumps({"inode": position.inode, "offset": position.offset})
                producer.produce(POSITIONS_TOPIC, key=f"node-{node}".encode(), value=value.encode())
            producer.commit_transaction(60)
            self.shipped += len(records)
        self.positions.update(moved)
        return len(batch)

    def _own(self, record: AuditRecord) -> bool:
        """The shipper's own granted writes (and the brokers' commit markers that follow
        each of its transactions): shipping them would make events about shipping forever.
        A refused request is always shipped, whoever made it."""
        if record.decision != "allowed":
            return False
        if record.request == "WriteTxnMarkers":
            return True  # broker to broker, after any transaction commits
        return record.principal == self._principal and (
            record.resource_name in _OWN_TOPICS or record.resource_name == self._txn_id
        )

    def lag_bytes(self) -> int:
        """Bytes written to the current log files that are not shipped yet."""
        lag = 0
        for node, tail in self.tails.items():
            current = tail.logs / LOG_NAME
            size = current.stat().st_size if current.exists() else 0
            at = self.positions.get(node)
            lag += size - (at.offset if at is not None and at.inode == _inode(current) else 0)
        return lag

    def _write_status(self) -> None:
        if self.status_file is None:
            return
        status = {
            "at": time.time(),
            "shipped": self.shipped,
            "lag_bytes": self.lag_bytes(),
            "positions": {str(n): vars(p) for n, p in self.positions.items()},
        }
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(status))
        tmp.replace(self.status_file)
        self._status_at = time.monotonic()


def committed_reader(settings: ConnectionSettings, group: str) -> Consumer:
    """A consumer that sees committed transactions only and reports each partition's end."""
    return Consumer(
        settings.librdkafka(**{
            "group.id": group, "enable.auto.commit": False,
            "isolation.level": "read_committed", "enable.partition.eof": True, "log_level": 0,
        })
    )  # fmt: skip


def read_to_end(
    consumer: Consumer, partitions: list[TopicPartition], *, timeout_s: float
) -> Iterator[Message]:
    """Every record of ``partitions`` up to their end (with read_committed: the last stable
    offset); TimeoutError if some partition's end was not reached in ``timeout_s``."""
    consumer.assign(partitions)
    open_partitions = {(p.topic, p.partition) for p in partitions}
    deadline = time.monotonic() + timeout_s
    while open_partitions:
        if time.monotonic() > deadline:
            names = ", ".join(sorted({t for t, _ in open_partitions}))
            raise TimeoutError(f"reading {names} took longer than {timeout_s:.0f}s")
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                open_partitions.discard((msg.topic() or "", msg.partition() or 0))
            continue
        yield msg


def read_positions(settings: ConnectionSettings, *, timeout_s: float = 30.0) -> dict[int, Position]:
    """The committed positions (read_committed: an aborted batch's positions are not seen)."""
    consumer = committed_reader(settings, "_streamplane-audit-positions")
    found: dict[int, Position] = {}
    try:
        start = [TopicPartition(POSITIONS_TOPIC, 0, OFFSET_BEGINNING)]
        for msg in read_to_end(consumer, start, timeout_s=timeout_s):
            node = int((msg.key() or b"node-0").decode().removeprefix("node-"))
            data = json.loads(msg.value() or b"{}")
            found[node] = Position(int(data["inode"]), int(data["offset"]))
        return found
    finally:
        consumer.close()
