"""The REST API, shaped like Confluent Schema Registry's so its clients work unchanged.

Every request passes the gate first (``_gate``: authentication, audit of writes).
Routes then apply the access rules (``_access``) to the subject they touch, answer
reads from this instance's state, and hand writes to the write router (``_forward``),
which runs them here if this instance is the elected writer and forwards them to the
writer otherwise. Beyond Confluent's API: ``/streamplane/access`` (the access policy,
super users only) and ``/streamplane/status`` (this instance's role).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from streamplane.errors import RegistryError
from streamplane.registry._access import AccessPolicy, AccessRules, Caller
from streamplane.registry._audit import AUDIT_TOPIC, AuditEvent, AuditTrail, utc_now
from streamplane.registry._auth import (
    AuthSettings,
    CredentialCache,
    ScramVerifier,
    TokenVerifier,
)
from streamplane.registry._config import as_update_answer
from streamplane.registry._contracts import Contract, normalize_metadata, normalize_rule_set
from streamplane.registry._dek_api import dek_router
from streamplane.registry._forward import WriteRequest, WriteRouter
from streamplane.registry._gate import CONTENT_TYPE, RegistryGate
from streamplane.registry._service import SUPPORTED_TYPES, Reference, Registered, Registry
from streamplane.registry._state import SchemaVersion, StoredSchema
from streamplane.security.cert_assertion import AssertionVerifier
from streamplane.security.kms import KmsDrivers

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class AppOptions:
    """How an instance is served, grouped apart from the registry itself."""

    #: None: no authentication (Confluent's default); every caller may do everything.
    auth: AuthSettings | None = None
    #: Checks a user/password pair; default: a SASL/SCRAM handshake with the cluster.
    verifier: Callable[[str, str], bool] | None = None
    audit_log: Path | None = None
    #: None: audit events go to the file only.
    audit_topic: str | None = AUDIT_TOPIC
    #: How long a write waits for a writer (elected, reachable) before it fails.
    forward_timeout_s: float = 30.0
    #: Stored at start-up unless already stored (``registry serve --spec``).
    access_policy: AccessPolicy | None = None
    #: The KMSs of shared KEKs (DEK registry); default: ``KmsDrivers.from_environment()``.
    kms: KmsDrivers | None = None
    #: The CA (and its CRL) whose certificates may sign assertions (mTLS applications).
    client_ca: Path | None = None
    client_crl: Path | None = None


class SchemaReference(BaseModel):
    name: str
    subject: str
    version: int


class SchemaBody(BaseModel):
    schema_: str = Field(alias="schema")
    schemaType: str = "AVRO"
    references: list[SchemaReference] = []
    #: The data contract (``_contracts``): tags, properties and sensitive names, and rules.
    metadata: dict[str, Any] | None = None
    ruleSet: dict[str, Any] | None = None

    def contract(self) -> Contract:
        """The contract as given (422/42210 if malformed); the registry completes it."""
        return Contract(normalize_metadata(self.metadata), normalize_rule_set(self.ruleSet))


class ConfigBody(BaseModel):
    """A PUT of a config: only the fields present change, a ``null`` removes one."""

    compatibility: str | None = None
    compatibilityLevel: str | None = None
    compatibilityGroup: str | None = None
    normalize: bool | None = None
    validateFields: bool | None = None
    defaultMetadata: dict[str, Any] | None = None
    overrideMetadata: dict[str, Any] | None = None
    defaultRuleSet: dict[str, Any] | None = None
    overrideRuleSet: dict[str, Any] | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the request named, with Confluent's ``compatibility`` as the level."""
        given = {name: getattr(self, name) for name in self.model_fields_set}
        level = given.pop("compatibility", None)
        if "compatibility" in self.model_fields_set:
            given["compatibilityLevel"] = level
        return given


class ModeBody(BaseModel):
    mode: str


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, media_type=CONTENT_TYPE)


def _caller(request: Request) -> Caller:
    caller = getattr(request.state, "caller", None)
    return caller if isinstance(caller, Caller) else Caller.anonymous()


async def _write_request(request: Request) -> WriteRequest:
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")
    client = f"{request.client.host}:{request.client.port}" if request.client else None
    return WriteRequest(
        request.method,
        target,
        await request.body(),
        dict(request.headers),
        client,
        request.scope.setdefault("state", {}),
    )


