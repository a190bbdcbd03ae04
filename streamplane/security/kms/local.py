"""The local KMS: one AES-128-GCM key derived from a secret, as confluent-kafka's.

confluent-kafka's ``LocalKmsDriver`` (and Confluent's Java and Go clients) derive the
key with HKDF-SHA256 from the secret (no salt, no info, 16 bytes) and wrap with Tink's
raw AES-GCM: a 12-byte random nonce, then the ciphertext and its 16-byte tag. This
driver does the same with ``cryptography``, so a DEK wrapped here is unwrapped by the
client's driver and the other way round. As there, the key id only names the KEK: the
one secret is the key, whatever the id.

The secret never comes from a KEK or the spec: ``LOCAL_SECRET`` (the variable the
client's driver reads, so producers, consumers and the registry share one setting),
else the file ``<data dir>/secrets/local-kms``. It is read when a key is wrapped, so
setting it does not need a restart.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streamplane.errors import KmsError
from streamplane.security.kms.base import KmsDriver

SECRET_ENV = "LOCAL_SECRET"
#: Where the secret is looked for, relative to the local cluster's data directory.
SECRET_FILE = Path("secrets") / "local-kms"
_NONCE = 12
_TAG = 16


def derive_key(secret: str) -> bytes:
    """The AES-128 key confluent-kafka's ``LocalKmsClient`` derives from ``secret``."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=b"")
    return hkdf.derive(secret.encode("utf-8"))


class LocalKms(KmsDriver):
    """``local-kms``: for development and tests; production keys belong in a real KMS."""

    kms_type = "local-kms"

    def __init__(self, secret: str | None = None, *, data_dir: Path | None = None) -> None:
        self._secret = secret
        self._file = data_dir / SECRET_FILE if data_dir is not None else None

    def _aead(self) -> AESGCM:
        secret = self._secret or os.environ.get(SECRET_ENV)
        if not secret and self._file is not None and self._file.exists():
            secret = self._file.read_text().strip()
        if not secret:
            where = f" or write it to {self._file}" if self._file is not None else ""
            raise KmsError(
                f"the local KMS has no secret: set {SECRET_ENV} (the variable "
                f"confluent-kafka's LocalKmsDriver reads){where}"
            )
        return AESGCM(derive_key(secret))

    def encrypt(self, key_id: str, plaintext: bytes, *, props: Mapping[str, str]) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead().encrypt(nonce, plaintext, None)

    def decrypt(self, key_id: str, ciphertext: bytes, *, props: Mapping[str, str]) -> bytes:
        if len(ciphertext) < _NONCE + _TAG:
            raise KmsError(f"the local KMS cannot decrypt {len(ciphertext)} bytes: too short")
        try:
            return self._aead().decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], None)
        except InvalidTag as exc:
            raise KmsError(
                f"the local KMS could not decrypt with key '{key_id}': the key was wrapped "
                f"with another secret, or it was altered"
            ) from exc


def local_kms_secret(data_dir: Path) -> str:
    """The local cluster's KMS secret, made on first use (0600).

    One random secret per data directory, made once: the registry (for shared KEKs)
    and the SDK's clients read the same file, so keys wrapped by one unwrap in the other.
    """
    return local_secret_file(data_dir / SECRET_FILE)


def local_secret_file(path: Path) -> str:
    """A random secret kept in ``path`` (0600, its folder 0700), made by the first caller."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()
