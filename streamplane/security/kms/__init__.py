"""Key management services for envelope encryption: an abstract driver and two real ones.

    from streamplane.security.kms import KmsDrivers

    kms = KmsDrivers.from_environment(data_dir=Path(".streamplane"))
    wrapped = kms.driver("local-kms").encrypt("estate-pii", dek, props={})
    assert kms.driver("local-kms").decrypt("estate-pii", wrapped, props={}) == dek

``local-kms`` is compatible with confluent-kafka's ``LocalKmsDriver``; ``aws-kms`` with
its ``AwsKmsDriver``. Failures raise :class:`streamplane.errors.KmsError`.
"""

from __future__ import annotations

from streamplane.security.kms.aws import AwsKms
from streamplane.security.kms.base import SECRET_PROPS, KmsDriver, KmsDrivers
from streamplane.security.kms.local import (
    SECRET_ENV,
    SECRET_FILE,
    LocalKms,
    local_kms_secret,
)

__all__ = [
    "SECRET_ENV",
    "SECRET_FILE",
    "SECRET_PROPS",
    "AwsKms",
    "KmsDriver",
    "KmsDrivers",
    "LocalKms",
    "local_kms_secret",
]
