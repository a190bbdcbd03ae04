"""``gdpr forget``: crypto-shredding a data subject by destroying its data keys.

Fields written under an ``ENCRYPT_PER_SUBJECT`` rule are encrypted with a DEK per
(schema subject, data subject), named ``<schema subject>|<id>`` in the DEK registry
(:mod:`streamplane.client.subject_encryption`). Forgetting a person permanently deletes
every such DEK of theirs, under every KEK: the ciphertext in topics, replicas, mirrors and
backups stays where it is, but nothing can open it any more, and readers get the
``[forgotten]`` marker. Other subjects' keys are untouched.

The registry's own log keeps the deleted DEK (wrapped by the KEK) until compaction drops
it behind the tombstone a permanent delete writes; the report says so.

The request is recorded in the audit trail under a digest of the id, not the id itself:
the trail must prove the request was honoured without keeping the identifier it erased.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from streamplane.client.subject_encryption import DEK_NAME_SEPARATOR, split_dek_name
from streamplane.errors import StreamplaneError


class DekRegistry(Protocol):
    """What forgetting needs of the DEK registry (``HttpRegistryClient`` has it)."""

    def kek_names(self) -> list[str] | None: ...

    def dek_subjects(self, kek: str) -> list[str]: ...

    def destroy_dek(self, kek: str, subject: str) -> None: ...


class ForgetError(StreamplaneError):
    """The request cannot be carried out as given."""


@dataclass(frozen=True)
class ForgetReport:
    """What ``gdpr forget`` destroyed, and where the subject's data was."""

    #: ``sha256:<hex>`` of the id: how the audit trail names the request.
    reference: str
    #: (KEK, DEK subject) of every destroyed key.
    keys: list[tuple[str, str]]
    #: Topics whose records held the subject's encrypted fields (by their schema subjects).
    topics: list[str]
    #: Other topics of the cluster that are copies of those (MirrorMaker 2 prefixes).
    copies: list[str] = field(default_factory=list)
    seconds: float = 0.0
    recorded: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "keys": [{"kek": kek, "dek": dek} for kek, dek in self.keys],
            "topics": self.topics,
            "copies": self.copies,
            "seconds": round(self.seconds, 3),
            "recorded": self.recorded,
        }


def reference(subject_id: str) -> str:
    """How the audit trail names a data subject: a digest an auditor can recompute."""
    return "sha256:" + hashlib.sha256(subject_id.encode()).hexdigest()


def topic_of(schema_subject: str) -> str:
    """The topic a TopicNameStrategy subject belongs to."""
    for suffix in ("-value", "-key"):
        if schema_subject.endswith(suffix):
            return schema_subject[: -len(suffix)]
    return schema_subject


def copies_of(topics: Iterable[str], cluster_topics: Iterable[str]) -> list[str]:
    """Topics named like a MirrorMaker 2 copy (``<source alias>.<topic>``) of ``topics``."""
    wanted = set(topics)
    return sorted(
        name
        for name in cluster_topics
        if name not in wanted and any(name.endswith("." + topic) for topic in wanted)
    )


def subject_keys(registry: DekRegistry, subject_id: str) -> list[tuple[str, str]]:
    """Every (KEK, DEK subject) holding ``subject_id``'s data keys."""
    found = []
    for kek in registry.kek_names() or []:
        for name in registry.dek_subjects(kek):
            parts = split_dek_name(name)
            if parts is not None and parts[1] == subject_id:
                found.append((kek, name))
    return sorted(found)


def forget(
    registry: DekRegistry, subject_id: str, *, cluster_topics: Iterable[str] = ()
) -> ForgetReport:
    """Destroy ``subject_id``'s data keys; a second call finds nothing left to destroy."""
    if not subject_id.strip():
        raise ForgetError("the data subject's id is empty; give the value of the subject field")
    started = time.perf_counter()
    keys = subject_keys(registry, subject_id)
    for kek, name in keys:
        registry.destroy_dek(kek, name)
    topics = sorted({topic_of(name.partition(DEK_NAME_SEPARATOR)[0]) for _, name in keys})
    return ForgetReport(
        reference=reference(subject_id),
        keys=keys,
        topics=topics,
        copies=copies_of(topics, cluster_topics),
        seconds=time.perf_counter() - started,
    )
