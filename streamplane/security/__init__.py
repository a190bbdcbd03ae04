"""Security services of the platform; today the key management used for field encryption.

    from streamplane.security.kms import KmsDrivers

    kms = KmsDrivers.from_environment(data_dir=Path(".streamplane"))
    wrapped = kms.driver("aws-kms").encrypt(key_arn, data_key, props={})
    data_key = kms.driver("aws-kms").decrypt(key_arn, wrapped, props={})

The schema registry's DEK registry uses these drivers for ``shared`` KEKs, where the
registry itself makes and unwraps the data keys. Secrets never come from the spec or
from a stored key: each driver takes its credentials from the process's environment.
"""

from __future__ import annotations

from streamplane.security.kms import KmsDriver, KmsDrivers

__all__ = ["KmsDriver", "KmsDrivers"]
