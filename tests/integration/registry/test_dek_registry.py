"""The DEK registry over HTTP, driven by confluent-kafka's own ``DekRegistryClient``.

Two instances serve one ``_schemas`` topic with basic auth against the cluster's SCRAM
principals and a tenant policy from a spec: every endpoint, every error code, the
tenant rule, the audit of denied writes, forwarding to the writer, and a replay.
Endpoints the client has no method for go through its own REST client, so the bytes on
the wire are the library's.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.rules.encryption.dek_registry.dek_registry_client import (
    DekAlgorithm,
    DekRegistryClient,
)
from confluent_kafka.schema_registry.rules.encryption.localkms.local_client import LocalKmsClient

from streamplane.kafka._admin import ClusterAdmin
from streamplane.local import LocalCluster
from streamplane.model import load_spec
from streamplane.registry import AppOptions, AuthSettings, policy_from_spec
from streamplane.registry._auth import ScramVerifier
from streamplane.security.kms import KmsDrivers, LocalKms
from tests.integration.conftest import next_http_port
from tests.integration.registry.instances import InProcess, serve_in_process, wait_for

SECRET = "dek-registry-test-secret"
V1 = "/dek-registry/v1"
MATERIAL = base64.b64encode(b"a DEK the client wrapped").decode()
SPEC = """
clusters:
  - name: local
    local: true
tenants:
  - name: alpha-{uid}
    owners: [alpha@example.com]
    clusters: [local]
    domains:
      - name: shop
        topics:
          - name: orders
        applications:
          - name: alpha-app
            principal: alpha-app-{uid}
            produces: [alpha-{uid}.shop.orders]
  - name: beta-{uid}
    owners: [beta@example.com]
    clusters: [local]
    domains:
      - name: pay
        topics:
          - name: ledger
        applications:
          - name: beta-app
            principal: beta-app-{uid}
            produces: [beta-{uid}.pay.ledger]
"""


@dataclass
class Estate:
    uid: str
    passwords: dict[str, str]
    admin: tuple[str, str]
    writer: InProcess
    follower: InProcess
    audit_log: Path
    options: AppOptions
    topic: str

    def auth(self, who: str) -> tuple[str, str]:
        if who == "admin":
            return self.admin
        user = f"{who}-{self.uid}"
        return user, self.passwords[user]

    def client(self, who: str, *, follower: bool = False) -> DekRegistryClient:
        """A new client (its caches empty), as ``who``, on the writer or the follower."""
        url = (self.follower if follower else self.writer).url
        return DekRegistryClient({"url": url, "basic.auth.user.info": ":".join(self.auth(who))})

    def http(self, who: str, *, follower: bool = False) -> httpx.Client:
        url = (self.follower if follower else self.writer).url
        return httpx.Client(base_url=url + V1, auth=self.auth(who), timeout=60)


@pytest.fixture(scope="module")
def estate(cluster1: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    uid = uuid.uuid4().hex[:6]
    passwords = {f"{who}-{uid}": secrets.token_urlsafe(16) for who in ("alpha-app", "beta-app")}
    ClusterAdmin(cluster1.admin_settings()).upsert_scram(passwords)
    verify = ScramVerifier(cluster1.admin_settings())
    for user, password in passwords.items():  # credentials reach every broker asynchronously
        wait_for(lambda u=user, p=password: verify(u, p), timeout_s=60, what=f"{user} to log in")
    root = tmp_path_factory.mktemp("dek")
    (root / "spec").mkdir()
    (root / "spec" / "platform.yaml").write_text(SPEC.format(uid=uid))
    options = AppOptions(
        auth=AuthSettings(),
        audit_log=root / "audit.log",
        access_policy=policy_from_spec(load_spec(root / "spec")),
        kms=KmsDrivers([LocalKms(SECRET)]),
    )
    topic = f"_schemas-dek-{uid}"
    writer = serve_in_process(cluster1, topic=topic, port=next_http_port(), options=options)
    wait_for(lambda: writer.registry.is_writer, timeout_s=60, what="the first instance to write")
    follower = serve_in_process(cluster1, topic=topic, port=next_http_port(), options=options)
    admin = ("admin", cluster1.credentials().admin_password)
    yield Estate(uid, passwords, admin, writer, follower, root / "audit.log", options, topic)
    follower.stop()
    writer.stop()


class _Fails:
    """``with _Fails(404, 40470):`` the block raises the client's error with these codes."""

    def __init__(self, status: int, code: int) -> None:
        self.status, self.code = status, code
        self.message = ""

    def __enter__(self) -> _Fails:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        assert isinstance(exc, SchemaRegistryError), f"expected {self.code}, got {exc!r}"
        assert (exc.http_status_code, exc.error_code) == (self.status, self.code), exc
        self.message = exc.error_message
        return True


