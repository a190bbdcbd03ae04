"""Who is signed in: the platform's own identities, verified by the cluster itself.

The console keeps no user store. A password is a principal's SCRAM credential, verified
by a SASL handshake with the cluster (the registry's :class:`ScramVerifier`); an OIDC
sign-in is a client-credentials grant at the issuer (the local one ``up`` runs, or any
external issuer the cluster trusts), whose token is verified the same way over
OAUTHBEARER. Either way, rotating or deleting a credential on the cluster applies here
too, and a principal sees in the console what its Kafka clients may do.

A browser session is a random id in an HttpOnly, SameSite=Strict cookie; the credential
stays in this process's memory (the message browser reads Kafka as the user, so it needs
it) and never reaches the browser. API callers send HTTP basic or a bearer token on each
request instead, as they do to the registry; verifications are cached by salted hash
(:class:`CredentialCache`), so a request costs no handshake after the first.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from streamplane.console.access import Viewer, viewer_for
from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec
from streamplane.registry._auth import (
    CredentialCache,
    ScramVerifier,
    TokenVerifier,
    parse_basic,
    parse_bearer,
    token_expiry,
)

COOKIE = "streamplane_session"
Mechanism = Literal["scram", "oauthbearer"]


@dataclass(frozen=True)
class Session:
    """A signed-in principal, with the credential its Kafka and registry reads use."""

    viewer: Viewer
    mechanism: Mechanism
    #: The SCRAM password or the bearer token (kept server-side only).
    secret: str = field(repr=False)
    expires: float = 0.0
    id: str = field(default="", repr=False)

    def kafka_config(self, base: ConnectionSettings) -> dict[str, object]:
        """librdkafka settings that connect as this user (for reads the broker decides)."""
        if self.mechanism == "scram":
            return base.with_credentials(self.viewer.principal, self.secret).librdkafka()
        conf: dict[str, object] = {
            k: v
            for k, v in base.librdkafka().items()
            if not k.startswith(("sasl.username", "sasl.password", "sasl.oauthbearer."))
        }
        token, expiry = self.secret, self.expires
        conf.update({
            "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _conf: (token, expiry),
        })  # fmt: skip
        return conf

    def registry_auth(self) -> httpx.Auth | dict[str, str]:
        """How this user authenticates to the registry: basic, or the bearer token."""
        if self.mechanism == "scram":
            return httpx.BasicAuth(self.viewer.principal, self.secret)
        return {"authorization": f"Bearer {self.secret}"}


class SignInError(StreamplaneError):
    """Credentials the cluster refused, or an issuer that would not issue a token."""


class Sessions:
    """Sign-in, the browser's sessions, and per-request API credentials."""

    def __init__(
        self,
        spec: Spec,
        settings: ConnectionSettings,
        *,
        super_users: Iterable[str],
        issuer: str | None = None,
        ttl_s: float = 8 * 3600.0,
        password_verifier: Callable[[str, str], bool] | None = None,
        token_verifier: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.super_users = frozenset(super_users)
        self.issuer = issuer.rstrip("/") if issuer else None
        self.ttl_s = ttl_s
        self._passwords = CredentialCache(password_verifier or ScramVerifier(settings))
        self._tokens = CredentialCache(token_verifier or TokenVerifier(settings))
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    # ----------------------------------------------------------- verification
    def verify_password(self, user: str, password: str) -> Session | None:
        """A session for a SCRAM principal whose password the cluster accepts."""
        if not user or not password or not self._passwords.verify(user, password):
            return None
        viewer = viewer_for(self.spec, user, self.super_users)
        return Session(viewer, "scram", password, time.time() + self.ttl_s)

    def verify_token(self, token: str) -> Session | None:
        """A session for a bearer token the cluster's OAUTHBEARER listener accepts."""
        parsed = parse_bearer(f"Bearer {token}")
        if parsed is None:
            return None
        sub, token = parsed
        if not self._tokens.verify(sub, token):
            return None
        viewer = viewer_for(self.spec, sub, self.super_users)
        return Session(viewer, "oauthbearer", token, token_expiry(token))

    def token_from_issuer(self, client_id: str, client_secret: str) -> str:
        """A client-credentials grant at the OIDC issuer: the access token it issues."""
        if self.issuer is None:
            raise SignInError("no OIDC issuer is configured for this console (--oidc-issuer)")
        try:
            found = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
            found.raise_for_status()
            endpoint = found.json()["token_endpoint"]
            answer = httpx.post(
                endpoint,
                data={"grant_type": "client_credentials"},
                auth=(client_id, client_secret),
                timeout=10,
            )
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise SignInError(f"the OIDC issuer {self.issuer} did not answer: {exc}") from exc
        if answer.status_code != 200:
            raise SignInError(f"the OIDC issuer refused client {client_id!r}")
        return str(answer.json()["access_token"])

    # --------------------------------------------------------------- sessions
    def open(self, session: Session) -> Session:
        """Keep ``session`` under a new random id (the browser's cookie)."""
        opened = Session(
            session.viewer,
            session.mechanism,
            session.secret,
            min(session.expires, time.time() + self.ttl_s),
            secrets.token_urlsafe(32),
        )
        with self._lock:
            now = time.time()
            for stale in [k for k, s in self._sessions.items() if s.expires < now]:
                del self._sessions[stale]
            self._sessions[opened.id] = opened
        return opened

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def from_cookie(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        found = self._sessions.get(session_id)
        if found is None or found.expires < time.time():
            return None
        return found

    def from_authorization(self, header: str | None) -> Session | None:
        """An API caller's session from ``Authorization``: basic or bearer."""
        basic = parse_basic(header)
        if basic is not None:
            return self.verify_password(*basic)
        bearer = parse_bearer(header)
        if bearer is not None:
            return self.verify_token(bearer[1])
        return None
