"""Certificate assertions: how an mTLS application proves who it is to the schema registry.

An application that connects to Kafka with a client certificate has no password and no
OAuth client, yet its serializers must read schemas over HTTP. Rather than give it a
second secret (a password would outlive a revoked certificate), it signs a short-lived
JWT with its certificate's own key and sends it as ``Authorization: Bearer``; the
certificate travels in the token's ``x5c`` header, as in RFC 7515 and RFC 7523's
private-key client assertions. The registry accepts the token when the certificate was
issued by the cluster's CA, is within its validity, is not on the CA's revocation list,
and its CN (the Kafka principal, by the brokers' own mapping rule) is the token's
``sub``. So revoking the certificate cuts off the registry at the next request, exactly
as it cuts off Kafka.

Written here rather than taken from a library: PyJWT signs and verifies the token, and
``cryptography`` checks the chain; what is specific (which CA, which CRL, CN to
principal) is a few lines of policy.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from streamplane.errors import StreamplaneError
from streamplane.security._subject import SUBJECT_PATTERN

#: The ``aud`` of every assertion: they are good for the registry and nothing else.
REGISTRY_AUDIENCE = "streamplane-registry"
#: Longest lifetime accepted; the SDK mints them for 5 minutes and renews them early.
MAX_LIFETIME_S = 600
#: Clock skew tolerated between the application and the registry.
LEEWAY_S = 30
_SUBJECT = re.compile(SUBJECT_PATTERN)


class AssertionRefused(StreamplaneError):
    """A certificate assertion that proves nothing; the message says why."""


def is_assertion(token: str) -> bool:
    """Whether ``token`` carries a certificate (an ``x5c`` header) rather than an issuer's key."""
    try:
        return "x5c" in jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return False


def mint(cert_pem: bytes, key_pem: bytes, *, lifetime_s: int = 300) -> str:
    """A signed assertion for the certificate's principal, valid ``lifetime_s`` from now."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)
    now = int(time.time())
    claims = {
        "sub": _principal(cert) or "",
        "aud": REGISTRY_AUDIENCE,
        "iat": now,
        "exp": now + lifetime_s,
        "jti": uuid.uuid4().hex,
    }
    der = cert.public_bytes(serialization.Encoding.DER)
    header = {"x5c": [base64.b64encode(der).decode()]}
    return jwt.encode(claims, key, algorithm="ES256", headers=header)  # type: ignore[arg-type]


class AssertionSource:
    """Mints and renews one application's assertions from its certificate and key files.

    Its :meth:`bearer_fields` is the ``bearer.auth.custom.provider.function`` of
    confluent-kafka's ``SchemaRegistryClient``, which asks before every request; a token is
    reused until a minute before it expires.
    """

    def __init__(self, certificate: Path | str, key: Path | str, *, lifetime_s: int = 300) -> None:
        self.certificate = Path(certificate)
        self.key = Path(key)
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.time() >= self._renew_at:
                self._token = mint(
                    self.certificate.read_bytes(), self.key.read_bytes(), lifetime_s=self.lifetime_s
                )
                self._renew_at = time.time() + max(self.lifetime_s - 60, self.lifetime_s / 2)
            return self._token

    def bearer_fields(self, _config: dict[str, Any]) -> dict[str, str]:
        # The logical cluster is required by the client (for Confluent Cloud); ignored here.
        return {"bearer.auth.token": self.token(), "bearer.auth.logical.cluster": "streamplane"}


@dataclass
class _Crl:
    mtime: float
    serials: frozenset[int]


class AssertionVerifier:
    """Checks assertions against one CA and its revocation list (re-read when it changes)."""

    def __init__(self, ca_cert: Path | str, crl: Path | str | None = None) -> None:
        self.ca = x509.load_pem_x509_certificate(Path(ca_cert).read_bytes())
        self.crl_path = Path(crl) if crl is not None else None
        self._crl = _Crl(-1.0, frozenset())
        self._lock = threading.Lock()

    def verify(self, token: str) -> str:
        """The principal the assertion proves, or :class:`AssertionRefused` saying why not."""
        try:
            chain = jwt.get_unverified_header(token)["x5c"]
            cert = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
        except (jwt.PyJWTError, TypeError, IndexError, KeyError, ValueError) as exc:
            raise AssertionRefused(f"not a certificate assertion ({exc})") from None
        try:
            cert.verify_directly_issued_by(self.ca)
        except (ValueError, TypeError, InvalidSignature):
            raise AssertionRefused(
                f"certificate {cert.subject.rfc4514_string()} was not issued by this "
                f"registry's CA ({self.ca.subject.rfc4514_string()})"
            ) from None
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
            raise AssertionRefused(
                f"certificate {cert.subject.rfc4514_string()} is not valid now (valid "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
            )
        if cert.serial_number in self._revoked():
            raise AssertionRefused(f"certificate {cert.subject.rfc4514_string()} is revoked")
        principal = _principal(cert)
        if principal is None:
            raise AssertionRefused(
                f"certificate subject {cert.subject.rfc4514_string()} maps to no principal"
            )
        try:
            claims = jwt.decode(
                token,
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=["ES256", "RS256"],
                audience=REGISTRY_AUDIENCE,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise AssertionRefused(f"assertion of {principal} refused: {exc}") from None
        if claims["exp"] - claims["iat"] > MAX_LIFETIME_S:
            raise AssertionRefused(
                f"assertion of {principal} lives {claims['exp'] - claims['iat']} s; at most "
                f"{MAX_LIFETIME_S} s is accepted"
            )
        if claims["sub"] != principal:
            raise AssertionRefused(
                f"assertion claims sub {claims['sub']!r} but its certificate is {principal}'s"
            )
        return principal

    def _revoked(self) -> frozenset[int]:
        if self.crl_path is None:
            return frozenset()
        try:
            mtime = self.crl_path.stat().st_mtime
        except FileNotFoundError:
            return frozenset()
        with self._lock:
            if mtime != self._crl.mtime:
                crl = x509.load_pem_x509_crl(self.crl_path.read_bytes())
                if not crl.is_signature_valid(self.ca.public_key()):  # type: ignore[arg-type]
                    raise AssertionRefused(f"{self.crl_path} is not signed by the CA")
                self._crl = _Crl(mtime, frozenset(r.serial_number for r in crl))
            return self._crl.serials


def _principal(cert: x509.Certificate) -> str | None:
    """The principal the brokers' mapping rule gives this certificate, or None."""
    match = _SUBJECT.match(cert.subject.rfc4514_string())
    if match is None:
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None
