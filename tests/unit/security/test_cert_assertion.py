"""Certificate assertions: what an mTLS application's key signs is accepted for its own
principal, and everything else (another CA, expired, revoked, forged, too long-lived,
another principal) is refused with the reason."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from streamplane.security.cert_assertion import (
    AssertionRefused,
    AssertionSource,
    AssertionVerifier,
    is_assertion,
    mint,
)
from streamplane.security.pki import Pki


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    made = Pki(tmp_path / "pki")
    made.init()
    return made


def _verifier(pki: Pki) -> AssertionVerifier:
    return AssertionVerifier(pki.ca_cert, pki.crl)


def _token(pki: Pki, name: str, **kw: int) -> str:
    issued = pki.certificate(name) or pki.issue(name)
    return mint(issued.cert.read_bytes(), issued.key.read_bytes(), **kw)


def test_an_assertion_proves_its_certificates_principal(pki: Pki) -> None:
    token = _token(pki, "fraud-scorer")
    assert is_assertion(token)
    assert _verifier(pki).verify(token) == "fraud-scorer"


def test_an_issuers_token_is_not_an_assertion() -> None:
    assert not is_assertion("not-a-jwt")
    plain = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")
    assert not is_assertion(plain)


def test_a_certificate_of_another_ca_is_refused(pki: Pki, tmp_path: Path) -> None:
    other = Pki(tmp_path / "other")
    other.init()
    with pytest.raises(AssertionRefused, match="not issued by this registry's CA"):
        _verifier(pki).verify(_token(other, "fraud-scorer"))


def test_a_revoked_certificate_is_refused_at_once(pki: Pki) -> None:
    verifier = _verifier(pki)
    token = _token(pki, "fraud-scorer")
    assert verifier.verify(token) == "fraud-scorer"
    time.sleep(0.01)  # the CRL's mtime must move for the verifier to re-read it
    pki.revoke("fraud-scorer")
    with pytest.raises(AssertionRefused, match="is revoked"):
        verifier.verify(token)


def test_an_expired_certificate_is_refused(pki: Pki) -> None:
    pki.issue("old", days=1, not_before=datetime.now(UTC) - timedelta(days=3))
    with pytest.raises(AssertionRefused, match="is not valid now"):
        _verifier(pki).verify(_token(pki, "old"))


def test_an_expired_or_overlong_assertion_is_refused(pki: Pki) -> None:
    with pytest.raises(AssertionRefused, match="expired"):
        _verifier(pki).verify(_token(pki, "fraud-scorer", lifetime_s=-120))
    with pytest.raises(AssertionRefused, match="at most 600 s"):
        _verifier(pki).verify(_token(pki, "fraud-scorer", lifetime_s=3600))


def _hand_made(cert: Path, key: Path, sub: str) -> str:
    """An assertion put together by hand: ``cert`` in its header, signed with ``key``,
    claiming ``sub`` (what ``mint`` would never produce when they do not match)."""
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    signer = serialization.load_pem_private_key(key.read_bytes(), password=None)
    now = int(time.time())
    return jwt.encode(
        {"sub": sub, "aud": "streamplane-registry", "iat": now, "exp": now + 60},
        signer,  # type: ignore[arg-type]
        algorithm="ES256",
        headers={"x5c": [base64.b64encode(der).decode()]},
    )


def test_a_token_signed_by_another_key_than_its_certificates_is_refused(pki: Pki) -> None:
    """Someone holding only the (public) certificate cannot sign for its principal."""
    victim = pki.issue("fraud-scorer")
    thief = pki.issue("thief")
    forged = _hand_made(victim.cert, thief.key, "fraud-scorer")
    with pytest.raises(AssertionRefused, match="Signature verification failed"):
        _verifier(pki).verify(forged)


def test_a_token_claiming_another_principal_is_refused(pki: Pki) -> None:
    issued = pki.issue("thief")
    claimed = _hand_made(issued.cert, issued.key, "fraud-scorer")
    with pytest.raises(AssertionRefused, match="claims sub 'fraud-scorer' but its certificate"):
        _verifier(pki).verify(claimed)


def test_the_source_reuses_a_token_until_it_nears_expiry(pki: Pki) -> None:
    issued = pki.issue("fraud-scorer")
    source = AssertionSource(issued.cert, issued.key, lifetime_s=300)
    first = source.bearer_fields({})
    assert source.bearer_fields({}) == first
    assert _verifier(pki).verify(first["bearer.auth.token"]) == "fraud-scorer"
    source._renew_at = 0.0  # as if four minutes had passed
    assert source.token() != first["bearer.auth.token"]
