"""The DEK registry's REST API, ``/dek-registry/v1``, as confluent-kafka's client calls it.

Every path, query parameter and body of Confluent's DEK registry (the one its
``DekRegistryClient`` and field-encryption rule executors use): KEKs under ``/keks``,
their DEKs under ``/keks/{name}/deks/{subject}`` with versions, soft and permanent
deletes and undeletes. Reads are answered from this instance's replicated state;
writes go through the write router like schema writes, so any instance accepts them.
Deletes and undeletes answer 204 with no body, as Confluent's do.

Access, with ``--auth`` (names only decide, never whether a key exists, so a 403
reveals nothing; refusals are 403 with 40301 and audited like every write):

* KEKs are readable by every authenticated principal: a producer must read the KEK
  its rule names, and a KEK holds no secret (credentials in ``kmsProps`` are refused).
* A tenant's principals manage (create, update, delete, undelete) the KEKs whose names
  start with their tenant's prefix, e.g. ``payments.pii``; other names belong to the
  platform (``estate-pii``) and only super users manage them.
* DEKs follow their subject: the subject's readers may read them (for a shared KEK
  that includes the unwrapped key, so to keep a public topic's fields from other
  tenants, use a KEK that is not shared and a KMS key only the owner may use); its
  writers (the tenant) may create, delete and undelete them, under their own KEKs or
  the platform's, never under another tenant's.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel

from streamplane.errors import RegistryError
from streamplane.registry._access import AccessRules, Caller
from streamplane.registry._dek import invalid_key
from streamplane.registry._dek_ops import DekRegistry
from streamplane.registry._forward import OFFSET_HEADER, WriteRouter
from streamplane.registry._schema_ops import version_number
from streamplane.security.kms import KmsDrivers

if TYPE_CHECKING:
    from streamplane.registry._service import Registry

PREFIX = "/dek-registry/v1"


class KekBody(BaseModel):
    """Confluent's ``CreateKekRequest`` (unknown properties are ignored, as it allows)."""

    name: str | None = None
    kmsType: str | None = None
    kmsKeyId: str | None = None
    kmsProps: dict[str, str] | None = None
    doc: str | None = None
    shared: bool = False
    deleted: bool = False


class KekUpdateBody(BaseModel):
    """Confluent's ``UpdateKekRequest``: what is left out stays as it is."""

    kmsProps: dict[str, str] | None = None
    doc: str | None = None
    shared: bool | None = None


class DekBody(BaseModel):
    """Confluent's ``CreateDekRequest``."""

    subject: str | None = None
    version: int | None = None
    algorithm: str | None = None
    encryptedKeyMaterial: str | None = None
    deleted: bool = False


class KeyAccess:
    """The tenant rule of the DEK registry over an :class:`AccessRules` (see module doc)."""

    def __init__(self, rules: AccessRules) -> None:
        self.rules = rules
        policy = rules.policy
        self._prefixes = sorted(set(policy.principals.values())) if policy else []

    def kek_owner(self, name: str) -> str | None:
        """The tenant prefix a KEK name falls under (None: a platform KEK)."""
        return max((p for p in self._prefixes if name.startswith(p)), key=len, default=None)

    def require_manage_kek(self, caller: Caller, name: str) -> None:
        if caller.super_user:
            return
        prefix = self.rules.tenant_prefix(caller)
        if prefix is not None and name.startswith(prefix):
            return
        if prefix is None:
            why = f"{caller.principal} belongs to no tenant, so only super users may"
        else:
            why = f"{caller.principal} may manage KEKs whose names start with '{prefix}' only"
        raise RegistryError(
            403, 40301, f"User {caller.principal} is denied operation Write on KEK: {name}; {why}"
        )

    def require_use_kek(self, caller: Caller, name: str) -> None:
        """Creating or removing DEKs under a KEK: its own tenant's, or a platform KEK."""
        if caller.super_user or self.kek_owner(name) is None:
            return
        self.require_manage_kek(caller, name)

    def require_write_dek(self, caller: Caller, kek_name: str, subject: str) -> None:
        self.rules.require_write(caller, subject)
        self.require_use_kek(caller, kek_name)


