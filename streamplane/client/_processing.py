"""The OpenTelemetry context a consumed record is processed in.

With a tracer provider that records, the handler of a record carrying a ``traceparent``
runs in a CONSUMER span whose parent is the producer's span. Without one, spans would be
no-ops that still cost microseconds per record, so only the producer's context is made
current: whatever the handler produces still continues the producer's trace. A record
without a trace context gets no span: there is no trace to continue, and a span for each
such record would cost more than handling it.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Tracer

from streamplane.client._record import Record


class Processing:
    """Runs a record's processing in the right OpenTelemetry context."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


class Attached(Processing):
    """No span is recorded by anyone: only carry the producer's context, if there is one."""

    def __init__(self, parent: otel_context.Context | None) -> None:
        self._parent = parent
        self._token: object = None

    def __enter__(self) -> None:
        if self._parent is not None:
            self._token = otel_context.attach(self._parent)

    def __exit__(self, *_exc: object) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]


class RecordSpan(Processing):
    """A CONSUMER span continuing the producer's trace, current while the handler runs."""

    def __init__(
        self,
        tracer: Tracer,
        record: Record,
        parent: otel_context.Context | None,
        *,
        group: str,
        app: str,
    ) -> None:
        self._manager = tracer.start_as_current_span(
            f"{record.topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": record.topic,
                "messaging.destination.partition.id": str(record.partition),
                "messaging.kafka.offset": record.offset,
                "messaging.consumer.group.name": group,
                "streamplane.app": app,
            },
        )

    def __enter__(self) -> None:
        self._manager.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._manager.__exit__(*exc)
