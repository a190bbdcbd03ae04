"""The console's API against the example estate: who may see what, endpoint by endpoint.

Every GET endpoint the OpenAPI document lists is called as a principal of tenant risk,
so an endpoint added later is checked too: none may name another tenant's private topic
or group, and those asked for by name are refused with 403, existing or not.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from streamplane.kafka._admin import AclTuple, ClusterAdmin
from tests.integration.console.conftest import ConsoleEstate

#: Tenant payments' private topics and its groups: never in what risk's principals see.
PAYMENTS_PRIVATE = (
    "payments.card.authorizations",
    "payments.card.holders",
    "payments.card.holders-vault",
    "payments.ledger.entries",
)
PAYMENTS_GROUP = "payments.card-authorizer"
RISK = "kyc-service"


def _paths(estate: ConsoleEstate) -> list[str]:
    document = httpx.get(f"{estate.url}/api/v1/openapi.json", timeout=10).json()
    return sorted(p for p, ops in document["paths"].items() if "get" in ops)


def _named(path: str) -> str:
    """The path asking for one of payments' private resources by name."""
    target = PAYMENTS_GROUP if path.startswith("/api/v1/groups/") else PAYMENTS_PRIVATE[1]
    return path.replace("{name}", target)


def test_every_endpoint_needs_a_principal_the_cluster_accepts(
    console_estate: ConsoleEstate,
) -> None:
    paths = _paths(console_estate)
    assert len(paths) >= 12, paths
    for path in paths:
        url = console_estate.url + _named(path)
        anonymous = httpx.get(url, timeout=10)
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert anonymous.headers["www-authenticate"].startswith("Basic")
        wrong = httpx.get(url, auth=(RISK, "not-the-password"), timeout=10)
        assert wrong.status_code == 401, (path, wrong.text)


def test_no_endpoint_shows_a_tenant_another_tenants_private_topics_or_groups(
    console_estate: ConsoleEstate,
) -> None:
    with console_estate.api(RISK) as api:
        assert api.get("/whoami").json() == {
            "principal": RISK, "tenant": "risk", "super_user": False,
        }  # fmt: skip
        for path in _paths(console_estate):
            relative = _named(path).removeprefix("/api/v1")
            answer = api.get(relative)
            if "{name}" in path:
                assert answer.status_code == 403, (path, answer.text)
                assert "may not see" in answer.json()["message"]
                continue
            if path.endswith("/plan"):
                assert answer.status_code == 403, answer.text
                continue
            assert answer.status_code == 200, (path, answer.text)
            body = answer.text
            for private in PAYMENTS_PRIVATE:
                assert f'"{private}"' not in body, (path, private)
                assert f'"topic:{private}"' not in body, (path, private)
            assert PAYMENTS_GROUP not in body, path
        # A name that does not exist is refused the same way: a 403 reveals nothing.
        missing = api.get("/topics/payments.no-such-topic")
        assert missing.status_code == 403


def test_a_tenant_sees_its_own_topics_public_ones_and_what_its_acls_grant(
    console_estate: ConsoleEstate,
) -> None:
    with console_estate.api(RISK) as api:
        listed = {t["name"] for t in api.get("/topics", params={"size": 1000}).json()["topics"]}
        mine = {"risk.fraud.features", "risk.fraud.decision.v1", "risk.customers.identities"}
        public = {"payments.card.authorized.v1", "payments.ledger.balance-changed.v1",
                  "payments.card.holders-masked.v1"}  # fmt: skip
        assert mine | public <= listed
        assert not listed & set(PAYMENTS_PRIVATE)
        assert not any(name.startswith("_") for name in listed), "internal topics: admin only"
        overview = api.get("/overview").json()
        assert [t["name"] for t in overview["tenants"]] == ["risk"]
        [cluster] = overview["clusters"]
        assert (cluster["name"], cluster["this"], cluster["tenants"]) == ("local", True, ["risk"])
        assert overview["topics"] == len(listed)
    with console_estate.api("admin") as admin:
        everything = admin.get("/topics", params={"size": 1000}).json()
        names = {t["name"] for t in everything["topics"]}
        assert set(PAYMENTS_PRIVATE) | {"_schemas"} <= names
        assert everything["total"] == len(names) > len(listed)
        assert {t["name"] for t in admin.get("/overview").json()["tenants"]} == {
            "analytics", "payments", "risk",
        }  # fmt: skip


