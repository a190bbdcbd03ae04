"""Exactly-once consume-transform-produce with Kafka transactions (KIP-98, KIP-447).

A :class:`TransactionalProcessor` reads records with a ``read_committed`` consumer built
from the ``zero_loss`` profile, hands each batch to the application's *transform*,
produces what the transform returns, and puts the consumed positions into the same
transaction (``send_offsets_to_transaction``). Either the outputs *and* the input
offsets become visible, or neither does: a crash anywhere re-reads the input from the
last committed transaction and the outputs of the unfinished one are never seen by a
``read_committed`` reader.

Fencing
-------
Since KIP-447 one transactional producer per *process* is enough: the group coordinator
checks the consumer-group metadata (generation, member id, group.instance.id) sent with
the offsets, so a member that lost its partitions in a rebalance cannot commit offsets
for them (its ``send_offsets_to_transaction`` fails and the transaction is aborted), and
a new owner's offset fetch waits until the previous owner's transaction is finished.
The ``transactional_id`` must still be unique among the instances running at once and
*stable across restarts of one instance*: a restarted instance calling
``init_transactions`` with the same id aborts the transaction its dead predecessor left
open at once, instead of leaving it to block readers until ``transaction.timeout.ms``.

Errors
------
librdkafka classifies every transactional error, and the processor follows it:

- *retriable* (a timeout, a coordinator moving): the same call is repeated, within
  ``operation_timeout_s``;
- *abortable* (``txn_requires_abort``: a delivery failed, the group generation moved):
  the transaction is aborted and the consumer rewound to the first offset of the
  aborted batch, which is exactly where the last committed transaction ended;
- *fatal* (``_FENCED`` / ``PRODUCER_FENCED``, e.g. the coordinator timed out our
  transaction and bumped the epoch): the producer cannot even abort, so it is replaced
  by a new one whose ``init_transactions`` finishes or aborts whatever was in flight,
  and the consumer is rewound to the offsets the group coordinator holds, since only it
  knows whether the last commit landed. Repeated fencing without a successful commit in
  between means another live instance has the same ``transactional_id``; the processor
  then stops with :class:`TransactionFencedError` rather than fence it back forever.

Rebalances: a revocation first commits the in-flight transaction (the partitions are
still ours, so the commit is valid), and a *lost* assignment aborts it, since another
member may already own those partitions.

State
-----
An application that keeps state beside Kafka (a store per partition with a changelog
topic, as Kafka Streams does) must change that state exactly when the transaction that
wrote its changelog commits. A :class:`TransactionListener` hears the moments it needs:
partitions assigned (restore them before their first record), a commit (make the
batch's changes durable), an abort (drop them: the batch is read again) and a
revocation (the partitions go elsewhere).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streamplane.client._codec import ApplicationCodec
from streamplane.client._config import application_clients
from streamplane.client._contracts import DataContracts
from streamplane.client._errors import ClientError
from streamplane.client._identity import DEFAULT_DATA_DIR, resolve_application
from streamplane.client._schemas import RegistryRef
from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings, client_config

if TYPE_CHECKING:
    from streamplane.model import Spec

log = logging.getLogger(__name__)

T = TypeVar("T")

#: librdkafka's "no offset": a partition with no position or no committed offset yet.
_NO_OFFSET = -1001


class TransactionError(ClientError):
    """A transactional step could not be completed, committed or aborted."""


class TransactionFencedError(TransactionError):
    """Another live instance uses this processor's transactional id; this one stops."""


@dataclass(frozen=True)
class Output:
    """One record the transform asks to produce inside the current transaction."""

    topic: str
    value: bytes | str | None
    key: bytes | str | None = None
    headers: Sequence[tuple[str, bytes]] | None = None
    #: None lets the partitioner choose (by key).
    partition: int | None = None


#: The application's logic: consumed records in, records to produce out. It must be a
#: pure function of its input (no effects outside Kafka): an aborted batch is read and
#: transformed again.
Transform = Callable[[list[Message]], Iterable[Output]]


