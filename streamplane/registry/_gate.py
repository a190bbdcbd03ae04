"""The HTTP edge of the registry: authenticate every request, audit every write.

An ASGI middleware rather than per-route code, for two reasons. Authentication must
come before anything else looks at the request (routing, body parsing): an
unauthenticated caller learns nothing, not even that its body was malformed. And
auditing wraps the whole exchange, so a write is recorded with the status the client
actually got, whether it was refused here (401), by the access rules (403), by
validation (422), by the registry (409, 404...) or failed to reach the writer (5xx).

Authorization needs the subject and the policy, so it happens in the routes (see
``_api``), which find the authenticated :class:`Caller` in ``request.state.caller``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

from confluent_kafka import KafkaException

from streamplane.errors import RegistryError
from streamplane.registry._access import Caller
from streamplane.registry._audit import AuditEvent, AuditTrail, utc_now
from streamplane.registry._auth import AuthSettings, CredentialCache, parse_basic, parse_bearer
from streamplane.security.cert_assertion import AssertionRefused, AssertionVerifier, is_assertion

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
#: Set by a forwarding instance; the writer records the address in its audit event.
FORWARDED_FOR = "x-streamplane-forwarded-for"
_FORWARDED_FOR = FORWARDED_FOR.encode()
#: Statuses whose responses have no body (RFC 9110).
_NO_BODY = (204, 304)

#: (method, path pattern) -> action name, for every request that changes the registry.
WRITES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/subjects/(?P<subject>[^/]+)/versions/?$"), "register"),
    ("DELETE", re.compile(r"^/subjects/(?P<subject>[^/]+)/?$"), "delete-subject"),
    (
        "DELETE",
        re.compile(r"^/subjects/(?P<subject>[^/]+)/versions/(?P<version>[^/]+)/?$"),
        "delete-version",
    ),
    ("PUT", re.compile(r"^/config(?:/(?P<subject>[^/]+))?/?$"), "set-config"),
    ("DELETE", re.compile(r"^/config(?:/(?P<subject>[^/]+))?/?$"), "delete-config"),
    ("PUT", re.compile(r"^/mode(?:/(?P<subject>[^/]+))?/?$"), "set-mode"),
    ("DELETE", re.compile(r"^/mode(?:/(?P<subject>[^/]+))?/?$"), "delete-mode"),
    ("PUT", re.compile(r"^/streamplane/access/?$"), "set-access"),
    ("DELETE", re.compile(r"^/streamplane/access/?$"), "delete-access"),
    # The DEK registry (``_dek_api``); the KEK name is in the recorded path.
    ("POST", re.compile(r"^/dek-registry/v1/keks/?$"), "create-kek"),
    ("PUT", re.compile(r"^/dek-registry/v1/keks/[^/]+/?$"), "update-kek"),
    ("DELETE", re.compile(r"^/dek-registry/v1/keks/[^/]+/?$"), "delete-kek"),
    ("POST", re.compile(r"^/dek-registry/v1/keks/[^/]+/undelete/?$"), "undelete-kek"),
    (
        "POST",
        re.compile(r"^/dek-registry/v1/keks/[^/]+/deks(?:/(?P<subject>[^/]+))?/?$"),
        "create-dek",
    ),
    (
        "DELETE",
        re.compile(
            r"^/dek-registry/v1/keks/[^/]+/deks/(?P<subject>[^/]+)"
            r"(?:/versions/(?P<version>[^/]+))?/?$"
        ),
        "delete-dek",
    ),
    (
        "POST",
        re.compile(
            r"^/dek-registry/v1/keks/[^/]+/deks/(?P<subject>[^/]+)"
            r"(?:/versions/(?P<version>[^/]+))?/undelete/?$"
        ),
        "undelete-dek",
    ),
]


def classify(method: str, path: str) -> tuple[str, str | None, str | None] | None:
    """(action, subject, version) of a write request; None for a read."""
    for write_method, pattern, action in WRITES:
        if method == write_method:
            match = pattern.match(path)
            if match:
                groups = match.groupdict()
                subject, version = groups.get("subject"), groups.get("version")
                return action, unquote(subject) if subject else None, version
    return None


_SUBJECT_PATH = re.compile(r"^/subjects/(?P<subject>[^/]+)")


def _subject_of(path: str) -> str | None:
    """The subject a read names, if any (``/subjects/<subject>/...``)."""
    match = _SUBJECT_PATH.match(path)
    return unquote(match["subject"]) if match else None


def error_body(exc: RegistryError) -> bytes:
    """Confluent's error body, byte for byte as the API's own errors are serialised."""
    body = {"error_code": exc.error_code, "message": exc.message}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class RegistryGate:
    """ASGI middleware: authentication (when ``auth`` is set) and the audit of writes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: AuthSettings | None,
        credentials: CredentialCache | None,
        audit: AuditTrail | None,
        instance: str | None,
        tokens: CredentialCache | None = None,
        certificates: AssertionVerifier | None = None,
    ) -> None:
        self.app = app
        self.auth = auth
        self.credentials = credentials
        #: Bearer tokens (OAuth applications), verified by the cluster like passwords.
        self.tokens = tokens
        #: Certificate assertions (mTLS applications), checked here against the CA.
        self.certificates = certificates
        self.audit = audit
        self.instance = instance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        write = classify(scope["method"], scope["path"])
        state = scope.setdefault("state", {})
        authorization = forwarded_for = None
        for name, value in scope["headers"]:  # ASGI header names are lower case
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == _FORWARDED_FOR:
                forwarded_for = value.decode("latin-1")
        claimed = parse_basic(authorization)
        bearer = parse_bearer(authorization) if claimed is None else None
        if bearer is not None and self.auth is not None and is_assertion(bearer[1]):
            caller, refusal = self._certificate(bearer[1])
            claimed = bearer
        elif bearer is not None and self.tokens is not None:
            caller, refusal = await self._authenticate(bearer, self.tokens)
            claimed = bearer
        else:
            caller, refusal = await self._authenticate(claimed, self.credentials)
        status, body = 0, bytearray()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status in _NO_BODY:
                    # The server may complete a bodiless answer with its headers: record
                    # the event before they leave (the DEK registry's deletes answer 204).
                    audit(status, b"")
            elif message["type"] == "http.response.body":
                if write is not None and len(body) < 65536:
                    body.extend(message.get("body", b""))
                if not message.get("more_body", False) and status not in _NO_BODY:
                    # Recorded before the last byte leaves: a client that has its answer
                    # can rely on the audit line being there.
                    audit(status, bytes(body))
            await send(message)

        def audit(status: int, body: bytes) -> None:
            if self.audit is None or state.get("audit_elsewhere"):
                return
            # Every write, and every refused read: who tried to see what they may not.
            action = write or (
                ("read", _subject_of(scope["path"]), None) if status in (401, 403) else None
            )
            if action is None:
                return
            who = caller.principal if caller else (claimed[0] if claimed else None)
            self.audit.record(
                self._event(scope, forwarded_for, action, who, caller is not None, status, body)
            )

        if refusal is not None:
            await _send_error(capture, refusal, authenticate=refusal.status == 401)
        else:
            assert caller is not None
            state["caller"] = caller
            await self.app(scope, receive, capture)

    async def _authenticate(
        self, claimed: tuple[str, str] | None, cache: CredentialCache | None
    ) -> tuple[Caller | None, RegistryError | None]:
        if self.auth is None or cache is None:
            return Caller.anonymous(), None
        if claimed is None:
            return None, RegistryError(401, 401, "Unauthorized: credentials are required")
        user, password = claimed
        verdict = cache.cached(user, password)
        if verdict is None:
            try:
                verdict = await asyncio.to_thread(cache.verify, user, password)
            except RegistryError as exc:
                return None, exc
            except KafkaException as exc:
                message = f"cannot verify credentials with the cluster: {exc.args[0].str()}"
                return None, RegistryError(500, 50001, message)
        if not verdict:
            return None, RegistryError(401, 401, "Unauthorized: wrong user name or password")
        return Caller(user, super_user=user in self.auth.super_users), None

    def _certificate(self, token: str) -> tuple[Caller | None, RegistryError | None]:
        """An mTLS application's assertion: cheap to check, so never cached (a revoked
        certificate is refused at its next request)."""
        assert self.auth is not None
        if self.certificates is None:
            message = "Unauthorized: this registry was started without a client CA (--client-ca)"
            return None, RegistryError(401, 401, message)
        try:
            principal = self.certificates.verify(token)
        except AssertionRefused as exc:
            return None, RegistryError(401, 401, f"Unauthorized: {exc}")
        return Caller(principal, super_user=principal in self.auth.super_users), None

    def _event(
        self,
        scope: Scope,
        forwarded_for: str | None,
        write: tuple[str, str | None, str | None],
        principal: str | None,
        authenticated: bool,
        status: int,
        body: bytes,
    ) -> AuditEvent:
        action, subject, version = write
        parsed: Any = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(body) if body else None
        error_code = parsed.get("error_code") if isinstance(parsed, dict) else None
        schema_id = parsed.get("id") if isinstance(parsed, dict) and status == 200 else None
        client = scope.get("client")
        return AuditEvent(
            at=utc_now(),
            principal=principal,
            authenticated=authenticated,
            action=action,
            method=scope["method"],
            path=scope["path"],
            subject=subject,
            version=version,
            id=schema_id if isinstance(schema_id, int) else None,
            status=status,
            error_code=error_code if isinstance(error_code, int) else None,
            decision="denied" if status in (401, 403) else "allowed",
            client=f"{client[0]}:{client[1]}" if client else None,
            forwarded_for=forwarded_for,
            instance=self.instance,
        )


async def _send_error(send: Send, exc: RegistryError, *, authenticate: bool) -> None:
    body = error_body(exc)
    headers = [
        (b"content-type", CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if authenticate:
        headers.append((b"www-authenticate", b'Basic realm="streamplane-registry"'))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
