"""Where a client reports to: metrics, traces, and how often librdkafka sends statistics."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka import KafkaError
from opentelemetry import trace
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, Tracer, TracerProvider

from streamplane.client._metrics import ClientMetrics

TRACER_NAME = "streamplane.client"


@dataclass(frozen=True)
class Telemetry:
    """Metrics, tracing and statistics settings of one client, grouped.

    ``metrics``: the collector to report to (default: the one shared on prometheus-client's
    global registry; None turns metrics off). ``tracer_provider``: default the global
    OpenTelemetry provider. ``statistics_interval_ms``: librdkafka statistics period, the
    source of consumer lag; 0 turns them off.
    """

    metrics: ClientMetrics | None = field(default_factory=ClientMetrics.shared)
    tracer_provider: TracerProvider | None = None
    statistics_interval_ms: int = 5000

    @classmethod
    def off(cls) -> Telemetry:
        """No metrics and no statistics (traces still follow the global provider)."""
        return cls(metrics=None, statistics_interval_ms=0)

    def tracer(self) -> Tracer:
        return trace.get_tracer(TRACER_NAME, tracer_provider=self.tracer_provider)

    def records_spans(self) -> bool:
        """Whether a span started now could be recorded by anyone.

        Without an SDK tracer provider every span is a no-op, yet creating one still costs
        microseconds per record; the consumer then only carries the producer's context.
        """
        if self.tracer_provider is not None:
            return not isinstance(self.tracer_provider, NoOpTracerProvider)
        provider = trace.get_tracer_provider()
        return not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)


#: Errors librdkafka recovers from by itself (it reconnects): worth a log line, not an alarm.
_TRANSIENT = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE})


def error_log_level(err: KafkaError) -> int:
    """How loudly to log an error librdkafka reports through ``error_cb``."""
    if err.fatal():
        return logging.ERROR
    return logging.INFO if err.code() in _TRANSIENT else logging.WARNING
