"""Read the audit trail back: who did what, when; and the formats SIEMs ingest.

The trail is the ``_streamplane_audit`` topic (Kafka is the system of record). A query
seeks to the first offset at or after ``--since`` (``offsets_for_times``) and reads to the
end with ``read_committed``, so a batch the shipper did not commit is never shown; events
are deduplicated by id on the way.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import TopicPartition

from streamplane.kafka import ConnectionSettings
from streamplane.security.audit._record import AuditRecord, from_registry
from streamplane.security.audit._shipper import AUDIT_TOPIC, committed_reader, read_to_end


@dataclass(frozen=True)
class AuditFilter:
    principal: str | None = None
    resource: str | None = None
    denied: bool = False
    source: str | None = None
    since_ms: int | None = None

    def matches(self, record: AuditRecord) -> bool:
        if self.principal is not None and record.principal not in (
            self.principal,
            f"User:{self.principal}",
        ):
            return False
        if self.resource is not None and self.resource not in (record.resource_name or ""):
            return False
        if self.denied and record.decision != "denied":
            return False
        return self.source is None or record.source.startswith(self.source)


def read_trail(
    settings: ConnectionSettings, where: AuditFilter, *, timeout_s: float = 30.0
) -> Iterator[AuditRecord]:
    """Every committed event matching ``where``, oldest first, each id once."""
    consumer = committed_reader(settings, f"_streamplane-audit-query-{uuid.uuid4().hex}")
    seen: set[str] = set()
    try:
        metadata = consumer.list_topics(AUDIT_TOPIC, timeout=timeout_s).topics.get(AUDIT_TOPIC)
        if metadata is None or metadata.error is not None:
            return
        partitions = [TopicPartition(AUDIT_TOPIC, p, 0) for p in metadata.partitions]
        if where.since_ms is not None:
            asked = [TopicPartition(AUDIT_TOPIC, p.partition, where.since_ms) for p in partitions]
            partitions = consumer.offsets_for_times(asked, timeout=timeout_s)
        live = [p for p in partitions if p.offset >= 0]
        if not live:
            return
        try:
            for msg in read_to_end(consumer, live, timeout_s=timeout_s):
                record = _record(msg.value() or b"{}", msg.offset() or 0)
                if record is None or record.id in seen:
                    continue
                seen.add(record.id)
                if where.matches(record):
                    yield record
        except TimeoutError:
            return  # what was read by then
    finally:
        consumer.close()


def _record(value: bytes, offset: int) -> AuditRecord | None:
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if "source" in data and "decision" in data and "id" in data:
        return AuditRecord.from_json(data)
    if "action" in data and "at" in data:
        return from_registry(data, topic_offset=offset)
    return None


# ------------------------------------------------------------------ exports
def as_cloudevent(record: AuditRecord) -> dict[str, Any]:
    """CloudEvents 1.0 (JSON format), the envelope Confluent's audit logs use too."""
    kind = {"apply": "change", "registry": "registry"}.get(record.source, "authorization")
    return {
        "specversion": "1.0",
        "id": record.id,
        "source": f"streamplane://{record.source}",
        "type": f"io.streamplane.audit.{kind}",
        "time": record.time,
        "subject": f"{record.resource_type}:{record.resource_name}",
        "datacontenttype": "application/json",
        "data": asdict(record),
    }


def _cef_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n").replace("\r", "\\r")


def as_cef(record: AuditRecord) -> str:
    """ArcSight Common Event Format: pipes escaped in the header, = and \\ in extensions."""
    severity = {"denied": 7, "unknown": 5}.get(record.decision, 3)
    name = f"{record.operation} {record.decision}"
    extensions = {
        "rt": record.time,
        "suser": record.principal or "",
        "src": record.client or "",
        "act": record.operation,
        "outcome": record.decision,
        "cs1Label": "resource",
        "cs1": f"{record.resource_type}:{record.pattern_type}:{record.resource_name}",
        "cs2Label": "rule",
        "cs2": record.acl or "",
        "cs3Label": "request",
        "cs3": record.request or record.change or "",
        "externalId": record.id,
    }
    header = "|".join(
        _cef_header(part)
        for part in ("Streamplane", "Kafka", "1", record.source, name, str(severity))
    )
    body = " ".join(f"{k}={_cef_value(v)}" for k, v in extensions.items() if v)
    return f"CEF:0|{header}|{body}"