def name(estate: Estate, base: str) -> str:
    return f"{base}_{estate.uid}_{uuid.uuid4().hex[:6]}"


# --------------------------------------------------------------- endpoints
def test_the_official_client_registers_and_reads_keks_and_deks(estate: Estate) -> None:
    client, kek = estate.client("admin"), name(estate, "orders")
    created = client.register_kek(
        kek, "local-kms", "key-1", shared=False, kms_props={"region": "eu"}, doc="orders"
    )
    assert (created.name, created.kms_type, created.kms_key_id) == (kek, "local-kms", "key-1")
    assert created.kms_props.properties == {"region": "eu"} and created.doc == "orders"
    assert created.shared is False and created.deleted is False and created.ts > 0
    fetched = estate.client("admin").get_kek(kek)
    assert fetched == created

    dek = client.register_dek(kek, "orders-value", MATERIAL)
    assert (dek.kek_name, dek.subject, dek.version) == (kek, "orders-value", 1)
    assert dek.algorithm == DekAlgorithm.AES256_GCM and dek.key_material is None
    siv = client.register_dek(kek, "orders-value", MATERIAL, DekAlgorithm.AES256_SIV, version=3)
    fresh = estate.client("admin")
    assert fresh.get_dek(kek, "orders-value") == dek
    assert fresh.get_dek(kek, "orders-value", DekAlgorithm.AES256_SIV, version=3) == siv
    assert fresh.get_dek(kek, "orders-value", DekAlgorithm.AES256_SIV, version=-1) == siv

    rest = fresh._rest_client  # the library's own HTTP client, for what has no method
    assert kek in rest.get(f"{V1}/keks")
    assert rest.get(f"{V1}/keks/{kek}/deks") == ["orders-value"]
    assert rest.get(f"{V1}/keks/{kek}/deks/orders-value")["encryptedKeyMaterial"] == MATERIAL
    assert rest.get(f"{V1}/keks/{kek}/deks/orders-value/versions") == [1]
    assert rest.get(f"{V1}/keks/{kek}/deks/orders-value/versions", {"algorithm": "AES256_SIV"}) == [
        3
    ]
    latest = rest.get(f"{V1}/keks/{kek}/deks/orders-value/versions/latest")
    assert latest["version"] == 1
    updated = rest.put(f"{V1}/keks/{kek}", {"doc": "orders, rotated yearly", "shared": False})
    assert updated["doc"] == "orders, rotated yearly" and updated["kmsProps"] == {"region": "eu"}
    # The older create path, with the subject in the body, works as well.
    older = rest.post(f"{V1}/keks/{kek}/deks", {"subject": "older-value", "version": 1,
                                               "encryptedKeyMaterial": MATERIAL})  # fmt: skip
    assert older["subject"] == "older-value"


def test_deletes_and_undeletes_answer_204_and_follow_confluents_rules(estate: Estate) -> None:
    kek = name(estate, "lifecycle")
    estate.client("admin").register_kek(kek, "local-kms", "key-1")
    with estate.http("admin") as http:
        for version in (1, 2):
            body = {"subject": "s-value", "version": version, "encryptedKeyMaterial": MATERIAL}
            assert http.post(f"/keks/{kek}/deks/s-value", json=body).status_code == 200
        gone = http.delete(f"/keks/{kek}/deks/s-value/versions/2")
        assert (gone.status_code, gone.content) == (204, b"")
        assert http.get(f"/keks/{kek}/deks/s-value/versions").json() == [1]
        assert http.get(f"/keks/{kek}/deks/s-value/versions?deleted=true").json() == [1, 2]
        assert http.post(f"/keks/{kek}/deks/s-value/versions/2/undelete").status_code == 204
        assert http.delete(f"/keks/{kek}/deks/s-value").status_code == 204
        assert http.get(f"/keks/{kek}/deks").json() == []
        assert http.get(f"/keks/{kek}/deks?deleted=true").json() == ["s-value"]
        assert http.post(f"/keks/{kek}/deks/s-value/undelete").status_code == 204
        assert http.get(f"/keks/{kek}/deks/s-value/versions").json() == [1, 2]
        assert http.delete(f"/keks/{kek}/deks/s-value").status_code == 204
        assert http.delete(f"/keks/{kek}/deks/s-value?permanent=true").status_code == 204
        assert http.delete(f"/keks/{kek}").status_code == 204
        assert kek not in http.get("/keks").json()
        assert kek in http.get("/keks?deleted=true").json()
        assert http.post(f"/keks/{kek}/undelete").status_code == 204
        assert http.get(f"/keks/{kek}").json()["deleted"] is False
        assert http.delete(f"/keks/{kek}").status_code == 204
        assert http.delete(f"/keks/{kek}?permanent=true").status_code == 204
        assert http.get(f"/keks/{kek}?deleted=true").json()["error_code"] == 40470