def test_topic_detail_has_owners_flows_configs_and_schema_history_read_as_the_viewer(
    console_estate: ConsoleEstate,
) -> None:
    with console_estate.api(RISK) as api:
        detail = api.get("/topics/payments.card.authorized.v1").json()
    assert detail["tenant"] == "payments" and detail["visibility"] == "public"
    assert "payments-platform@example.com" in detail["owners"]
    assert detail["producers"] == ["card-authorizer"]
    assert {"ledger-writer", "lake-sink"} <= set(detail["consumers"])
    assert detail["partitions"] == len(detail["partition_details"]) > 0
    assert any(c["name"] == "compression.type" for c in detail["configs"])
    [value] = [s for s in detail["schemas"] if s["subject"].endswith("-value")]
    assert value["compatibility"] == "FULL_TRANSITIVE"
    assert json.loads(value["versions"][0]["schema"])["name"] == "CardAuthorized"


def test_the_message_browser_reads_as_the_viewer_and_masks_pii_outside_the_tenant(
    console_estate: ConsoleEstate,
) -> None:
    run = uuid.uuid4().hex[:6]
    holder = {
        "customer_id": f"{run}-c1", "name": f"Holder {run}", "email": f"{run}@example.com",
        "card_number": "4000 0000 0000 1234", "country": "NL",
    }  # fmt: skip
    app = "card-holder-service"
    console_estate.produce(app, "payments.card.holders", [holder], key="customer_id")

    def newest(principal: str) -> httpx.Response:
        with console_estate.api(principal) as api:
            return api.get("/topics/payments.card.holders/messages", params={"limit": 50})

    def ours(answer: httpx.Response) -> dict[str, Any]:
        [record] = [r for r in answer.json()["records"] if r["key"] == holder["customer_id"]]
        return record["value"]  # type: ignore[no-any-return]

    # The raw topic's own tenant (a consumer of it): decrypted, unmasked.
    assert ours(newest("holders-masker")) == holder
    with console_estate.api("holders-masker") as api:
        nowhere = api.get("/topics/payments.card.holders/messages", params={"partition": 99})
    assert nowhere.status_code == 404
    assert "has no partition 99: its partitions are 0 to" in nowhere.json()["message"]
    # The super user: decrypted, but no raw PII: card numbers keep their last four digits.
    admin_view = newest("admin")
    assert admin_view.json()["read_as"] == "admin"
    masked = ours(admin_view)
    assert masked["card_number"] == "************1234"
    assert masked["name"] == "[hidden: PII]" and "[hidden:" in masked["email"]
    assert (masked["customer_id"], masked["country"]) == (holder["customer_id"], "NL")
    assert holder["name"] not in admin_view.text and holder["email"] not in admin_view.text
    # Of the tenant, but its Kafka ACLs only let it write: the broker refuses the read.
    producer_view = newest(app)
    assert producer_view.status_code == 403
    assert "broker refused" in producer_view.json()["message"]
    # Another tenant: refused by the console before Kafka is asked.
    assert newest(RISK).status_code == 403


def test_a_reader_without_key_access_sees_encrypted_fields_as_encrypted_never_plain(
    console_estate: ConsoleEstate,
) -> None:
    run = uuid.uuid4().hex[:6]
    holder = {
        "customer_id": f"{run}-c2", "name": f"Holder {run}", "email": f"{run}@example.org",
        "card_number": "4000 0000 0000 9876", "country": "DE",
    }  # fmt: skip
    app = "card-holder-service"
    console_estate.produce(app, "payments.card.holders", [holder], key="customer_id")
    # A hand-made exception: risk's kyc-service may read the raw topic on the broker, but
    # the registry still keeps payments' data keys (and the subject) from it.
    admin = ClusterAdmin(console_estate.cluster.admin_settings())
    grants = [
        AclTuple(f"User:{RISK}", "TOPIC", "payments.card.holders", "LITERAL", op, "ALLOW", "*")
        for op in ("READ", "DESCRIBE")
    ]
    admin.create_acls(grants)
    try:
        with console_estate.api(RISK) as api:
            deadline = time.monotonic() + 30
            while (answer := api.get("/topics/payments.card.holders/messages",
                                     params={"limit": 50})).status_code == 403:  # fmt: skip
                assert time.monotonic() < deadline, answer.text
                time.sleep(0.25)
        assert answer.status_code == 200, answer.text
        [record] = [r for r in answer.json()["records"] if r["key"] == holder["customer_id"]]
        assert "not decrypted with your key access" in record["note"]
        for secret in ("name", "email", "card_number"):
            assert holder[secret] not in answer.text
        # The registry refuses it the schema too, so nothing of the value is shown.
        assert record["value"] is None and "not decoded either" in record["note"]
    finally:
        admin.delete_acls(grants)


