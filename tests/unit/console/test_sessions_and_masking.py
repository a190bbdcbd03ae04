"""Sign-in sessions, the browser's masks and the charts, without a cluster.

The cluster's verdict on a password or token is faked here (it is what the integration
tests exercise); what is under test is what the console does with the verdict.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from streamplane.console.app import _safe_next
from streamplane.console.browser import HIDDEN, Masking, encrypted_fields, masking_for
from streamplane.console.charts import bars, line
from streamplane.console.sessions import Sessions
from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec, load_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
SETTINGS = ConnectionSettings(
    bootstrap_servers="127.0.0.1:1", security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-512", username="admin", password="x",
)  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(EXAMPLE)


def _token(sub: str, exp: float) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': sub, 'exp': exp})}.c2ln"


def _sessions(spec: Spec, *, ttl_s: float = 3600.0) -> tuple[Sessions, list[str]]:
    asked: list[str] = []

    def password_ok(user: str, password: str) -> bool:
        asked.append(user)
        return password == f"{user}-secret"

    sessions = Sessions(
        spec, SETTINGS, super_users={"admin"}, ttl_s=ttl_s,
        password_verifier=password_ok, token_verifier=lambda sub, token: sub != "revoked",
    )  # fmt: skip
    return sessions, asked


def test_a_password_the_cluster_accepts_opens_a_session_kept_by_a_random_id(
    spec: Spec,
) -> None:
    sessions, asked = _sessions(spec)
    assert sessions.verify_password("kyc-service", "wrong") is None
    verified = sessions.verify_password("kyc-service", "kyc-service-secret")
    assert verified is not None and verified.viewer.tenant == "risk"
    opened = sessions.open(verified)
    assert len(opened.id) >= 40 and opened.id not in repr(opened)
    assert "kyc-service-secret" not in repr(opened)
    assert sessions.from_cookie(opened.id) == opened
    assert sessions.from_cookie("guessed") is None
    sessions.close(opened.id)
    assert sessions.from_cookie(opened.id) is None
    # The verdict is cached: the same pair again costs no second handshake.
    sessions.verify_password("kyc-service", "kyc-service-secret")
    assert asked.count("kyc-service") == 2  # the wrong one, then the right one once


def test_a_session_ends_at_its_ttl(spec: Spec) -> None:
    sessions, _ = _sessions(spec, ttl_s=0.05)
    verified = sessions.verify_password("admin", "admin-secret")
    assert verified is not None
    opened = sessions.open(verified)
    time.sleep(0.1)
    assert sessions.from_cookie(opened.id) is None


def test_the_api_takes_basic_or_a_bearer_token_the_cluster_accepts(spec: Spec) -> None:
    sessions, _ = _sessions(spec)
    basic = base64.b64encode(b"admin:admin-secret").decode()
    found = sessions.from_authorization(f"Basic {basic}")
    assert found is not None and found.viewer.super_user
    token = _token("volume-aggregator", time.time() + 300)
    bearer = sessions.from_authorization(f"Bearer {token}")
    assert bearer is not None and bearer.viewer.tenant == "analytics"
    assert bearer.mechanism == "oauthbearer"
    conf = bearer.kafka_config(SETTINGS)
    assert conf["sasl.mechanism"] == "OAUTHBEARER" and "sasl.password" not in conf
    assert sessions.from_authorization(f"Bearer {_token('revoked', time.time() + 300)}") is None
    assert sessions.from_authorization(f"Bearer {_token('old', time.time() - 1)}") is None
    assert sessions.from_authorization("Digest abc") is None


def test_sign_in_redirects_only_to_the_consoles_own_pages() -> None:
    assert _safe_next("/topics?q=a") == "/topics?q=a"
    for hostile in ("https://evil.example", "//evil.example", "/\\evil.example", "topics"):
        assert _safe_next(hostile) == "/"


def test_tagged_fields_are_masked_outside_the_topics_tenant_super_users_included(
    spec: Spec,
) -> None:
    from streamplane.console.access import viewer_for

    holders = spec.topics["payments.card.holders"]
    admin = masking_for(spec, holders, viewer_for(spec, "admin", {"admin"}))
    assert admin.fields == {"name": "hash", "email": "tokenize", "card_number": "last4"}
    record = {"customer_id": "c1", "name": "Ann", "email": "ann@example.com",
              "card_number": "4000 0000 0000 1234", "country": "NL"}  # fmt: skip
    shown = admin.apply(record)
    assert shown["card_number"] == "************1234"
    assert shown["name"] == HIDDEN.format(tags="PII")
    assert shown["email"] == HIDDEN.format(tags="CONTACT,PII")
    assert (shown["customer_id"], shown["country"]) == ("c1", "NL")
    owner = masking_for(spec, holders, viewer_for(spec, "holders-masker", {"admin"}))
    assert owner.apply(record) == record
    twin = spec.topics["payments.card.holders-masked.v1"]
    assert masking_for(spec, twin, viewer_for(spec, "kyc-service", {"admin"})).fields == {}
    assert Masking({"x": "redact"}, {}).apply("not a record") == "not a record"


def test_the_encrypted_fields_are_those_the_rules_tags_cover(spec: Spec) -> None:
    holders = spec.topics["payments.card.holders"]
    assert encrypted_fields(spec, holders) == {"name", "email", "card_number"}
    assert encrypted_fields(spec, spec.topics["risk.fraud.decision.v1"]) == frozenset()


def test_charts_are_svg_with_a_text_alternative() -> None:
    drawn = line([(0.0, 5.0), (1.0, 3.0), (2.0, 0.0)], label="Lag of g", unit=" records")
    assert drawn.startswith("<svg") and "<title>Lag of g</title>" in drawn
    assert "now 0 records" in drawn
    assert "no samples yet" in line([], label="Lag")
    bar = bars([("a<b", 1.0), ("c", 50.0)], label="Budget", maximum=100, bad_below=25)
    assert "a&lt;b" in bar and bar.count('class="bar bad"') == 1


class _Message:
    def __init__(self, key: bytes, value: bytes) -> None:
        self._key, self._value = key, value

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_000)

    def headers(self) -> list[tuple[str, bytes]]:
        return [("streamplane-app", b"writer")]

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value


class _Refused:
    """The decoder with the topic's rules, when the DEK registry refuses the viewer."""

    def key_decoder(self, topic: str) -> _Refused:
        return self

    value_decoder = key_decoder

    def decode(self, data: bytes) -> object:
        raise RuntimeError("403: denied Read on the DEK")


def test_without_key_access_a_record_shows_its_encrypted_fields_as_encrypted(
    spec: Spec,
) -> None:
    from streamplane.console.access import viewer_for
    from streamplane.console.browser import ENCRYPTED, _decode

    holders = spec.topics["payments.card.holders"]
    ciphertext = {"customer_id": "c1", "name": "AAEC9x", "email": "AAEC9y",
                  "card_number": "AAEC9z", "country": "NL"}  # fmt: skip
    shown = _decode(
        _Message(b"c1", b"\0\0\0\0\6..."), _Refused(),  # type: ignore[arg-type]
        lambda value: dict(ciphertext),  # type: ignore[arg-type]
        masking_for(spec, holders, viewer_for(spec, "holders-masker", {"admin"})),
        "payments.card.holders", encrypted_fields(spec, holders),
    )  # fmt: skip
    assert "not decrypted with your key access" in shown["note"]
    assert shown["value"] == {"customer_id": "c1", "name": ENCRYPTED, "email": ENCRYPTED,
                              "card_number": ENCRYPTED, "country": "NL"}  # fmt: skip
    assert shown["key"] == "c1" and shown["headers"] == {"streamplane-app": "writer"}
