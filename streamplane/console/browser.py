"""The message browser: a topic's newest records, read as the viewer and never more.

Three gates, each the platform's own:

1. **The broker.** Records are read with the viewer's own credentials (their SCRAM
   password or their token), by an assigned consumer that never joins a group (so it
   needs no group ACL and moves no one's offsets). A topic the viewer's Kafka clients may
   not read is refused by the broker, and the page says so.
2. **The keys.** Encrypted fields (ENCRYPT and ENCRYPT_PER_SUBJECT rules) are decrypted
   through the registry *as the viewer*: the DEK registry gives a data key only to the
   subject's readers, and a forgotten data subject reads as the forgotten marker. When the
   viewer's key access does not reach a key, the record is shown with its encrypted
   fields as ``[encrypted]`` rather than not at all, and never as plain text.
3. **The tags.** Fields the schema tags (PII, CARD...) are masked for every viewer outside
   the topic's own tenant, super users included: a platform administrator operates the
   cluster but does not read customers' data in a browser. ``last4`` masks keep the last
   four digits, as the topic's masked twin does; every other tag is hidden. A masked
   twin's records are already masked, and are shown as they are.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

from streamplane.client._contracts import contracts_for
from streamplane.client._schemas import RegistrySettings, schemas_from_spec
from streamplane.client._serdes import RecordDeserializer
from streamplane.console.access import Viewer
from streamplane.console.sessions import Session
from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec
from streamplane.model._masking import masked_fields
from streamplane.model._schema_contract import field_tags
from streamplane.model._spec import TopicEntry

HIDDEN = "[hidden: {tags}]"
ENCRYPTED = "[encrypted]"


class BrowseDenied(Exception):
    """The broker refused the viewer this topic."""


class BrowseError(ValueError):
    """A request the topic cannot answer (a partition it does not have)."""


@dataclass(frozen=True)
class Masking:
    """Which top-level fields of a topic's values a viewer sees masked, and how."""

    fields: dict[str, str]
    #: field -> its tags, for the hidden marker
    tags: dict[str, set[str]]

    def apply(self, value: Any) -> Any:
        if not isinstance(value, dict) or not self.fields:
            return value
        shown = dict(value)
        for name, mask in self.fields.items():
            if name not in shown or shown[name] is None:
                continue
            if mask == "last4" and isinstance(shown[name], str):
                digits = "".join(c for c in shown[name] if c.isdigit())
                shown[name] = "*" * max(0, len(digits) - 4) + digits[-4:]
            else:
                shown[name] = HIDDEN.format(tags=",".join(sorted(self.tags.get(name, ()))))
        return shown


def masking_for(spec: Spec, entry: TopicEntry | None, viewer: Viewer) -> Masking:
    """What ``viewer`` sees masked on topic ``entry`` (nothing for its own tenant)."""
    if entry is None or entry.path[-1] == "masked_twin":
        return Masking({}, {})
    if viewer.tenant is not None and viewer.tenant == entry.tenant.name:
        return Masking({}, {})
    tags = {
        path.rsplit(".", 1)[-1]: carried
        for path, carried in (field_tags(spec, entry, "value") or {}).items()
        if carried
    }
    declared = masked_fields(spec, entry)
    return Masking({name: declared.get(name, "redact") for name in tags}, tags)


def encrypted_fields(spec: Spec, entry: TopicEntry | None) -> frozenset[str]:
    """Top-level value fields an ENCRYPT rule of the topic's schema covers (by their tags)."""
    if entry is None:
        return frozenset()
    ref = entry.topic.value_schema
    if ref is None or ref.rules is None:
        return frozenset()
    rule_tags = {
        tag for rule in ref.rules.domain if rule.type.startswith("ENCRYPT") for tag in rule.tags
    }
    return frozenset(
        path.rsplit(".", 1)[-1]
        for path, carried in (field_tags(spec, entry, "value") or {}).items()
        if carried & rule_tags
    )