def _default_context(context: str | None) -> None:
    if context not in (None, "", "."):
        raise invalid_key("context", f"'{context}': only the default context '.' is served")


def _version(version: str) -> int:
    return -1 if version in ("latest", "-1") else version_number(version)


def _no_content(answer: Response) -> Response:
    """The writer's 200 as Confluent's 204, keeping what read-your-writes needs."""
    if answer.status_code != 200:
        return answer
    offset = answer.headers.get(OFFSET_HEADER)
    return Response(status_code=204, headers={OFFSET_HEADER: offset} if offset else None)


def dek_router(registry: Registry, writes: WriteRouter, kms: KmsDrivers) -> APIRouter:
    """The ``/dek-registry/v1`` routes, sharing the app's gate, errors and write router."""
    # Imported here: ``_api`` mounts this router, so it is fully loaded by now.
    from streamplane.registry._api import _caller, _json, _write_request

    deks = DekRegistry(registry, kms)
    router = APIRouter(prefix=PREFIX)

    def access() -> KeyAccess:
        return KeyAccess(registry.access_rules())

    async def write(request: Request, local: Any, *, idempotent: bool) -> Response:
        return await writes.write(await _write_request(request), local, idempotent=idempotent)

    # ---------------------------------------------------------------- KEKs
    @router.get("/keks")
    async def kek_names(deleted: bool = False) -> Response:
        return _json(deks.kek_names(deleted=deleted))

    @router.post("/keks")
    async def create_kek(request: Request, body: KekBody, context: str | None = None) -> Response:
        _default_context(context)
        access().require_manage_kek(_caller(request), body.name or "")

        def local() -> dict[str, Any]:
            return deks.create_kek(
                name=body.name, kms_type=body.kmsType, kms_key_id=body.kmsKeyId,
                kms_props=body.kmsProps, doc=body.doc, shared=body.shared, deleted=body.deleted,
            )  # fmt: skip

        # Not idempotent: a retry of a create that went through answers 40971.
        return await write(request, local, idempotent=False)

    @router.get("/keks/{name}")
    async def get_kek(name: str, deleted: bool = False, context: str | None = None) -> Response:
        _default_context(context)
        return _json(deks.get_kek(name, deleted=deleted).body())

    @router.put("/keks/{name}")
    async def update_kek(request: Request, name: str, body: KekUpdateBody) -> Response:
        access().require_manage_kek(_caller(request), name)

        def local() -> dict[str, Any]:
            return deks.update_kek(name, kms_props=body.kmsProps, doc=body.doc, shared=body.shared)

        return await write(request, local, idempotent=True)

    @router.delete("/keks/{name}")
    async def delete_kek(request: Request, name: str, permanent: bool = False) -> Response:
        access().require_manage_kek(_caller(request), name)
        answer = await write(
            request, lambda: deks.delete_kek(name, permanent=permanent), idempotent=False
        )
        return _no_content(answer)

    @router.post("/keks/{name}/undelete")
    async def undelete_kek(request: Request, name: str) -> Response:
        access().require_manage_kek(_caller(request), name)
        return _no_content(await write(request, lambda: deks.undelete_kek(name), idempotent=True))

    # ---------------------------------------------------------------- DEKs
    @router.get("/keks/{name}/deks")
    async def dek_subjects(request: Request, name: str, deleted: bool = False) -> Response:
        caller, rules = _caller(request), registry.access_rules()
        found = deks.dek_subjects(name, deleted=deleted)
        return _json([s for s in found if rules.may_read(caller, s)])

    async def create_dek(request: Request, name: str, body: DekBody, subject: str) -> Response:
        access().require_write_dek(_caller(request), name, subject)

        def local() -> dict[str, Any]:
            return deks.create_dek(
                name, subject=subject, version=body.version, algorithm=body.algorithm,
                encrypted_key_material=body.encryptedKeyMaterial, deleted=body.deleted,
            )  # fmt: skip

        return await write(request, local, idempotent=False)

    @router.post("/keks/{name}/deks")
    async def create_dek_in_body(request: Request, name: str, body: DekBody) -> Response:
        if not body.subject:
            raise invalid_key("subject", "a DEK needs a subject")
        return await create_dek(request, name, body, body.subject)

    @router.post("/keks/{name}/deks/{subject}")
    async def create_dek_in_path(
        request: Request, name: str, subject: str, body: DekBody
    ) -> Response:
        if body.subject is not None and body.subject != subject:
            raise invalid_key(
                "subject", f"the body names '{body.subject}' but the path '{subject}'"
            )
        return await create_dek(request, name, body, subject)

    @router.get("/keks/{name}/deks/{subject}")
    async def get_dek(
        request: Request,
        name: str,
        subject: str,
        algorithm: str | None = None,
        deleted: bool = False,
    ) -> Response:
        registry.access_rules().require_read(_caller(request), subject)
        found = await asyncio.to_thread(
            deks.get_dek, name, subject, version=1, algorithm=algorithm, deleted=deleted
        )
        return _json(found)

    @router.get("/keks/{name}/deks/{subject}/versions")
    async def dek_versions(
        request: Request,
        name: str,
        subject: str,
        algorithm: str | None = None,
        deleted: bool = False,
    ) -> Response:
        registry.access_rules().require_read(_caller(request), subject)
        return _json(deks.dek_versions(name, subject, algorithm=algorithm, deleted=deleted))

    @router.get("/keks/{name}/deks/{subject}/versions/{version}")
    async def get_dek_version(
        request: Request,
        name: str,
        subject: str,
        version: str,
        algorithm: str | None = None,
        deleted: bool = False,
    ) -> Response:
        registry.access_rules().require_read(_caller(request), subject)
        number = _version(version)
        found = await asyncio.to_thread(
            deks.get_dek, name, subject, version=number, algorithm=algorithm, deleted=deleted
        )
        return _json(found)

    @router.delete("/keks/{name}/deks/{subject}")
    async def delete_dek(
        request: Request,
        name: str,
        subject: str,
        algorithm: str | None = None,
        permanent: bool = False,
    ) -> Response:
        access().require_write_dek(_caller(request), name, subject)

        def local() -> None:
            deks.delete_dek(name, subject, algorithm=algorithm, permanent=permanent)

        return _no_content(await write(request, local, idempotent=False))

    @router.delete("/keks/{name}/deks/{subject}/versions/{version}")
    async def delete_dek_version(
        request: Request,
        name: str,
        subject: str,
        version: str,
        algorithm: str | None = None,
        permanent: bool = False,
    ) -> Response:
        access().require_write_dek(_caller(request), name, subject)
        number = _version(version)

        def local() -> None:
            deks.delete_dek_version(name, subject, number, algorithm=algorithm, permanent=permanent)

        return _no_content(await write(request, local, idempotent=False))

    @router.post("/keks/{name}/deks/{subject}/undelete")
    async def undelete_dek(
        request: Request, name: str, subject: str, algorithm: str | None = None
    ) -> Response:
        access().require_write_dek(_caller(request), name, subject)

        def local() -> None:
            deks.undelete_dek(name, subject, algorithm=algorithm)

        return _no_content(await write(request, local, idempotent=True))

    @router.post("/keks/{name}/deks/{subject}/versions/{version}/undelete")
    async def undelete_dek_version(
        request: Request, name: str, subject: str, version: str, algorithm: str | None = None
    ) -> Response:
        access().require_write_dek(_caller(request), name, subject)
        number = _version(version)

        def local() -> None:
            deks.undelete_dek_version(name, subject, number, algorithm=algorithm)

        return _no_content(await write(request, local, idempotent=True))

    return router
