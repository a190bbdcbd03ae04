"""The certificate subject that names a principal, shared by the CA and its verifiers.

Apart from ``pki`` so that the registry can check certificates without importing what
``pki`` writes with (the local cluster's file helpers).
"""

from __future__ import annotations

#: The OU every certificate of this CA carries; the brokers' mapping rule requires it.
PKI_OU = "streamplane"
ORG = "Streamplane"
#: A subject of this CA as Kafka renders it (RFC 2253, the CN first); group 1: principal.
SUBJECT_PATTERN = rf"^CN=([A-Za-z0-9._-]+),OU={PKI_OU},O={ORG}$"
