"""Trace context in and out of record headers, cached per context without going stale."""

from __future__ import annotations

from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider

from streamplane.client._headers import (
    TraceExtractor,
    TraceInjector,
    header_text,
    header_value,
    normalise_headers,
)

TRACER = TracerProvider().get_tracer("test")


def test_no_current_span_means_no_trace_headers() -> None:
    assert TraceInjector().headers() == []


def test_injected_traceparent_names_the_current_span_and_follows_it() -> None:
    injector = TraceInjector()
    with TRACER.start_as_current_span("outer") as outer:
        first = injector.headers()
        assert injector.headers() is first  # same context: cached
        ctx = outer.get_span_context()
        traceparent = header_text(first, "traceparent")
        assert traceparent is not None
        assert traceparent.startswith(f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-")
        with TRACER.start_as_current_span("inner") as inner:
            inside = header_text(injector.headers(), "traceparent")
            assert inside is not None and f"-{inner.get_span_context().span_id:016x}-" in inside
        assert header_text(injector.headers(), "traceparent") == traceparent
    assert injector.headers() == []


def test_extracted_context_is_the_producers_span() -> None:
    with TRACER.start_as_current_span("produce") as span:
        headers = [*TraceInjector().headers(), ("other", b"x")]
    extracted = TraceExtractor().context(headers)
    assert extracted is not None
    parent = trace.get_current_span(extracted).get_span_context()
    assert parent.trace_id == span.get_span_context().trace_id
    assert parent.span_id == span.get_span_context().span_id
    assert parent.is_remote


def test_extraction_is_reused_for_identical_headers_and_redone_for_new_ones() -> None:
    extractor = TraceExtractor()
    a = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    b = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01")]
    first = extractor.context(a)
    assert extractor.context(list(a)) is first
    second = extractor.context(b)
    assert second is not first
    assert trace.get_current_span(second).get_span_context().span_id == 0x00F067AA0BA902B7
    assert extractor.context([("x", b"1")]) is None and extractor.context(None) is None


def test_header_helpers() -> None:
    headers = [*normalise_headers({"a": "1", "b": b"2"}), ("a", b"3"), ("n", None)]
    assert headers[:2] == [("a", b"1"), ("b", b"2")]
    assert header_value(headers, "a") == b"3"  # the last one wins
    assert header_value(headers, "n") is None and header_text(headers, "zz") is None
    assert normalise_headers([("k", "v")]) == [("k", b"v")]


def test_context_identity_cache_survives_detach() -> None:
    injector = TraceInjector()
    with TRACER.start_as_current_span("s"):
        inside = injector.headers()
    token = context.attach(context.get_current())
    try:
        assert injector.headers() == [] and inside != []
    finally:
        context.detach(token)
