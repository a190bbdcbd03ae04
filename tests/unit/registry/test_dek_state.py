"""The DEK registry's state and operations, with Confluent's error codes, without Kafka.

The registry is a stand-in for the write path only: a write session appends records to
a list (the log) and applies them to the state as the reader would, so every operation
is checked through the records it writes and a replay of them.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from confluent_kafka.schema_registry.rules.encryption.dek_registry.dek_registry_client import (
    DekAlgorithm,
)
from confluent_kafka.schema_registry.rules.encryption.encrypt_executor import Cryptor
from confluent_kafka.schema_registry.rules.encryption.localkms.local_client import LocalKmsClient

from streamplane.errors import KmsError, RegistryError
from streamplane.registry._dek import DekState
from streamplane.registry._dek_ops import DekRegistry
from streamplane.registry._service import Registry
from streamplane.registry._state import RegistryState
from streamplane.security.kms import KmsDrivers, LocalKms

SECRET = "unit-test-secret"


class Session:
    def __init__(self, log: LogStandIn) -> None:
        self.log = log

    def write(self, records: list[Any]) -> None:
        for record in records:
            self.log.records.append(record)
            self.log.state.apply(record, canonicalise=repr)


class Writer:
    def __init__(self, log: LogStandIn) -> None:
        self.log = log

    @contextmanager
    def session(self) -> Iterator[Session]:
        yield Session(self.log)


class LogStandIn:
    """What DekRegistry uses of a Registry: its state, its lock and its writer."""

    def __init__(self) -> None:
        self.state = RegistryState()
        self.records: list[Any] = []
        self._lock = threading.RLock()
        self.writer = Writer(self)

    def replayed(self) -> DekState:
        state = RegistryState()
        for record in self.records:
            state.apply(record, canonicalise=repr)
        return state.dek_registry


@pytest.fixture
def log() -> LogStandIn:
    return LogStandIn()


@pytest.fixture
def deks(log: LogStandIn) -> DekRegistry:
    ticks = iter(range(1_000, 1_000_000, 1_000))
    return DekRegistry(
        cast(Registry, log), KmsDrivers([LocalKms(SECRET)]), clock=lambda: next(ticks)
    )


def fails(status: int, code: int, *words: str) -> Any:
    """Context manager: the block raises a RegistryError with this status, code and words."""

    @contextmanager
    def check() -> Iterator[None]:
        with pytest.raises(RegistryError) as caught:
            yield
        assert (caught.value.status, caught.value.error_code) == (status, code), caught.value
        for word in words:
            assert word in caught.value.message, caught.value.message

    return check()


def kek(deks: DekRegistry, name: str = "k1", *, shared: bool = False, **kw: Any) -> Any:
    return deks.create_kek(name=name, kms_type="local-kms", kms_key_id="key-1", shared=shared, **kw)


MATERIAL = base64.b64encode(b"wrapped-by-the-client").decode()


# ------------------------------------------------------------------- KEKs
def test_a_kek_is_stored_as_one_record_and_returned_in_confluents_shape(
    deks: DekRegistry, log: LogStandIn
) -> None:
    body = kek(deks, kms_props={"region": "eu"}, doc="team key")
    assert body == {
        "name": "k1", "kmsType": "local-kms", "kmsKeyId": "key-1", "kmsProps": {"region": "eu"},
        "shared": False, "ts": 1_000_000, "deleted": False, "doc": "team key",
    }  # fmt: skip
    assert log.records == [({"keytype": "KEK", "name": "k1", "magic": 0}, body)]
    assert deks.get_kek("k1", deleted=False).body() == body
    assert deks.kek_names(deleted=False) == ["k1"]


def test_registering_a_live_kek_again_is_a_conflict_even_when_identical(
    deks: DekRegistry,
) -> None:
    kek(deks)
    with fails(409, 40971, "Key 'k1' already exists"):
        kek(deks)
    with fails(409, 40971):
        kek(deks, doc="other")


def test_registering_a_soft_deleted_kek_again_undeletes_it_only_if_identical(
    deks: DekRegistry,
) -> None:
    kek(deks)
    deks.delete_kek("k1", permanent=False)
    assert deks.kek_names(deleted=False) == []
    assert deks.kek_names(deleted=True) == ["k1"]
    with fails(409, 40971):
        kek(deks, doc="different")
    assert kek(deks)["deleted"] is False
    assert deks.kek_names(deleted=False) == ["k1"]


@pytest.mark.parametrize(
    ("fields", "what"),
    [
        ({"name": ""}, "name"),
        ({"name": "1starts-with-a-digit"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"kms_key_id": ""}, "kmsKeyId"),
        ({"kms_type": None}, "kmsType"),
        ({"kms_props": {"secret.access.key": "AKIA..."}}, "kmsProps"),
        ({"kms_props": {"secret": "local"}}, "credential"),
    ],
)
def test_invalid_or_missing_kek_info_is_42271_naming_the_field(
    deks: DekRegistry, fields: dict[str, Any], what: str
) -> None:
    request: dict[str, Any] = {"name": "k1", "kms_type": "local-kms", "kms_key_id": "key-1"}
    with fails(422, 42271, what):
        deks.create_kek(**{**request, **fields})


def test_kek_names_may_carry_a_tenant_prefix_and_kms_types_are_normalized(
    deks: DekRegistry,
) -> None:
    body = deks.create_kek(name="payments.pii_v-2", kms_type="AWS", kms_key_id="arn:x")
    assert body["kmsType"] == "aws-kms"
    assert deks.create_kek(name="_gcp", kms_type="gcp", kms_key_id="k")["kmsType"] == "gcp-kms"


def test_updating_a_kek_keeps_what_is_left_out_and_needs_a_live_kek(
    deks: DekRegistry, log: LogStandIn
) -> None:
    kek(deks, doc="one", kms_props={"a": "1"})
    updated = deks.update_kek("k1", kms_props=None, doc="two", shared=True)
    assert (updated["doc"], updated["kmsProps"], updated["shared"]) == ("two", {"a": "1"}, True)
    written = len(log.records)
    assert deks.update_kek("k1", kms_props=None, doc=None, shared=None) == updated
    assert len(log.records) == written  # nothing changed: nothing written
    with fails(404, 40470, "Key 'nope' not found"):
        deks.update_kek("nope", kms_props=None, doc="x", shared=None)
    deks.delete_kek("k1", permanent=False)
    with fails(404, 40470):
        deks.update_kek("k1", kms_props=None, doc="x", shared=None)


def test_a_kek_is_soft_deleted_before_it_is_permanently_deleted(
    deks: DekRegistry, log: LogStandIn
) -> None:
    kek(deks)
    with fails(404, 40471, "was not deleted first"):
        deks.delete_kek("k1", permanent=True)
    deks.delete_kek("k1", permanent=False)
    deks.delete_kek("k1", permanent=False)  # again: nothing to do, as Confluent
    with fails(404, 40470):
        deks.get_kek("k1", deleted=False)
    assert deks.get_kek("k1", deleted=True).deleted
    deks.delete_kek("k1", permanent=True)
    assert log.records[-1] == ({"keytype": "KEK", "name": "k1", "magic": 0}, None)
    with fails(404, 40470):
        deks.get_kek("k1", deleted=True)
    with fails(404, 40470):
        deks.delete_kek("k1", permanent=False)


def test_a_kek_with_deks_cannot_be_deleted_until_they_are(deks: DekRegistry) -> None:
    kek(deks)
    deks.create_dek("k1", subject="s-value", encrypted_key_material=MATERIAL)
    with fails(422, 42272, "references exist to the key k1"):
        deks.delete_kek("k1", permanent=False)
    deks.delete_dek("k1", "s-value", algorithm=None, permanent=False)
    deks.delete_kek("k1", permanent=False)
    with fails(422, 42272):  # the soft-deleted DEK still refers to it
        deks.delete_kek("k1", permanent=True)
    deks.delete_dek("k1", "s-value", algorithm=None, permanent=True)
    deks.delete_kek("k1", permanent=True)
    assert deks.kek_names(deleted=True) == []


def test_undeleting_a_kek(deks: DekRegistry) -> None:
    with fails(404, 40470):
        deks.undelete_kek("k1")
    kek(deks)
    deks.delete_kek("k1", permanent=False)
    deks.undelete_kek("k1")
    assert not deks.get_kek("k1", deleted=False).deleted


# ------------------------------------------------------------------- DEKs
def test_a_dek_of_a_kek_that_is_not_shared_stores_the_clients_wrapped_key(
    deks: DekRegistry, log: LogStandIn
) -> None:
    kek(deks)
    body = deks.create_dek("k1", subject="orders-value", encrypted_key_material=MATERIAL)
    assert body == {
        "kekName": "k1", "subject": "orders-value", "version": 1, "algorithm": "AES256_GCM",
        "encryptedKeyMaterial": MATERIAL, "ts": 2_000_000, "deleted": False,
    }  # fmt: skip
    assert log.records[-1][0] == {
        "keytype": "DEK", "kekName": "k1", "subject": "orders-value", "algorithm": "AES256_GCM",
        "version": 1, "magic": 0,
    }  # fmt: skip
    got = deks.get_dek("k1", "orders-value", version=1, algorithm=None, deleted=False)
    assert got == body and "keyMaterial" not in got
    assert deks.dek_subjects("k1", deleted=False) == ["orders-value"]
    assert deks.dek_versions("k1", "orders-value", algorithm=None, deleted=False) == [1]
    assert deks.dek_versions("k1", "orders-value", algorithm="AES128_GCM", deleted=False) == []


def test_dek_errors_follow_confluent(deks: DekRegistry) -> None:
    with fails(404, 40470, "Key 'k1' not found"):
        deks.create_dek("k1", subject="s", encrypted_key_material=MATERIAL)
    kek(deks)
    with fails(422, 42271, "encryptedKeyMaterial", "not shared"):
        deks.create_dek("k1", subject="s")
    with fails(422, 42271, "encryptedKeyMaterial", "base64"):
        deks.create_dek("k1", subject="s", encrypted_key_material="not base64!")
    with fails(422, 42271, "subject"):
        deks.create_dek("k1", subject="", encrypted_key_material=MATERIAL)
    with fails(422, 42271, "algorithm", "AES256_SIV"):
        deks.create_dek("k1", subject="s", algorithm="DES", encrypted_key_material=MATERIAL)
    with fails(422, 42271, "version"):
        deks.create_dek("k1", subject="s", version=0, encrypted_key_material=MATERIAL)
    deks.create_dek("k1", subject="s", encrypted_key_material=MATERIAL)
    with fails(409, 40971, "Key 's' already exists"):
        deks.create_dek("k1", subject="s", encrypted_key_material=MATERIAL)
    with fails(404, 40470, "Key 'other' not found"):
        deks.get_dek("k1", "other", version=1, algorithm=None, deleted=False)
    with fails(404, 40470):
        deks.get_dek("k1", "s", version=2, algorithm=None, deleted=False)


def test_versions_and_latest(deks: DekRegistry) -> None:
    kek(deks)
    for version in (1, 2, 3):
        deks.create_dek("k1", subject="s", version=version, encrypted_key_material=MATERIAL)
    latest = deks.get_dek("k1", "s", version=-1, algorithm=None, deleted=False)
    assert latest["version"] == 3
    deks.delete_dek_version("k1", "s", -1, algorithm=None, permanent=False)
    assert deks.dek_versions("k1", "s", algorithm=None, deleted=False) == [1, 2]
    assert deks.dek_versions("k1", "s", algorithm=None, deleted=True) == [1, 2, 3]
    assert deks.get_dek("k1", "s", version=-1, algorithm=None, deleted=False)["version"] == 2
    assert deks.get_dek("k1", "s", version=-1, algorithm=None, deleted=True)["version"] == 3
    with fails(404, 40470):
        deks.get_dek("k1", "s", version=3, algorithm=None, deleted=False)
    assert deks.get_dek("k1", "s", version=3, algorithm=None, deleted=True)["deleted"] is True


def test_deleting_and_undeleting_deks(deks: DekRegistry, log: LogStandIn) -> None:
    kek(deks)
    for version in (1, 2):
        deks.create_dek("k1", subject="s", version=version, encrypted_key_material=MATERIAL)
    with fails(404, 40470, "Key 'nope' not found"):
        deks.delete_dek("k1", "nope", algorithm=None, permanent=False)
    with fails(404, 40471, "Key 's' was not deleted first"):
        deks.delete_dek("k1", "s", algorithm=None, permanent=True)
    with fails(404, 40471):
        deks.delete_dek_version("k1", "s", 1, algorithm=None, permanent=True)
    deks.delete_dek("k1", "s", algorithm=None, permanent=False)
    assert deks.dek_subjects("k1", deleted=False) == []
    assert deks.dek_subjects("k1", deleted=True) == ["s"]
    deks.undelete_dek_version("k1", "s", 2, algorithm=None)
    assert deks.dek_versions("k1", "s", algorithm=None, deleted=False) == [2]
    deks.delete_dek_version("k1", "s", 1, algorithm=None, permanent=True)
    assert deks.dek_versions("k1", "s", algorithm=None, deleted=True) == [2]
    deks.delete_dek("k1", "s", algorithm=None, permanent=False)
    deks.delete_kek("k1", permanent=False)
    with fails(404, 40472, "Key 'k1' must be undeleted first"):
        deks.undelete_dek("k1", "s", algorithm=None)
    with fails(404, 40472):
        deks.undelete_dek_version("k1", "s", 2, algorithm=None)
    deks.undelete_kek("k1")
    deks.undelete_dek("k1", "s", algorithm=None)
    assert deks.dek_versions("k1", "s", algorithm=None, deleted=False) == [2]
    assert log.replayed() == log.state.dek_registry


def test_a_deleted_dek_may_be_recreated_as_it_was_which_undeletes_it(deks: DekRegistry) -> None:
    kek(deks)
    deks.create_dek("k1", subject="s", encrypted_key_material=MATERIAL)
    deks.delete_dek("k1", "s", algorithm=None, permanent=False)
    other = base64.b64encode(b"other").decode()
    with fails(409, 40971):
        deks.create_dek("k1", subject="s", encrypted_key_material=other)
    assert deks.create_dek("k1", subject="s", encrypted_key_material=MATERIAL)["deleted"] is False


# ------------------------------------------------------------ shared KEKs
@pytest.mark.parametrize("algorithm", [a.value for a in DekAlgorithm])
def test_a_shared_kek_gets_a_dek_made_and_wrapped_by_the_registry_the_client_can_use(
    deks: DekRegistry, algorithm: str
) -> None:
    kek(deks, shared=True)
    made = deks.create_dek("k1", subject="pii-value", algorithm=algorithm)
    raw = base64.b64decode(made["keyMaterial"])
    # The client's own local KMS unwraps what the registry wrapped...
    wrapped = base64.b64decode(made["encryptedKeyMaterial"])
    assert LocalKmsClient(SECRET).get_aead("local-kms://key-1").decrypt(wrapped, b"") == raw
    # ...and its Cryptor encrypts and decrypts with the key material as made.
    cryptor = Cryptor(DekAlgorithm[algorithm])
    ciphertext = cryptor.encrypt(raw, b"4111-1111", b"")
    assert ciphertext != b"4111-1111"
    assert cryptor.decrypt(raw, ciphertext, b"") == b"4111-1111"
    # Every read returns the same key, unwrapped again.
    got = deks.get_dek("k1", "pii-value", version=1, algorithm=algorithm, deleted=False)
    assert got["keyMaterial"] == made["keyMaterial"]


def test_a_shared_kek_unwraps_a_key_the_client_wrapped(deks: DekRegistry) -> None:
    kek(deks, shared=True)
    raw = Cryptor(DekAlgorithm.AES256_GCM).generate_key()
    wrapped = LocalKmsClient(SECRET).get_aead("local-kms://key-1").encrypt(raw, b"")
    made = deks.create_dek(
        "k1", subject="s", encrypted_key_material=base64.b64encode(wrapped).decode()
    )
    assert base64.b64decode(made["keyMaterial"]) == raw


def test_a_kms_that_cannot_wrap_or_unwrap_is_50070(log: LogStandIn) -> None:
    without_secret = DekRegistry(cast(Registry, log), KmsDrivers([LocalKms(None)]))
    without_secret.create_kek(name="k1", kms_type="local-kms", kms_key_id="x", shared=True)
    with fails(500, 50070, "Could not generate encrypted dek for s", "LOCAL_SECRET"):
        without_secret.create_dek("k1", subject="s")
    right = DekRegistry(cast(Registry, log), KmsDrivers([LocalKms(SECRET)]))
    right.create_dek("k1", subject="s")
    wrong = DekRegistry(cast(Registry, log), KmsDrivers([LocalKms("another secret")]))
    with fails(500, 50070, "Could not generate raw dek for s", "another secret"):
        wrong.get_dek("k1", "s", version=1, algorithm=None, deleted=False)
    written = len(log.records)
    with fails(500, 50070, "Could not generate raw dek for t"):  # unusable: not stored
        wrong.create_dek("k1", subject="t", encrypted_key_material=MATERIAL)
    assert len(log.records) == written
    wrong.create_kek(name="k2", kms_type="azure-kms", kms_key_id="x", shared=True)
    with fails(500, 50070, "no KMS driver for kmsType 'azure-kms'"):
        wrong.create_dek("k2", subject="s")


def test_alternate_kms_key_ids_are_tried_in_turn(log: LogStandIn) -> None:
    class Picky(LocalKms):
        def encrypt(self, key_id: str, plaintext: bytes, *, props: Any) -> bytes:
            if key_id != "good":
                raise KmsError(f"{key_id} is disabled")
            return super().encrypt(key_id, plaintext, props=props)

    deks = DekRegistry(cast(Registry, log), KmsDrivers([Picky(SECRET)]))
    deks.create_kek(
        name="k1", kms_type="local-kms", kms_key_id="bad", shared=True,
        kms_props={"encrypt.alternate.kms.key.ids": "worse, good"},
    )  # fmt: skip
    assert deks.create_dek("k1", subject="s")["keyMaterial"]


# ------------------------------------------------------------------ replay
def test_replaying_the_records_gives_the_same_state_and_bad_records_are_skipped(
    deks: DekRegistry, log: LogStandIn
) -> None:
    kek(deks, shared=True)
    deks.create_dek("k1", subject="a", version=1)
    deks.create_dek("k1", subject="a", version=2, algorithm="AES256_SIV")
    deks.create_dek("k1", subject="b")
    deks.delete_dek("k1", "b", algorithm=None, permanent=False)
    deks.delete_dek("k1", "b", algorithm=None, permanent=True)
    state = log.replayed()
    assert state == log.state.dek_registry
    assert set(state.deks["k1"]) == {("a", "AES256_GCM"), ("a", "AES256_SIV")}
    state.apply({"keytype": "DEK", "kekName": "k1"}, {"garbage": True})
    state.apply({"keytype": "KEK", "name": "k9"}, {"name": "k9"})
    assert state == log.state.dek_registry
