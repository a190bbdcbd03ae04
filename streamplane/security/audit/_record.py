"""One audit event shape for every source: the brokers' authorizer, the registry, apply.

The brokers write each authorization decision as a log line (``kafka.authorizer.logger``:
allowed at DEBUG, denied at INFO, and at TRACE a denial that only hides a resource from
a listing); the registry writes its own JSON events; apply writes one per change. Queries
and exports read them as :class:`AuditRecord` whatever their source.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

#: A denial the authorizer logs at TRACE: the resource was left out of a listing (e.g. a
#: metadata request for all topics), not a refused request.
HIDDEN = "hidden"

_LINE = re.compile(
    r"^\[(?P<time>[^\]]+)\] (?P<level>[A-Z]+) Principal = (?P<principal>.*?) is "
    r"(?P<decision>Allowed|Denied) operation = (?P<operation>\S+) from host = (?P<host>\S+) "
    r"on resource = (?P<rtype>[A-Za-z]+):(?P<pattern>[A-Z]+):(?P<name>.*?) for request = "
    r"(?P<request>\S+) with resourceRefCount = \d+ based on rule (?P<rule>.*?)"
    r"(?: \(kafka\.authorizer\.logger\))?$"
)


@dataclass(frozen=True)
class AuditRecord:
    """Who did what to which resource, when, from where, and the verdict."""

    id: str
    time: str
    source: str
    principal: str | None
    client: str | None
    operation: str
    resource_type: str | None
    resource_name: str | None
    pattern_type: str | None
    #: "allowed", "denied", "hidden" (left out of a listing) or "unknown" (unparsable)
    decision: str
    #: The rule that decided: an ACL, "SuperUser", "DefaultDeny" ...
    acl: str | None = None
    request: str | None = None
    #: Platform events: what changed.
    change: str | None = None
    #: A line the parser did not understand, shipped as is rather than dropped.
    raw: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


#: A refused authentication, which the brokers' Selector logs (routed into the same file by
#: the node's log4j2 configuration): no principal is known, only the client's address.
_AUTH_FAILURE = re.compile(
    r"^\[(?P<time>[^\]]+)\] [A-Z]+ (?:\[[^\]]*\] )?Failed authentication with /?(?P<host>\S+) "
    r"\(channelId=(?P<channel>[^)]*)\) \((?P<reason>.*?)\)"
    r"(?: \(org\.apache\.kafka\.common\.network\.Selector\))?$"
)
#: The operation of an authentication failure, beside Kafka's own (READ, WRITE...).
AUTHENTICATE = "AUTHENTICATE"


def event_id(*parts: object) -> str:
    """A stable id from where an event came from: the same line always gets the same id."""
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:24]


def parse_authorizer_line(line: str, *, source: str, id: str) -> AuditRecord:
    """A broker's authorizer log line as a record (``decision="unknown"`` if unparsable)."""
    match = _LINE.match(line.rstrip("\n"))
    if match is None and (failed := _AUTH_FAILURE.match(line.rstrip("\n"))) is not None:
        listener = failed["channel"].split("-")[0]
        return AuditRecord(
            id=id,
            time=_log_time(failed["time"]),
            source=source,
            principal=None,
            client=failed["host"],
            operation=AUTHENTICATE,
            resource_type="Listener",
            resource_name=listener,
            pattern_type=None,
            decision="denied",
            request=failed["reason"],
        )
    if match is None:
        return AuditRecord(
            id, _now_iso(), source, None, None, "unknown", None, None, None, "unknown",
            raw=line.rstrip("\n"),
        )  # fmt: skip
    decision = match["decision"].lower()
    if decision == "denied" and match["level"] == "TRACE":
        decision = HIDDEN
    return AuditRecord(
        id=id,
        time=_log_time(match["time"]),
        source=source,
        principal=match["principal"],
        client=match["host"],
        operation=match["operation"],
        resource_type=match["rtype"],
        resource_name=match["name"],
        pattern_type=match["pattern"],
        decision=decision,
        acl=match["rule"],
        request=match["request"],
    )


def from_registry(data: dict[str, Any], *, topic_offset: int) -> AuditRecord:
    """A schema registry event (``streamplane.registry._audit.AuditEvent``) as a record."""
    subject = data.get("subject")
    return AuditRecord(
        id=event_id("registry", data.get("instance"), data.get("at"), topic_offset),
        time=str(data.get("at")),
        source="registry",
        principal=f"User:{data['principal']}" if data.get("principal") else None,
        client=data.get("client"),
        operation=str(data.get("action")),
        resource_type="Subject" if subject else "Registry",
        resource_name=subject or data.get("path"),
        pattern_type="LITERAL",
        decision=str(data.get("decision")),
        request=f"{data.get('method')} {data.get('path')} -> {data.get('status')}",
    )


def _log_time(text: str) -> str:
    """Log4j's ``2026-12-05 04:40:45,217`` (the broker's local time) as ISO 8601."""
    try:
        return (
            datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")
            .astimezone()
            .isoformat(timespec="milliseconds")
        )
    except ValueError:
        return text


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")
