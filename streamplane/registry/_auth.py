"""HTTP basic auth against the platform's principals, which are Kafka's SCRAM credentials.

The registry keeps no password store of its own: the principals that ``streamplane
apply`` creates on the cluster are the ones that may use it, with the same
passwords, and rotating or deleting a credential on the cluster applies here too
(after at most the cache TTL). A password is verified by what Kafka itself does
with it: a SASL/SCRAM handshake, made by a short-lived client that asks for metadata
with those credentials.

A handshake costs tens of milliseconds, far too much for every read, so successful
verifications are cached for a TTL. The cache key is an HMAC-SHA256 of user and
password under a random key made at start-up (a salted hash): the cache never holds a
password, and a changed password misses the cache and is verified again. Failures
are cached briefly too, so a client retrying a wrong password cannot make the
registry open a Kafka connection per request; concurrent requests with the same
credentials share one handshake.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Producer

from streamplane.errors import RegistryError
from streamplane.kafka import ConnectionSettings

#: The local cluster's super user (see streamplane.local.ADMIN_USER).
DEFAULT_SUPER_USERS = frozenset({"admin"})


@dataclass(frozen=True)
class AuthSettings:
    """Basic auth on: who counts as a super user, and how long verifications are trusted."""

    super_users: frozenset[str] = field(default_factory=lambda: DEFAULT_SUPER_USERS)
    cache_ttl_s: float = 300.0
    failure_ttl_s: float = 2.0
    verify_timeout_s: float = 10.0
    max_cached: int = 10_000


def parse_bearer(header: str | None) -> tuple[str, str] | None:
    """(the token's ``sub``, the token) from an ``Authorization: Bearer ...`` header.

    The claims are read unverified, only to name the caller: the token itself is then
    verified by the cluster (see :class:`TokenVerifier`), and the ``sub`` Kafka takes as the
    principal is the one read here. A token whose ``exp`` has passed is refused at once.
    """
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or token.count(".") != 2:
        return None
    try:
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        return None
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= time.time():
        return None
    return claims["sub"], token


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic ...`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


class ScramVerifier:
    """Checks a user/password pair by a SASL/SCRAM handshake with the cluster."""

    def __init__(self, settings: ConnectionSettings, *, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s

    def __call__(self, user: str, password: str) -> bool:
        errors: list[KafkaError] = []
        producer = Producer(
            self.settings.with_credentials(user, password).librdkafka(**{
                "error_cb": errors.append, "log_level": 0, "socket.connection.setup.timeout.ms":
                int(self.timeout_s * 1000),
            })
        )  # fmt: skip
        return _handshake(producer, errors, self.settings, self.timeout_s)


class TokenVerifier:
    """Checks an OAuth bearer token by a SASL/OAUTHBEARER handshake with the cluster.

    The registry keeps no JWKS of its own, as it keeps no passwords: the brokers' JWT
    validator (issuer, audience, signature, expiry) is the one that decides, so a token
    Kafka refuses is refused here too.
    """

    def __init__(self, settings: ConnectionSettings, *, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s

    def __call__(self, sub: str, token: str) -> bool:
        del sub  # the broker takes it from the token, as the gate did
        errors: list[KafkaError] = []
        conf = {
            k: v
            for k, v in self.settings.librdkafka().items()
            if not k.startswith(("sasl.username", "sasl.password", "sasl.oauthbearer."))
        }
        conf.update({
            "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": lambda _config: (token, token_expiry(token)),
            "error_cb": errors.append, "log_level": 0,
            "socket.connection.setup.timeout.ms": int(self.timeout_s * 1000),
        })  # fmt: skip
        return _handshake(Producer(conf), errors, self.settings, self.timeout_s)


def token_expiry(token: str) -> float:
    """The ``exp`` claim of a JWT (read unverified: the cluster verifies the token)."""
    body = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return float(claims["exp"])


def _handshake(
    producer: Producer, errors: list[KafkaError], settings: ConnectionSettings, timeout_s: float
) -> bool:
    """True once ``producer`` is answered, False when its authentication is refused."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        producer.poll(0.02)  # serves error_cb, which reports a refused handshake
        if any(e.code() == KafkaError._AUTHENTICATION for e in errors):
            return False
        try:
            producer.list_topics(timeout=0.1)
            return True
        except KafkaException:
            continue
    raise RegistryError(
        500,
        50001,
        f"cannot verify credentials: {settings.bootstrap_servers} did not answer "
        f"within {timeout_s:.0f}s",
    )


class CredentialCache:
    """Verified credentials by salted hash, with single-flight verification."""

    def __init__(
        self,
        verify: Callable[[str, str], bool],
        *,
        settings: AuthSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verify = verify
        self.settings = settings or AuthSettings()
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        #: salted hash -> (verified?, expiry)
        self._entries: dict[bytes, tuple[bool, float]] = {}
        self._inflight: dict[bytes, concurrent.futures.Future[bool]] = {}

    def _digest(self, user: str, password: str) -> bytes:
        message = user.encode() + b"\0" + password.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def cached(self, user: str, password: str) -> bool | None:
        """The cached verdict, without any I/O: None when Kafka must be asked."""
        entry = self._entries.get(self._digest(user, password))
        if entry is None or entry[1] < self._clock():
            return None
        return entry[0]

    def verify(self, user: str, password: str) -> bool:
        """The verdict, asking Kafka when it is not cached (blocks: call from a thread)."""
        digest = self._digest(user, password)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and entry[1] >= self._clock():
                return entry[0]
            future = self._inflight.get(digest)
            owner = future is None
            if future is None:
                future = self._inflight[digest] = concurrent.futures.Future()
        if not owner:
            return future.result()
        try:
            verdict = self._verify(user, password)
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(digest, None)
            future.set_exception(exc)
            raise
        ttl = self.settings.cache_ttl_s if verdict else self.settings.failure_ttl_s
        with self._lock:
            self._remember(digest, verdict, self._clock() + ttl)
            self._inflight.pop(digest, None)
        future.set_result(verdict)
        return verdict

    def _remember(self, digest: bytes, verdict: bool, expiry: float) -> None:
        if len(self._entries) >= self.settings.max_cached:
            now = self._clock()
            for stale in [k for k, (_, exp) in self._entries.items() if exp < now]:
                del self._entries[stale]
            while len(self._entries) >= self.settings.max_cached:
                del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[digest] = (verdict, expiry)
