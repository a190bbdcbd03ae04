"""The local cluster's security material: its CA and broker certificate, and its OIDC issuer.

Every local cluster runs three ways in (SCRAM and OAUTHBEARER on the SASL listener, client
certificates on the mTLS listener), so before a node starts it needs a server certificate
from the cluster's development CA and, because the brokers fetch the issuer's JWKS while
they start, a running issuer. Both are created on first start and reused after.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamplane.local._config import TlsFiles
from streamplane.local._layout import ClusterState, DataDir, jwks_url
from streamplane.security.pki import Pki, principal_mapping_rules

#: The one certificate every node serves (SANs 127.0.0.1 and localhost).
BROKER_CERTIFICATE = "kafka-broker"
#: A broker certificate closer than this to its expiry is replaced at the next start.
_RENEW_BEFORE = timedelta(days=30)

__all__ = ["BROKER_CERTIFICATE", "broker_jvm_args", "broker_tls", "principal_mapping_rules"]


def broker_tls(data_dir: DataDir) -> TlsFiles:
    """The CA and the brokers' certificate, created (or renewed near expiry) as needed."""
    pki = Pki(data_dir.pki)
    pki.init()
    issued = pki.certificate(BROKER_CERTIFICATE)
    if issued is None or issued.not_after - datetime.now(UTC) < _RENEW_BEFORE:
        issued = pki.issue(BROKER_CERTIFICATE, days=825, server=True, force=True)
    return TlsFiles(broker_keystore=issued.keystore, ca=pki.ca_cert)


def broker_jvm_args(state: ClusterState) -> list[str]:
    """System properties a node needs: Kafka 4 refuses any OAuth URL not listed here."""
    return [f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={jwks_url(state.port_offset)}"]
