"""Traces continue from producer to consumer; metrics count what happened; logs carry trace ids."""

from __future__ import annotations

import io
import json
import logging
import time

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from streamplane.client import (
    TRACEPARENT_HEADER,
    Consumer,
    Producer,
    Record,
    configure_json_logging,
)
from tests.integration.client.conftest import Estate
from tests.integration.conftest import next_http_port


def test_the_handler_runs_in_a_span_continuing_the_producers_trace(estate: Estate) -> None:
    topic = estate.topic("placed")
    estate.create(topic)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("checkout-service")
    telemetry = estate.telemetry(tracer_provider=provider)

    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, registry=estate.registry_url,
        telemetry=telemetry,
    ) as producer:  # fmt: skip
        with tracer.start_as_current_span("place order") as placing:
            producer.produce(topic, {"id": "o1", "amount_minor": 5, "currency": "EUR"})
        producer.produce(topic, {"id": "o2", "amount_minor": 6, "currency": "EUR"})  # no trace
    placed = placing.get_span_context()

    stream = io.StringIO()
    handler = configure_json_logging(logging.INFO, stream=stream, logger="test.handler")
    seen: list[tuple[Record, trace.SpanContext]] = []

    def handle(record: Record) -> None:
        seen.append((record, trace.get_current_span().get_span_context()))
        logging.getLogger("test.handler").info("handled", extra={"order": record.value["id"]})

    try:
        with Consumer.for_application(
            estate.spec, "fulfilment", connection=estate.connection,
            registry=estate.registry_url, topics=[topic], telemetry=telemetry,
        ) as consumer:  # fmt: skip
            consumer.run(handle, max_records=2, idle_timeout_s=30)
    finally:
        logging.getLogger("test.handler").removeHandler(handler)

    (first, first_ctx), (second, second_ctx) = seen
    traceparent = first.header(TRACEPARENT_HEADER)
    assert traceparent is not None
    assert traceparent.decode().split("-")[1:3] == [
        f"{placed.trace_id:032x}",
        f"{placed.span_id:016x}",
    ]
    assert first_ctx.trace_id == placed.trace_id  # the same trace ...
    assert first_ctx.span_id != placed.span_id  # ... in a span of the consumer's own
    spans = {s.context.span_id: s for s in exporter.get_finished_spans()}
    consumer_span = spans[first_ctx.span_id]
    assert consumer_span.kind == trace.SpanKind.CONSUMER
    assert consumer_span.parent is not None and consumer_span.parent.span_id == placed.span_id
    assert consumer_span.name == f"{topic} process"
    assert consumer_span.attributes is not None
    assert consumer_span.attributes["messaging.destination.name"] == topic
    assert second.header(TRACEPARENT_HEADER) is None
    assert second_ctx.trace_id != placed.trace_id  # a record without a trace starts its own

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["order"] == "o1" and lines[0]["trace_id"] == f"{placed.trace_id:032x}"
    assert lines[0]["span_id"] == f"{first_ctx.span_id:016x}"


def test_metrics_after_n_records_and_lag_from_librdkafka_statistics(estate: Estate) -> None:
    topic = estate.topic("raw")
    estate.create(topic, partitions=2)
    n = 40
    telemetry = estate.telemetry(statistics_interval_ms=200)
    with Producer.for_application(
        estate.spec, "checkout", connection=estate.connection, telemetry=telemetry
    ) as producer:
        for i in range(n):
            producer.produce(topic, b"x" * 100, key=f"k{i}")
    app = {"app": "checkout", "client_id": f"{estate.prefix}checkout"}
    assert estate.metric("streamplane_client_records_produced_total", **app, topic=topic) == n
    expected_bytes = sum(100 + len(f"k{i}") for i in range(n))
    assert (
        estate.metric("streamplane_client_bytes_produced_total", **app, topic=topic)
        == expected_bytes
    )
    assert estate.metric("streamplane_client_delivery_latency_seconds_count", **app) == n

    group = f"{estate.prefix}auditor"
    consumer = Consumer.for_application(
        estate.spec, "auditor", connection=estate.connection, telemetry=telemetry, commit="sync"
    )
    labels = {"app": "auditor", "client_id": "auditor", "group": group}
    with consumer:
        assert consumer.run(lambda _r: None, max_records=n, idle_timeout_s=30) == n
        # Lag comes with the next statistics after the commit: 0 on both partitions.
        deadline = time.monotonic() + 15
        lags: list[float | None] = []
        while time.monotonic() < deadline:
            consumer.run(lambda _r: None, idle_timeout_s=0.3, poll_timeout_s=0.1)
            lags = [
                estate.metric(
                    "streamplane_client_consumer_lag", **labels, topic=topic, partition=str(p)
                )
                for p in (0, 1)
            ]
            if lags == [0.0, 0.0]:
                break
        assert lags == [0.0, 0.0]
        port = next_http_port()
        assert telemetry.metrics is not None
        telemetry.metrics.serve(port)
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert estate.metric("streamplane_client_records_consumed_total", **labels, topic=topic) == n
    assert (
        estate.metric("streamplane_client_bytes_consumed_total", **labels, topic=topic)
        == expected_bytes
    )
    commits = estate.metric(
        "streamplane_client_commit_latency_seconds_count", **labels, mode="sync"
    )
    assert commits is not None and commits >= 1
    assert (
        f'streamplane_client_records_consumed_total{{app="auditor",client_id="auditor",group="{group}",topic="{topic}"}} 40.0'
        in scraped
    )
    assert "streamplane_client_delivery_latency_seconds_bucket" in scraped
