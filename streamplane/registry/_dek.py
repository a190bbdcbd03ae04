"""The DEK registry's data: key encryption keys (KEKs) and data encryption keys (DEKs).

Confluent's client-side field encryption wraps each field with a DEK, and each DEK
with a KEK that lives in a KMS; the registry stores both so every producer and
consumer of a subject finds the same keys. This module holds the values, their
records and the state replayed from them; ``_dek_ops`` the operations.

Both live in ``_schemas`` like everything else, so every instance and every restart
agrees on them. Key ``{"keytype": "KEK", "name"}`` holds a KEK, key ``{"keytype":
"DEK", "kekName", "subject", "algorithm", "version"}`` one DEK version; a soft delete
rewrites the value with ``deleted: true``, a permanent delete is a tombstone.

The DEK itself, for a ``shared`` KEK, is made here as confluent-kafka's ``Cryptor``
makes it: Tink key data of the algorithm's raw key template.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from streamplane.errors import RegistryError

KEK_KEYTYPE = "KEK"
DEK_KEYTYPE = "DEK"
ALGORITHMS = ("AES128_GCM", "AES256_GCM", "AES256_SIV")
DEFAULT_ALGORITHM = "AES256_GCM"
NAME_MAX_LENGTH = 64

Record = tuple[dict[str, Any], dict[str, Any] | None]


# ------------------------------------------------------------------ errors
def key_not_found(name: str) -> RegistryError:
    return RegistryError(404, 40470, f"Key '{name}' not found")


def invalid_key(what: str, why: str) -> RegistryError:
    return RegistryError(422, 42271, f"Invalid or missing key info: {what}: {why}")


# ------------------------------------------------------------------ values
@dataclass(frozen=True)
class Kek:
    name: str
    kms_type: str
    kms_key_id: str
    kms_props: dict[str, str] = field(default_factory=dict)
    doc: str | None = None
    shared: bool = False
    ts: int = 0
    deleted: bool = False

    def equivalent(self, other: Kek) -> bool:
        """The same key, whatever its timestamp or deleted flag."""
        return replace(self, ts=0, deleted=False) == replace(other, ts=0, deleted=False)

    def body(self) -> dict[str, Any]:
        """The REST shape (Confluent's ``Kek``); also the stored record value."""
        body: dict[str, Any] = {
            "name": self.name,
            "kmsType": self.kms_type,
            "kmsKeyId": self.kms_key_id,
            "kmsProps": dict(self.kms_props),
            "shared": self.shared,
            "ts": self.ts,
            "deleted": self.deleted,
        }
        if self.doc is not None:
            body["doc"] = self.doc
        return body

    def record(self, *, tombstone: bool = False) -> Record:
        return kek_key(self.name), None if tombstone else self.body()

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Kek:
        return cls(
            name=str(value["name"]),
            kms_type=str(value["kmsType"]),
            kms_key_id=str(value["kmsKeyId"]),
            kms_props={str(k): str(v) for k, v in (value.get("kmsProps") or {}).items()},
            doc=value.get("doc"),
            shared=bool(value.get("shared", False)),
            ts=int(value.get("ts", 0)),
            deleted=bool(value.get("deleted", False)),
        )


@dataclass(frozen=True)
class Dek:
    kek_name: str
    subject: str
    version: int
    algorithm: str
    encrypted_key_material: str
    ts: int = 0
    deleted: bool = False

    def equivalent(self, other: Dek) -> bool:
        return replace(self, ts=0, deleted=False) == replace(other, ts=0, deleted=False)

    def value(self) -> dict[str, Any]:
        return {
            "kekName": self.kek_name,
            "subject": self.subject,
            "version": self.version,
            "algorithm": self.algorithm,
            "encryptedKeyMaterial": self.encrypted_key_material,
            "ts": self.ts,
            "deleted": self.deleted,
        }

    def body(self, key_material: bytes | None = None) -> dict[str, Any]:
        """The REST shape (Confluent's ``Dek``): ``keyMaterial`` only for shared KEKs."""
        body = self.value()
        if key_material is not None:
            body["keyMaterial"] = base64.b64encode(key_material).decode()
        return body

    def record(self, *, tombstone: bool = False) -> Record:
        key = dek_key(self.kek_name, self.subject, self.algorithm, self.version)
        return key, None if tombstone else self.value()

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> Dek:
        return cls(
            kek_name=str(value["kekName"]),
            subject=str(value["subject"]),
            version=int(value["version"]),
            algorithm=str(value.get("algorithm", DEFAULT_ALGORITHM)),
            encrypted_key_material=str(value["encryptedKeyMaterial"]),
            ts=int(value.get("ts", 0)),
            deleted=bool(value.get("deleted", False)),
        )


def kek_key(name: str) -> dict[str, Any]:
    # One field order always: compaction keeps the latest record per key *bytes*.
    return {"keytype": KEK_KEYTYPE, "name": name, "magic": 0}


def dek_key(kek_name: str, subject: str, algorithm: str, version: int) -> dict[str, Any]:
    return {
        "keytype": DEK_KEYTYPE,
        "kekName": kek_name,
        "subject": subject,
        "algorithm": algorithm,
        "version": version,
        "magic": 0,
    }


# ------------------------------------------------------------------- state
@dataclass
class DekState:
    """KEKs by name; DEKs by KEK, then (subject, algorithm), then version."""

    keks: dict[str, Kek] = field(default_factory=dict)
    deks: dict[str, dict[tuple[str, str], dict[int, Dek]]] = field(default_factory=dict)

    def apply(self, key: Mapping[str, Any], value: Mapping[str, Any] | None) -> None:
        """Fold one KEK or DEK record in (records we cannot read are skipped, not fatal)."""
        try:
            if key.get("keytype") == KEK_KEYTYPE:
                name = str(key["name"])
                if value is None:
                    self.keks.pop(name, None)
                else:
                    self.keks[name] = Kek.from_value(value)
                return
            kek, scope = str(key["kekName"]), (str(key["subject"]), str(key["algorithm"]))
            version = int(key["version"])
            dek = None if value is None else Dek.from_value(value)
        except (KeyError, TypeError, ValueError):
            return
        if dek is not None:
            self.deks.setdefault(kek, {}).setdefault(scope, {})[version] = dek
            return
        scopes = self.deks.get(kek, {})
        versions = scopes.get(scope, {})
        versions.pop(version, None)
        if not versions:
            scopes.pop(scope, None)
        if not scopes:
            self.deks.pop(kek, None)

    def kek(self, name: str, *, deleted: bool) -> Kek | None:
        found = self.keks.get(name)
        return found if found is not None and (deleted or not found.deleted) else None

    def kek_names(self, *, deleted: bool) -> list[str]:
        return sorted(n for n, k in self.keks.items() if deleted or not k.deleted)

    def deks_of(self, kek: str, *, deleted: bool) -> list[Dek]:
        return [
            dek
            for versions in self.deks.get(kek, {}).values()
            for dek in versions.values()
            if deleted or not dek.deleted
        ]

    def versions(self, kek: str, subject: str, algorithm: str, *, deleted: bool) -> list[Dek]:
        found = self.deks.get(kek, {}).get((subject, algorithm), {})
        return [found[v] for v in sorted(found) if deleted or not found[v].deleted]

    def dek(
        self, kek: str, subject: str, algorithm: str, version: int, *, deleted: bool
    ) -> Dek | None:
        """One version, or with ``version == -1`` the latest."""
        versions = self.versions(kek, subject, algorithm, deleted=deleted)
        if version == -1:
            return versions[-1] if versions else None
        return next((d for d in versions if d.version == version), None)


# --------------------------------------------------------------- checks
def check_name(name: str | None) -> str:
    """A KEK name: Confluent's rule, plus '.' so names can carry a tenant prefix."""
    ok = (
        bool(name)
        and len(name or "") <= NAME_MAX_LENGTH
        and ((name or " ")[0].isalpha() or (name or " ")[0] == "_")
        and all(c.isalnum() or c in "_-." for c in name or "")
    )
    if not ok or name is None:
        raise invalid_key(
            "name",
            f"'{name or ''}' is not a KEK name (a letter or '_' first, then letters, "
            f"digits, '_', '-' or '.', at most {NAME_MAX_LENGTH} characters)",
        )
    return name


def check_subject(subject: str | None) -> str:
    if not subject or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in subject):
        raise invalid_key("subject", "a DEK needs a subject without control characters")
    return subject


