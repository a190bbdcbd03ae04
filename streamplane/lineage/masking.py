"""Masked twins: the job that keeps a topic's standard-read copy, exactly once.

The spec's ``masked_twin`` (``streamplane.model._masking``) derives the twin, the vault and
application ``<topic>-masker``; this is that application. It reads the raw topic with the
raw owners' rights (decrypting through the data contract), masks every tagged field as
the spec says per tag, and writes the twin, the vault entries of tokenized values and the
consumed offsets in one Kafka transaction per batch (the SDK's TransactionalProcessor):
a crash never leaves a half-masked batch visible, nor masks a record twice.

A record is never passed on with a field unmasked: one whose tagged field is missing,
malformed for its mask (a card number without four digits) or that cannot be decoded is
parked, as it was written, in the masker's own dead-letter topic, inside the same
transaction, with the reason in its headers.

Masks are deterministic (the HMAC of the value under the twin's secret salt): a batch
re-read after an abort masks to the same bytes, a value maps to the same token on every
record (joins on the twin still work), and the compacted vault keeps one entry per token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from streamplane.client._contracts import DataContracts, contracts_for
from streamplane.client._deadletter import failure_headers
from streamplane.client._headers import APP_HEADER, SCHEMA_ID_HEADER, message_headers
from streamplane.client._identity import resolve_application
from streamplane.client._schemas import registry_client, schemas_from_spec
from streamplane.client._serdes import RecordDeserializer, RecordSerializer
from streamplane.client.transactional import Output, TransactionalProcessor, TransactionSettings
from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.model import DeadLetterOwner, Spec, dlq_topic
from streamplane.model._masking import (
    masked_fields,
    masked_twin_of,
    masker_name,
    subject_rule,
    twin_topic,
    vault_topic,
)
from streamplane.model._spec import TopicEntry
from streamplane.model._types import Secret

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
TOKEN_PREFIX = "tok_"
#: Where the local cluster keeps the masking salt when the spec names none.
SALT_FILE = "secrets/masking-salt"
_CARD = re.compile(r"^[0-9][0-9 -]*$")


class MaskingError(StreamplaneError):
    """A record cannot be masked safely; it is parked, never passed on."""


@dataclass(frozen=True)
class VaultEntry:
    token: str
    field: str
    subject: str
    value: str


@dataclass(frozen=True)
class Masker:
    """The pure part: field -> mask, and the salt of hashes and tokens."""

    masks: Mapping[str, str]
    salt: bytes

    def _digest(self, purpose: bytes, value: str) -> str:
        return hmac.new(self.salt, purpose + value.encode(), hashlib.sha256).hexdigest()

    def token(self, field: str, value: str) -> str:
        return TOKEN_PREFIX + self._digest(b"token:" + field.encode() + b":", value)[:32]

    def mask(
        self, record: Mapping[str, Any], subject: str
    ) -> tuple[dict[str, Any], list[VaultEntry]]:
        """The masked copy of ``record`` and the vault entries its tokens need."""
        masked = dict(record)
        vault: list[VaultEntry] = []
        for name, mask in self.masks.items():
            value = record.get(name)
            if value is None or value == "":
                raise MaskingError(f"field {name} ({mask}) is missing: nothing to mask safely")
            if not isinstance(value, str):
                raise MaskingError(f"field {name} ({mask}) is {type(value).__name__}, not text")
            if mask == "redact":
                masked[name] = REDACTED
            elif mask == "hash":
                masked[name] = self._digest(b"hash:", value)
            elif mask == "last4":
                digits = re.sub(r"[ -]", "", value)
                if not _CARD.match(value) or len(digits) < 4:
                    raise MaskingError(
                        f"field {name} (last4) is not a card number: it needs at least four "
                        "digits and nothing but digits, spaces and dashes"
                    )
                masked[name] = "*" * (len(digits) - 4) + digits[-4:]
            elif mask == "tokenize":
                token = self.token(name, value)
                masked[name] = token
                vault.append(VaultEntry(token, name, subject, value))
            else:
                raise MaskingError(f"unknown mask {mask} for field {name}")
        return masked, vault


def masking_salt(spec: Spec, entry: TopicEntry, data_dir: Path) -> bytes:
    """The twin's salt: the spec's secret (env or file), else the local cluster's file."""
    import os

    twin = entry.topic.masked_twin
    source: Secret | None = twin.salt if twin is not None else None
    if source is not None and source.env is not None:
        value = os.environ.get(source.env)
        if not value:
            raise MaskingError(
                f"the masking salt of {entry.full_name} is the environment variable "
                f"{source.env}, which is not set"
            )
        return value.encode()
    if source is not None:
        return (spec.root / str(source.file)).read_text().strip().encode()
    # The same made-once, 0600 file as the local KMS secret, under another name.
    from streamplane.security.kms.local import local_secret_file

    return local_secret_file(data_dir / SALT_FILE).encode()


