"""The DEK registry's operations, with Confluent's semantics and error codes.

Reads come from the state this instance replayed (``_dek``); writes run on the elected
writer inside a write session, like schema writes. Errors are Confluent's
(``DekRegistryErrors``):

    40470  404  Key '<kek or subject>' not found
    40471  404  Key '<name>' was not deleted first before being permanently deleted
    40472  404  Key '<kek>' must be undeleted first (undeleting a DEK of a deleted KEK)
    40971  409  Key '<name>' already exists; use a different value
    42271  422  invalid or missing key info (name, kmsType, kmsKeyId, subject...)
    42272  422  One or more references exist to the key <kek> (it still has DEKs)
    50070  500  the registry could not make or unwrap a DEK for a shared KEK

A ``shared`` KEK is one the registry may use itself: it makes the DEK, wraps it
through the KMS, and returns it unwrapped as ``keyMaterial`` on every read, so clients
need no KMS access. Other KEKs never reach a KMS here: clients wrap and unwrap
themselves. KMS credentials are never stored: props such as ``secret.access.key``
are refused, since every reader of ``_schemas`` would see them.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from streamplane.errors import KmsError, RegistryError
from streamplane.registry._dek import (
    Dek,
    DekState,
    Kek,
    check_algorithm,
    check_name,
    check_subject,
    generate_key_material,
    invalid_key,
    key_not_found,
    normalize_kms_type,
)
from streamplane.security.kms import SECRET_PROPS, KmsDrivers

if TYPE_CHECKING:
    from streamplane.registry._service import Registry

#: A kmsProps entry (as in the clients) naming more KMS keys to try after ``kmsKeyId``.
ALTERNATE_KEY_IDS = "encrypt.alternate.kms.key.ids"


# ------------------------------------------------------------------ errors
def _not_soft_deleted(name: str) -> RegistryError:
    return RegistryError(
        404, 40471, f"Key '{name}' was not deleted first before being permanently deleted"
    )


def _soft_deleted(name: str) -> RegistryError:
    return RegistryError(404, 40472, f"Key '{name}' must be undeleted first")


def _already_exists(name: str) -> RegistryError:
    return RegistryError(409, 40971, f"Key '{name}' already exists; use a different value")


def _references_exist(name: str) -> RegistryError:
    return RegistryError(
        422, 42272,
        f"One or more references exist to the key {name}: delete its DEKs first "
        "(soft before a soft delete of the KEK, permanently before a permanent one)",
    )  # fmt: skip


# ------------------------------------------------------------ operations
class DekRegistry:
    """The DEK registry's reads (from the replicated state) and writes (on the writer)."""

    def __init__(
        self, registry: Registry, kms: KmsDrivers, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._registry = registry
        self.kms = kms
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def _state(self) -> DekState:
        return self._registry.state.dek_registry

    # ---------------------------------------------------------------- reads
    def kek_names(self, *, deleted: bool) -> list[str]:
        with self._registry._lock:
            return self._state().kek_names(deleted=deleted)

    def get_kek(self, name: str, *, deleted: bool) -> Kek:
        with self._registry._lock:
            kek = self._state().kek(check_name(name), deleted=deleted)
        if kek is None:
            raise key_not_found(name)
        return kek

    def dek_subjects(self, kek_name: str, *, deleted: bool) -> list[str]:
        self.get_kek(kek_name, deleted=deleted)
        with self._registry._lock:
            deks = self._state().deks_of(kek_name, deleted=deleted)
        return sorted({d.subject for d in deks})

    def dek_versions(
        self, kek_name: str, subject: str, *, algorithm: str | None, deleted: bool
    ) -> list[int]:
        self.get_kek(kek_name, deleted=deleted)
        with self._registry._lock:
            found = self._state().versions(
                kek_name, check_subject(subject), check_algorithm(algorithm), deleted=deleted
            )
        return [d.version for d in found]

    def get_dek(
        self, kek_name: str, subject: str, *, version: int, algorithm: str | None, deleted: bool
    ) -> dict[str, Any]:
        """The DEK's REST body; for a shared KEK with its key unwrapped by the KMS."""
        kek = self.get_kek(kek_name, deleted=deleted)
        with self._registry._lock:
            dek = self._state().dek(
                kek_name,
                check_subject(subject),
                check_algorithm(algorithm),
                version,
                deleted=deleted,
            )
        if dek is None:
            raise key_not_found(subject)
        return dek.body(self._unwrap(kek, dek) if kek.shared else None)

    # ----------------------------------------------------------------- KMS
    def _key_ids(self, kek: Kek) -> list[str]:
        alternates = kek.kms_props.get(ALTERNATE_KEY_IDS, "")
        return [kek.kms_key_id, *(k.strip() for k in alternates.split(",") if k.strip())]

    def _wrap(self, kek: Kek, raw: bytes, subject: str) -> bytes:
        problem = ""
        for key_id in self._key_ids(kek):
            try:
                return self.kms.driver(kek.kms_type).encrypt(key_id, raw, props=kek.kms_props)
            except KmsError as exc:
                problem = str(exc)
        raise RegistryError(
            500, 50070, f"Could not generate encrypted dek for {subject}: {problem}"
        )

    def _unwrap(self, kek: Kek, dek: Dek) -> bytes:
        try:
            wrapped = base64.b64decode(dek.encrypted_key_material, validate=True)
        except binascii.Error as exc:
            raise RegistryError(
                500, 50070, f"Could not generate raw dek for {dek.subject}: not base64"
            ) from exc
        problem = ""
        for key_id in self._key_ids(kek):
            try:
                return self.kms.driver(kek.kms_type).decrypt(key_id, wrapped, props=kek.kms_props)
            except KmsError as exc:
                problem = str(exc)
        raise RegistryError(500, 50070, f"Could not generate raw dek for {dek.subject}: {problem}")

    # ---------------------------------------------------------- KEK writes
    def create_kek(
        self,
        *,
        name: str | None,
        kms_type: str | None,
        kms_key_id: str | None,
        kms_props: Mapping[str, str] | None = None,
        doc: str | None = None,
        shared: bool = False,
        deleted: bool = False,
    ) -> dict[str, Any]:
        """Register a KEK; re-creating a soft-deleted, identical one undeletes it."""
        name = check_name(name)
        if not kms_key_id:
            raise invalid_key("kmsKeyId", "a KEK needs the id of its key in the KMS")
        if not kms_type:
            raise invalid_key("kmsType", "a KEK needs its KMS type, e.g. local-kms or aws-kms")
        props = _checked_props(kms_props)
        with self._registry.writer.session() as session:
            new = Kek(
                name, normalize_kms_type(kms_type), kms_key_id, props, doc, shared,
                self._now(), deleted,
            )  # fmt: skip
            with self._registry._lock:
                old = self._state().kek(name, deleted=True)
            if old is not None and (old.deleted == deleted or not old.equivalent(new)):
                raise _already_exists(name)
            session.write([new.record()])
        return new.body()

    def update_kek(
        self,
        name: str,
        *,
        kms_props: Mapping[str, str] | None,
        doc: str | None,
        shared: bool | None,
    ) -> dict[str, Any]:
        """Change a live KEK's props, doc or shared flag (None keeps the current value)."""
        check_name(name)
        props = None if kms_props is None else _checked_props(kms_props)
        with self._registry.writer.session() as session:
            with self._registry._lock:
                old = self._state().kek(name, deleted=False)
            if old is None:
                raise key_not_found(name)
            new = replace(
                old,
                kms_props=old.kms_props if props is None else props,
                doc=old.doc if doc is None else doc,
                shared=old.shared if shared is None else shared,
            )
            if new.equivalent(old):
                return old.body()
            new = replace(new, ts=self._now())
            session.write([new.record()])
        return new.body()

    def delete_kek(self, name: str, *, permanent: bool) -> None:
        check_name(name)
        with self._registry.writer.session() as session:
            with self._registry._lock:
                old = self._state().kek(name, deleted=True)
                referenced = bool(self._state().deks_of(name, deleted=permanent))
            if old is None:
                raise key_not_found(name)
            if referenced:
                raise _references_exist(name)
            if permanent:
                if not old.deleted:
                    raise _not_soft_deleted(name)
                session.write([old.record(tombstone=True)])
            elif not old.deleted:
                session.write([replace(old, ts=self._now(), deleted=True).record()])

    def undelete_kek(self, name: str) -> None:
        check_name(name)
        with self._registry.writer.session() as session:
            with self._registry._lock:
                old = self._state().kek(name, deleted=True)
            if old is None:
                raise key_not_found(name)
            if old.deleted:
                session.write([replace(old, ts=self._now(), deleted=False).record()])

    # ---------------------------------------------------------- DEK writes
    def create_dek(
        self,
        kek_name: str,
        *,
        subject: str | None,
        version: int | None = None,
        algorithm: str | None = None,
        encrypted_key_material: str | None = None,
        deleted: bool = False,
    ) -> dict[str, Any]:
        """Register a DEK version; for a shared KEK without material, make and wrap one."""
        check_name(kek_name)
        subject = check_subject(subject)
        algorithm = check_algorithm(algorithm)
        number = 1 if version is None else version
        if number < 1:
            raise invalid_key("version", f"{number}: DEK versions start at 1")
        if encrypted_key_material is not None:
            try:
                base64.b64decode(encrypted_key_material, validate=True)
            except binascii.Error as exc:
                raise invalid_key("encryptedKeyMaterial", "not base64") from exc
        kek = self.get_kek(kek_name, deleted=deleted)
        # KMS round trips happen before the write session: they must not hold up others.
        raw: bytes | None = None
        if encrypted_key_material is None:
            if not kek.shared:
                raise invalid_key(
                    "encryptedKeyMaterial",
                    f"KEK '{kek_name}' is not shared, so the client wraps the DEK and sends it",
                )
            raw = generate_key_material(algorithm)
            encrypted_key_material = base64.b64encode(self._wrap(kek, raw, subject)).decode()
        elif kek.shared:
            # A key this registry cannot unwrap could never be served: refuse to store it.
            raw = self._unwrap(kek, Dek(kek_name, subject, number, algorithm,
                                         encrypted_key_material))  # fmt: skip
        with self._registry.writer.session() as session:
            with self._registry._lock:
                kek_now = self._state().kek(kek_name, deleted=deleted)
                old = self._state().dek(kek_name, subject, algorithm, number, deleted=True)
            if kek_now is None:
                raise key_not_found(kek_name)
            new = Dek(
                kek_name, subject, number, algorithm, encrypted_key_material, self._now(), deleted
            )
            if old is not None and (old.deleted == deleted or not old.equivalent(new)):
                raise _already_exists(subject)
            session.write([new.record()])
        return new.body(raw if kek_now.shared else None)

    def _dek_scope(
        self, kek_name: str, subject: str, algorithm: str | None
    ) -> tuple[Kek, str, list[Dek]]:
        """(KEK, algorithm, every version) of a delete or undelete; 40470 if none."""
        check_name(kek_name)
        check_subject(subject)
        algorithm = check_algorithm(algorithm)
        with self._registry._lock:
            kek = self._state().kek(kek_name, deleted=True)
            versions = self._state().versions(kek_name, subject, algorithm, deleted=True)
        if kek is None:
            raise key_not_found(kek_name)
        if not versions:
            raise key_not_found(subject)
        return kek, algorithm, versions

    def delete_dek(
        self, kek_name: str, subject: str, *, algorithm: str | None, permanent: bool
    ) -> None:
        """Delete every version of a subject's DEK (soft, or permanently once soft-deleted)."""
        with self._registry.writer.session() as session:
            _, _, versions = self._dek_scope(kek_name, subject, algorithm)
            if permanent:
                if any(not d.deleted for d in versions):
                    raise _not_soft_deleted(subject)
                session.write([d.record(tombstone=True) for d in versions])
                return
            now = self._now()
            live = [replace(d, ts=now, deleted=True).record() for d in versions if not d.deleted]
            if live:
                session.write(live)

    def delete_dek_version(
        self, kek_name: str, subject: str, version: int, *, algorithm: str | None, permanent: bool
    ) -> None:
        with self._registry.writer.session() as session:
            _, _, versions = self._dek_scope(kek_name, subject, algorithm)
            dek = _pick(versions, version)
            if dek is None:
                raise key_not_found(subject)
            if permanent:
                if not dek.deleted:
                    raise _not_soft_deleted(subject)
                session.write([dek.record(tombstone=True)])
            elif not dek.deleted:
                session.write([replace(dek, ts=self._now(), deleted=True).record()])

    def undelete_dek(self, kek_name: str, subject: str, *, algorithm: str | None) -> None:
        with self._registry.writer.session() as session:
            kek, _, versions = self._dek_scope(kek_name, subject, algorithm)
            if kek.deleted:
                raise _soft_deleted(kek_name)
            now = self._now()
            gone = [replace(d, ts=now, deleted=False).record() for d in versions if d.deleted]
            if gone:
                session.write(gone)

    def undelete_dek_version(
        self, kek_name: str, subject: str, version: int, *, algorithm: str | None
    ) -> None:
        with self._registry.writer.session() as session:
            kek, _, versions = self._dek_scope(kek_name, subject, algorithm)
            dek = _pick(versions, version)
            if dek is None:
                raise key_not_found(subject)
            if kek.deleted:
                raise _soft_deleted(kek_name)
            if dek.deleted:
                session.write([replace(dek, ts=self._now(), deleted=False).record()])


def _pick(versions: list[Dek], version: int) -> Dek | None:
    if version == -1:
        return versions[-1] if versions else None
    return next((d for d in versions if d.version == version), None)


def _checked_props(props: Mapping[str, str] | None) -> dict[str, str]:
    """kmsProps to store: never credentials, which would be replicated to every reader."""
    checked = dict(sorted((props or {}).items()))
    secret = sorted(SECRET_PROPS & set(checked))
    if secret:
        raise invalid_key(
            "kmsProps",
            f"{', '.join(secret)} would store a credential in the registry; the registry "
            "and the clients take KMS credentials from their own environment instead",
        )
    return checked
