"""Crypto-shredding: tagged fields encrypted with a data key per *data subject*.

Confluent's ENCRYPT rule keeps one data key (DEK) per schema subject, so "forget this
customer" on an append-only log would mean rewriting every topic, replica, mirror and
backup. The ``ENCRYPT_PER_SUBJECT`` rule type keeps one DEK per (schema subject, data
subject) in the DEK registry instead, the data subject read from a named plain field of
the record (``encrypt.subject.field``, e.g. ``customer_id``). Destroying that subject's
DEKs (``streamplane gdpr forget``) leaves every copy of its fields undecryptable, wherever
the bytes went; other subjects keep their own keys.

It is a confluent-kafka rule executor, so it runs inside the official serializers (call
:func:`register` once per process) and in the SDK (which registers it on every client's
rule registry). What it reuses from confluent-kafka, and why it is not just ENCRYPT:

* KEK lookup, DEK creation, KMS wrapping and the registry's 409 handling are
  confluent-kafka's own (``EncryptionExecutorTransform``), given the per-subject DEK name;
* the ciphertext starts with the schema subject that wrote it, so a copy under another
  topic name (a MirrorMaker 2 mirror, a backup restored elsewhere) finds the same DEK;
* a DEK that is gone (forgotten) reads as the :data:`FORGOTTEN` marker, not an error, so
  a consumer of old data is not stopped by an exception per record; a DEK that exists but
  cannot be unwrapped (no KMS access) raises, so nothing ever falls back to plain text;
* raw keys are cached for ``encrypt.subject.cache.seconds`` (default 300): confluent-kafka's
  DEK client caches forever, which would let a running consumer read a forgotten subject
  until it restarts.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import RuleMode, SchemaRegistryError
from confluent_kafka.schema_registry.common.serde import (
    FieldContext,
    FieldRuleExecutor,
    FieldTransform,
    FieldType,
    RuleContext,
    RuleError,
)
from confluent_kafka.schema_registry.rule_registry import RuleRegistry
from confluent_kafka.schema_registry.rules.encryption.dek_registry.dek_registry_client import (
    DekId,
)
from confluent_kafka.schema_registry.rules.encryption.encrypt_executor import (
    Cryptor,
    EncryptionExecutor,
    EncryptionExecutorTransform,
)

#: The rule type, as the spec and the registry's rule sets name it.
RULE_TYPE = "ENCRYPT_PER_SUBJECT"
#: The rule parameter naming the record field that holds the data subject's id.
SUBJECT_FIELD = "encrypt.subject.field"
#: How long a raw data key stays in memory, in seconds.
CACHE_SECONDS = "encrypt.subject.cache.seconds"
#: What a field of a forgotten subject reads as (string fields; bytes fields get its bytes).
FORGOTTEN = "[forgotten]"
#: Separates the schema subject from the data subject in a DEK's name.
DEK_NAME_SEPARATOR = "|"

_FORMAT = 0x53  # 'S': a per-subject ciphertext, followed by the writer's schema subject
_DEFAULT_CACHE_SECONDS = 300.0


def dek_name(schema_subject: str, data_subject: str) -> str:
    """The DEK registry subject holding ``data_subject``'s key for one schema subject."""
    return f"{schema_subject}{DEK_NAME_SEPARATOR}{data_subject}"


def split_dek_name(name: str) -> tuple[str, str] | None:
    """(schema subject, data subject) of a per-subject DEK name; None for other DEKs.

    Split at the first separator: topic names (so TopicNameStrategy subjects) cannot hold
    one, while a data subject's id may.
    """
    schema_subject, sep, data_subject = name.partition(DEK_NAME_SEPARATOR)
    return (schema_subject, data_subject) if sep and schema_subject and data_subject else None


class _Renamed:
    """A rule context whose ``subject`` is the per-subject DEK's name.

    confluent-kafka's transform names the DEK after ``ctx.subject``; this lends it another
    name without copying its KEK and DEK code.
    """

    def __init__(self, ctx: RuleContext, subject: str) -> None:
        self._ctx = ctx
        self.subject = subject

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


