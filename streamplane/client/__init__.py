"""The standard producer/consumer SDK: profiles, serdes, headers, metrics, DLQ, idempotent sink.

A thin layer over confluent-kafka that gives every application the same golden path::

    from streamplane.client import Consumer, Producer

    producer = Producer.for_application(spec, "card-gateway")  # connects as card-gateway
    with producer:
        producer.produce("payments.card.authorizations", {"id": "a1", ...}, key="card-42")

    consumer = Consumer.for_application(spec, "card-authorizer")
    with consumer:
        consumer.run(handle)  # offsets stored after handle() returns; poison pills parked

Each application connects as itself (its principal, with the password ``apply`` set) and
is held to the topics the spec lists for it, before the broker's ACLs are asked. Clients
are built from a profile (``zero_loss``, ``low_latency``, ``throughput``) whose
guarantee no override may break; values are checked against their topic's declared schema
before they are sent; records carry trace context, producing app and schema id; metrics go
to Prometheus and logs can be JSON lines. Data contracts declared in the spec run through
confluent-kafka's rule engine: PII fields are encrypted, CEL conditions enforced
(``DataContracts`` carries the KMS settings, from the environment, never the spec).
"""

from __future__ import annotations

from streamplane.client._batch import Handler
from streamplane.client._batches import BatchHandler, RecordBatch
from streamplane.client._codec import ApplicationCodec
from streamplane.client._config import DEFAULT_PROFILE, ApplicationClients, application_clients
from streamplane.client._consumer import Consumer
from streamplane.client._contracts import DataContracts
from streamplane.client._deadletter import (
    ATTEMPTS_HEADER,
    ERROR_CLASS_HEADER,
    ERROR_KIND_HEADER,
    ERROR_MESSAGE_HEADER,
    FAILED_APP_HEADER,
    FAILED_AT_HEADER,
    ORIGIN_OFFSET_HEADER,
    ORIGIN_PARTITION_HEADER,
    ORIGIN_TIMESTAMP_HEADER,
    ORIGIN_TOPIC_HEADER,
    REPLAYED_FROM_HEADER,
    RETRY_DELAY_HEADER,
    RETRY_DUE_HEADER,
    DeadLetterOwner,
    DeadLetterPolicy,
    dlq_topic,
    retry_topic,
)
from streamplane.client._errors import (
    ClientError,
    DeadLetterError,
    DeliveryError,
    DeliveryFailure,
    SchemaViolation,
)
from streamplane.client._generic import Decoded, SchemaIdDecoder
from streamplane.client._headers import (
    APP_HEADER,
    SCHEMA_ID_HEADER,
    TRACEPARENT_HEADER,
    TRACESTATE_HEADER,
    Headers,
    header_text,
)
from streamplane.client._identity import (
    ApplicationConnection,
    ApplicationScope,
    application_connection,
)
from streamplane.client._logging import JsonLogFormatter, configure_json_logging
from streamplane.client._metrics import ClientMetrics, consumer_lag
from streamplane.client._offsets import CommitPolicy
from streamplane.client._parked import ParkedRecords, find_parked, named_parked
from streamplane.client._producer import Producer
from streamplane.client._record import Record
from streamplane.client._replay import (
    DeadLetter,
    ReplayResult,
    inspect_dead_letters,
    replay_dead_letters,
)
from streamplane.client._schemas import (
    RegistrySettings,
    TopicSchema,
    TopicSchemas,
    schemas_from_spec,
)
from streamplane.client._telemetry import Telemetry
from streamplane.client.global_table import Bootstrap, GlobalTable
from streamplane.client.sink import (
    BatchSettings,
    IdempotentSink,
    PostgresSinkStore,
    SinkError,
    SinkStore,
    SqliteSinkStore,
)
from streamplane.client.state_store import ChangelogStore, Restore
from streamplane.client.transactional import (
    Output,
    TransactionalProcessor,
    TransactionError,
    TransactionFencedError,
    TransactionListener,
    TransactionSettings,
)
from streamplane.kafka import ProfileError

__all__ = [
    "APP_HEADER",
    "ATTEMPTS_HEADER",
    "DEFAULT_PROFILE",
    "ERROR_CLASS_HEADER",
    "ERROR_KIND_HEADER",
    "ERROR_MESSAGE_HEADER",
    "FAILED_APP_HEADER",
    "FAILED_AT_HEADER",
    "ORIGIN_OFFSET_HEADER",
    "ORIGIN_PARTITION_HEADER",
    "ORIGIN_TIMESTAMP_HEADER",
    "ORIGIN_TOPIC_HEADER",
    "REPLAYED_FROM_HEADER",
    "RETRY_DELAY_HEADER",
    "RETRY_DUE_HEADER",
    "SCHEMA_ID_HEADER",
    "TRACEPARENT_HEADER",
    "TRACESTATE_HEADER",
    "ApplicationClients",
    "ApplicationCodec",
    "ApplicationConnection",
    "ApplicationScope",
    "BatchHandler",
    "BatchSettings",
    "Bootstrap",
    "ChangelogStore",
    "ClientError",
    "ClientMetrics",
    "CommitPolicy",
    "Consumer",
    "DataContracts",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterOwner",
    "DeadLetterPolicy",
    "Decoded",
    "DeliveryError",
    "DeliveryFailure",
    "GlobalTable",
    "Handler",
    "Headers",
    "IdempotentSink",
    "JsonLogFormatter",
    "Output",
    "ParkedRecords",
    "PostgresSinkStore",
    "Producer",
    "ProfileError",
    "Record",
    "RecordBatch",
    "RegistrySettings",
    "ReplayResult",
    "Restore",
    "SchemaIdDecoder",
    "SchemaViolation",
    "SinkError",
    "SinkStore",
    "SqliteSinkStore",
    "Telemetry",
    "TopicSchema",
    "TopicSchemas",
    "TransactionError",
    "TransactionFencedError",
    "TransactionListener",
    "TransactionSettings",
    "TransactionalProcessor",
    "application_clients",
    "application_connection",
    "configure_json_logging",
    "consumer_lag",
    "dlq_topic",
    "find_parked",
    "header_text",
    "inspect_dead_letters",
    "named_parked",
    "replay_dead_letters",
    "retry_topic",
    "schemas_from_spec",
]
