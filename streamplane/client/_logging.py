"""Structured logs: one JSON object per line, correlated with the current trace.

The SDK logs through ``logging.getLogger("streamplane.client...")`` with context in
``extra=`` (topic, partition, offset, app...). :class:`JsonLogFormatter` renders any stdlib
record as JSON and adds ``trace_id``/``span_id`` when a span is current, so a log line
can be found from a trace and the other way round.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from opentelemetry import trace

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys() | {"message", "asctime"}
)


class JsonLogFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "trace_id", "span_id", ...extra}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_json_logging(
    level: int | str = logging.INFO,
    *,
    stream: IO[str] | None = None,
    logger: str | None = None,
) -> logging.Handler:
    """Send ``logger`` (default: the root logger) to ``stream`` as JSON lines.

    Returns the handler so a caller (or a test) can remove it again.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    target = logging.getLogger(logger)
    target.addHandler(handler)
    target.setLevel(level)
    return handler