def test_a_group_shows_its_lag_over_time_and_burrow_health(
    console_estate: ConsoleEstate,
) -> None:
    topic, reader = "payments.card.authorized.v1", "lake-sink"
    group, consumer = console_estate.backlog(reader, 600, "a")
    try:
        taken = 0
        while taken < 100:
            taken += len([m for m in consumer.consume(100, timeout=1) if m.error() is None])
        consumer.commit(asynchronous=False)
        with console_estate.api(reader) as api:
            first = _group_when(api, group, lambda g: g["lag"] is not None and g["lag"] > 0)
            lag_before = first["lag"]
            for batch in consumer.consume(1000, timeout=2), consumer.consume(1000, timeout=2):
                taken += len(batch)
            consumer.commit(asynchronous=False)
            after = _group_when(api, group, lambda g: g["lag"] < lag_before)
            assert after["lag"] < lag_before
            assert len(after["lag_history"]) >= 2
            assert after["health"] in ("OK", "WARN", "ERR")
            assert {p["topic"] for p in after["partitions"]} == {topic}
            listed = {g["group"]: g for g in api.get("/groups").json()}
            assert listed[group]["application"] == reader
    finally:
        consumer.close()
    with console_estate.api(RISK) as api:
        assert api.get(f"/groups/{group}").status_code == 403
        assert group not in api.get("/groups").text


def _group_when(api: httpx.Client, group: str, ready: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        answer = api.get(f"/groups/{group}")
        if answer.status_code == 200 and ready(answer.json()):
            return answer.json()  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.25)


def test_an_oidc_client_signs_in_with_a_bearer_token_from_the_issuer(
    console_estate: ConsoleEstate,
) -> None:
    conn = console_estate.as_app("volume-aggregator")
    assert conn.oauth_token_url and conn.oauth_client_id and conn.oauth_client_secret
    token = httpx.post(
        conn.oauth_token_url, data={"grant_type": "client_credentials"},
        auth=(conn.oauth_client_id, conn.oauth_client_secret), timeout=10,
    ).json()["access_token"]  # fmt: skip
    headers = {"authorization": f"Bearer {token}"}
    me = httpx.get(f"{console_estate.url}/api/v1/whoami", headers=headers, timeout=30)
    assert me.json() == {"principal": "volume-aggregator", "tenant": "analytics",
                         "super_user": False}  # fmt: skip
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = httpx.get(
        f"{console_estate.url}/api/v1/whoami",
        headers={"authorization": f"Bearer {forged}"}, timeout=30,
    )  # fmt: skip
    assert refused.status_code == 401


def test_the_plan_is_for_super_users_and_shows_no_drift_after_apply(
    console_estate: ConsoleEstate,
) -> None:
    with console_estate.api("admin") as admin:
        plan = admin.get("/plan").json()
        lineage = admin.get("/lineage").json()
        slos = admin.get("/slos").json()
    assert plan["cluster"] == "local" and plan["actions"] == [] and plan["refusals"] == []
    flows = {(f["application"], f["direction"], f["topic"]) for f in lineage["flows"]}
    assert ("card-authorizer", "produces", "payments.card.authorized.v1") in flows
    columns = {n["id"]: n["column"] for n in lineage["nodes"]}
    assert columns["app:card-authorizer"] < columns["topic:payments.card.authorized.v1"]
    assert columns["topic:payments.card.authorized.v1"] < columns["app:lake-sink"]
    assert {s["owner"] for s in slos} >= {"platform"}
    with console_estate.api(RISK) as api:
        assert {s["owner"] for s in api.get("/slos").json()} <= {"platform", "risk"}


@pytest.mark.parametrize("page", ["/", "/topics", "/groups", "/lineage", "/audit", "/slos",
                                  "/cost", "/replication"])  # fmt: skip
def test_every_page_renders_for_a_tenant(console_estate: ConsoleEstate, page: str) -> None:
    auth = (RISK, console_estate.password(RISK))
    answer = httpx.get(console_estate.url + page, auth=auth, timeout=60)
    assert answer.status_code == 200, answer.text[:2000]
    assert 'data-testid="principal">kyc-service<' in answer.text
    for private in PAYMENTS_PRIVATE:
        assert f">{private}<" not in answer.text, (page, private)
