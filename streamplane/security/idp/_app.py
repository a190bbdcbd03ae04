"""The issuer's HTTP interface: discovery, JWKS and the client-credentials token endpoint.

Just enough OIDC for machine identities: what Kafka's JWT validator reads (the JWKS, by
``kid``), what librdkafka's ``sasl.oauthbearer.method=oidc`` and the schema registry
client call (``POST /token`` with ``grant_type=client_credentials`` and the client's id and
secret as HTTP Basic or form fields), and the discovery document an operator points other
tools at. Tokens are RS256 JWTs signed with the newest key; errors follow RFC 6749 §5.2 and
never say whether the client or its secret was wrong.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from streamplane.security.idp._home import IdpHome

log = logging.getLogger("streamplane.idp")

IDP_PORT = 8085


@dataclass(frozen=True)
class IdpSettings:
    issuer: str
    audience: str = "kafka"
    token_lifetime_s: int = 300
    #: The signing key is replaced when older than this; retired keys stay in the JWKS
    #: until every token they signed has expired.
    key_rotation_s: int = 86400


def mint_token(
    home: IdpHome,
    settings: IdpSettings,
    *,
    sub: str,
    audience: str | None = None,
    lifetime_s: int | None = None,
    issued_at: float | None = None,
    foreign_key: bool = False,
    scope: str = "",
) -> str:
    """A token as the endpoint signs it; the keywords make the bad ones tests need
    (expired, for another audience, signed by a key the JWKS does not publish)."""
    now = time.time() if issued_at is None else issued_at
    lifetime = settings.token_lifetime_s if lifetime_s is None else lifetime_s
    claims = {
        "iss": settings.issuer, "sub": sub, "aud": audience or settings.audience,
        "iat": int(now), "nbf": int(now) - 5, "exp": int(now + lifetime),
        "jti": uuid.uuid4().hex, "client_id": sub,
    }  # fmt: skip
    if scope:
        # Kafka's validator refuses an empty scope claim: present only when asked for.
        claims["scope"] = scope
    if foreign_key:
        key: rsa.RSAPrivateKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = "unknown-key"
    else:
        active = home.active_key(rotate_after_s=settings.key_rotation_s)
        key, kid = active.key, active.kid
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(numbers.n),
            "e": b64(numbers.e)}  # fmt: skip


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="streamplane-idp"'} if status == 401 else {}
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        if sep:
            return unquote(client_id), unquote(secret)
        return None
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    return None


def create_app(home: IdpHome, settings: IdpSettings) -> FastAPI:
    app = FastAPI(title="Streamplane development OIDC issuer")

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": settings.issuer,
            "jwks_uri": f"{settings.issuer}/jwks",
            "token_endpoint": f"{settings.issuer}/token",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        home.active_key(rotate_after_s=settings.key_rotation_s)
        home.prune(keep_s=settings.token_lifetime_s + 60)
        return {"keys": [_jwk(k.kid, k.key) for k in home.signing_keys()]}

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        # urlencoded, as RFC 6749 requires (the stdlib parses it: no multipart dependency)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "only grant_type=client_credentials is supported"
            )
        claimed = _client_credentials(request, form)
        client = home.clients().get(claimed[0]) if claimed else None
        if claimed is None or client is None or client.disabled or not client.accepts(claimed[1]):
            log.warning(
                "token refused: client %s (%s)",
                claimed[0] if claimed else "-",
                "disabled" if client is not None and client.disabled else "unknown or wrong secret",
            )
            return _oauth_error(401, "invalid_client", "client authentication failed")
        scope = form.get("scope", "")
        issued = mint_token(home, settings, sub=client.principal, scope=scope)
        log.info("token issued: client %s sub %s", client.client_id, client.principal)
        return JSONResponse(
            {"access_token": issued, "token_type": "Bearer",
             "expires_in": settings.token_lifetime_s, "scope": scope},
            headers={"Cache-Control": "no-store"},
        )  # fmt: skip

    return app
