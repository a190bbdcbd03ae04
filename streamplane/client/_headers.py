"""Record headers the SDK writes and reads: trace context, producing app, schema id.

Together they are the raw material for lineage: who wrote a record (``streamplane-app``),
with which schema (``streamplane-schema-id``), as part of which trace (W3C
``traceparent``/``tracestate``, through OpenTelemetry's configured propagator, so a
deployment that adds baggage or another format gets it too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from confluent_kafka import Message
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.context import Context

APP_HEADER = "streamplane-app"
SCHEMA_ID_HEADER = "streamplane-schema-id"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"

#: Headers as confluent-kafka takes and returns them: ``(name, bytes)`` pairs, in order
#: (a consumed header may have a None value).
Headers = list[tuple[str, Any]]
#: What an application may pass as headers: a mapping or a list of pairs; str or bytes values.
HeadersInput = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]


def normalise_headers(headers: HeadersInput | None) -> Headers:
    """Headers as confluent-kafka takes them: a list of ``(name, bytes)``."""
    if not headers:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(name, value.encode() if isinstance(value, str) else value) for name, value in pairs]


def message_headers(msg: Message) -> Headers:
    """A consumed or delivered message's headers, ``[]`` when it has none."""
    return cast(Headers, msg.headers() or [])


def header_value(headers: Sequence[tuple[str, Any]] | None, name: str) -> bytes | None:
    """The last value of header ``name`` (Kafka allows repeats; the last one wins)."""
    if not headers:
        return None
    found = None
    for key, value in headers:
        if key == name:
            found = value
    return found


def header_text(headers: Sequence[tuple[str, Any]] | None, name: str) -> str | None:
    value = header_value(headers, name)
    return value.decode(errors="replace") if value is not None else None


class TraceInjector:
    """The trace headers for the current OpenTelemetry context, computed once per context.

    Producing thousands of records inside one span is the common case, and running the
    propagator for each costs more than producing the record; a context object never
    changes, so its headers are cached on its identity. The cache is one tuple swapped
    atomically, so producer threads with different contexts stay correct.
    """

    def __init__(self) -> None:
        self._cached: tuple[Context | None, Headers] = (None, [])

    def headers(self) -> Headers:
        current = otel_context.get_current()
        cached = self._cached
        if cached[0] is current:
            return cached[1]
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=current)
        headers = [(name, value.encode()) for name, value in carrier.items()]
        self._cached = (current, headers)
        return headers


class TraceExtractor:
    """The producer's trace context from a record's headers, or None when it has none.

    Only the headers the configured propagator reads are looked at (``traceparent``,
    ``tracestate``, and e.g. ``baggage`` when configured). Records of one batch usually
    share the producer's span, so the last extraction is reused when those bytes repeat.
    """

    def __init__(self) -> None:
        self._fields = frozenset(propagate.get_global_textmap().fields)
        self._cached: tuple[tuple[tuple[str, bytes], ...], Context | None] = ((), None)

    def context(self, headers: Sequence[tuple[str, Any]] | None) -> Context | None:
        if not headers:
            return None
        fields = self._fields
        found = tuple((key, value) for key, value in headers if key in fields)
        if not found:
            return None
        cached = self._cached
        if cached[0] == found:
            return cached[1]
        carrier = {key: value.decode(errors="replace") for key, value in found}
        extracted = propagate.extract(carrier)
        self._cached = (found, extracted)
        return extracted
