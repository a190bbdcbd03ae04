"""The SDK consumer: process first, then commit, and never let one bad record stop a partition.

Offsets are stored only after the handler returned for a record (librdkafka's automatic
commit and automatic offset store are off in every profile), then committed either
synchronously after each batch (``commit="sync"``) or asynchronously at most every
``interval_s`` (``commit="async"``), with a final synchronous commit when partitions are
revoked in the cooperative rebalance and when the consumer closes. A crash therefore
re-delivers at most the records since the last commit; it never skips one.

A record that cannot be decoded, or whose handler raises, is parked by the
:class:`DeadLetterPolicy` (the application's own retry topics, then its dead-letter topic)
and the consumer moves on; without a policy the error propagates and the record stays
uncommitted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import confluent_kafka
from confluent_kafka import KafkaError, Message, TopicPartition

from streamplane.client._batch import Handler, now_ms
from streamplane.client._batches import BatchDelivery, BatchHandler
from streamplane.client._config import DEFAULT_PROFILE, application_clients, consumer_config
from streamplane.client._contracts import DataContracts, contracts_for
from streamplane.client._deadletter import (
    DeadLetterOwner,
    DeadLetterPolicy,
    DeadLetterWriter,
    RetryPauses,
)
from streamplane.client._errors import ClientError
from streamplane.client._headers import TraceExtractor
from streamplane.client._identity import DEFAULT_DATA_DIR, resolve_application
from streamplane.client._metrics import ConsumerStats, consumer_lag
from streamplane.client._offsets import CommitPolicy
from streamplane.client._record import Record
from streamplane.client._schemas import (
    RegistryRef,
    TopicSchemas,
    registry_client,
    schemas_from_spec,
)
from streamplane.client._serdes import Decoder, RecordDeserializer
from streamplane.client._telemetry import Telemetry
from streamplane.client._telemetry import error_log_level as _level
from streamplane.kafka import client_config

if TYPE_CHECKING:
    from pathlib import Path

    from streamplane.kafka import ConnectionSettings
    from streamplane.model import Spec

logger = logging.getLogger(__name__)

#: Poison pills go straight to the application's dead-letter topic (``for_application``
#: names the owner from the spec).
DEFAULT_DEAD_LETTERS = DeadLetterPolicy()
#: ``for_application`` without ``dead_letters``: the spec's, else DEFAULT_DEAD_LETTERS.
_FROM_SPEC: Any = object()


class Consumer(BatchDelivery):
    """Consumes a group's topics through a handler or an iterator, committing after processing.

    ``Consumer(connection=..., app_id=..., group_id=..., topics=[...])`` builds one
    explicitly; :meth:`for_application` from the spec. Then either
    ``consumer.run(handler)`` or ``for record in consumer: ...``.
    """

    def __init__(
        self,
        *,
        connection: ConnectionSettings,
        app_id: str,
        group_id: str,
        topics: Sequence[str],
        profile: str = DEFAULT_PROFILE,
        config: Mapping[str, Any] | None = None,
        schemas: Mapping[str, TopicSchemas] | None = None,
        registry: RegistryRef | None = None,
        telemetry: Telemetry | None = None,
        commit: CommitPolicy | Literal["sync", "async"] = "async",
        instance_id: str | None = None,
        dead_letters: DeadLetterPolicy | None = None,
        client_id: str | None = None,
        batch_size: int = 500,
        contracts: DataContracts | None = None,
    ) -> None:
        if not topics:
            raise ClientError(f"consumer of {app_id} has no topics to consume")
        if dead_letters is not None:
            dead_letters.checked_owner()  # parking topics belong to an application: which?
        self.app_id = app_id
        self.group_id = group_id
        self.topics = list(topics)
        self.config = consumer_config(
            profile=profile, connection=connection, app_id=app_id, group_id=group_id,
            client_id=client_id, instance_id=instance_id, overrides=config,
        )  # fmt: skip
        self.commit_policy = commit if isinstance(commit, CommitPolicy) else CommitPolicy(commit)
        self.dead_letters = dead_letters
        self._telemetry = telemetry if telemetry is not None else Telemetry()
        self._stats: ConsumerStats | None = (
            self._telemetry.metrics.consumer(
                app=app_id, client_id=str(self.config["client.id"]), group=group_id
            )
            if self._telemetry.metrics is not None
            else None
        )
        self._tracer = self._telemetry.tracer()
        self._extractor = TraceExtractor()
        self._deserializer = RecordDeserializer(
            schemas or {}, registry_client(registry), contracts=contracts
        )
        self._value_decoders: dict[str, Decoder] = {}
        self._key_decoders: dict[str, Decoder] = {}
        self._batch_size = batch_size
        self._pending: dict[tuple[str, int], int] = {}
        self._stored_since_commit = False
        self._last_commit = time.monotonic()
        self._commit_started: deque[tuple[str, float]] = deque()
        self._backlog: list[Message] = []
        self._pauses = RetryPauses()
        self._stopping = False
        self._closed = False
        self._spans = False
        #: retry topic -> (original topic, attempt number)
        self._retry_of: dict[str, tuple[str, int]] = {}
        if dead_letters is not None:
            for topic in self.topics:
                for n, name in enumerate(dead_letters.retry_topics(topic), start=1):
                    self._retry_of[name] = (topic, n)
        writer_config = client_config(
            "zero_loss", "producer", connection=connection.librdkafka(),
            overrides={"linger.ms": 0, "client.id": f"{self.config['client.id']}-dead-letters"},
        )  # fmt: skip
        self._writer = DeadLetterWriter(
            writer_config,
            timeout_s=dead_letters.write_timeout_s if dead_letters is not None else 30.0,
        )
        self._check_parking_topics()
        native = dict(self.config)
        native["on_commit"] = self._committed
        native["error_cb"] = self._kafka_error
        if self._stats is not None and self._telemetry.statistics_interval_ms > 0:
            native["statistics.interval.ms"] = self._telemetry.statistics_interval_ms
            native["stats_cb"] = self._statistics
        self._consumer = confluent_kafka.Consumer(native)
        self._consumer.subscribe(
            [*self.topics, *self._retry_of],
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
        )

    @classmethod
    def for_application(
        cls,
        spec: Spec,
        app: str,
        *,
        connection: ConnectionSettings | None = None,
        registry: RegistryRef | None = None,
        config: Mapping[str, Any] | None = None,
        telemetry: Telemetry | None = None,
        commit: CommitPolicy | Literal["sync", "async"] = "async",
        instance_id: str | None = None,
        dead_letters: DeadLetterPolicy | None = _FROM_SPEC,
        topics: Sequence[str] | None = None,
        protobuf_types: Mapping[str, type[Any]] | None = None,
        contracts: DataContracts | None = None,
        cluster: str | None = None,
        data_dir: Path | str = DEFAULT_DATA_DIR,
        with_copies: bool = False,
    ) -> Consumer:
        """A consumer for application ``app``: its identity, profile, group and topics.

        It connects as the application, resolved as for ``Producer.for_application``:
        ``connection`` with a user name as given, else the application's principal and
        the password from its ``password:`` or the local ``<data_dir>/secrets/<principal>``;
        the cluster's address and registry from the spec (or ``data_dir``), no admin
        credentials needed. ``topics`` (default: the application's ``consumes``) must be
        topics the spec lets it read, else ClientError names the spec entry before
        anything is subscribed.

        ``config`` goes on top of the spec's consumer overrides; anything that would
        commit before processing raises ProfileError. Unless ``dead_letters`` is given,
        the application's ``dead_letters`` in the spec (its retry delays) decide where
        failed records go, and without one they go straight to its dead-letter topic; a
        policy given without an owner gets this application as its owner.

        Topics whose schemas carry a data contract are read with confluent-kafka's rule
        engine (encrypted fields decrypted when the KEK may be used, migrations applied);
        ``contracts`` gives the KMS settings, by default ``DataContracts.from_spec``.

        ``cluster`` picks one of the tenant's clusters (e.g. the surviving region after
        ``streamplane failover``); with ``with_copies`` each topic is read as that cluster
        holds it across regions: the topic itself and the copies the spec's replication
        flows bring in (``regional_topics``), so an active-active reader sees every
        region's writes. A copy is read with its original's schemas.
        """
        clients = application_clients(spec, app)
        if dead_letters is _FROM_SPEC:
            declared = spec.applications[app].app.dead_letters
            dead_letters = (
                DeadLetterPolicy(retry_delays_s=tuple(ms / 1000 for ms in declared.retries))
                if declared is not None
                else DEFAULT_DEAD_LETTERS
            )
        if dead_letters is not None and dead_letters.owner is None:
            owner = DeadLetterOwner.of(spec.applications[app])
            dead_letters = dataclasses.replace(dead_letters, owner=owner)
        chosen = list(topics) if topics is not None else list(clients.consumes)
        if not chosen:
            raise ClientError(f"application {app} consumes no topics in the spec")
        resolved = resolve_application(
            spec, app, connection=connection, registry=registry, cluster=cluster,
            data_dir=data_dir,
        )  # fmt: skip
        schemas = schemas_from_spec(spec, chosen, protobuf_types=protobuf_types)
        if with_copies:
            from streamplane.model import copy_origins, regional_topics

            origins = copy_origins(spec, resolved.cluster)
            chosen = [name for t in chosen for name in regional_topics(spec, t, resolved.cluster)]
            for copy, original in origins.items():
                if copy in chosen and original in schemas:
                    schemas[copy] = schemas[original]
        resolved.scope.require_consume(chosen)
        assert clients.group_id is not None
        return cls(
            connection=resolved.connection,
            app_id=clients.app_id,
            group_id=clients.group_id,
            topics=chosen,
            profile=clients.profile,
            config={**clients.consumer_overrides, **(config or {})},
            schemas=schemas,
            registry=resolved.registry,
            contracts=contracts_for(spec, schemas, chosen, contracts, data_dir=resolved.data_dir),
            telemetry=telemetry,
            commit=commit,
            instance_id=instance_id,
            dead_letters=dead_letters,
            client_id=clients.client_id,
        )

    # ------------------------------------------------------------------ processing
    def run(
        self,
        handler: Handler,
        *,
        max_records: int | None = None,
        idle_timeout_s: float | None = None,
        poll_timeout_s: float = 1.0,
    ) -> int:
        """Call ``handler`` for each record until :meth:`stop`, ``max_records`` records, or
        ``idle_timeout_s`` without any; returns how many records were handled.

        A record's offset is stored only after ``handler`` returned for it (or after it was
        parked by the dead-letter policy).
        """
        return self._loop(
            lambda batch, limit: self._handle_batch(handler, batch, limit),
            max_records=max_records, idle_timeout_s=idle_timeout_s, poll_timeout_s=poll_timeout_s,
        )  # fmt: skip

    def run_batches(
        self,
        handler: BatchHandler,
        *,
        max_records: int | None = None,
        idle_timeout_s: float | None = None,
        poll_timeout_s: float = 1.0,
    ) -> int:
        """Call ``handler`` with the records of each poll as one list; as :meth:`run`
        otherwise, and with the same guarantee: the list's offsets are stored only after
        ``handler`` returned.

        For handlers whose work is batched anyway (bulk inserts, vectorised scoring): a
        Python call and a trace context per record cost about as much as decoding the
        record. One call cannot continue many producers' traces, so no record's context is
        current inside ``handler``; records that take the slow path (from a retry topic,
        undecodable, after a failure) are handed over alone, with theirs. When ``handler``
        raises, without a dead-letter policy the error propagates and the list is handed
        over again by the next call; with one, its records are handed over one at a time
        and only those that fail on their own are parked: a record may be seen twice.
        """
        return self._loop(
            lambda batch, limit: self._deliver_batch(handler, batch, limit),
            max_records=max_records, idle_timeout_s=idle_timeout_s, poll_timeout_s=poll_timeout_s,
        )  # fmt: skip

    def _loop(
        self,
        deliver: Callable[[list[Message], int | None], int],
        *,
        max_records: int | None,
        idle_timeout_s: float | None,
        poll_timeout_s: float,
    ) -> int:
        """Fetch and ``deliver`` batches until stopped, ``max_records``, or idle too long."""
        handled = 0
        last_record = time.monotonic()
        self._stopping = False
        while not self._stopping:
            batch = self._next_batch(poll_timeout_s)
            if not batch:
                if idle_timeout_s is not None and time.monotonic() - last_record > idle_timeout_s:
                    break
                self._maybe_commit()
                continue
            last_record = time.monotonic()
            limit = None if max_records is None else max_records - handled
            handled += deliver(batch, limit)
            if max_records is not None and handled >= max_records:
                self._stopping = True
            self._maybe_commit()
        return handled

    def __iter__(self) -> Iterator[Record]:
        """Records one by one; each is marked processed when the loop asks for the next.

        Leaving the loop (``break`` or an exception) leaves the current record unmarked: it
        is delivered again, by this consumer or after a restart.
        """
        self._stopping = False
        while not self._stopping:
            batch = self._next_batch(1.0)
            if not batch:
                self._maybe_commit()
                continue
            index = 0
            try:
                for index, msg in enumerate(batch):
                    record = self._prepare(msg)
                    if record is not None:
                        with self._processing(record):
                            yield record
                    self._processed(msg)
                    if self._stopping:
                        index += 1
                        break
                else:
                    index = len(batch)
            finally:
                if index < len(batch):
                    self._backlog = batch[index:] + self._backlog
            self._maybe_commit()

    def stop(self) -> None:
        """Ask :meth:`run` (or the iterator) to return after the current record."""
        self._stopping = True

    def _next_batch(self, timeout_s: float) -> list[Message]:
        # Once per batch, not per record: may a span started now be recorded by anyone?
        self._spans = self._telemetry.records_spans()
        if self._backlog:
            batch, self._backlog = self._backlog, []
            return batch
        if self._pauses:
            now = now_ms()
            ready = self._pauses.take_due(now)
            if ready:
                self._consumer.resume([TopicPartition(t, p) for t, p in ready])
            wait = self._pauses.seconds_to_next(now)
            if wait is not None:
                timeout_s = min(timeout_s, max(wait, 0.01))
        # Whatever is already fetched, without waiting: librdkafka's batch call would
        # otherwise hold on to the first record until the batch is full or time is up.
        batch = self._consumer.consume(self._batch_size, 0)
        if batch:
            return batch
        first = self._consumer.poll(timeout_s)
        return [first] if first is not None else []

    # ------------------------------------------------------------------ callbacks
    def _statistics(self, document: str) -> None:
        if self._stats is not None:
            self._stats.lag = consumer_lag(json.loads(document))

    def _kafka_error(self, err: KafkaError) -> None:
        if self._stats is not None:
            self._stats.error("kafka")
        logger.log(
            _level(err),
            "kafka client error: %s",
            err.str(),
            extra={"app": self.app_id, "group": self.group_id, "error_code": err.name()},
        )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Commit what was processed, synchronously, then leave the group."""
        if self._closed:
            return
        self._closed = True
        try:
            self._commit_sync("close")
        finally:
            self._consumer.close()
            self._writer.close()
            self._deserializer.close()
            if self._stats is not None:
                self._stats.lag.clear()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