def create_app(
    registry: Registry, options: AppOptions | None = None, *, manage_lifecycle: bool = True
) -> FastAPI:
    """The ASGI app. With ``manage_lifecycle`` the app starts and stops the registry."""
    opts = options or AppOptions()
    audit = AuditTrail(
        path=opts.audit_log,
        settings=registry.settings if opts.audit_topic else None,
        topic=opts.audit_topic or AUDIT_TOPIC,
    )
    router = WriteRouter(registry, timeout_s=opts.forward_timeout_s)
    auth = opts.auth
    if auth is not None and registry.settings.username:
        # The registry's own Kafka principal may write _schemas directly anyway.
        auth = replace(auth, super_users=auth.super_users | {registry.settings.username})
    credentials = tokens = None
    if auth is not None:
        verify = opts.verifier or ScramVerifier(registry.settings, timeout_s=auth.verify_timeout_s)
        credentials = CredentialCache(verify, settings=auth)
        tokens = CredentialCache(
            TokenVerifier(registry.settings, timeout_s=auth.verify_timeout_s), settings=auth
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        # Writes block a thread until they are read back; asyncio's default pool (cores
        # + 4 threads) would cap concurrent writes there, and with them group commit.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=64, thread_name_prefix="registry")
        )
        await asyncio.to_thread(audit.start)
        if manage_lifecycle:
            await asyncio.to_thread(registry.start)
        await router.start()
        if opts.access_policy is not None:
            await _publish_policy(registry, router, audit, opts.access_policy)
        yield
        await router.stop()
        if manage_lifecycle:
            await asyncio.to_thread(registry.stop)
        await asyncio.to_thread(audit.stop)

    app = FastAPI(title="Streamplane Schema Registry", lifespan=lifespan)
    app.add_middleware(
        RegistryGate,
        auth=auth,
        credentials=credentials,
        tokens=tokens,
        certificates=(
            AssertionVerifier(opts.client_ca, opts.client_crl) if opts.client_ca else None
        ),
        audit=audit,
        instance=registry.advertised_url,
    )

    async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # Compatibility checks parse schemas; keep the event loop free for reads meanwhile.
        return await asyncio.to_thread(fn, *args, **kwargs)

    @app.exception_handler(RegistryError)
    async def registry_error(_: Request, exc: RegistryError) -> Response:
        return _json({"error_code": exc.error_code, "message": exc.message}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()[:3]
        )
        return _json({"error_code": 422, "message": f"Unprocessable entity: {problems}"}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return _json(
            {"error_code": exc.status_code, "message": f"HTTP {exc.status_code} {exc.detail}"},
            exc.status_code,
        )

    def rules() -> AccessRules:
        return registry.access_rules()

    def require_read_id(request: Request, schema_id: int) -> None:
        """A schema is readable if any subject using it (deleted ones too) is readable."""
        caller = _caller(request)
        if caller.super_user:
            return
        current = rules()
        usages = registry.usages(schema_id, deleted=True)
        if not any(current.may_read(caller, v.subject) for v in usages):
            raise RegistryError(
                403,
                40301,
                f"User {caller.principal} is denied operation Read on Schema: {schema_id}; "
                "no subject using it is readable by this principal",
            )

    def readable(request: Request, versions: list[SchemaVersion]) -> list[SchemaVersion]:
        caller, current = _caller(request), rules()
        return [v for v in versions if current.may_read(caller, v.subject)]

    def schema_body(schema_id: int, fmt: str | None = None) -> dict[str, Any]:
        """The schema as Confluent returns it: schemaType only when not Avro, and its
        metadata and rule set when it has them (they are part of what the id names)."""
        return stored_body(registry.schema(schema_id), registry.render(schema_id, fmt))

    def stored_body(stored: StoredSchema, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if stored.schema_type != "AVRO":
            body["schemaType"] = stored.schema_type
        if stored.references:
            body["references"] = [
                {"name": n, "subject": s, "version": ver} for n, s, ver in stored.references
            ]
        if stored.contract.metadata is not None:
            body["metadata"] = stored.contract.metadata
        if stored.contract.rule_set is not None:
            body["ruleSet"] = stored.contract.rule_set
        body["schema"] = text
        return body

    def registered_body(registered: Registered) -> dict[str, Any]:
        """Confluent's register answer: the id, the version, and the schema as stored."""
        stored = registered.stored  # the writer has applied it by now: render as reads do
        text = registry.render(stored.schema_id, None)
        body = {"id": stored.schema_id, "version": registered.version.version}
        return {**body, **stored_body(stored, text)}

    def version_body(v: SchemaVersion, fmt: str | None = None) -> dict[str, Any]:
        return {
            "subject": v.subject,
            "version": v.version,
            "id": v.schema_id,
            **schema_body(v.schema_id, fmt),
        }

    def refs(body: SchemaBody) -> list[Reference]:
        return [Reference(r.name, r.subject, r.version) for r in body.references]

    # ------------------------------------------------------------------ misc
    @app.get("/")
    async def root() -> Response:
        return _json({})

    @app.get("/schemas/types")
    async def types() -> Response:
        return _json(list(SUPPORTED_TYPES))

    @app.get("/contexts")
    async def contexts() -> Response:
        return _json(["."])

    # -------------------------------------------------------------- subjects
    @app.get("/subjects")
    async def subjects(
        request: Request, deleted: bool = False, subjectPrefix: str = ""
    ) -> Response:
        caller, current = _caller(request), rules()
        found = registry.subjects(deleted=deleted, prefix=subjectPrefix)
        return _json([s for s in found if current.may_read(caller, s)])

    @app.get("/subjects/{subject}/versions")
    async def versions(request: Request, subject: str, deleted: bool = False) -> Response:
        rules().require_read(_caller(request), subject)
        return _json(registry.versions(subject, deleted=deleted))

    @app.post("/subjects/{subject}/versions")
    async def register(
        request: Request, subject: str, body: SchemaBody, normalize: bool = False
    ) -> Response:
        caller, current = _caller(request), rules()
        current.require_write(caller, subject)
        for reference in body.references:
            current.require_read(caller, reference.subject)
        contract = body.contract()

        def local() -> dict[str, Any]:
            registered = registry.register(
                subject, body.schema_, body.schemaType, refs(body),
                contract=contract, normalize=normalize,
            )  # fmt: skip
            return registered_body(registered)

        # Registering the same schema again returns its id: safe to retry on a new writer.
        return await router.write(await _write_request(request), local, idempotent=True)

    @app.post("/subjects/{subject}")
    async def lookup(
        request: Request,
        subject: str,
        body: SchemaBody,
        deleted: bool = False,
        normalize: bool = False,
    ) -> Response:
        rules().require_read(_caller(request), subject)
        found = await run(
            registry.lookup, subject, body.schema_, body.schemaType, refs(body),
            deleted=deleted, contract=body.contract(), normalize=normalize,
        )  # fmt: skip
        return _json(version_body(found))

    @app.get("/subjects/{subject}/versions/{version}")
    async def get_version(
        request: Request,
        subject: str,
        version: str,
        deleted: bool = False,
        format: str | None = None,
    ) -> Response:
        rules().require_read(_caller(request), subject)
        return _json(version_body(registry.get_version(subject, version, deleted=deleted), format))

    @app.get("/subjects/{subject}/versions/{version}/schema")
    async def get_version_schema(
        request: Request,
        subject: str,
        version: str,
        deleted: bool = False,
        format: str | None = None,
    ) -> Response:
        rules().require_read(_caller(request), subject)
        entry = registry.get_version(subject, version, deleted=deleted)
        return Response(registry.render(entry.schema_id, format), media_type=CONTENT_TYPE)

    @app.get("/subjects/{subject}/versions/{version}/referencedby")
    async def referenced_by(request: Request, subject: str, version: str) -> Response:
        rules().require_read(_caller(request), subject)
        entry = registry.get_version(subject, version)
        return _json(registry.referenced_by(subject, entry.version))

    @app.get("/subjects/{subject}/metadata")
    async def by_metadata(
        request: Request, subject: str, deleted: bool = False, format: str | None = None
    ) -> Response:
        """The latest version whose metadata properties hold every ``key``=``value`` pair
        (repeated parameters, paired in order), as ``use.latest.with.metadata`` asks."""
        rules().require_read(_caller(request), subject)
        keys, values = request.query_params.getlist("key"), request.query_params.getlist("value")
        wanted = dict(zip(keys, values, strict=False))
        found = registry.latest_with_metadata(subject, wanted, deleted=deleted)
        return _json(version_body(found, format))

    @app.delete("/subjects/{subject}")
    async def delete_subject(request: Request, subject: str, permanent: bool = False) -> Response:
        rules().require_write(_caller(request), subject)
        return await router.write(
            await _write_request(request),
            lambda: registry.delete_subject(subject, permanent=permanent),
            idempotent=False,
        )

    @app.delete("/subjects/{subject}/versions/{version}")
    async def delete_version(
        request: Request, subject: str, version: str, permanent: bool = False
    ) -> Response:
        rules().require_write(_caller(request), subject)
        return await router.write(
            await _write_request(request),
            lambda: registry.delete_version(subject, version, permanent=permanent),
            idempotent=False,
        )

    # --------------------------------------------------------------- schemas
    @app.get("/schemas/ids/{schema_id}")
    async def schema_by_id(
        request: Request, schema_id: int, subject: str | None = None, format: str | None = None
    ) -> Response:
        require_read_id(request, schema_id)
        return _json(schema_body(schema_id, format))

    @app.get("/schemas/ids/{schema_id}/schema")
    async def raw_schema_by_id(
        request: Request, schema_id: int, format: str | None = None
    ) -> Response:
        require_read_id(request, schema_id)
        return Response(registry.render(schema_id, format), media_type=CONTENT_TYPE)

    @app.get("/schemas/ids/{schema_id}/subjects")
    async def id_subjects(request: Request, schema_id: int, deleted: bool = False) -> Response:
        require_read_id(request, schema_id)
        usages = readable(request, registry.usages(schema_id, deleted=deleted))
        return _json(sorted({v.subject for v in usages}))

    @app.get("/schemas/ids/{schema_id}/versions")
    async def id_versions(request: Request, schema_id: int, deleted: bool = False) -> Response:
        require_read_id(request, schema_id)
        usages = readable(request, registry.usages(schema_id, deleted=deleted))
        return _json([{"subject": v.subject, "version": v.version} for v in usages])

    # ---------------------------------------------------------------- config
    def put_config(subject: str | None, body: ConfigBody) -> dict[str, Any]:
        """Confluent's PUT answer: the whole config now stored, the level as ``compatibility``."""
        return as_update_answer(registry.set_config(subject, body.changes()))

    @app.get("/config")
    async def get_global_config() -> Response:
        return _json(registry.config(None))

    @app.put("/config")
    async def put_global_config(request: Request, body: ConfigBody) -> Response:
        AccessRules.require_super_user(_caller(request), "AlterConfigs on the global config")
        return await router.write(
            await _write_request(request), lambda: put_config(None, body), idempotent=True
        )

    @app.delete("/config")
    async def delete_global_config(request: Request) -> Response:
        AccessRules.require_super_user(_caller(request), "AlterConfigs on the global config")
        return await router.write(
            await _write_request(request), lambda: registry.delete_config(None), idempotent=False
        )

    @app.get("/config/{subject}")
    async def get_config(request: Request, subject: str, defaultToGlobal: bool = False) -> Response:
        rules().require_read(_caller(request), subject)
        return _json(registry.config(subject, default_to_global=defaultToGlobal))

    @app.put("/config/{subject}")
    async def put_subject_config(request: Request, subject: str, body: ConfigBody) -> Response:
        rules().require_write(_caller(request), subject)
        return await router.write(
            await _write_request(request), lambda: put_config(subject, body), idempotent=True
        )

    @app.delete("/config/{subject}")
    async def delete_config(request: Request, subject: str) -> Response:
        rules().require_write(_caller(request), subject)
        return await router.write(
            await _write_request(request),
            lambda: registry.delete_config(subject),
            idempotent=False,
        )

    # ------------------------------------------------------------------ mode
    @app.get("/mode")
    async def get_global_mode() -> Response:
        return _json({"mode": registry.mode(None)})

    @app.put("/mode")
    async def put_global_mode(request: Request, body: ModeBody) -> Response:
        AccessRules.require_super_user(_caller(request), "AlterConfigs on the global mode")
        mode = body.mode.upper()

        def local() -> dict[str, str]:
            registry.set_mode(None, mode)
            return {"mode": mode}

        return await router.write(await _write_request(request), local, idempotent=True)

    @app.get("/mode/{subject}")
    async def get_mode(request: Request, subject: str) -> Response:
        rules().require_read(_caller(request), subject)
        return _json({"mode": registry.mode(subject)})

    @app.put("/mode/{subject}")
    async def put_mode(request: Request, subject: str, body: ModeBody) -> Response:
        rules().require_write(_caller(request), subject)
        mode = body.mode.upper()

        def local() -> dict[str, str]:
            registry.set_mode(subject, mode)
            return {"mode": mode}

        return await router.write(await _write_request(request), local, idempotent=True)

    @app.delete("/mode/{subject}")
    async def delete_mode(request: Request, subject: str) -> Response:
        rules().require_write(_caller(request), subject)
        return await router.write(
            await _write_request(request),
            lambda: {"mode": registry.set_mode(subject, None)},
            idempotent=False,
        )

    # --------------------------------------------------------- compatibility
    async def compatibility(
        request: Request, subject: str, version: str, body: SchemaBody, verbose: bool
    ) -> Response:
        rules().require_read(_caller(request), subject)
        normalize = request.query_params.get("normalize", "").lower() == "true"
        messages = await run(
            registry.check, subject, body.schema_, body.schemaType, refs(body), version=version,
            metadata=body.metadata, normalize=normalize,
        )  # fmt: skip
        result: dict[str, Any] = {"is_compatible": not messages}
        if verbose:
            result["messages"] = messages
        return _json(result)

    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compat_version(
        request: Request, subject: str, version: str, body: SchemaBody, verbose: bool = False
    ) -> Response:
        return await compatibility(request, subject, version, body, verbose)

    @app.post("/compatibility/subjects/{subject}/versions")
    async def compat_all(
        request: Request, subject: str, body: SchemaBody, verbose: bool = False
    ) -> Response:
        return await compatibility(request, subject, "latest", body, verbose)

    # ----------------------------------------------------------- streamplane
    @app.get("/streamplane/access")
    async def get_access(request: Request) -> Response:
        AccessRules.require_super_user(_caller(request), "Read on the access policy")
        policy = registry.stored_access()
        if policy is None:
            raise RegistryError(404, 404, "No access policy is stored")
        return _json(policy.model_dump(mode="json"))

    @app.put("/streamplane/access")
    async def put_access(request: Request, body: AccessPolicy) -> Response:
        AccessRules.require_super_user(_caller(request), "Write on the access policy")

        def local() -> dict[str, Any]:
            registry.set_access(body)
            return body.model_dump(mode="json")

        return await router.write(await _write_request(request), local, idempotent=True)

    @app.delete("/streamplane/access")
    async def delete_access(request: Request) -> Response:
        AccessRules.require_super_user(_caller(request), "Write on the access policy")

        def local() -> dict[str, Any]:
            registry.set_access(None)
            return {}

        return await router.write(await _write_request(request), local, idempotent=True)

    @app.get("/streamplane/status")
    async def status() -> Response:
        return _json(
            {
                "instance": registry.advertised_url,
                "writer": registry.writer_url(),
                "is_writer": registry.is_writer,
                "applied_offset": registry.applied_offset,
            }
        )

    # /dek-registry/v1: KEKs and DEKs of client-side field encryption (``_dek_api``).
    app.include_router(dek_router(registry, router, opts.kms or KmsDrivers.from_environment()))
    return app


async def _publish_policy(
    registry: Registry, router: WriteRouter, audit: AuditTrail, policy: AccessPolicy
) -> None:
    """Store the spec's policy through the writer, as the registry's own principal."""
    if registry.stored_access() == policy:
        return
    body = policy.model_dump_json().encode()
    headers = {"content-type": "application/json"}
    user, password = registry.settings.username, registry.settings.password
    if user is not None and password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["authorization"] = f"Basic {token}"
    request = WriteRequest("PUT", "/streamplane/access", body, headers, client=None)

    def local() -> dict[str, Any]:
        registry.set_access(policy)
        return {}

    try:
        answer = await router.write(request, local, idempotent=True)
        status, code = answer.status_code, None
    except RegistryError as exc:
        status, code = exc.status, exc.error_code
        log.warning("the access policy from the spec was not stored: %s", exc.message)
    if status >= 300:
        log.warning("the access policy from the spec was not stored (HTTP %d)", status)
    if not request.state.get("audit_elsewhere"):
        audit.record(
            AuditEvent(
                at=utc_now(), principal=user, authenticated=True, action="set-access",
                method="PUT", path="/streamplane/access", subject=None, version=None, id=None,
                status=status, error_code=code, decision="allowed", client="serve --spec",
                forwarded_for=None, instance=registry.advertised_url,
            )
        )  # fmt: skip
