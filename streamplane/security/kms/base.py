"""What a key management service does for envelope encryption, and how one is chosen.

A KMS holds key encryption keys (KEKs) that never leave it; callers hand it a small
secret (a data encryption key, DEK) to wrap or unwrap. A :class:`KmsDriver` speaks to
one kind of KMS; :class:`KmsDrivers` picks the driver for a KEK's ``kmsType`` (the
names Confluent's clients use: ``local-kms``, ``aws-kms``...).

Credentials are never part of a KEK: each driver reaches its KMS with the credentials
of the process it runs in (the standard AWS chain, the local KMS's secret from the
environment or the data directory), so nothing secret is ever stored with the key.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path

from streamplane.errors import KmsError

#: kmsProps keys that carry credentials in Confluent's KMS drivers; never stored.
SECRET_PROPS = frozenset(
    {
        "secret",  # local KMS
        "secret.access.key",  # AWS
        "client.secret",  # Azure
        "private.key",  # GCP
        "token.id",  # Vault
        "approle.secret.id",  # Vault
        "ssl.keystore.password",  # Vault
    }
)


class KmsDriver(ABC):
    """One kind of KMS: wraps and unwraps data keys with a KEK it holds."""

    #: The ``kmsType`` of the KEKs this driver serves (Confluent's names).
    kms_type: str

    @abstractmethod
    def encrypt(self, key_id: str, plaintext: bytes, *, props: Mapping[str, str]) -> bytes:
        """``plaintext`` wrapped by the KEK ``key_id``; raises :class:`KmsError`."""

    @abstractmethod
    def decrypt(self, key_id: str, ciphertext: bytes, *, props: Mapping[str, str]) -> bytes:
        """What :meth:`encrypt` wrapped; raises :class:`KmsError` (wrong key, tampered)."""


class KmsDrivers:
    """The drivers a service may use, by ``kmsType``."""

    def __init__(self, drivers: Iterable[KmsDriver]) -> None:
        self._drivers = {driver.kms_type: driver for driver in drivers}

    @classmethod
    def from_environment(cls, *, data_dir: Path | None = None) -> KmsDrivers:
        """The local KMS (secret from ``LOCAL_SECRET`` or ``<data_dir>/secrets/local-kms``)
        and AWS KMS (boto3's credential chain; ``AWS_ENDPOINT_URL`` for another endpoint)."""
        from streamplane.security.kms.aws import AwsKms
        from streamplane.security.kms.local import LocalKms

        return cls([LocalKms(data_dir=data_dir), AwsKms()])

    @property
    def kms_types(self) -> list[str]:
        return sorted(self._drivers)

    def driver(self, kms_type: str) -> KmsDriver:
        found = self._drivers.get(kms_type)
        if found is None:
            raise KmsError(
                f"no KMS driver for kmsType '{kms_type}' here "
                f"(supported: {', '.join(self.kms_types) or 'none'})"
            )
        return found