class SubjectEncryptionExecutor(FieldRuleExecutor):
    """The ``ENCRYPT_PER_SUBJECT`` field rule (see the module doc)."""

    def __init__(self) -> None:
        self.executor = EncryptionExecutor()
        self._keys: dict[tuple[str, str], tuple[bytes | None, float]] = {}
        self._lock = threading.Lock()
        # The record's data subject, from transform() to new_transform() on one thread.
        self._current = threading.local()

    def configure(self, client_conf: dict[str, Any], rule_conf: dict[str, Any]) -> None:
        self.executor.configure(client_conf, rule_conf)

    def type(self) -> str:
        return RULE_TYPE

    def close(self) -> None:
        executor: Any = self.executor  # untyped in confluent-kafka
        executor.close()

    def transform(self, ctx: RuleContext, message: Any) -> Any:
        # The data subject is read from the whole record before the field walk starts.
        field = ctx.get_parameter(SUBJECT_FIELD)
        if not field:
            raise RuleError(f"an {RULE_TYPE} rule needs the parameter {SUBJECT_FIELD}")
        subject = _field_value(message, field)
        if subject is None or subject == "":
            raise RuleError(
                f"the record has no data subject: field {field} is missing or empty, so its "
                "tagged fields cannot be given that subject's key"
            )
        self._current.subject = str(subject)
        return super().transform(ctx, message)

    def new_transform(self, ctx: RuleContext) -> FieldTransform:
        sealing = _Sealing(
            self,
            self.executor.new_transform(ctx),
            self._current.subject,
            float(ctx.get_parameter(CACHE_SECONDS) or _DEFAULT_CACHE_SECONDS),
        )

        def transform(ctx: RuleContext, field_ctx: FieldContext, value: Any) -> Any:
            if value is None:
                return None
            if ctx.rule_mode == RuleMode.WRITE:
                return sealing.encrypt(ctx, field_ctx.field_type, value)
            if ctx.rule_mode == RuleMode.READ:
                return sealing.decrypt(ctx, field_ctx.field_type, value)
            raise RuleError(f"unsupported rule mode {ctx.rule_mode}")

        return transform

    def key(
        self, inner: EncryptionExecutorTransform, ctx: RuleContext, name: str, ttl: float
    ) -> bytes | None:
        """The raw DEK called ``name`` (None: it was destroyed), cached for ``ttl`` s."""
        kek_name = str(inner._get_kek(ctx).name)
        cache_key = (kek_name, name)
        now = time.monotonic()
        with self._lock:
            cached = self._keys.get(cache_key)
        if cached is not None and now - cached[1] < ttl:
            return cached[0]
        client: Any = self.executor.client
        algorithm = inner._cryptor.dek_format
        # confluent-kafka's DEK client caches forever; a forgotten key must not outlive ttl.
        client._dek_cache.remove(DekId(kek_name, name, 1, algorithm, False))
        renamed: Any = _Renamed(ctx, name)
        if ctx.rule_mode == RuleMode.READ and not _dek_exists(client, kek_name, name, algorithm):
            raw: bytes | None = None
        else:
            dek = inner._get_or_create_dek(renamed, 1)
            raw = dek.get_key_material_bytes()
            if raw is None:
                raise RuleError(f"no key material for DEK {name}")
        with self._lock:
            self._keys[cache_key] = (raw, now)
        return raw


@dataclass(frozen=True)
class _Sealing:
    """One record's field transforms: its data subject, and confluent-kafka's transform."""

    executor: SubjectEncryptionExecutor
    inner: EncryptionExecutorTransform
    subject: str
    ttl: float

    def encrypt(self, ctx: RuleContext, field_type: FieldType, value: Any) -> Any:
        plaintext = _to_bytes(field_type, value)
        key = self.executor.key(self.inner, ctx, dek_name(ctx.subject, self.subject), self.ttl)
        if key is None:  # only a read leaves it unset
            raise RuleError(f"no data key for subject {self.subject}")
        origin = ctx.subject.encode()
        sealed = self.inner._cryptor.encrypt(key, plaintext, Cryptor.EMPTY_AAD)
        blob = bytes([_FORMAT]) + len(origin).to_bytes(2, "big") + origin + sealed
        if field_type == FieldType.STRING:
            return base64.b64encode(blob).decode("ascii")
        return blob

    def decrypt(self, ctx: RuleContext, field_type: FieldType, value: Any) -> Any:
        string = field_type == FieldType.STRING
        blob = base64.b64decode(value) if string else _to_bytes(field_type, value)
        if len(blob) < 3 or blob[0] != _FORMAT:
            raise RuleError(f"the field is not an {RULE_TYPE} ciphertext")
        size = int.from_bytes(blob[1:3], "big")
        origin = blob[3 : 3 + size].decode()
        key = self.executor.key(self.inner, ctx, dek_name(origin, self.subject), self.ttl)
        if key is None:
            return FORGOTTEN if string else FORGOTTEN.encode()
        plaintext = self.inner._cryptor.decrypt(key, blob[3 + size :], Cryptor.EMPTY_AAD)
        return plaintext.decode() if string else plaintext


def _dek_exists(client: Any, kek: str, name: str, algorithm: Any) -> bool:
    """Whether the registry still holds the DEK (a soft-deleted one counts as gone)."""
    try:
        dek = client.get_dek(kek, name, algorithm, 1, False)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return False
        raise RuleError(f"could not get DEK {name}: {exc}") from exc
    return dek is not None and bool(dek.encrypted_key_material or dek.key_material)


def _field_value(message: Any, field: str) -> Any:
    if isinstance(message, Mapping):
        return message.get(field)
    return getattr(message, field, None)


def _to_bytes(field_type: FieldType, value: Any) -> bytes:
    if field_type == FieldType.STRING:
        return str(value).encode()
    if field_type == FieldType.BYTES:
        return value.read() if hasattr(value, "read") else bytes(value)
    raise RuleError(f"{RULE_TYPE} encrypts string and bytes fields, not {field_type.name}")


def register() -> SubjectEncryptionExecutor:
    """Register the executor with confluent-kafka's global rule registry (official serdes),
    and the local and AWS KMS drivers it wraps keys with."""
    from streamplane.client._contracts import register_kms_drivers

    register_kms_drivers()
    executor = SubjectEncryptionExecutor()
    RuleRegistry.register_rule_executor(executor)
    return executor
