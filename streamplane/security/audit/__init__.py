"""The audit trail: every authorization decision and platform change, in one Kafka topic.

shipper = Shipper(admin, {1: Path(".streamplane/node1/logs")}, cluster_id="...")
shipper.run(stop_event)                       # `streamplane audit ship`, supervised by up
for event in read_trail(admin, AuditFilter(principal="fraud-scorer", denied=True)):
    print(event.time, event.operation, event.resource_name)
"""

from __future__ import annotations

from streamplane.security.audit._platform import Change, record_changes
from streamplane.security.audit._query import AuditFilter, as_cef, as_cloudevent, read_trail
from streamplane.security.audit._record import (
    HIDDEN,
    AuditRecord,
    event_id,
    from_registry,
    parse_authorizer_line,
)
from streamplane.security.audit._shipper import (
    AUDIT_TOPIC,
    POSITIONS_TOPIC,
    LogTail,
    Position,
    Shipper,
    ensure_audit_topic,
    read_positions,
)

__all__ = [
    "AUDIT_TOPIC",
    "HIDDEN",
    "POSITIONS_TOPIC",
    "AuditFilter",
    "AuditRecord",
    "Change",
    "LogTail",
    "Position",
    "Shipper",
    "as_cef",
    "as_cloudevent",
    "ensure_audit_topic",
    "event_id",
    "from_registry",
    "parse_authorizer_line",
    "read_positions",
    "read_trail",
    "record_changes",
]
