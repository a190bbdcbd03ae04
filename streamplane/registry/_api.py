"""The REST API, shaped like Confluent Schema Registry's so its clients work unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from streamplane.errors import RegistryError
from streamplane.registry._service import Reference, Registry
from streamplane.registry._state import SchemaVersion

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
T = TypeVar("T")


class SchemaReference(BaseModel):
    name: str
    subject: str
    version: int


class SchemaBody(BaseModel):
    schema_: str = Field(alias="schema")
    schemaType: str = "AVRO"
    references: list[SchemaReference] = []
    metadata: dict[str, Any] | None = None
    ruleSet: dict[str, Any] | None = None


class ConfigBody(BaseModel):
    compatibility: str | None = None
    compatibilityLevel: str | None = None


class ModeBody(BaseModel):
    mode: str


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, media_type=CONTENT_TYPE)


def create_app(registry: Registry, *, manage_lifecycle: bool = True) -> FastAPI:
    """The ASGI app. With ``manage_lifecycle`` the app starts and stops the registry."""

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        if manage_lifecycle:
            await asyncio.to_thread(registry.start)
        yield
        if manage_lifecycle:
            await asyncio.to_thread(registry.stop)

    app = FastAPI(title="Streamplane Schema Registry", lifespan=lifespan)

    async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # Writes wait for Kafka; keep the event loop free for reads meanwhile.
        return await asyncio.to_thread(fn, *args, **kwargs)

    @app.exception_handler(RegistryError)
    async def registry_error(_: Request, exc: RegistryError) -> Response:
        return _json({"error_code": exc.error_code, "message": exc.message}, exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, exc: RequestValidationError) -> Response:
        return _json(
            {"error_code": 422, "message": f"Unprocessable entity: {exc.errors()[:3]}"}, 422
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return _json(
            {"error_code": exc.status_code, "message": f"HTTP {exc.status_code} {exc.detail}"},
            exc.status_code,
        )

    def schema_body(schema_id: int, fmt: str | None = None) -> dict[str, Any]:
        """The schema as Confluent returns it: schemaType only when not Avro."""
        stored = registry.schema(schema_id)
        body: dict[str, Any] = {"schema": registry.render(schema_id, fmt)}
        if stored.schema_type != "AVRO":
            body["schemaType"] = stored.schema_type
        if stored.references:
            body["references"] = [
                {"name": n, "subject": s, "version": ver} for n, s, ver in stored.references
            ]
        return body

    def version_body(v: SchemaVersion, fmt: str | None = None) -> dict[str, Any]:
        return {
            "subject": v.subject,
            "version": v.version,
            "id": v.schema_id,
            **schema_body(v.schema_id, fmt),
        }

    def refs(body: SchemaBody) -> list[Reference]:
        return [Reference(r.name, r.subject, r.version) for r in body.references]

    @app.get("/")
    async def root() -> Response:
        return _json({})

    @app.get("/schemas/types")
    async def types() -> Response:
        from streamplane.registry._service import SUPPORTED_TYPES

        return _json(list(SUPPORTED_TYPES))

    @app.get("/contexts")
    async def contexts() -> Response:
        return _json(["."])

    @app.get("/subjects")
    async def subjects(deleted: bool = False, subjectPrefix: str = "") -> Response:
        return _json(registry.subjects(deleted=deleted, prefix=subjectPrefix))

    @app.get("/subjects/{subject}/versions")
    async def versions(subject: str, deleted: bool = False) -> Response:
        return _json(registry.versions(subject, deleted=deleted))

    @app.post("/subjects/{subject}/versions")
    async def register(subject: str, body: SchemaBody, normalize: bool = False) -> Response:
        schema_id = await run(registry.register, subject, body.schema_, body.schemaType, refs(body))
        return _json({"id": schema_id})

    @app.post("/subjects/{subject}")
    async def lookup(
        subject: str, body: SchemaBody, deleted: bool = False, normalize: bool = False
    ) -> Response:
        found = registry.lookup(subject, body.schema_, body.schemaType, refs(body), deleted=deleted)
        return _json(version_body(found))

    @app.get("/subjects/{subject}/versions/{version}")
    async def get_version(
        subject: str, version: str, deleted: bool = False, format: str | None = None
    ) -> Response:
        return _json(version_body(registry.get_version(subject, version, deleted=deleted), format))

    @app.get("/subjects/{subject}/versions/{version}/schema")
    async def get_version_schema(
        subject: str, version: str, deleted: bool = False, format: str | None = None
    ) -> Response:
        entry = registry.get_version(subject, version, deleted=deleted)
        return Response(registry.render(entry.schema_id, format), media_type=CONTENT_TYPE)

    @app.get("/subjects/{subject}/versions/{version}/referencedby")
    async def referenced_by(subject: str, version: str) -> Response:
        entry = registry.get_version(subject, version)
        return _json(registry.referenced_by(subject, entry.version))

    @app.get("/subjects/{subject}/metadata")
    async def by_metadata(subject: str, request: Request, format: str | None = None) -> Response:
        # Metadata is not stored yet: with no filter this is the latest version.
        if request.query_params.getlist("key"):
            raise RegistryError(
                404, 40401, f"Subject '{subject}' has no version with that metadata"
            )
        return _json(version_body(registry.get_version(subject, "latest"), format))

    @app.delete("/subjects/{subject}")
    async def delete_subject(subject: str, permanent: bool = False) -> Response:
        return _json(await run(registry.delete_subject, subject, permanent=permanent))

    @app.delete("/subjects/{subject}/versions/{version}")
    async def delete_version(subject: str, version: str, permanent: bool = False) -> Response:
        return _json(await run(registry.delete_version, subject, version, permanent=permanent))

    @app.get("/schemas/ids/{schema_id}")
    async def schema_by_id(
        schema_id: int, subject: str | None = None, format: str | None = None
    ) -> Response:
        return _json(schema_body(schema_id, format))

    @app.get("/schemas/ids/{schema_id}/schema")
    async def raw_schema_by_id(schema_id: int, format: str | None = None) -> Response:
        return Response(registry.render(schema_id, format), media_type=CONTENT_TYPE)

    @app.get("/schemas/ids/{schema_id}/subjects")
    async def id_subjects(schema_id: int, deleted: bool = False) -> Response:
        return _json(sorted({v.subject for v in registry.usages(schema_id, deleted=deleted)}))

    @app.get("/schemas/ids/{schema_id}/versions")
    async def id_versions(schema_id: int, deleted: bool = False) -> Response:
        return _json(
            [
                {"subject": v.subject, "version": v.version}
                for v in registry.usages(schema_id, deleted=deleted)
            ]
        )

    @app.get("/config")
    async def get_global_config() -> Response:
        return _json({"compatibilityLevel": registry.config(None)})

    @app.put("/config")
    async def put_global_config(body: ConfigBody) -> Response:
        level = (body.compatibility or body.compatibilityLevel or "").upper()
        await run(registry.set_config, None, level)
        return _json({"compatibility": level})

    @app.get("/config/{subject}")
    async def get_config(subject: str, defaultToGlobal: bool = False) -> Response:
        return _json(
            {"compatibilityLevel": registry.config(subject, default_to_global=defaultToGlobal)}
        )

    @app.put("/config/{subject}")
    async def put_config(subject: str, body: ConfigBody) -> Response:
        level = (body.compatibility or body.compatibilityLevel or "").upper()
        await run(registry.set_config, subject, level)
        return _json({"compatibility": level})

    @app.delete("/config/{subject}")
    async def delete_config(subject: str) -> Response:
        previous = registry.config(subject)
        await run(registry.set_config, subject, None)
        return _json({"compatibilityLevel": previous})

    @app.get("/mode")
    async def get_global_mode() -> Response:
        return _json({"mode": registry.mode(None)})

    @app.put("/mode")
    async def put_global_mode(body: ModeBody) -> Response:
        await run(registry.set_mode, None, body.mode.upper())
        return _json({"mode": body.mode.upper()})

    @app.get("/mode/{subject}")
    async def get_mode(subject: str) -> Response:
        return _json({"mode": registry.mode(subject)})

    @app.put("/mode/{subject}")
    async def put_mode(subject: str, body: ModeBody) -> Response:
        await run(registry.set_mode, subject, body.mode.upper())
        return _json({"mode": body.mode.upper()})

    async def compatibility(
        subject: str, version: str, body: SchemaBody, verbose: bool
    ) -> Response:
        messages = await run(
            registry.check, subject, body.schema_, body.schemaType, refs(body), version=version
        )
        result: dict[str, Any] = {"is_compatible": not messages}
        if verbose:
            result["messages"] = messages
        return _json(result)

    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compat_version(
        subject: str, version: str, body: SchemaBody, verbose: bool = False
    ) -> Response:
        return await compatibility(subject, version, body, verbose)

    @app.post("/compatibility/subjects/{subject}/versions")
    async def compat_all(subject: str, body: SchemaBody, verbose: bool = False) -> Response:
        return await compatibility(subject, "latest", body, verbose)

    return app
