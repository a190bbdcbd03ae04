"""AWS KMS through boto3, wrapping the way Tink's AWS KMS AEAD does.

The KEK's ``kmsKeyId`` is a key ARN (``arn:aws:kms:<region>:<account>:key/<id>``, or an
alias ARN); the region comes from it, as in confluent-kafka's ``AwsKmsDriver``. With no
associated data (what the encryption rules pass) no encryption context is sent, so a
DEK wrapped here is unwrapped by the clients' driver and the other way round.

Credentials follow boto3's standard chain (environment, shared files, instance role);
a KEK's ``kmsProps`` may name a ``profile``. ``AWS_ENDPOINT_URL`` (or the
``endpoint_url`` argument) points it at another endpoint, e.g. a local emulator.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from streamplane.errors import KmsError
from streamplane.security.kms.base import KmsDriver


def region_of(key_id: str) -> str:
    """The region of a key ARN; a :class:`KmsError` for anything else."""
    parts = key_id.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "kms" or not parts[3]:
        raise KmsError(
            f"'{key_id}' is not an AWS KMS key ARN "
            "(arn:aws:kms:<region>:<account>:key/<key id> or :alias/<name>)"
        )
    return parts[3]


class AwsKms(KmsDriver):
    """``aws-kms``: one boto3 client per (region, profile), made on first use."""

    kms_type = "aws-kms"

    def __init__(self, *, endpoint_url: str | None = None) -> None:
        self._endpoint_url = endpoint_url
        self._clients: dict[tuple[str, str | None], Any] = {}
        # boto3 sessions are not thread-safe; the clients they make are.
        self._lock = threading.Lock()

    def _client(self, key_id: str, props: Mapping[str, str]) -> Any:
        region, profile = region_of(key_id), props.get("profile")
        with self._lock:
            client = self._clients.get((region, profile))
            if client is None:
                try:
                    session = boto3.Session(region_name=region, profile_name=profile)
                    client = session.client("kms", endpoint_url=self._endpoint_url)
                except BotoCoreError as exc:
                    raise KmsError(f"cannot reach AWS KMS in {region}: {exc}") from exc
                self._clients[(region, profile)] = client
            return client

    def encrypt(self, key_id: str, plaintext: bytes, *, props: Mapping[str, str]) -> bytes:
        client = self._client(key_id, props)
        try:
            blob: bytes = client.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
        except (ClientError, BotoCoreError) as exc:
            raise KmsError(f"AWS KMS could not encrypt with {key_id}: {exc}") from exc
        return blob

    def decrypt(self, key_id: str, ciphertext: bytes, *, props: Mapping[str, str]) -> bytes:
        client = self._client(key_id, props)
        try:
            plain: bytes = client.decrypt(KeyId=key_id, CiphertextBlob=ciphertext)["Plaintext"]
        except (ClientError, BotoCoreError) as exc:
            raise KmsError(f"AWS KMS could not decrypt with {key_id}: {exc}") from exc
        return plain
