"""Who may manage KEKs and DEKs (the tenant rule over the access policy), and their audit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from streamplane.errors import RegistryError
from streamplane.registry._access import AccessPolicy, AccessRules, Caller
from streamplane.registry._audit import AuditTrail
from streamplane.registry._dek_api import KeyAccess
from streamplane.registry._gate import RegistryGate, classify

POLICY = AccessPolicy(
    principals={"pay-app": "payments.", "risk-app": "risk.", "risk-ml": "risk.ml."},
    public_prefixes=["payments.card.authorized.v1-"],
)
PAY, RISK, ML = Caller("pay-app"), Caller("risk-app"), Caller("risk-ml")
ADMIN, STRANGER = Caller("admin", super_user=True), Caller("nobody")


def refused(check: object, *args: object) -> str:
    with pytest.raises(RegistryError) as caught:
        check(*args)  # type: ignore[operator]
    assert (caught.value.status, caught.value.error_code) == (403, 40301)
    return caught.value.message


def test_a_tenant_manages_the_keks_under_its_prefix_only() -> None:
    access = KeyAccess(AccessRules(POLICY))
    access.require_manage_kek(PAY, "payments.pii")
    message = refused(access.require_manage_kek, PAY, "risk.pii")
    assert "pay-app may manage KEKs whose names start with 'payments.' only" in message
    assert "denied operation Write on KEK: risk.pii" in message
    refused(access.require_manage_kek, PAY, "estate-pii")  # the platform's: super users only
    access.require_manage_kek(ADMIN, "estate-pii")
    assert "belongs to no tenant" in refused(access.require_manage_kek, STRANGER, "x")


def test_deks_go_under_the_tenants_own_or_the_platforms_keks_and_its_own_subjects() -> None:
    access = KeyAccess(AccessRules(POLICY))
    access.require_write_dek(PAY, "payments.pii", "payments.card.authorizations-value")
    access.require_write_dek(PAY, "estate-pii", "payments.card.authorizations-value")
    refused(access.require_write_dek, PAY, "risk.pii", "payments.card.authorizations-value")
    message = refused(access.require_write_dek, PAY, "estate-pii", "risk.scores-value")
    assert "may write subjects starting with 'payments.'" in message
    # The longest prefix owns a name: risk.ml.key is risk-ml's, not every risk principal's.
    assert access.kek_owner("risk.ml.key") == "risk.ml."
    access.require_write_dek(RISK, "risk.pii", "risk.ml.scores-value")
    access.require_write_dek(ADMIN, "risk.pii", "anything-value")


def test_without_a_policy_only_super_users_write() -> None:
    access = KeyAccess(AccessRules(None))
    refused(access.require_manage_kek, PAY, "payments.pii")
    refused(access.require_write_dek, PAY, "estate-pii", "payments.x-value")
    access.require_manage_kek(ADMIN, "estate-pii")
    access.require_write_dek(ADMIN, "estate-pii", "payments.x-value")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/dek-registry/v1/keks", ("create-kek", None, None)),
        ("PUT", "/dek-registry/v1/keks/k", ("update-kek", None, None)),
        ("DELETE", "/dek-registry/v1/keks/k", ("delete-kek", None, None)),
        ("POST", "/dek-registry/v1/keks/k/undelete", ("undelete-kek", None, None)),
        ("POST", "/dek-registry/v1/keks/k/deks", ("create-dek", None, None)),
        ("POST", "/dek-registry/v1/keks/k/deks/s-value", ("create-dek", "s-value", None)),
        ("DELETE", "/dek-registry/v1/keks/k/deks/s-value", ("delete-dek", "s-value", None)),
        (
            "DELETE",
            "/dek-registry/v1/keks/k/deks/s-value/versions/2",
            ("delete-dek", "s-value", "2"),
        ),
        (
            "POST",
            "/dek-registry/v1/keks/k/deks/s-value/undelete",
            ("undelete-dek", "s-value", None),
        ),
        (
            "POST",
            "/dek-registry/v1/keks/k/deks/s-value/versions/latest/undelete",
            ("undelete-dek", "s-value", "latest"),
        ),
        ("GET", "/dek-registry/v1/keks/k/deks/s-value/versions/2", None),
        ("GET", "/dek-registry/v1/keks", None),
    ],
)
def test_dek_registry_writes_are_audited_and_reads_are_not(
    method: str, path: str, expected: tuple[str, str | None, str | None] | None
) -> None:
    assert classify(method, path) == expected


def test_a_bodiless_204_is_audited_before_its_headers_leave(tmp_path: Path) -> None:
    """A server may finish a 204 with its headers: the audit line must already be there."""
    audit = AuditTrail(path=tmp_path / "audit.log", settings=None)
    audit.start()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    seen_at_start: list[int] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            seen_at_start.append(len((tmp_path / "audit.log").read_text().splitlines()))

    gate = RegistryGate(app, auth=None, credentials=None, audit=audit, instance=None)
    scope = {"type": "http", "method": "DELETE", "path": "/dek-registry/v1/keks/k",
             "headers": [], "client": ("127.0.0.1", 5000)}  # fmt: skip
    asyncio.run(gate(scope, None, send))  # type: ignore[arg-type]
    lines = (tmp_path / "audit.log").read_text().splitlines()
    assert seen_at_start == [1] and len(lines) == 1  # recorded once, before the headers
    event = json.loads(lines[0])
    assert (event["action"], event["status"], event["decision"]) == ("delete-kek", 204, "allowed")
