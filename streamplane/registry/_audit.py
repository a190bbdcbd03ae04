"""The audit trail of registry writes: who changed what, when, from where, and the outcome.

Every write request (register, deletes, config and mode changes, access policy
changes), allowed or denied, becomes one :class:`AuditEvent`, appended as a JSON line
to a local file and produced to the ``_streamplane_audit`` topic, where the
platform's audit pipeline and other instances' events meet. The file line is written
before the response leaves; the Kafka record is produced asynchronously (idempotent,
acks=all, batched for up to 100 ms) so a registration does not wait for a second round
trip, and a failure to deliver it is logged.

Events never carry secrets: the principal's name but not its password, the request
path but no headers, the registered schema's id but not its text.

Each write is recorded once, by the instance that decided its outcome: the writer for
a write it executed (also when another instance forwarded it: ``client`` is then the
forwarding instance and ``forwarded_for`` the address that instance reported), and
the receiving instance for a write it refused itself or could not forward.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streamplane.errors import RegistryError
from streamplane.kafka import ConnectionSettings
from streamplane.registry._log import ensure_topic

log = logging.getLogger(__name__)

AUDIT_TOPIC = "_streamplane_audit"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class AuditEvent:
    at: str
    principal: str | None
    authenticated: bool
    action: str
    method: str
    path: str
    subject: str | None
    version: str | None
    id: int | None
    status: int
    error_code: int | None
    #: "allowed" or "denied" (401/403): the access decision; ``status`` is the outcome
    decision: str
    client: str | None
    forwarded_for: str | None
    instance: str | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)


class AuditTrail:
    """Appends events to ``path`` (if given) and produces them to ``topic`` (if given)."""

    def __init__(
        self,
        *,
        path: Path | None,
        settings: ConnectionSettings | None,
        topic: str = AUDIT_TOPIC,
    ) -> None:
        self.path = path
        self.settings = settings
        self.topic = topic
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._producer: Any = None

    def start(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        if self.settings is not None:
            try:
                ensure_topic(self.settings, self.topic, config={"cleanup.policy": "delete"})
            except RegistryError as exc:
                log.warning("audit topic %s unavailable, events go to the file only: %s",
                            self.topic, exc.message)  # fmt: skip
                return
            self._producer = Producer(self.settings.librdkafka(**{
                # Batched: one produce request per 100 ms, not one per write.
                "acks": "all", "enable.idempotence": True, "linger.ms": 100, "log_level": 3,
            }))  # fmt: skip

    def stop(self) -> None:
        if self._producer is not None:
            left = self._producer.flush(10)
            if left:
                log.warning("%d audit events not delivered to %s", left, self.topic)
            self._producer = None  # destroyed now, not whenever the app is collected
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def record(self, event: AuditEvent) -> None:
        line = event.to_json()
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
        if self._producer is not None:
            try:
                self._producer.produce(
                    self.topic,
                    key=(event.subject or "").encode(),
                    value=line.encode(),
                    on_delivery=self._delivered,
                )
                self._producer.poll(0)  # serve earlier delivery reports
            except (KafkaException, BufferError) as exc:
                log.warning("audit event not produced to %s: %s", self.topic, exc)

    def _delivered(self, err: KafkaError | None, _: Any) -> None:
        if err is not None:
            log.warning("audit event not delivered to %s: %s", self.topic, err.str())
