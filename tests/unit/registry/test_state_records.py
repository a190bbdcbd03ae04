"""Replaying records: the writer announcement, the access policy, and the id index."""

from __future__ import annotations

from typing import Any

from streamplane.registry._state import RegistryState


def schema_record(subject: str, version: int, schema_id: int, *, deleted: bool = False) -> Any:
    key = {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}
    value = {"subject": subject, "version": version, "id": schema_id, "schema": f'"s{schema_id}"',
             "deleted": deleted}  # fmt: skip
    return key, value


def replay(*records: Any) -> RegistryState:
    state = RegistryState()
    for record in records:
        state.apply(record, canonicalise=repr)
    return state


def test_the_latest_writer_announcement_and_access_policy_win() -> None:
    writer = {"keytype": "STREAMPLANE_WRITER", "magic": 0}
    access = {"keytype": "STREAMPLANE_ACCESS", "magic": 0}
    state = replay(
        (writer, {"url": "http://a:8081", "instance": "1"}),
        (access, {"principals": {"p": "t."}, "public_prefixes": []}),
        (writer, {"url": "http://b:8081", "instance": "2"}),
    )
    assert state.writer == {"url": "http://b:8081", "instance": "2"}
    assert state.access == {"principals": {"p": "t."}, "public_prefixes": []}
    assert replay((access, {"principals": {}}), (access, None)).access is None
    assert not state.subjects  # neither record is a schema


def test_the_id_index_follows_registrations_and_permanent_deletes() -> None:
    state = replay(
        schema_record("a-value", 1, 1),
        schema_record("b-value", 1, 1),
        schema_record("a-value", 2, 2),
        schema_record("a-value", 2, 2, deleted=True),
    )
    assert state.usages[1] == {("a-value", 1), ("b-value", 1)}
    assert state.usages[2] == {("a-value", 2)}  # a soft delete keeps the usage
    tombstone = ({"keytype": "SCHEMA", "subject": "b-value", "version": 1, "magic": 1}, None)
    state.apply(tombstone, canonicalise=repr)
    assert state.usages[1] == {("a-value", 1)}
    assert "b-value" not in state.subjects and state.max_id == 2
