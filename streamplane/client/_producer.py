"""The SDK producer: a profile-built confluent-kafka Producer that serializes, tags and counts.

Per record it does four things on top of ``confluent_kafka.Producer.produce``: encode the
key and value with the topic's declared schema (or refuse them), attach the lineage headers
(trace context, producing app, schema id), hand the record to librdkafka, and serve
delivery reports. Everything that can be computed once per topic or per trace context is
cached, because at 100,000 records/s each microsecond of Python is a tenth of the budget.

Delivery failures are never dropped: each goes to the ``on_delivery_error`` callback when
one was given, otherwise it is kept for the next :meth:`Producer.flush`, which raises
:class:`DeliveryError` with the failed records (or returns them on request).
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import confluent_kafka
from confluent_kafka import KafkaError, Message

from streamplane.client._config import DEFAULT_PROFILE, application_clients, producer_config
from streamplane.client._contracts import DataContracts, contracts_for
from streamplane.client._errors import ClientError, DeliveryError, DeliveryFailure, SchemaViolation
from streamplane.client._headers import (
    APP_HEADER,
    SCHEMA_ID_HEADER,
    Headers,
    HeadersInput,
    TraceInjector,
    normalise_headers,
)
from streamplane.client._identity import DEFAULT_DATA_DIR, ApplicationScope, resolve_application
from streamplane.client._metrics import ProducerStats
from streamplane.client._schemas import (
    RegistryRef,
    RegistrySettings,
    TopicSchemas,
    registry_client,
    schemas_from_spec,
)
from streamplane.client._serdes import Encoder, RecordSerializer
from streamplane.client._telemetry import Telemetry
from streamplane.client._telemetry import error_log_level as _level

if TYPE_CHECKING:
    from pathlib import Path

    from streamplane.kafka import ConnectionSettings
    from streamplane.model import Spec

logger = logging.getLogger(__name__)

DeliveryCallback = Callable[[KafkaError | None, Message], None]

#: produce() serves delivery reports (poll(0)) once per this many records.
POLL_EVERY = 8


class Producer:
    """Produces records under a client profile, with schemas, lineage headers and metrics.

    ``Producer(connection=..., app_id="card-gateway", profile="zero_loss")`` builds one
    explicitly; :meth:`for_application` builds one for an application of the spec, with its
    identity, profile, overrides and topic schemas. Use it as a context manager, or call
    :meth:`flush` before exiting: records still in flight at exit are lost otherwise.

    ``scope`` (set by :meth:`for_application`) holds the producer to the topics the spec
    lets the application write: any other topic raises ClientError before it is sent.
    """

    def __init__(
        self,
        *,
        connection: ConnectionSettings,
        app_id: str,
        profile: str = DEFAULT_PROFILE,
        config: Mapping[str, Any] | None = None,
        schemas: Mapping[str, TopicSchemas] | None = None,
        registry: RegistryRef | None = None,
        telemetry: Telemetry | None = None,
        on_delivery_error: Callable[[DeliveryFailure], None] | None = None,
        client_id: str | None = None,
        queue_full_timeout_s: float = 30.0,
        contracts: DataContracts | None = None,
        scope: ApplicationScope | None = None,
    ) -> None:
        self.app_id = app_id
        self.profile = profile
        self.scope = scope
        self.config = producer_config(
            profile=profile, connection=connection, app_id=app_id, client_id=client_id,
            overrides=config,
        )  # fmt: skip
        telemetry = telemetry if telemetry is not None else Telemetry()
        self._stats: ProducerStats | None = (
            telemetry.metrics.producer(app=app_id, client_id=str(self.config["client.id"]))
            if telemetry.metrics is not None
            else None
        )
        auto_register = not isinstance(registry, RegistrySettings) or registry.auto_register
        # contracts: rule config (KMS secrets) for topics whose schemas carry rules.
        self._serializer = RecordSerializer(
            schemas or {}, registry_client(registry), auto_register=auto_register,
            schema_header=SCHEMA_ID_HEADER, contracts=contracts,
        )  # fmt: skip
        self._value_encoders: dict[str, Encoder] = {}
        self._on_delivery_error = on_delivery_error
        self._failures: list[DeliveryFailure] = []
        self._closed = False
        self._queue_full_timeout_s = queue_full_timeout_s
        self._trace = TraceInjector()
        self._app_header = (APP_HEADER, app_id.encode())
        self._header_cache: tuple[object, object, Headers] = (None, None, [])
        native = dict(self.config)
        self._on_delivered = self._delivery_callback()
        native["on_delivery"] = self._on_delivered
        native["error_cb"] = self._kafka_error
        self._producer = confluent_kafka.Producer(native)
        self._produce = self._producer.produce
        self._poll = self._producer.poll
        #: produce() calls since delivery reports were last served (see produce()).
        self._unpolled = 0

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
        on_delivery_error: Callable[[DeliveryFailure], None] | None = None,
        protobuf_types: Mapping[str, type[Any]] | None = None,
        contracts: DataContracts | None = None,
        cluster: str | None = None,
        data_dir: Path | str = DEFAULT_DATA_DIR,
    ) -> Producer:
        """A producer for application ``app`` of the spec, connected as the application.

        Identity, first match wins: ``connection`` with a user name, as given; else the
        application's principal with its password from the spec's ``password:`` (env or
        file), else on the local cluster ``<data_dir>/secrets/<principal>`` (written by
        ``streamplane apply``). The cluster is ``cluster``, else the tenant's only (or
        local) one; its address comes from ``connection`` when that has no user name, else
        from the spec's cluster entry, or for the local cluster from ``data_dir``. The
        registry is ``registry``, else the cluster's ``schema_registry``, else the local
        one ``streamplane up`` runs, with the same credentials. No admin credentials are
        needed.

        Only the topics of the application's ``produces`` (and ``acl_exceptions`` that
        grant its principal WRITE) may be written: any other raises ClientError naming
        the spec entry before anything is sent, whatever the credentials.

        Its profile and producer overrides come from the spec, then ``config`` on top; a
        setting that breaks the profile's guarantee (acks=1 for a zero_loss application)
        raises ProfileError. Topic schemas come from the spec, so a value that does not
        match its topic's declared schema is refused before it is sent.

        Topics whose schemas carry a data contract are written with confluent-kafka's rule
        engine (fields encrypted, CEL conditions enforced); ``contracts`` gives the KMS
        settings, by default ``DataContracts.from_spec`` (environment and local files).
        """
        clients = application_clients(spec, app)
        resolved = resolve_application(
            spec, app, connection=connection, registry=registry, cluster=cluster,
            data_dir=data_dir,
        )  # fmt: skip
        schemas = schemas_from_spec(spec, protobuf_types=protobuf_types)
        return cls(
            connection=resolved.connection,
            app_id=clients.app_id,
            profile=clients.profile,
            config={**clients.producer_overrides, **(config or {})},
            schemas=schemas,
            registry=resolved.registry,
            telemetry=telemetry,
            on_delivery_error=on_delivery_error,
            client_id=clients.client_id,
            contracts=contracts_for(
                spec, schemas, clients.produces, contracts, data_dir=resolved.data_dir
            ),
            scope=resolved.scope,
        )

    # ------------------------------------------------------------------ producing
    def produce(
        self,
        topic: str,
        value: Any,
        *,
        key: Any = None,
        headers: HeadersInput | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Encode and enqueue one record; raises SchemaViolation before sending a bad value.

        Delivery is asynchronous: its outcome reaches ``on_delivery`` (this record only),
        the producer's ``on_delivery_error`` or the next :meth:`flush`.
        """
        encoder = self._value_encoders.get(topic)
        if encoder is None:
            # First record of this topic: the spec must list it for the application (checked
            # once per topic, since a refused topic never gets an encoder).
            if self.scope is not None and not self.scope.may_produce(topic):
                if self._stats is not None:
                    self._stats.error("unlisted_topic")
                self.scope.require_produce(topic)
            encoder = self._value_encoders[topic] = self._serializer.value_encoder(topic)
        try:
            data = encoder.encode(value)
            key_bytes = None if key is None else self._serializer.key_encoder(topic).encode(key)
        except SchemaViolation:
            if self._stats is not None:
                self._stats.error("serialization")
            raise
        # The lineage headers change only with the trace context or the schema id, so the
        # list handed to librdkafka is rebuilt only then (confluent-kafka copies it).
        trace_headers = self._trace.headers()
        schema_header = encoder.schema_header
        cached = self._header_cache
        if cached[0] is trace_headers and cached[1] is schema_header:
            record_headers = cached[2]
        else:
            record_headers = [*trace_headers, self._app_header]
            if schema_header is not None:
                record_headers.append(schema_header)
            self._header_cache = (trace_headers, schema_header, record_headers)
        if headers:
            record_headers = record_headers + normalise_headers(headers)
        if partition is None and timestamp_ms is None and on_delivery is None:
            try:
                self._produce(topic, data, key_bytes, headers=record_headers)
            except BufferError:
                self._produce_when_room(topic, data, key_bytes, {"headers": record_headers})
        else:
            kwargs: dict[str, Any] = {"headers": record_headers}
            if partition is not None:
                kwargs["partition"] = partition
            if timestamp_ms is not None:
                kwargs["timestamp"] = timestamp_ms
            if on_delivery is not None:
                kwargs["on_delivery"] = self._chained(on_delivery)
            try:
                self._produce(topic, data, key_bytes, **kwargs)
            except BufferError:
                self._produce_when_room(topic, data, key_bytes, kwargs)
        # Serve delivery reports as we go, so failures surface early and the queue drains;
        # every POLL_EVERY records, since each poll releases and retakes the GIL, and a
        # full queue or flush() serves them anyway.
        self._unpolled += 1
        if self._unpolled >= POLL_EVERY:
            self._unpolled = 0
            self._poll(0)

    def _produce_when_room(
        self, topic: str, data: bytes | None, key: bytes | None, kwargs: dict[str, Any]
    ) -> None:
        """Back-pressure: the local queue is full, wait for deliveries to make room."""
        deadline = time.monotonic() + self._queue_full_timeout_s
        while True:
            self._poll(0.05)
            try:
                self._produce(topic, data, key, **kwargs)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    if self._stats is not None:
                        self._stats.error("queue_full")
                    raise ClientError(
                        f"the producer queue of {self.app_id} stayed full for "
                        f"{self._queue_full_timeout_s:.0f}s: the cluster accepts records more "
                        "slowly than they are produced, or is unreachable"
                    ) from None

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery reports; the number served."""
        return self._poll(timeout_s)

    def flush(
        self, timeout_s: float = 60.0, *, raise_on_failure: bool = True
    ) -> list[DeliveryFailure]:
        """Wait until every record is acknowledged or failed; report the failures.

        Raises DeliveryError when records are still in flight after ``timeout_s`` (they
        stay queued; flush again), or when some failed since the last flush and
        ``raise_on_failure`` is set; otherwise returns those failures. Failures handed to
        ``on_delivery_error`` are not reported again here.
        """
        pending = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        if pending:
            raise DeliveryError(
                f"{pending} records of {self.app_id} are still in flight after "
                f"{timeout_s:g}s; they stay queued, flush again"
                + (f" ({len(failures)} others failed)" if failures else ""),
                failures=failures,
                pending=pending,
            )
        if failures and raise_on_failure:
            raise DeliveryError(_describe(failures), failures=failures)
        return failures

    def close(self, timeout_s: float = 60.0, *, raise_on_failure: bool = True) -> None:
        """Flush (reporting failures as :meth:`flush` does), then release the client."""
        if self._closed:
            return
        try:
            self.flush(timeout_s, raise_on_failure=raise_on_failure)
        finally:
            self._closed = True
            self._producer.close()
            self._serializer.close()

    def __len__(self) -> int:
        """Records waiting in librdkafka's queue or in flight."""
        return len(self._producer)

    def __enter__(self) -> Producer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Do not let a delivery failure mask an exception already in flight.
        self.close(raise_on_failure=exc is None)

    # ------------------------------------------------------------------ callbacks
    def _delivery_callback(self) -> DeliveryCallback:
        """The delivery report callback librdkafka runs for every record (from poll/flush).

        It runs once per record, so it is a closure over the stats block instead of a
        method reaching through ``self``: acknowledged records and bytes per topic, and
        the delivery latency librdkafka measured, into the histogram's buckets.
        """
        failed = self._failed
        stats = self._stats
        if stats is None:

            def report_failures(err: KafkaError | None, msg: Message) -> None:
                if err is not None:
                    failed(err, msg)

            return report_failures
        produced = stats.produced
        histogram = stats.delivery_latency
        bounds, counts = histogram.bounds, histogram.counts

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                failed(err, msg)
                return
            topic = msg.topic()
            entry = produced.get(topic)  # type: ignore[arg-type]
            if entry is None:
                entry = produced[topic or ""] = [0, 0]
            entry[0] += 1
            key = msg.key()
            entry[1] += len(msg) + (len(key) if key else 0)
            latency = msg.latency()
            if latency is not None:
                counts[bisect_left(bounds, latency)] += 1
                histogram.total += latency
                histogram.count += 1

        return delivered

    def _chained(self, user: DeliveryCallback) -> DeliveryCallback:
        def both(err: KafkaError | None, msg: Message) -> None:
            self._on_delivered(err, msg)
            user(err, msg)

        return both

    def _failed(self, err: KafkaError, msg: Message) -> None:
        failure = DeliveryFailure(
            topic=msg.topic() or "",
            partition=msg.partition(),
            key=msg.key(),
            value=msg.value(),
            error=err,
        )
        if self._stats is not None:
            self._stats.error("delivery")
        logger.error(
            "delivery failed: %s",
            failure.reason,
            extra={"app": self.app_id, "topic": failure.topic, "error_code": err.name()},
        )
        if self._on_delivery_error is not None:
            self._on_delivery_error(failure)
        else:
            self._failures.append(failure)

    def _kafka_error(self, err: KafkaError) -> None:
        if self._stats is not None:
            self._stats.error("kafka")
        logger.log(
            _level(err),
            "kafka client error: %s",
            err.str(),
            extra={"app": self.app_id, "error_code": err.name()},
        )


def _describe(failures: list[DeliveryFailure]) -> str:
    by_reason: dict[str, int] = {}
    for failure in failures:
        key = f"{failure.topic}: {failure.reason}"
        by_reason[key] = by_reason.get(key, 0) + 1
    lines = [f"  {count} x {reason}" for reason, count in by_reason.items()]
    return f"{len(failures)} records were not delivered:\n" + "\n".join(lines)
