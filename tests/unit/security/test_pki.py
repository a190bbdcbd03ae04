"""The development CA: what it issues verifies, is refused when it should be, and says why."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from streamplane.security.pki import Pki, PkiError, principal_mapping_rules


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    made = Pki(tmp_path / "pki")
    assert made.init() is True
    assert made.init() is False  # idempotent: the CA is kept
    return made


def _certs(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_a_leaf_chains_to_the_ca_and_its_files_are_private(pki: Pki) -> None:
    issued = pki.issue("fraud-scorer", days=30)
    leaf, ca = _certs(issued.cert)
    leaf.verify_directly_issued_by(ca)
    assert ca.subject == _certs(pki.ca_cert)[0].subject
    assert leaf.subject.rfc4514_string() == "CN=fraud-scorer,OU=streamplane,O=Streamplane"
    assert abs((issued.not_after - datetime.now(UTC)) - timedelta(days=30)) < timedelta(hours=1)
    for secret in (issued.key, issued.keystore, pki.ca_key):
        assert secret.stat().st_mode & 0o777 == 0o600
    # Kafka's PEM key store: the key, then the chain.
    text = issued.keystore.read_text()
    assert text.index("PRIVATE KEY") < text.index("CERTIFICATE")
    assert len(_certs(issued.keystore)) == 2
    load_pem_private_key(issued.key.read_bytes(), password=None)
    assert pki.check(issued.cert.read_bytes()) == []


def test_a_server_certificate_names_the_loopback_address(pki: Pki) -> None:
    leaf = _certs(pki.issue("kafka-broker", server=True).cert)[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usages


def test_the_mapping_rule_maps_this_cas_subjects_and_nothing_else(pki: Pki) -> None:
    rule = principal_mapping_rules()
    assert "DEFAULT" not in rule
    pattern = rule.removeprefix("RULE:").rsplit("/", 2)[0]
    subject = _certs(pki.issue("risk.scorer").cert)[0].subject.rfc4514_string()
    match = re.match(pattern, subject)
    assert match is not None and match.group(1) == "risk.scorer"
    assert re.match(pattern, "CN=risk.scorer,OU=intruders,O=Streamplane") is None


def test_revocation_is_listed_in_the_crl_and_reported(pki: Pki) -> None:
    issued = pki.issue("card-gateway")
    pki.revoke("card-gateway")
    crl = x509.load_pem_x509_crl(pki.crl.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(issued.serial) is not None
    assert pki.revoked() == {"card-gateway": issued.serial}
    assert any(p.startswith("revoked on") for p in pki.check(issued.cert.read_bytes()))
    with pytest.raises(PkiError, match="--force"):
        pki.issue("card-gateway")
    again = pki.issue("card-gateway", force=True)
    assert again.serial != issued.serial and pki.revoked() == {}
    with pytest.raises(PkiError, match="no certificate named 'nobody'"):
        pki.revoke("nobody")


def test_check_says_what_is_wrong(pki: Pki, tmp_path: Path) -> None:
    other = Pki(tmp_path / "other")
    other.init()
    foreign = other.issue("card-gateway")
    assert any("signed by another CA" in p for p in pki.check(foreign.cert.read_bytes()))
    expired = pki.issue("old", days=1, not_before=datetime.now(UTC) - timedelta(days=2))
    assert any(p.startswith("expired on") for p in pki.check(expired.cert.read_bytes()))
    assert pki.check(b"not a certificate")[0].startswith("not a PEM certificate")


@pytest.mark.parametrize("name", ["", "a b", "../etc", "x" * 200, "-lead"])
def test_bad_names_are_refused(pki: Pki, name: str) -> None:
    with pytest.raises(PkiError, match="not a principal name"):
        pki.issue(name)


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_bad_validity_is_refused(pki: Pki, days: int) -> None:
    with pytest.raises(PkiError, match="1 to 3650 days"):
        pki.issue("app", days=days)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_the_chain(pki: Pki) -> None:
    issued = pki.issue("app")
    done = subprocess.run(
        ["openssl", "verify", "-CAfile", str(pki.ca_cert), str(issued.cert)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith(": OK"), done
