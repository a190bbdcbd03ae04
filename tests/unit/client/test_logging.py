"""JSON log lines with trace correlation and the caller's extra fields."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from streamplane.client import configure_json_logging


def test_one_json_object_per_line_with_trace_ids_inside_a_span() -> None:
    stream = io.StringIO()
    handler = configure_json_logging(logging.INFO, stream=stream, logger="test.client.json")
    log = logging.getLogger("test.client.json")
    try:
        log.info("outside", extra={"topic": "orders", "partition": 2})
        with TracerProvider().get_tracer("t").start_as_current_span("work") as span:
            log.warning("inside %s", "a span")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    first, second, third = lines
    assert first["message"] == "outside" and first["level"] == "info"
    assert (first["topic"], first["partition"]) == ("orders", 2)
    assert "trace_id" not in first and first["logger"] == "test.client.json"
    ctx = span.get_span_context()
    assert second["message"] == "inside a span"
    assert (
        second["trace_id"] == f"{ctx.trace_id:032x}" and second["span_id"] == f"{ctx.span_id:016x}"
    )
    assert "ValueError: boom" in third["exception"]
