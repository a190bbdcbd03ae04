"""Bad identities are refused by the broker, without a crash, and nothing is granted.

Each case presents one bad credential to a real cluster: an expired token, a token for
another audience, a token signed by a key the issuer never published, a certificate from
another CA, an expired certificate, a certificate whose subject no mapping rule matches, a
wrong password; then identities cut off by the platform (a revoked certificate, a disabled
OAuth client, an application removed from the spec) are refused after ``apply``. After
all of it the broker still serves the good identities.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.local._audit_service import AuditShipperProcess
from streamplane.local._layout import idp_url
from streamplane.model import load_spec
from streamplane.reconcile import client_config_path, connect
from streamplane.security.audit import AuditFilter, read_trail
from streamplane.security.audit._record import AUTHENTICATE
from streamplane.security.idp import IdpHome, IdpSettings, mint_token
from streamplane.security.pki import Pki
from tests.integration.reconcile.conftest import apply_spec
from tests.integration.security._audit import wait_caught_up
from tests.integration.security._isolation import ONE_NODE_PLATFORM

TOPIC = "refusals.orders.events"


def _spec(root: Path, apps: list[tuple[str, str]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = "".join(
        f"          - {{name: {name}, auth: {auth}, produces: [{TOPIC}]}}\n" for name, auth in apps
    )
    (root / "platform.yaml").write_text(
        ONE_NODE_PLATFORM + "tenants:\n"
        "  - name: refusals\n"
        "    owners: [sec@example.com]\n"
        "    clusters: [local]\n"
        "    domains:\n"
        "      - name: orders\n"
        "        owner: sec@example.com\n"
        "        topics:\n"
        "          - {name: events, partitions: 1, classification: internal, "
        "owner: sec@example.com}\n"
        "        applications:\n" + lines
    )
    return root


APPS = [("ref-scram", "scram"), ("ref-mtls", "mtls"), ("ref-oauth", "oauth")]


@dataclass
class Estate:
    cluster: LocalCluster
    spec_root: Path

    def apply(self, apps: list[tuple[str, str]]) -> None:
        spec = load_spec(_spec(self.spec_root, apps))
        apply_spec(spec, connect(spec, data_dir=self.cluster.dir.root))

    def settings(self, app: str) -> ConnectionSettings:
        return ConnectionSettings.from_properties_file(
            client_config_path(self.cluster.dir.root, app)
        )

    @property
    def idp(self) -> tuple[IdpHome, IdpSettings]:
        offset = self.cluster.require_state().port_offset
        return IdpHome(self.cluster.dir.idp), IdpSettings(issuer=idp_url(offset))


#: When this module's refusals began (ms): the audit check looks at what came after.
STARTED_MS = int(time.time() * 1000)


@pytest.fixture(scope="module")
def estate(cluster1: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    found = Estate(cluster1, tmp_path_factory.mktemp("refusals") / "spec")
    found.apply(APPS)
    yield found


def produce(conf: dict[str, object]) -> KafkaError | None:
    """One record; the first error (authentication or delivery), or None if written."""
    errors: list[KafkaError] = []
    delivered: list[KafkaError | None] = []
    producer = Producer(
        {**conf, "error_cb": errors.append, "log_level": 0, "message.timeout.ms": 10000}
    )
    producer.produce(TOPIC, b"x", on_delivery=lambda err, _m: delivered.append(err))
    deadline = time.monotonic() + 15
    while not delivered and time.monotonic() < deadline:
        producer.poll(0.1)
        fatal = [e for e in errors if e.code() in _REFUSED]
        if fatal:
            return fatal[0]
    return delivered[0] if delivered else KafkaError(KafkaError._MSG_TIMED_OUT)


_REFUSED = {KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError._ALL_BROKERS_DOWN}


def _with_token(settings: ConnectionSettings, token: str) -> dict[str, object]:
    conf = {k: v for k, v in settings.librdkafka().items() if not k.startswith("sasl.oauthbearer.")}
    return {**conf, "oauth_cb": lambda _c: (token, time.time() + 3600)}


def _foreign_certificate(
    estate: Estate, tmp: Path, *, subject_ou: str | None
) -> ConnectionSettings:
    """A certificate signed by the cluster's own CA key but with another OU (matching no
    mapping rule), or, with ``subject_ou=None``, issued by a different CA altogether."""
    good = estate.settings("ref-mtls")
    if subject_ou is None:
        other = Pki(tmp / "other-ca")
        other.init()
        issued = other.issue("ref-mtls")
        return replace(good, ssl_certificate=str(issued.cert), ssl_key=str(issued.key))
    pki = Pki(estate.cluster.dir.pki)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Streamplane"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, subject_ou),
                    x509.NameAttribute(NameOID.COMMON_NAME, "ref-mtls"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "intruder.pem", tmp / "intruder.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return replace(good, ssl_certificate=str(cert_path), ssl_key=str(key_path))


def test_the_good_identities_write(estate: Estate) -> None:
    for app, _ in APPS:
        assert produce(estate.settings(app).librdkafka()) is None, app


@pytest.mark.parametrize(
    "case", ["expired", "another audience", "unknown signing key", "unknown subject"]
)
def test_a_bad_token_is_refused_at_authentication(estate: Estate, case: str) -> None:
    home, settings = estate.idp
    kwargs: dict[str, object] = {
        "expired": {"issued_at": time.time() - 3600, "lifetime_s": 60},
        "another audience": {"audience": "billing-api"},
        "unknown signing key": {"foreign_key": True},
        "unknown subject": {},
    }[case]  # type: ignore[assignment]
    sub = "nobody-at-all" if case == "unknown subject" else "ref-oauth"
    token = mint_token(home, settings, sub=sub, **kwargs)  # type: ignore[arg-type]
    error = produce(_with_token(estate.settings("ref-oauth"), token))
    assert error is not None
    if case == "unknown subject":
        # A valid token for a principal the spec does not know: authenticated, granted nothing.
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
    else:
        assert error.code() == KafkaError._AUTHENTICATION, error


@pytest.mark.parametrize("case", ["another CA", "expired", "no mapping rule matches"])
def test_a_bad_certificate_is_refused(estate: Estate, case: str, tmp_path: Path) -> None:
    if case == "expired":
        pki = Pki(estate.cluster.dir.pki)
        issued = pki.issue("ref-expired", days=1, not_before=datetime.now(UTC) - timedelta(days=3))
        settings = replace(
            estate.settings("ref-mtls"), ssl_certificate=str(issued.cert), ssl_key=str(issued.key)
        )
    else:
        settings = _foreign_certificate(
            estate, tmp_path, subject_ou=None if case == "another CA" else "intruders"
        )
    error = produce(settings.librdkafka())
    assert error is not None and error.code() in _REFUSED, error


def test_a_wrong_password_is_refused(estate: Estate) -> None:
    settings = replace(estate.settings("ref-scram"), password="not-the-password")
    error = produce(settings.librdkafka())
    assert error is not None and error.code() == KafkaError._AUTHENTICATION, error


@pytest.mark.parametrize("how", ["removed from the spec", "revoked", "disabled"])
def test_a_cut_off_identity_is_refused_after_apply(estate: Estate, how: str) -> None:
    app = {"removed from the spec": "ref-scram", "revoked": "ref-mtls", "disabled": "ref-oauth"}[
        how
    ]
    settings = estate.settings(app)
    assert produce(settings.librdkafka()) is None
    if how == "removed from the spec":
        estate.apply([a for a in APPS if a[0] != app])
    elif how == "revoked":
        Pki(estate.cluster.dir.pki).revoke(app)
        estate.apply(APPS)
    else:
        estate.idp[0].disable_client(app)
        estate.apply(APPS)
    error = produce(settings.librdkafka())
    assert error is not None, f"{app} still writes after it was {how}"
    assert error.code() in {KafkaError.TOPIC_AUTHORIZATION_FAILED, *_REFUSED}, error
    assert not client_config_path(estate.cluster.dir.root, app).exists()
    # Back in: a removed application re-added, a new certificate, the client re-enabled.
    if how == "revoked":
        Pki(estate.cluster.dir.pki).issue(app, force=True)
    elif how == "disabled":
        estate.idp[0].register_client(app)
    estate.apply(APPS)
    assert produce(estate.settings(app).librdkafka()) is None


def test_every_refused_authentication_is_in_the_audit_trail(estate: Estate) -> None:
    """The bad passwords, tokens and certificates above, found by `audit query --denied`:
    the brokers log each refused authentication, and the shipper ships it."""
    shipper = AuditShipperProcess(estate.cluster.dir)
    shipper.start()
    try:
        wait_caught_up(estate.cluster, shipper)
        found = [
            r
            for r in read_trail(
                estate.cluster.admin_settings(), AuditFilter(denied=True, since_ms=STARTED_MS)
            )
            if r.operation == AUTHENTICATE
        ]
    finally:
        shipper.stop()
    reasons = "\n".join(sorted({r.request or "" for r in found}))
    assert "SASL mechanism SCRAM-SHA-512" in reasons, reasons
    assert '"status":"invalid_token"' in reasons, reasons  # OAUTHBEARER's RFC 7628 error
    assert "SSL handshake failed" in reasons, reasons
    assert all(r.client == "127.0.0.1" and r.resource_type == "Listener" for r in found)
