"""The local KMS is confluent-kafka's, byte for byte; errors say what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.schema_registry.rules.encryption.localkms.local_client import LocalKmsClient

from streamplane.errors import KmsError
from streamplane.security.kms import SECRET_ENV, KmsDrivers, LocalKms
from streamplane.security.kms.aws import region_of


def test_the_local_kms_and_confluent_kafkas_unwrap_each_others_keys() -> None:
    ours, theirs = LocalKms("s3cret"), LocalKmsClient("s3cret").get_aead("local-kms://any")
    assert theirs.decrypt(ours.encrypt("k", b"data key", props={}), b"") == b"data key"
    assert ours.decrypt("k", theirs.encrypt(b"data key", b""), props={}) == b"data key"
    # Random nonces: wrapping twice gives two ciphertexts.
    assert ours.encrypt("k", b"x", props={}) != ours.encrypt("k", b"x", props={})


def test_the_local_kms_refuses_a_key_of_another_secret_or_a_tampered_one() -> None:
    wrapped = LocalKms("one").encrypt("k", b"data key", props={})
    with pytest.raises(KmsError, match="another secret, or it was altered"):
        LocalKms("two").decrypt("k", wrapped, props={})
    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(KmsError):
        LocalKms("one").decrypt("k", tampered, props={})
    with pytest.raises(KmsError, match="too short"):
        LocalKms("one").decrypt("k", b"short", props={})


def test_the_local_kms_secret_comes_from_the_environment_then_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    kms = LocalKms(data_dir=tmp_path)
    with pytest.raises(KmsError, match=rf"set {SECRET_ENV}.*secrets/local-kms"):
        kms.encrypt("k", b"x", props={})
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "local-kms").write_text("from-file\n")
    assert LocalKms("from-file").decrypt("k", kms.encrypt("k", b"x", props={}), props={}) == b"x"
    monkeypatch.setenv(SECRET_ENV, "from-env")  # read at each use: no restart needed
    assert LocalKms("from-env").decrypt("k", kms.encrypt("k", b"x", props={}), props={}) == b"x"


def test_drivers_by_kms_type_and_aws_key_arns() -> None:
    drivers = KmsDrivers.from_environment()
    assert drivers.kms_types == ["aws-kms", "local-kms"]
    with pytest.raises(KmsError, match=r"no KMS driver for kmsType .gcp-kms.*aws-kms, local-kms"):
        drivers.driver("gcp-kms")
    assert region_of("arn:aws:kms:eu-west-1:123456789012:key/abc") == "eu-west-1"
    assert region_of("arn:aws:kms:us-east-2:123456789012:alias/pii") == "us-east-2"
    with pytest.raises(KmsError, match="not an AWS KMS key ARN"):
        region_of("my-key")
    with pytest.raises(KmsError, match="not an AWS KMS key ARN"):
        drivers.driver("aws-kms").encrypt("alias/pii", b"x", props={})
