"""Platform events: every change ``apply`` makes, in the same trail as the brokers' decisions.

An operator asking "who granted this?" finds the ACL's creation by ``apply`` (and by whom)
beside the requests it then allowed. Events are produced idempotently with acks=all after
the changes are made; failing to record one is logged, never a failed apply (the change
happened; the cluster is the truth, the trail is its history).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaException, Producer

from streamplane.kafka import ConnectionSettings
from streamplane.security.audit._record import AuditRecord, event_id
from streamplane.security.audit._shipper import AUDIT_TOPIC, ensure_audit_topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """One applied change: e.g. ("create", "acl", "User:a WRITE topic t", "payments", why)."""

    op: str
    kind: str
    resource: str
    tenant: str | None
    summary: str


def record_changes(
    settings: ConnectionSettings,
    changes: Iterable[Change],
    *,
    principal: str | None,
    source: str = "apply",
) -> int:
    """Produce one event per change; how many were delivered. ``source`` names the command
    that made them (``apply``, ``gdpr``)."""
    listed = list(changes)
    if not listed:
        return 0
    run = f"{time.time_ns()}-{socket.gethostname()}"
    try:
        try:
            ensure_audit_topic(settings)
        except Exception as exc:  # noqa: BLE001 - the topic is there but the controller is not
            # A broker or the controller may be down (an alert fires then): the events
            # still go to the topic, which exists unless this is the cluster's first event.
            log.warning(
                "could not check %s before recording (%r); recording anyway", AUDIT_TOPIC, exc
            )
        producer = Producer(
            settings.librdkafka(**{"acks": "all", "enable.idempotence": True, "log_level": 3})
        )
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        for n, change in enumerate(listed):
            record = AuditRecord(
                id=event_id(source, run, n),
                time=now,
                source=source,
                principal=f"User:{principal}" if principal else None,
                client=socket.gethostname(),
                operation=f"{change.op} {change.kind}",
                resource_type=change.kind,
                resource_name=change.resource,
                pattern_type=None,
                decision="allowed",
                change=f"{change.summary} (tenant {change.tenant})"
                if change.tenant
                else change.summary,
            )
            producer.produce(AUDIT_TOPIC, key=record.id.encode(), value=record.to_json().encode())
        left = producer.flush(15)
    except KafkaException as exc:
        log.warning("%s's changes were not recorded in %s: %s", source, AUDIT_TOPIC, exc)
        return 0
    if left:
        log.warning("%d of %s's audit events were not delivered to %s", left, source, AUDIT_TOPIC)
    return len(listed) - left
