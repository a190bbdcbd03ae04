"""Basic auth against the cluster's SCRAM principals, tenant rules from the spec, and audit.

The principals are real SCRAM users created on the session cluster with the project's
own admin code; the access policy comes from a small spec loaded like any other.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streamplane.kafka._admin import ClusterAdmin
from streamplane.local import LocalCluster
from streamplane.model import load_spec
from streamplane.registry import AUDIT_TOPIC, AppOptions, AuthSettings, policy_from_spec
from streamplane.registry._auth import ScramVerifier
from tests.integration.conftest import next_http_port
from tests.integration.registry.instances import InProcess, serve_in_process, wait_for

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
          - name: orders.v1
            visibility: public
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
          - name: payments.v1
            visibility: public
        applications:
          - name: beta-app
            principal: beta-app-{uid}
            produces: [beta-{uid}.pay.ledger]
"""


def schema(tag: str) -> str:
    return f'{{"type":"record","name":"R_{tag}","fields":[{{"name":"f","type":"long"}}]}}'


@dataclass
class Estate:
    uid: str
    passwords: dict[str, str]
    admin: tuple[str, str]
    served: InProcess
    audit_log: Path

    def creds(self, who: str) -> tuple[str, str]:
        user = f"{who}-{self.uid}"
        return user, self.passwords[user]

    def client(self, who: str | None) -> httpx.Client:
        auth = self.admin if who == "admin" else self.creds(who) if who else None
        return httpx.Client(base_url=self.served.url, auth=auth, timeout=60)