class TransactionListener:
    """What an application with state beside Kafka hears of the processor's transactions.

    Every method runs on the processor's thread, between two batches (or inside the
    rebalance that causes it), so the transform never sees a half-applied change. The
    defaults do nothing; override what the state needs.
    """

    def on_assigned(self, partitions: list[TopicPartition]) -> None:
        """Partitions became this instance's: their records arrive after this returns."""

    def on_committed(self) -> None:
        """The open transaction committed: its outputs and offsets are visible."""

    def on_aborted(self, *, certain: bool) -> None:
        """The open transaction will never be seen; its input is read again.

        ``certain`` is False when the outcome is unknown (a commit failed fatally and a
        new producer settled it): the transaction may have committed after all, and the
        consumer resumes from whatever the group coordinator holds. State kept beside
        Kafka should then be rebuilt from its changelog.
        """

    def on_revoked(self, partitions: list[TopicPartition]) -> None:
        """Partitions went to another member (after the open transaction committed, or
        was aborted if they were lost)."""


@dataclass(frozen=True)
class TransactionSettings:
    """How much work one transaction holds, and how long each transactional call may take.

    A transaction ends when it holds ``max_records`` input records, when it has been
    open ``commit_interval_s``, or when a poll returns nothing; larger transactions cost
    fewer commits, smaller ones make outputs visible sooner to ``read_committed`` readers.
    """

    max_records: int = 1000
    commit_interval_s: float = 0.5
    poll_timeout_s: float = 0.5
    #: Bound on one transactional call with its retries (init, send offsets, commit, abort).
    operation_timeout_s: float = 60.0
    #: Producer replacements after fencing, without a commit in between, before giving up.
    max_fenced_restarts: int = 3


@dataclass
class ProcessorStats:
    transactions_committed: int = 0
    transactions_aborted: int = 0
    records_committed: int = 0
    outputs_committed: int = 0
    producer_restarts: int = 0


@dataclass
class _OpenTransaction:
    """The transaction in flight: where each partition's part of it started."""

    started: float
    #: (topic, partition) -> offset of the first record consumed in this transaction.
    first_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    records: int = 0
    outputs: int = 0