def _shown(value: Any) -> Any:
    """JSON-safe: bytes as base64, everything else as the decoder gave it."""
    if isinstance(value, bytes):
        try:
            text = value.decode()
        except UnicodeDecodeError:
            text = None
        return (
            text
            if text is not None and text.isprintable()
            else ("base64:" + base64.b64encode(value).decode())
        )
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def browse(
    spec: Spec,
    settings: ConnectionSettings,
    session: Session,
    topic: str,
    *,
    registry_url: str | None,
    data_dir: Path | None,
    limit: int = 20,
    partition: int | None = None,
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """The newest ``limit`` records of ``topic`` (of one partition, or spread over all),
    newest first, decoded and masked for the viewer."""
    viewer = session.viewer
    conf = session.kafka_config(settings)
    conf.update({
        "group.id": f"{viewer.namespace or ''}console-browser-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False, "enable.partition.eof": True,
        "isolation.level": "read_committed", "log_level": 0,
    })  # fmt: skip
    consumer = Consumer(conf)
    try:
        ranges = _ranges(consumer, topic, partition, limit, timeout_s)
        records = _read(consumer, topic, ranges, timeout_s)
    finally:
        consumer.close()
    entry = spec.topics.get(topic)
    masking = masking_for(spec, entry, viewer)
    encrypted = encrypted_fields(spec, entry)
    full, plain = _deserializers(spec, session, topic, registry_url, data_dir)
    shown = []
    try:
        for message in sorted(records, key=lambda m: (m.timestamp()[1], m.partition()))[-limit:]:
            shown.append(_decode(message, full, plain, masking, topic, encrypted))
    finally:
        if full is not None:
            full.close()
    return {
        "topic": topic, "masked_fields": sorted(masking.fields),
        "records": shown[::-1], "read_as": viewer.principal,
    }  # fmt: skip


def _ranges(
    consumer: Consumer, topic: str, partition: int | None, limit: int, timeout_s: float
) -> dict[int, tuple[int, int]]:
    """partition -> (first offset to read, end offset): the newest ``limit`` of each."""
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise BrowseDenied(exc.args[0].str()) from exc
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        code = found.error.code() if found is not None and found.error is not None else None
        if code == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            raise BrowseDenied("the broker refused your principal Describe on this topic")
        raise BrowseDenied(str(found.error) if found is not None else "no such topic")
    if partition is not None and partition not in found.partitions:
        raise BrowseError(
            f"{topic} has no partition {partition}: its partitions are 0 to "
            f"{len(found.partitions) - 1}"
        )
    ids = sorted(found.partitions) if partition is None else [partition]
    ranges = {}
    for pid in ids:
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, pid), timeout=timeout_s
            )
        except KafkaException as exc:
            raise BrowseDenied(exc.args[0].str()) from exc
        if high > low:
            ranges[pid] = (max(low, high - limit), high)
    return ranges


def _read(
    consumer: Consumer, topic: str, ranges: dict[int, tuple[int, int]], timeout_s: float
) -> list[Any]:
    if not ranges:
        return []
    consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in ranges.items()])
    pending = set(ranges)
    records = []
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for message in consumer.consume(500, timeout=0.2):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                if error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                    raise BrowseDenied("the broker refused your principal Read on this topic")
                continue
            records.append(message)
            offset, pid = message.offset(), message.partition()
            if offset is not None and pid is not None and offset + 1 >= ranges[pid][1]:
                pending.discard(pid)
    return records


def _deserializers(
    spec: Spec, session: Session, topic: str, registry_url: str | None, data_dir: Path | None
) -> tuple[RecordDeserializer | None, Callable[[bytes], dict[str, Any]] | None]:
    """The topic's decoder with its rules, as the viewer; and, for a topic whose rules
    encrypt, the lake's decoder (writer schema, no rules: encrypted fields stay
    ciphertext) to fall back on when the viewer's key access fails."""
    schemas = schemas_from_spec(spec, [topic])
    if registry_url is None or topic not in schemas:
        return None, None
    if session.mechanism == "scram":
        registry = RegistrySettings(
            registry_url, username=session.viewer.principal, password=session.secret
        ).client()
    else:
        registry = SchemaRegistryClient({
            "url": registry_url, "bearer.auth.credentials.source": "STATIC_TOKEN",
            "bearer.auth.token": session.secret, "bearer.auth.logical.cluster": "streamplane",
            "bearer.auth.identity.pool.id": "streamplane",
        })  # fmt: skip
    contracts = contracts_for(spec, schemas, [topic], None, data_dir=data_dir)
    full = RecordDeserializer(schemas, registry, contracts=contracts)
    # Imported here: the lake's decoder loads pyarrow, which only this fallback needs.
    from streamplane.lake.decode import RecordDecoder

    return full, (RecordDecoder(registry) if contracts is not None else None)


def _decode(
    message: Any,
    full: RecordDeserializer | None,
    plain: Callable[[bytes], dict[str, Any]] | None,
    masking: Masking,
    topic: str,
    encrypted: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "partition": message.partition(), "offset": message.offset(),
        "timestamp_ms": message.timestamp()[1],
        "headers": {k: (v.decode(errors="replace") if v else None)
                    for k, v in (message.headers() or [])},
    }  # fmt: skip
    if full is None:
        shown["key"] = _shown(message.key())
        shown["value"] = masking.apply(_json_or_text(message.value()))
        return shown
    try:
        shown["key"] = _shown(full.key_decoder(topic).decode(message.key()))
        shown["value"] = _shown(masking.apply(full.value_decoder(topic).decode(message.value())))
    except Exception as exc:  # noqa: BLE001 - any rule failure: show what is safe to show
        shown["note"] = f"not decrypted with your key access: {str(exc)[:200]}"
        if plain is None:
            shown["value"] = None
            return shown
        shown["key"] = _shown(message.key())
        try:
            value = masking.apply(plain(message.value()))
        except Exception as failed:  # noqa: BLE001 - e.g. the registry refused the schema
            shown["value"] = None
            shown["note"] += f"; not decoded either: {str(failed)[:200]}"
            return shown
        shown["value"] = _shown({k: (ENCRYPTED if k in encrypted else v) for k, v in value.items()})
    return shown


def _json_or_text(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")