def test_every_error_code_with_its_status(estate: Estate) -> None:
    kek, shared = name(estate, "errors"), name(estate, "gcp")
    admin = estate.client("admin")
    admin.register_kek(kek, "local-kms", "key-1")
    rest = admin._rest_client
    with _Fails(404, 40470) as failed:
        estate.client("admin").get_kek(name(estate, "missing"))
    assert "not found" in failed.message
    with _Fails(404, 40470) as failed:
        admin.get_dek(kek, "no-such-subject")
    assert "'no-such-subject' not found" in failed.message
    with _Fails(409, 40971) as failed:
        rest.post(f"{V1}/keks", {"name": kek, "kmsType": "local-kms", "kmsKeyId": "key-1"})
    assert "already exists" in failed.message
    admin.register_dek(kek, "e-value", MATERIAL)
    with _Fails(409, 40971):
        rest.post(f"{V1}/keks/{kek}/deks/e-value", {"encryptedKeyMaterial": MATERIAL})
    with _Fails(422, 42271):
        rest.post(f"{V1}/keks", {"name": "9lives", "kmsType": "local-kms", "kmsKeyId": "k"})
    with _Fails(422, 42271):
        rest.post(f"{V1}/keks", {"name": name(estate, "nokey"), "kmsType": "local-kms"})
    with _Fails(422, 42271) as failed:
        rest.post(f"{V1}/keks/{kek}/deks/other-value", {"version": 1})
    assert "encryptedKeyMaterial" in failed.message
    with _Fails(422, 42271) as failed:
        rest.post(f"{V1}/keks", {"name": name(estate, "creds"), "kmsType": "aws-kms",
                                 "kmsKeyId": "arn:aws:kms:eu-west-1:1:key/x",
                                 "kmsProps": {"secret.access.key": "s3cr3t"}})  # fmt: skip
    assert "credential" in failed.message
    with _Fails(422, 42202):
        rest.get(f"{V1}/keks/{kek}/deks/e-value/versions/0")
    with _Fails(422, 42272) as failed:
        rest.delete(f"{V1}/keks/{kek}")
    assert "references exist" in failed.message
    with _Fails(404, 40471):
        rest.delete(f"{V1}/keks/{kek}/deks/e-value", {"permanent": "true"})
    rest.delete(f"{V1}/keks/{kek}/deks/e-value")
    rest.delete(f"{V1}/keks/{kek}")
    with _Fails(404, 40472) as failed:
        rest.post(f"{V1}/keks/{kek}/deks/e-value/undelete", None)
    assert "must be undeleted first" in failed.message
    live = name(estate, "live")
    admin.register_kek(live, "local-kms", "key-1")
    with _Fails(404, 40471) as failed:
        rest.delete(f"{V1}/keks/{live}", {"permanent": "true"})
    assert "was not deleted first" in failed.message
    admin.register_kek(shared, "gcp-kms", "projects/p/keys/k", shared=True)
    with _Fails(500, 50070) as failed:
        admin.register_dek(shared, "g-value", None)  # type: ignore[arg-type]
    assert "no KMS driver for kmsType 'gcp-kms'" in failed.message


def test_a_shared_kek_makes_the_registry_wrap_and_unwrap_the_dek(estate: Estate) -> None:
    kek = name(estate, "shared")
    estate.client("admin").register_kek(kek, "local-kms", "key-1", shared=True)
    subject = f"alpha-{estate.uid}.shop.orders-value"
    made = estate.client("alpha-app").register_dek(kek, subject, None)  # type: ignore[arg-type]
    raw = made.get_key_material_bytes()
    assert raw is not None and made.encrypted_key_material
    # Wrapped by the KMS the registry is configured with: the client's local KMS agrees.
    unwrapped = (
        LocalKmsClient(SECRET)
        .get_aead("local-kms://key-1")
        .decrypt(made.get_encrypted_key_material_bytes(), b"")
    )
    assert unwrapped == raw
    again = estate.client("alpha-app", follower=True).get_dek(kek, subject)
    assert again.key_material == made.key_material