@pytest.fixture(scope="module")
def estate(cluster1: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    uid = uuid.uuid4().hex[:6]
    passwords = {
        f"{who}-{uid}": secrets.token_urlsafe(16) for who in ("alpha-app", "beta-app", "loner")
    }
    ClusterAdmin(cluster1.admin_settings()).upsert_scram(passwords)
    verify = ScramVerifier(cluster1.admin_settings())
    for user, password in passwords.items():  # credentials reach every broker asynchronously
        wait_for(lambda u=user, p=password: verify(u, p), timeout_s=60, what=f"{user} to log in")
    root = tmp_path_factory.mktemp("auth")
    (root / "spec").mkdir()
    (root / "spec" / "platform.yaml").write_text(SPEC.format(uid=uid))
    options = AppOptions(
        auth=AuthSettings(),
        audit_log=root / "audit.log",
        access_policy=policy_from_spec(load_spec(root / "spec")),
    )
    served = serve_in_process(
        cluster1, topic=f"_schemas-{uid}", port=next_http_port(), options=options
    )
    admin = ("admin", cluster1.credentials().admin_password)
    yield Estate(uid, passwords, admin, served, root / "audit.log")
    served.stop()


def assert_error(answer: httpx.Response, status: int, code: int, *words: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error_code"] == code, body
    for word in words:
        assert word in body["message"], body


def test_every_endpoint_needs_credentials_and_wrong_ones_get_401(estate: Estate) -> None:
    user, password = estate.creds("alpha-app")
    with estate.client(None) as anonymous:
        for path in ("/", "/schemas/types", "/contexts", "/subjects", "/config", "/schemas/ids/1"):
            answer = anonymous.get(path)
            assert_error(answer, 401, 401)
            assert answer.headers["www-authenticate"].startswith("Basic")
        bad = anonymous.get("/subjects", auth=(user, password + "x"))
        assert_error(bad, 401, 401)
        assert bad.headers["www-authenticate"].startswith("Basic")
        assert_error(anonymous.get("/subjects", auth=("nobody-at-all", "x")), 401, 401)
        assert anonymous.get("/subjects", auth=(user, password)).status_code == 200


def test_every_refusal_has_confluents_error_body_401_as_404(estate: Estate) -> None:
    """One shape for every error: {"error_code": int, "message": str}, serialised alike."""
    with estate.client(None) as anonymous, estate.client("alpha-app") as alpha:
        answers = {
            401: anonymous.get("/subjects"),
            403: alpha.post(
                f"/subjects/beta-{estate.uid}.pay.ledger-value/versions", json={"schema": "{}"}
            ),
            404: alpha.get(f"/subjects/alpha-{estate.uid}.shop.none-value/versions"),
            405: alpha.delete("/schemas/types"),
            422: alpha.post(f"/subjects/alpha-{estate.uid}.shop.orders-value/versions", json={}),
        }
        answers[0] = alpha.get("/no/such/route")
    for status, answer in answers.items():
        body = answer.json()
        assert answer.status_code == (status or 404), answer.text
        assert list(body) == ["error_code", "message"], body
        assert isinstance(body["error_code"], int) and isinstance(body["message"], str)
        assert answer.text.startswith('{"error_code":'), answer.text  # no gap after the colon
    assert answers[401].json()["error_code"] == 401  # Confluent's code for it
    assert answers[422].json()["message"] == "Unprocessable entity: body.schema: Field required"


def test_a_tenant_writes_subjects_under_its_prefix_only(estate: Estate) -> None:
    own = f"alpha-{estate.uid}.shop.orders-value"
    other = f"beta-{estate.uid}.pay.ledger-value"
    with estate.client("alpha-app") as alpha:
        answer = alpha.post(f"/subjects/{own}/versions", json={"schema": schema("own")})
        assert answer.status_code == 200, answer.text
        refused = alpha.post(f"/subjects/{other}/versions", json={"schema": schema("other")})
        assert_error(refused, 403, 40301, f"alpha-{estate.uid}.")
        assert_error(alpha.put(f"/config/{other}", json={"compatibility": "NONE"}), 403, 40301)
        assert_error(alpha.delete(f"/subjects/{other}"), 403, 40301)
        assert_error(alpha.put("/config", json={"compatibility": "NONE"}), 403, 40301)
        assert_error(alpha.put("/mode", json={"mode": "READONLY"}), 403, 40301)
    with estate.client("loner") as loner:  # authenticated, but no tenant's principal
        refused = loner.post(f"/subjects/{own}/versions", json={"schema": schema("own")})
        assert_error(refused, 403, 40301, "no tenant")


def test_reads_of_another_tenant_follow_topic_visibility(estate: Estate) -> None:
    private = f"beta-{estate.uid}.pay.ledger-value"
    public = f"beta-{estate.uid}.pay.payments.v1-value"
    with estate.client("beta-app") as beta:
        private_id = beta.post(
            f"/subjects/{private}/versions", json={"schema": schema("private")}
        ).json()["id"]
        public_id = beta.post(
            f"/subjects/{public}/versions", json={"schema": schema("public")}
        ).json()["id"]
        assert beta.get(f"/subjects/{private}/versions/latest").status_code == 200
    for who in ("alpha-app", "loner"):
        with estate.client(who) as reader:
            assert reader.get(f"/subjects/{public}/versions/latest").json()["id"] == public_id
            assert reader.get(f"/schemas/ids/{public_id}").status_code == 200
            # 403, not 404: the rule depends on the name only, so it reveals nothing.
            assert_error(reader.get(f"/subjects/{private}/versions/latest"), 403, 40301)
            assert_error(reader.get(f"/subjects/{private}-nonexistent/versions"), 403, 40301)
            assert_error(reader.get(f"/schemas/ids/{private_id}"), 403, 40301)
            listed = reader.get("/subjects").json()
            assert public in listed and private not in listed
            lookup = reader.post(f"/subjects/{private}", json={"schema": schema("private")})
            assert_error(lookup, 403, 40301)


def test_admin_may_do_everything(estate: Estate) -> None:
    with estate.client("admin") as admin:
        for subject in (f"alpha-{estate.uid}.x-value", f"beta-{estate.uid}.y-value", "z-value"):
            answer = admin.post(f"/subjects/{subject}/versions", json={"schema": schema("adm")})
            assert answer.status_code == 200, answer.text
        assert admin.put("/config/z-value", json={"compatibility": "NONE"}).status_code == 200
        assert admin.delete("/subjects/z-value").json() == [1]
        stored = admin.get("/streamplane/access").json()
        assert stored["principals"][f"alpha-app-{estate.uid}"] == f"alpha-{estate.uid}."
        assert admin.put("/streamplane/access", json=stored).json() == stored
        listed = admin.get("/subjects").json()
        assert f"beta-{estate.uid}.y-value" in listed and f"alpha-{estate.uid}.x-value" in listed
    with estate.client("alpha-app") as alpha:
        assert_error(alpha.get("/streamplane/access"), 403, 40301)
        assert_error(alpha.put("/streamplane/access", json=stored), 403, 40301)


def test_without_a_policy_principals_read_everything_and_only_admin_writes(
    cluster1: LocalCluster, estate: Estate
) -> None:
    bare = serve_in_process(
        cluster1,
        topic=f"_schemas-{uuid.uuid4().hex[:8]}",
        port=next_http_port(),
        options=AppOptions(auth=AuthSettings()),
    )
    try:
        subject = f"beta-{estate.uid}.pay.ledger-value"
        with httpx.Client(base_url=bare.url, auth=estate.admin, timeout=60) as admin:
            answer = admin.post(f"/subjects/{subject}/versions", json={"schema": schema("b")})
            assert answer.status_code == 200, answer.text
        with httpx.Client(base_url=bare.url, auth=estate.creds("alpha-app"), timeout=60) as alpha:
            assert alpha.get(f"/subjects/{subject}/versions").json() == [1]
            refused = alpha.post(
                f"/subjects/alpha-{estate.uid}.a-value/versions", json={"schema": schema("a")}
            )
            assert_error(refused, 403, 40301, "no access policy")
    finally:
        bare.stop()


def test_allowed_and_denied_writes_are_audited_in_the_file_and_on_the_topic(
    cluster1: LocalCluster, estate: Estate
) -> None:
    own = f"alpha-{estate.uid}.shop.audited-value"
    theirs = f"beta-{estate.uid}.pay.audited-value"
    user, password = estate.creds("alpha-app")
    with estate.client("alpha-app") as alpha:
        allowed = alpha.post(f"/subjects/{own}/versions", json={"schema": schema("aud")})
        schema_id = allowed.json()["id"]
        assert alpha.post(f"/subjects/{theirs}/versions", json={"schema": "1"}).status_code == 403
        wrong = alpha.post(
            f"/subjects/{own}/versions", json={"schema": "1"}, auth=(user, "not-the-password")
        )
        assert wrong.status_code == 401
        assert alpha.delete(f"/subjects/{own}").status_code == 200

    lines = estate.audit_log.read_text()
    assert password not in lines and "not-the-password" not in lines
    events = [json.loads(line) for line in lines.splitlines()]
    mine = [e for e in events if e["subject"] in (own, theirs)]
    by_outcome = {(e["action"], e["subject"], e["status"]): e for e in mine}
    registered = by_outcome[("register", own, 200)]
    assert registered["principal"] == user and registered["decision"] == "allowed"
    assert registered["id"] == schema_id and registered["client"].startswith("127.0.0.1:")
    assert registered["at"].endswith("Z") and registered["method"] == "POST"
    denied = by_outcome[("register", theirs, 403)]
    assert denied["decision"] == "denied" and denied["error_code"] == 40301
    unauthenticated = by_outcome[("register", own, 401)]
    assert unauthenticated["principal"] == user and unauthenticated["authenticated"] is False
    assert ("delete-subject", own, 200) in by_outcome

    expected = {(e["action"], e["subject"], e["status"]) for e in mine}
    found: set[tuple[str, str, int]] = set()
    consumer = Consumer(
        cluster1.admin_settings().librdkafka(**{
            "group.id": f"audit-check-{uuid.uuid4().hex}", "enable.auto.commit": False,
        })
    )  # fmt: skip
    consumer.assign([TopicPartition(AUDIT_TOPIC, 0, OFFSET_BEGINNING)])
    deadline = time.monotonic() + 90
    try:
        while found != expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 1.0):
                if msg.error() is None:
                    event = json.loads(msg.value())
                    # The trail is shared: apply and gdpr write events of their own shape.
                    if event.get("subject") in (own, theirs):
                        assert password not in msg.value().decode()
                        found.add((event["action"], event["subject"], event["status"]))
    finally:
        consumer.close()
    assert found == expected