@dataclass
class MaskingStats:
    masked: int = 0
    parked: int = 0
    tokens: int = 0
    #: End-to-end latency of masked records (raw append to twin write), in ms.
    latencies_ms: list[float] = field(default_factory=list)


class MaskingJob:
    """Application ``<topic>-masker``: raw topic in, masked twin (and vault) out."""

    def __init__(
        self,
        spec: Spec,
        topic: str,
        *,
        connection: ConnectionSettings | None = None,
        registry: Any = None,
        contracts: DataContracts | None = None,
        data_dir: Path | str = Path(".streamplane"),
        salt: bytes | None = None,
        settings: TransactionSettings | None = None,
        instance: int = 0,
        group: str | None = None,
    ) -> None:
        entry = masked_twin_of(spec, topic)
        if entry is None:
            declared = sorted(e.full_name for e in spec.topics.values() if e.topic.masked_twin)
            raise MaskingError(
                f"topic {topic} has no masked_twin in the spec (topics with one: "
                f"{', '.join(declared) or 'none'}); declare one on it, e.g. "
                "`masked_twin: {masks: {PII: hash}}`"
            )
        self.entry = entry
        twin = entry.topic.masked_twin
        assert twin is not None
        self.raw = entry.full_name
        self.twin = twin_topic(entry)
        self.vault = vault_topic(entry)
        self.app = masker_name(entry.topic)
        app_entry = spec.applications[self.app]
        self.dlq = dlq_topic(DeadLetterOwner.of(app_entry), self.raw)
        resolved = resolve_application(
            spec, self.app, connection=connection, registry=registry, cluster=None,
            data_dir=data_dir,
        )  # fmt: skip
        topics = [self.raw, self.twin] + ([self.vault] if self.vault in spec.topics else [])
        schemas = schemas_from_spec(spec, topics)
        rules = contracts_for(spec, schemas, topics, contracts, data_dir=resolved.data_dir)
        client = registry_client(resolved.registry)
        self._decoder = RecordDeserializer(schemas, client, contracts=rules)
        self._encoder = RecordSerializer(
            schemas, client, auto_register=False, schema_header=SCHEMA_ID_HEADER, contracts=rules
        )
        self.masker = Masker(
            masked_fields(spec, entry),
            salt if salt is not None else masking_salt(spec, entry, resolved.data_dir),
        )
        rule = subject_rule(entry.topic.value_schema)
        self._subject_field = rule.params.get("encrypt.subject.field") if rule else None
        self._app_header = (APP_HEADER, self.app.encode())
        self.stats = MaskingStats()
        self.processor = TransactionalProcessor(
            [self.raw],
            # Another group masks the topic again from its start (benchmarks, a rebuild).
            group=group or app_entry.consumer_group,
            transactional_id=f"{entry.tenant.namespace}{self.app}-{instance}",
            transform=self._transform,
            connection=resolved.connection,
            settings=settings,
            owner=f"masking job {self.app}",
        )

    # ------------------------------------------------------------------ transform
    def _transform(self, messages: list[Message]) -> Iterator[Output]:
        now_ms = time.time() * 1000
        for message in messages:
            try:
                yield from self._mask(message)
            except Exception as exc:  # noqa: BLE001 - any failure parks the record unmasked-free
                self.stats.parked += 1
                yield self._park(message, exc)
                continue
            self.stats.masked += 1
            kind, appended = message.timestamp()
            if kind and appended > 0:
                self.stats.latencies_ms.append(now_ms - appended)

    def _mask(self, message: Message) -> Iterator[Output]:
        record = self._decoder.value_decoder(self.raw).decode(message.value())
        if not isinstance(record, Mapping):
            raise MaskingError("the record is not a record of fields")
        subject = self._subject(record, message)
        masked, vault = self.masker.mask(record, subject)
        outputs = []
        for item in vault:
            encoder = self._encoder.value_encoder(self.vault)
            data = encoder.encode(
                {"token": item.token, "field": item.field, "subject": item.subject,
                 "value": item.value}
            )  # fmt: skip
            outputs.append(Output(self.vault, data, key=item.token, headers=self._headers(encoder)))
        encoder = self._encoder.value_encoder(self.twin)
        data = encoder.encode(masked)
        headers = [
            h for h in message_headers(message) if h[0] not in (APP_HEADER, SCHEMA_ID_HEADER)
        ]
        outputs.append(
            Output(self.twin, data, key=message.key(), headers=[*headers, *self._headers(encoder)])
        )
        self.stats.tokens += len(vault)
        yield from outputs

    def _subject(self, record: Mapping[str, Any], message: Message) -> str:
        if self._subject_field is not None:
            return str(record.get(self._subject_field) or "")
        key = message.key()
        return key.decode(errors="replace") if isinstance(key, bytes) else ""

    def _headers(self, encoder: Any) -> list[tuple[str, bytes]]:
        return [self._app_header, *([encoder.schema_header] if encoder.schema_header else [])]

    def _park(self, message: Message, exc: BaseException) -> Output:
        log.warning(
            "masking job %s parked %s[%d]@%d in %s: %s",
            self.app, message.topic(), message.partition(), message.offset(), self.dlq, exc,
        )  # fmt: skip
        headers = failure_headers(
            message_headers(message), kind="dlq", exc=exc, topic=str(message.topic()),
            partition=int(message.partition() or 0), offset=int(message.offset() or 0),
            timestamp_ms=int(message.timestamp()[1]), app=self.app, attempts=1,
            now_ms=int(time.time() * 1000),
        )  # fmt: skip
        return Output(self.dlq, message.value(), key=message.key(), headers=headers)

    # ------------------------------------------------------------------ running
    def run(self, *, stop: Any = None) -> None:
        self.processor.run(stop=stop)

    def step(self) -> int:
        return self.processor.step()

    def close(self) -> None:
        self.processor.close()
        self._decoder.close()
        self._encoder.close()

    def __enter__(self) -> MaskingJob:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def reveal(
    spec: Spec,
    topic: str,
    token: str,
    *,
    connection: ConnectionSettings,
    registry: Any,
    contracts: DataContracts | None = None,
    data_dir: Path | str = Path(".streamplane"),
    timeout_s: float = 30.0,
) -> VaultEntry | None:
    """The vault entry of ``token`` (None: no such token), read as ``connection``.

    Who may turn a token back is who the broker lets read the vault: its tenant's own
    applications and operators. The vault is compacted and keyed by token, so the newest
    record of the key is the answer; a forgotten subject's value reads as ``[forgotten]``.
    """
    from confluent_kafka import Consumer as KafkaConsumer
    from confluent_kafka import KafkaException, TopicPartition

    entry = masked_twin_of(spec, topic)
    if entry is None or vault_topic(entry) not in spec.topics:
        raise MaskingError(f"topic {topic} has no masked twin with a tokenize mask, so no vault")
    vault = vault_topic(entry)
    schemas = schemas_from_spec(spec, [vault])
    rules = contracts_for(spec, schemas, [vault], contracts, data_dir=Path(data_dir))
    decoder = RecordDeserializer(schemas, registry_client(registry), contracts=rules)
    reader = KafkaConsumer(
        connection.librdkafka(
            **{"group.id": f"_reveal-{time.time_ns()}", "enable.auto.commit": False}
        )
    )
    found: VaultEntry | None = None
    try:
        low, high = reader.get_watermark_offsets(TopicPartition(vault, 0), timeout=timeout_s)
        if high <= low:
            return None
        reader.assign([TopicPartition(vault, 0, low)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = reader.poll(0.5)
            if message is not None and message.error() is None and message.key() == token.encode():
                value = decoder.value_decoder(vault).decode(message.value())
                found = VaultEntry(value["token"], value["field"], value["subject"], value["value"])
            # Transaction markers take offsets too: done once the position passes the end.
            [position] = reader.position([TopicPartition(vault, 0)])
            if position.offset >= high:
                return found
        raise MaskingError(f"reading the vault {vault} took longer than {timeout_s:.0f}s")
    except KafkaException as exc:
        who = connection.username or "this client"
        raise MaskingError(
            f"cannot read the vault {vault} as {who} ({exc.args[0].str()}): only the raw "
            f"topic's tenant, {entry.tenant.name}, may turn tokens back"
        ) from None
    finally:
        reader.close()
        decoder.close()
