"""The local OIDC issuer's state: its signing keys and its registered clients.

Kept as files under ``<data dir>/idp`` so that ``apply`` (another process) registers or
disables a client and the running issuer sees it at the next request (it re-reads the
clients file when its mtime changes), and so that keys survive restarts: tokens already
issued stay verifiable. Secrets are stored twice on purpose: hashed (scrypt) in the clients
file the issuer checks, and in clear under ``secrets/`` (0600) so that a re-apply writes the
same secret into the application's client config instead of rotating it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from streamplane.errors import StreamplaneError
from streamplane.local._layout import write_secret_file

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class IdpError(StreamplaneError):
    """A client or key operation the issuer cannot do as asked."""


@dataclass(frozen=True)
class IdpClient:
    client_id: str
    #: The token's ``sub``: the Kafka principal.
    principal: str
    disabled: bool
    #: scrypt(secret, salt), hex.
    secret_hash: str
    salt: str

    def accepts(self, secret: str) -> bool:
        digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(self.salt), **_SCRYPT)
        return hmac.compare_digest(digest.hex(), self.secret_hash)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: rsa.RSAPrivateKey
    created: float


class IdpHome:
    """Files under ``root``: clients.json, secrets/<client>, keys/<kid>.pem."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._clients_file = root / "clients.json"
        self._cache: tuple[float, dict[str, IdpClient]] | None = None

    # ---------------------------------------------------------------- clients
    def clients(self) -> dict[str, IdpClient]:
        """The registered clients, re-read only when the file changed."""
        try:
            mtime = self._clients_file.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if self._cache is None or self._cache[0] != mtime:
            raw = json.loads(self._clients_file.read_text())
            self._cache = (mtime, {cid: IdpClient(**entry) for cid, entry in raw.items()})
        return dict(self._cache[1])

    def _save(self, clients: dict[str, IdpClient]) -> None:
        text = json.dumps({cid: asdict(c) for cid, c in sorted(clients.items())}, indent=2)
        write_secret_file(self._clients_file, text + "\n")
        self._cache = None

    def client_secret(self, client_id: str) -> str | None:
        path = self.root / "secrets" / client_id
        return path.read_text().strip() if path.exists() else None

    def register_client(self, client_id: str, *, principal: str | None = None) -> str:
        """Register (or re-enable) a client; its secret, made once and kept."""
        secret = self.client_secret(client_id)
        if secret is None:
            secret = secrets.token_urlsafe(32)
            write_secret_file(self.root / "secrets" / client_id, secret + "\n")
        salt = os.urandom(16)
        digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
        clients = self.clients()
        clients[client_id] = IdpClient(
            client_id, principal or client_id, False, digest.hex(), salt.hex()
        )
        self._save(clients)
        return secret

    def disable_client(self, client_id: str) -> bool:
        """No more tokens for it; True if it was enabled."""
        clients = self.clients()
        client = clients.get(client_id)
        if client is None or client.disabled:
            return False
        clients[client_id] = IdpClient(**{**asdict(client), "disabled": True})
        self._save(clients)
        return True

    def remove_client(self, client_id: str) -> bool:
        clients = self.clients()
        if clients.pop(client_id, None) is None:
            return False
        self._save(clients)
        (self.root / "secrets" / client_id).unlink(missing_ok=True)
        return True

    # ------------------------------------------------------------------- keys
    def signing_keys(self) -> list[SigningKey]:
        """Every signing key, newest (the active one) first."""
        folder = self.root / "keys"
        if not folder.exists():
            return []
        found = []
        for path in folder.glob("*.pem"):
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            found.append(SigningKey(path.stem, key, path.stat().st_mtime))
        return sorted(found, key=lambda k: k.created, reverse=True)

    def rotate_keys(self) -> str:
        """Make a new active signing key; its kid. Old keys stay published (see prune)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        write_secret_file(self.root / "keys" / f"{kid}.pem", pem)
        return kid

    def active_key(self, *, rotate_after_s: float) -> SigningKey:
        """The key to sign with, rotated first when it is older than ``rotate_after_s``."""
        keys = self.signing_keys()
        if not keys or time.time() - keys[0].created > rotate_after_s:
            self.rotate_keys()
            keys = self.signing_keys()
        return keys[0]

    def prune(self, *, keep_s: float) -> list[str]:
        """Delete keys retired more than ``keep_s`` ago: no token they signed is valid."""
        gone = []
        keys = self.signing_keys()
        for newer, key in itertools.pairwise(keys):
            if time.time() - newer.created > keep_s:
                (self.root / "keys" / f"{key.kid}.pem").unlink(missing_ok=True)
                gone.append(key.kid)
        return gone