def check_algorithm(algorithm: str | None) -> str:
    if algorithm is None:
        return DEFAULT_ALGORITHM
    if algorithm not in ALGORITHMS:
        raise invalid_key("algorithm", f"'{algorithm}' is not one of {', '.join(ALGORITHMS)}")
    return algorithm


def normalize_kms_type(kms_type: str) -> str:
    """Confluent's spelling: any ``aws*`` is ``aws-kms`` (likewise Azure and GCP)."""
    lowered = kms_type.lower()
    for family in ("aws", "azure", "gcp"):
        if lowered.startswith(family):
            return f"{family}-kms"
    return kms_type


@functools.cache
def _key_templates() -> dict[str, Any]:
    """Tink key templates of the three DEK algorithms, as confluent-kafka's ``Cryptor``."""
    from tink import aead, daead
    from tink.proto import aes_siv_pb2, tink_pb2

    aead.register()
    daead.register()
    siv = tink_pb2.KeyTemplate(
        type_url=daead.deterministic_aead_key_templates.AES256_SIV.type_url,
        output_prefix_type=tink_pb2.RAW,
        value=aes_siv_pb2.AesSivKeyFormat(key_size=64).SerializeToString(),
    )
    return {
        "AES128_GCM": aead.aead_key_templates.AES128_GCM_RAW,
        "AES256_GCM": aead.aead_key_templates.AES256_GCM_RAW,
        "AES256_SIV": siv,
    }


def generate_key_material(algorithm: str) -> bytes:
    """A new DEK: Tink key data bytes, the form the clients' ``Cryptor`` encrypts with."""
    from tink.core import Registry as TinkRegistry

    value: bytes = TinkRegistry.new_key_data(_key_templates()[algorithm]).value
    return value