class TransactionalProcessor:
    """Consume, transform and produce with exactly-once semantics.

    >>> with TransactionalProcessor(
    ...     ["payments.card.authorizations"],
    ...     group="payments.card-authorizer",
    ...     transactional_id="payments.card-authorizer-0",
    ...     transform=authorize,
    ...     connection=settings,
    ... ) as processor:
    ...     processor.run(stop=stopping.is_set)

    The consumer uses the ``zero_loss`` profile (``read_committed``, no auto-commit,
    cooperative rebalancing), the producer the ``zero_loss`` producer profile with the
    transactional id; overrides are checked against the profile's guarantee.
    """

    def __init__(
        self,
        topics: Sequence[str],
        *,
        group: str,
        transactional_id: str,
        transform: Transform,
        connection: ConnectionSettings,
        settings: TransactionSettings | None = None,
        consumer_overrides: Mapping[str, Any] | None = None,
        producer_overrides: Mapping[str, Any] | None = None,
        owner: str = "this processor",
        listener: TransactionListener | None = None,
        codec: ApplicationCodec | None = None,
    ) -> None:
        self.topics = list(topics)
        #: How it reaches the cluster (state stores beside it read their changelogs so).
        self.connection = connection
        self.listener = listener or TransactionListener()
        #: The application's schema-aware encoding (set by :meth:`for_application`).
        self.codec = codec
        self.group = group
        self.transactional_id = transactional_id
        self.transform = transform
        self.settings = settings or TransactionSettings()
        self.stats = ProcessorStats()
        self._consumer_config = _consumer_config(
            connection, group=group, overrides=consumer_overrides, owner=owner
        )
        self._producer_config = _producer_config(
            connection, transactional_id=transactional_id, overrides=producer_overrides, owner=owner
        )
        self._cooperative = _is_cooperative(self._consumer_config)
        self._txn: _OpenTransaction | None = None
        self._fenced_in_a_row = 0
        #: Why the processor may not continue (a rewind failed: its position is unknown).
        self._broken: str | None = None
        self._closed = False
        self._producer = self._new_producer()
        self._consumer = Consumer(self._consumer_config)
        self._consumer.subscribe(
            self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    @classmethod
    def for_application(
        cls,
        spec: Spec,
        app: str,
        *,
        transform: Transform,
        instance: int | str = 0,
        topics: Sequence[str] | None = None,
        connection: ConnectionSettings | None = None,
        registry: RegistryRef | None = None,
        settings: TransactionSettings | None = None,
        listener: TransactionListener | None = None,
        contracts: DataContracts | None = None,
        consumer_overrides: Mapping[str, Any] | None = None,
        producer_overrides: Mapping[str, Any] | None = None,
        cluster: str | None = None,
        data_dir: Path | str = DEFAULT_DATA_DIR,
    ) -> TransactionalProcessor:
        """The processor of application ``app`` of the spec, connected as the application.

        The application must be declared ``transactional: true`` (apply grants its
        principal the transactional ids ``<tenant prefix><app>*``). Its id here is
        ``<tenant prefix><app>-<instance>``: give each running instance its own
        ``instance`` and keep it across that instance's restarts. It reads ``topics``
        (default: the application's ``consumes``) in its consumer group, connects as
        :meth:`Producer.for_application` does, and ``processor.codec`` encodes its
        outputs by their topics' schemas (refusing a topic it does not produce).
        """
        entry = spec.applications.get(app)
        if entry is None:
            known = ", ".join(sorted(spec.applications)) or "none"
            raise ClientError(f"the spec has no application {app!r} (applications: {known})")
        if not entry.app.transactional:
            pos = spec.source.locate(entry.path)
            raise ClientError(
                f"application {app} ({pos.file}:{pos.line}) is not declared transactional: "
                "add `transactional: true` to it and apply the spec, so its principal may "
                "use transactional ids"
            )
        clients = application_clients(spec, app)
        resolved = resolve_application(
            spec, app, connection=connection, registry=registry, cluster=cluster,
            data_dir=data_dir,
        )  # fmt: skip
        chosen = list(topics) if topics is not None else list(resolved.scope.consumes)
        resolved.scope.require_consume(chosen)
        codec = ApplicationCodec.for_application(
            spec, resolved.scope, resolved.registry, contracts=contracts,
            data_dir=resolved.data_dir,
        )  # fmt: skip
        return cls(
            chosen,
            group=entry.consumer_group,
            transactional_id=f"{entry.tenant.namespace}{app}-{instance}",
            transform=transform,
            connection=resolved.connection,
            settings=settings,
            consumer_overrides={**clients.consumer_overrides, **(consumer_overrides or {})},
            producer_overrides={**clients.producer_overrides, **(producer_overrides or {})},
            owner=f"application {app}",
            listener=listener,
            codec=codec,
        )

    # ------------------------------------------------------------------ loop
    def run(self, *, stop: Callable[[], bool] | None = None) -> None:
        """Process until ``stop()`` is true, then commit what is in flight."""
        while not (stop is not None and stop()):
            self.step()
        self._finish_open_transaction()

    def step(self) -> int:
        """One poll: transform and produce what it returned; commit when the batch is due.

        Returns the number of input records committed by this call (0 while a
        transaction is still filling up).
        """
        if self._broken is not None:
            raise TransactionError(
                f"{self.transactional_id!r} cannot continue safely: {self._broken}. Close it "
                "and create a new processor: it resumes from the committed offsets."
            )
        room = self.settings.max_records - (self._txn.records if self._txn else 0)
        messages = self._consumer.consume(
            num_messages=max(room, 1), timeout=self.settings.poll_timeout_s
        )
        self._producer.poll(0)  # serve the producer's error and log callbacks
        records = [m for m in messages if _usable(m)]
        if records:
            self._process(records)
        txn = self._txn
        if txn is None:
            return 0
        due = (
            not records
            or txn.records >= self.settings.max_records
            or time.monotonic() - txn.started >= self.settings.commit_interval_s
        )
        return self._commit() if due else 0

    def _process(self, records: list[Message]) -> None:
        txn = self._txn if self._txn is not None else self._begin()
        for message in records:
            txn.first_offsets.setdefault(_where(message), _offset(message))
        txn.records += len(records)
        try:
            for output in self.transform(records):
                self._produce(output)
                txn.outputs += 1
        except KafkaException as exc:
            self._recover(exc, "produce the outputs")
        except BaseException as exc:
            # The transform failed: nothing of this transaction may become visible, and
            # its input must be read again once the application has dealt with the error.
            try:
                self._abort_and_rewind("the transform raised")
            except (KafkaException, StreamplaneError) as failure:
                self._broken = f"aborting after the transform raised failed: {failure}"
                raise TransactionError(self._broken) from exc
            raise

    def _begin(self) -> _OpenTransaction:
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            error = _error_of(exc)
            if error is None or not error.fatal():
                raise TransactionError(f"could not begin a transaction: {exc}") from exc
            # Fenced while idle (e.g. the coordinator expired an old epoch): nothing is in
            # flight, so a new producer is all it takes.
            self._restart_producer(fenced=_is_fenced(error))
            self._producer.begin_transaction()
        self._txn = _OpenTransaction(started=time.monotonic())
        return self._txn

    def _produce(self, output: Output) -> None:
        extra: dict[str, Any] = {}
        if output.partition is not None:
            extra["partition"] = output.partition
        if output.headers is not None:
            extra["headers"] = list(output.headers)
        while True:
            try:
                self._producer.produce(output.topic, output.value, output.key, **extra)
                return
            except BufferError:
                # The local queue is full: serve deliveries until there is room again.
                self._producer.poll(0.1)

    # ---------------------------------------------------------------- commit
    def _commit(self) -> int:
        """Send the consumed positions into the transaction and commit it."""
        txn = self._txn
        if txn is None:
            return 0
        partitions = [TopicPartition(t, p) for t, p in txn.first_offsets]
        # position() is the offset after the last record handed to us (past any
        # transaction markers), i.e. the next record to process after a restart.
        positions = [tp for tp in self._consumer.position(partitions) if tp.offset >= 0]
        if len(positions) < len(partitions):
            # Committing outputs without the offsets of their input would repeat them.
            self._recover_from("positions of the consumed partitions are unknown")
            return 0
        try:
            self._send_offsets(positions)
            self._end_transaction()
        except KafkaException as exc:
            self._recover(exc, "commit the transaction")
            return 0
        self._txn = None
        self._fenced_in_a_row = 0
        self.stats.transactions_committed += 1
        self.stats.records_committed += txn.records
        self.stats.outputs_committed += txn.outputs
        self.listener.on_committed()
        return txn.records

    def _send_offsets(self, positions: list[TopicPartition]) -> None:
        metadata = self._consumer.consumer_group_metadata()
        timeout = self.settings.operation_timeout_s
        self._call(
            "send the consumed offsets to the transaction",
            lambda: self._producer.send_offsets_to_transaction(positions, metadata, timeout),
        )

    def _end_transaction(self) -> None:
        timeout = self.settings.operation_timeout_s
        self._call("commit the transaction", lambda: self._producer.commit_transaction(timeout))

    def _finish_open_transaction(self) -> None:
        if self._txn is not None:
            self._commit()

    # -------------------------------------------------------------- recovery
    def _recover(self, exc: KafkaException, doing: str) -> None:
        try:
            self._settle(exc, doing)
        except TransactionFencedError:
            self._broken = "another instance uses its transactional id"
            raise
        except Exception as failure:
            self._broken = f"recovering from a failure to {doing} failed too: {failure}"
            raise TransactionError(
                f"{self.transactional_id!r}: could not {doing} ({exc}), and could not recover "
                f"({failure}); create a new processor, it resumes from the committed offsets"
            ) from failure

    def _recover_from(self, reason: str) -> None:
        try:
            self._abort_and_rewind(reason)
        except Exception as failure:
            self._broken = f"aborting failed ({failure}) after: {reason}"
            raise

    def _settle(self, exc: KafkaException, doing: str) -> None:
        error = _error_of(exc)
        if error is not None and error.fatal():
            log.warning(
                "producer %s failed fatally while trying to %s (%s): replacing it",
                self.transactional_id,
                doing,
                error.str(),
            )
            self._restart_producer(fenced=_is_fenced(error))
            self._rewind_to_committed()
        else:
            reason = error.str() if error is not None else str(exc)
            self._abort_and_rewind(f"could not {doing}: {reason}")

    def _abort_and_rewind(self, reason: str) -> None:
        """Abort the open transaction and re-read its input; replace the producer if needed."""
        txn = self._txn
        if txn is None:
            return
        log.warning("aborting the transaction of %s: %s", self.transactional_id, reason)
        timeout = self.settings.operation_timeout_s
        try:
            self._call("abort the transaction", lambda: self._producer.abort_transaction(timeout))
        except KafkaException as exc:
            # An abort that fails leaves the outcome open (a commit may have been under
            # way): a new producer's init_transactions settles it, the coordinator knows.
            error = _error_of(exc)
            self._restart_producer(fenced=error is not None and _is_fenced(error))
            self._rewind_to_committed()
            return
        self.stats.transactions_aborted += 1
        # After a clean abort the last committed transaction ended exactly where this one
        # began, so seeking to its first offsets re-reads everything it held.
        self._txn = None
        self.listener.on_aborted(certain=True)
        self._seek(txn.first_offsets)

    def _restart_producer(self, *, fenced: bool) -> None:
        if fenced:
            self._fenced_in_a_row += 1
            if self._fenced_in_a_row > self.settings.max_fenced_restarts:
                raise TransactionFencedError(
                    f"producer {self.transactional_id!r} was fenced {self._fenced_in_a_row} "
                    "times without a commit in between: another instance is running with "
                    "the same transactional id. Give each instance its own id (stable "
                    "across its restarts)."
                )
        self.stats.producer_restarts += 1
        if self._txn is not None:
            self.stats.transactions_aborted += 1
        # A fenced or failed producer cannot abort; dropping it destroys it, and the new
        # producer's init_transactions aborts or completes whatever it left open.
        self._producer = self._new_producer()

    def _rewind_to_committed(self) -> None:
        """Seek the open transaction's partitions to the offsets the group has committed."""
        txn, self._txn = self._txn, None
        if txn is None:
            return
        self.listener.on_aborted(certain=False)
        partitions = [TopicPartition(t, p) for t, p in txn.first_offsets]
        # read_committed makes this offset fetch wait for pending transactional offsets
        # (KIP-447), so the answer reflects the outcome of the transaction just settled.
        committed = self._call(
            "read the committed offsets",
            lambda: self._consumer.committed(partitions, timeout=self.settings.operation_timeout_s),
        )
        targets = {}
        for tp in committed:
            where = (tp.topic, tp.partition)
            # No committed offset yet: nothing of this partition was ever committed, so
            # the transaction's first record is where reading resumes.
            targets[where] = tp.offset if tp.offset >= 0 else txn.first_offsets[where]
        self._seek(targets)

    def _seek(self, offsets: Mapping[tuple[str, int], int]) -> None:
        assigned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        for (topic, partition), offset in offsets.items():
            if (topic, partition) not in assigned:
                continue  # revoked meanwhile: its new owner starts from the committed offset
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:
                # Seeking a partition whose fetcher is not started yet fails; assigning it
                # again at the offset does the same job. Never carry on unsought: the
                # records of the aborted transaction would be skipped.
                log.info(
                    "seek %s [%d] to %d failed (%s): re-assigning", topic, partition, offset, exc
                )
                self._reassign_at(TopicPartition(topic, partition, offset))

    def _reassign_at(self, target: TopicPartition) -> None:
        if self._cooperative:
            self._consumer.incremental_unassign([TopicPartition(target.topic, target.partition)])
            self._consumer.incremental_assign([target])
            return
        others = [
            tp
            for tp in self._consumer.position(self._consumer.assignment())
            if (tp.topic, tp.partition) != (target.topic, target.partition)
        ]
        self._consumer.assign([*others, target])

    # ------------------------------------------------------------ rebalance
    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            self.listener.on_assigned(list(partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The partitions are still ours until this callback returns: finish the work
        # consumed from them while a commit of their offsets is still valid.
        if self._txn is not None:
            log.info(
                "committing the open transaction before %d partition(s) are revoked",
                len(partitions),
            )
            self._commit()
        if partitions:
            self.listener.on_revoked(list(partitions))

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost partitions may already belong to another member: committing their offsets
        # would be refused (or worse, race it), so the open transaction is aborted.
        if self._txn is not None:
            self._recover_from(f"{len(partitions)} partition(s) were lost")
        if partitions:
            self.listener.on_revoked(list(partitions))

    # ---------------------------------------------------------------- helpers
    def _call(self, doing: str, operation: Callable[[], T]) -> T:
        """Run a transactional call, repeating it while librdkafka says it is retriable."""
        deadline = time.monotonic() + self.settings.operation_timeout_s
        while True:
            try:
                return operation()
            except KafkaException as exc:
                error = _error_of(exc)
                if error is None or not error.retriable() or time.monotonic() >= deadline:
                    raise
                log.info("retrying: could not %s: %s", doing, error.str())
                self._producer.poll(0.2)

    def _new_producer(self) -> Producer:
        producer = Producer(self._producer_config)
        try:
            self._call(
                "initialise transactions",
                lambda: producer.init_transactions(self.settings.operation_timeout_s),
            )
        except KafkaException as exc:
            raise TransactionError(
                f"could not initialise transactions for {self.transactional_id!r}: {exc}. "
                "Check that the cluster is reachable and the principal may WRITE and "
                "DESCRIBE this transactional id."
            ) from exc
        return producer

    # ------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Commit the open transaction, then leave the group and close both clients."""
        if self._closed:
            return
        self._closed = True
        try:
            self._finish_open_transaction()
        finally:
            self._consumer.close()
            self._producer.flush(self.settings.operation_timeout_s)

    def __enter__(self) -> TransactionalProcessor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is not None and self._txn is not None:
            # Leaving on an error: do not commit half of what the failing code did. If
            # even the abort fails, the next init_transactions with this id aborts it.
            with contextlib.suppress(KafkaException, StreamplaneError):
                self._abort_and_rewind("leaving on an exception")
            if self._txn is not None:
                self._txn = None
                self.listener.on_aborted(certain=False)
        self.close()


def _consumer_config(
    connection: ConnectionSettings,
    *,
    group: str,
    overrides: Mapping[str, Any] | None,
    owner: str,
) -> dict[str, Any]:
    overrides = dict(overrides or {})
    level = str(overrides.get("isolation.level", "read_committed"))
    if level != "read_committed":
        raise TransactionError(
            f"{owner}: isolation.level={level} would read records of aborted transactions "
            "and process them; exactly-once needs read_committed (remove the override)"
        )
    return client_config(
        "zero_loss",
        "consumer",
        connection=connection.librdkafka(),
        overrides={**overrides, "group.id": group},
        owner=owner,
    )


def _producer_config(
    connection: ConnectionSettings,
    *,
    transactional_id: str,
    overrides: Mapping[str, Any] | None,
    owner: str,
) -> dict[str, Any]:
    overrides = dict(overrides or {})
    if "transactional.id" in overrides:
        raise TransactionError(
            f"{owner}: pass the transactional id as transactional_id=..., not as a producer "
            "override"
        )
    config = client_config(
        "zero_loss",
        "producer",
        connection=connection.librdkafka(),
        overrides={**overrides, "transactional.id": transactional_id},
        owner=owner,
    )
    # librdkafka refuses a delivery timeout longer than the transaction timeout; keep
    # the profile's delivery timeout (how long a record is retried) and let a
    # transaction live as long.
    delivery = config.get("delivery.timeout.ms", config.get("message.timeout.ms"))
    if "transaction.timeout.ms" not in config and delivery is not None:
        config["transaction.timeout.ms"] = int(delivery)
    return config


def _is_cooperative(config: Mapping[str, Any]) -> bool:
    """Whether assignments change incrementally (cooperative-sticky, or KIP-848 groups)."""
    strategy = str(config.get("partition.assignment.strategy", ""))
    return "cooperative" in strategy or str(config.get("group.protocol", "")) == "consumer"


def _usable(message: Message) -> bool:
    """True for a record; consumer events are logged, fatal ones raised."""
    error = message.error()
    if error is None:
        return True
    if error.fatal():
        raise KafkaException(error)
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer: %s", error.str())
    return False


def _where(message: Message) -> tuple[str, int]:
    topic, partition = message.topic(), message.partition()
    assert topic is not None and partition is not None  # set on every consumed record
    return topic, partition


def _offset(message: Message) -> int:
    offset = message.offset()
    assert offset is not None  # set on every consumed record
    return offset


def _error_of(exc: KafkaException) -> KafkaError | None:
    error = exc.args[0] if exc.args else None
    return error if isinstance(error, KafkaError) else None


def _is_fenced(error: KafkaError) -> bool:
    return error.code() in (
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
    )
