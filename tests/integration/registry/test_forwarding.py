"""Writes sent to a follower: forwarded to the writer, answered as the writer answered.

Also the 5xx codes of forwarding (Confluent's 50003 when the writer cannot be reached),
and the official client with basic auth pointed at a follower.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamplane.local import LocalCluster
from streamplane.registry import AppOptions, AuthSettings
from tests.integration.conftest import next_http_port
from tests.integration.registry.instances import InProcess, serve_in_process, wait_for

V1 = '{"type":"record","name":"Order","fields":[{"name":"id","type":"string"}]}'
V2 = '{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"n","type":"long","default":0}]}'
BAD = '{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}'


@pytest.fixture
def topic() -> str:
    return f"_schemas-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def instances() -> Iterator[list[InProcess]]:
    running: list[InProcess] = []
    yield running
    for instance in running:
        instance.stop()


def writer_then_follower(
    cluster: LocalCluster,
    topic: str,
    instances: list[InProcess],
    *,
    options: AppOptions,
    writer_url: str | None = None,
) -> tuple[InProcess, InProcess]:
    """Start one instance, wait until it is the writer, then a second one beside it."""
    writer = serve_in_process(
        cluster, topic=topic, port=next_http_port(), options=options, advertised_url=writer_url
    )
    instances.append(writer)
    wait_for(lambda: writer.registry.is_writer, timeout_s=120, what="the first to be writer")
    follower = serve_in_process(cluster, topic=topic, port=next_http_port(), options=options)
    instances.append(follower)
    announced = writer.registry.advertised_url
    wait_for(lambda: follower.registry.writer_url() == announced, timeout_s=60, what="the claim")
    assert not follower.registry.is_writer  # sticky assignment: joining does not move the role
    return writer, follower


def test_a_follower_answers_50003_when_the_writer_cannot_be_reached(
    cluster1: LocalCluster, topic: str, instances: list[InProcess]
) -> None:
    nowhere = f"http://127.0.0.1:{next_http_port()}"  # reserved for this test, never served
    writer, follower = writer_then_follower(
        cluster1, topic, instances, options=AppOptions(forward_timeout_s=3), writer_url=nowhere
    )
    with httpx.Client(timeout=60) as http:
        registered = http.post(f"{writer.url}/subjects/a-value/versions", json={"schema": V1})
        assert registered.status_code == 200  # the writer itself is fine
        answer = http.post(f"{follower.url}/subjects/b-value/versions", json={"schema": V1})
        assert answer.status_code == 500, answer.text
        body = answer.json()
        assert body["error_code"] == 50003, body
        assert body["message"].startswith("Error while forwarding the request to the leader")
        assert nowhere in body["message"]
        # Reads do not need the writer.
        assert http.get(f"{follower.url}/subjects/a-value/versions").json() == [1]


def test_the_official_client_with_basic_auth_works_against_a_follower(
    cluster1: LocalCluster, topic: str, instances: list[InProcess]
) -> None:
    admin = f"admin:{cluster1.credentials().admin_password}"
    _, follower = writer_then_follower(
        cluster1, topic, instances, options=AppOptions(auth=AuthSettings())
    )
    client = SchemaRegistryClient({"url": follower.url, "basic.auth.user.info": admin})
    first = client.register_schema("orders-value", Schema(V1, "AVRO"))
    # Read-your-writes on the follower: the forwarded write has been applied here too.
    latest = client.get_latest_version("orders-value")
    assert (latest.version, latest.schema_id) == (1, first)
    assert client.get_schema(first).schema_str == V1
    second = client.register_schema("orders-value", Schema(V2, "AVRO"))
    assert second != first and client.get_versions("orders-value") == [1, 2]
    assert client.lookup_schema("orders-value", Schema(V1, "AVRO")).version == 1
    with pytest.raises(SchemaRegistryError) as incompatible:
        client.register_schema("orders-value", Schema(BAD, "AVRO"))
    assert incompatible.value.http_status_code == 409
    client.set_compatibility("orders-value", "NONE")
    assert client.get_compatibility("orders-value") == "NONE"
    assert client.delete_subject("orders-value") == [1, 2]
    assert not follower.registry.is_writer
    with pytest.raises(SchemaRegistryError) as unauthorized:
        SchemaRegistryClient({"url": follower.url}).get_subjects()
    assert unauthorized.value.http_status_code == 401


def test_the_follower_returns_the_writers_answer_unchanged(
    cluster1: LocalCluster, topic: str, instances: list[InProcess]
) -> None:
    writer, follower = writer_then_follower(cluster1, topic, instances, options=AppOptions())
    with httpx.Client(timeout=60) as http:
        assert http.post(f"{writer.url}/subjects/s-value/versions", json={"schema": V1}).is_success
        requests = [
            ("POST", "/subjects/s-value/versions", {"schema": BAD}),  # 409
            ("POST", "/subjects/s-value/versions", {"schema": '{"type":"nope"}'}),  # 422
            ("DELETE", "/subjects/missing-value", None),  # 404
            ("PUT", "/config/s-value", {"compatibility": "SIDEWAYS"}),  # 422
        ]
        for method, path, body in requests:
            direct = http.request(method, writer.url + path, json=body)
            relayed = http.request(method, follower.url + path, json=body)
            assert direct.status_code >= 400, direct.text
            assert (relayed.status_code, relayed.json()) == (direct.status_code, direct.json())
            assert relayed.headers["content-type"] == direct.headers["content-type"]
        registered = http.post(f"{follower.url}/subjects/t-value/versions", json={"schema": V2})
        assert (
            http.get(f"{follower.url}/subjects/t-value/versions/latest").json()["id"]
            == (registered.json()["id"])
        )


def test_a_writer_that_stops_hands_the_role_to_a_follower(
    cluster1: LocalCluster, topic: str, instances: list[InProcess]
) -> None:
    writer, follower = writer_then_follower(cluster1, topic, instances, options=AppOptions())
    with httpx.Client(timeout=120) as http:
        before = http.post(f"{follower.url}/subjects/a-value/versions", json={"schema": V1})
        writer.stop()  # leaves the group: no session timeout to wait for
        instances.remove(writer)
        after = http.post(f"{follower.url}/subjects/b-value/versions", json={"schema": V2})
        assert after.status_code == 200, after.text
        assert follower.registry.is_writer
        assert after.json()["id"] == before.json()["id"] + 1


def test_instances_on_a_three_node_cluster_agree_on_every_write(
    cluster3: LocalCluster, topic: str, instances: list[InProcess]
) -> None:
    writer, follower = writer_then_follower(cluster3, topic, instances, options=AppOptions())
    with httpx.Client(timeout=60) as http:
        ids = {}
        for n in range(10):
            target = (writer, follower)[n % 2]
            schema = V1.replace("Order", f"Order{n}")
            answer = http.post(
                f"{target.url}/subjects/s{n}-value/versions", json={"schema": schema}
            )
            assert answer.status_code == 200, answer.text
            ids[f"s{n}-value"] = answer.json()["id"]
        assert len(set(ids.values())) == len(ids)
        for instance in (writer, follower):
            assert http.get(f"{instance.url}/subjects").json() == sorted(ids)
            for subject, schema_id in ids.items():
                latest = http.get(f"{instance.url}/subjects/{subject}/versions/latest").json()
                assert latest["id"] == schema_id