# ------------------------------------------------------------------ access
def test_a_tenant_manages_its_own_keks_and_the_deks_of_its_own_subjects(estate: Estate) -> None:
    uid = estate.uid
    own_kek, their_kek, platform = f"alpha-{uid}.pii", f"beta-{uid}.pii", name(estate, "estate")
    own_subject, their_subject = f"alpha-{uid}.shop.orders-value", f"beta-{uid}.pay.ledger-value"
    alpha, admin = estate.client("alpha-app"), estate.client("admin")

    assert alpha.register_kek(own_kek, "local-kms", "alpha-key").name == own_kek
    for refused in (their_kek, platform):
        with _Fails(403, 40301) as failed:
            estate.client("alpha-app").register_kek(refused, "local-kms", "k")
        assert f"Write on KEK: {refused}" in failed.message
    admin.register_kek(their_kek, "local-kms", "beta-key")
    admin.register_kek(platform, "local-kms", "estate-key")
    assert estate.client("alpha-app").get_kek(their_kek).name == their_kek  # KEKs are readable

    alpha.register_dek(own_kek, own_subject, MATERIAL)
    alpha.register_dek(platform, own_subject, MATERIAL)
    with _Fails(403, 40301):
        alpha.register_dek(their_kek, own_subject, MATERIAL)  # another tenant's KEK
    with _Fails(403, 40301) as failed:
        alpha.register_dek(platform, their_subject, MATERIAL)  # another tenant's subject
    assert f"may write subjects starting with 'alpha-{uid}.'" in failed.message
    estate.client("beta-app").register_dek(platform, their_subject, MATERIAL)
    with _Fails(403, 40301):
        estate.client("alpha-app").get_dek(platform, their_subject)
    rest = alpha._rest_client
    assert rest.get(f"{V1}/keks/{platform}/deks") == [own_subject]  # theirs filtered out
    with _Fails(403, 40301):
        rest.delete(f"{V1}/keks/{their_kek}")
    with _Fails(403, 40301):
        rest.delete(f"{V1}/keks/{platform}/deks/{their_subject}")
    rest.delete(f"{V1}/keks/{own_kek}/deks/{own_subject}")

    events = [json.loads(line) for line in estate.audit_log.read_text().splitlines()]
    user = f"alpha-app-{uid}"
    denied = [e for e in events if e["principal"] == user and e["decision"] == "denied"]
    assert {(e["action"], e["status"], e["error_code"]) for e in denied} >= {
        ("create-kek", 403, 40301), ("create-dek", 403, 40301), ("delete-kek", 403, 40301),
        ("delete-dek", 403, 40301),
    }  # fmt: skip
    assert any(
        e["action"] == "create-dek" and e["subject"] == their_subject and e["status"] == 403
        for e in denied
    )
    allowed = {(e["action"], e["subject"]) for e in events
               if e["principal"] == user and e["decision"] == "allowed"}  # fmt: skip
    assert ("create-dek", own_subject) in allowed and ("delete-dek", own_subject) in allowed, [
        e for e in events if e["principal"] == user
    ]


# ------------------------------------------------------------- replication
def test_writes_through_any_instance_are_replicated_and_replayed(
    estate: Estate, cluster1: LocalCluster
) -> None:
    assert estate.writer.registry.is_writer and not estate.follower.registry.is_writer
    kek = name(estate, "replicated")
    via_follower = estate.client("admin", follower=True)
    via_follower.register_kek(kek, "local-kms", "key-1", shared=True)
    made = via_follower.register_dek(kek, "r-value", None)  # type: ignore[arg-type]
    assert estate.client("admin", follower=True).get_dek(kek, "r-value") == made
    assert estate.client("admin").get_dek(kek, "r-value") == made
    with estate.http("admin", follower=True) as http:
        forwarded = http.delete(f"/keks/{kek}/deks/r-value")
        assert (forwarded.status_code, forwarded.content) == (204, b"")
        assert http.get(f"/keks/{kek}/deks").json() == []  # read-your-writes on the follower

    replayed = serve_in_process(
        cluster1, topic=estate.topic, port=next_http_port(), options=estate.options
    )
    try:
        again = DekRegistryClient(
            {"url": replayed.url, "basic.auth.user.info": ":".join(estate.admin)}
        )
        assert again.get_kek(kek).shared is True
        restored = again.get_dek(kek, "r-value", deleted=True)
        assert restored.deleted is True and restored.key_material == made.key_material
    finally:
        replayed.stop()
