"""Every client-facing error of the registry, with Confluent's status and error_code.

The codes are what clients branch on (the confluent-kafka client turns 40401 into "subject
not found", 409 into "incompatible"), so each is produced here by a real request and checked
by status, code and message. The 5xx codes of forwarding between instances are tested with
the multi-instance tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from streamplane.local import LocalCluster
from tests.integration.conftest import next_http_port
from tests.integration.registry.serving import serve

CT = "application/vnd.schemaregistry.v1+json"
V1 = '{"type":"record","name":"E","fields":[{"name":"a","type":"int"}]}'
V2 = '{"type":"record","name":"E","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}'
BAD = '{"type":"record","name":"E","fields":[{"name":"a","type":"string"}]}'


@pytest.fixture(scope="module")
def http(cluster1: LocalCluster) -> Iterator[httpx.Client]:
    served = serve(cluster1, f"_schemas-{uuid.uuid4().hex[:8]}", next_http_port())
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client
    served.stop()


@pytest.fixture
def subject() -> str:
    return f"s-{uuid.uuid4().hex[:10]}-value"


def error(response: httpx.Response, status: int, code: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(CT)
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code, body
    for word in words:
        assert word in body["message"], body


def register(http: httpx.Client, subject: str, schema: str) -> httpx.Response:
    return http.post(f"/subjects/{subject}/versions", json={"schema": schema})


def test_40401_subject_not_found(http: httpx.Client, subject: str) -> None:
    error(http.get(f"/subjects/{subject}/versions"), 404, 40401, subject)
    error(http.get(f"/subjects/{subject}/versions/latest"), 404, 40401, subject)
    error(http.post(f"/subjects/{subject}", json={"schema": V1}), 404, 40401, subject)
    error(http.delete(f"/subjects/{subject}"), 404, 40401, subject)


def test_40402_version_not_found(http: httpx.Client, subject: str) -> None:
    register(http, subject, V1).raise_for_status()
    error(http.get(f"/subjects/{subject}/versions/7"), 404, 40402, "Version 7")
    error(http.delete(f"/subjects/{subject}/versions/7"), 404, 40402, "Version 7")


def test_40403_schema_not_found(http: httpx.Client, subject: str) -> None:
    error(http.get("/schemas/ids/987654"), 404, 40403, "987654")
    register(http, subject, V1).raise_for_status()
    error(http.post(f"/subjects/{subject}", json={"schema": V2}), 404, 40403, "Schema not found")


def test_40404_subject_soft_deleted(http: httpx.Client, subject: str) -> None:
    register(http, subject, V1).raise_for_status()
    assert http.delete(f"/subjects/{subject}").json() == [1]
    error(http.delete(f"/subjects/{subject}"), 404, 40404, "soft deleted", "permanent=true")


def test_40405_subject_not_soft_deleted_before_permanent_delete(
    http: httpx.Client, subject: str
) -> None:
    register(http, subject, V1).raise_for_status()
    error(
        http.delete(f"/subjects/{subject}", params={"permanent": "true"}),
        404, 40405, "not deleted first",
    )  # fmt: skip
    assert http.get(f"/subjects/{subject}/versions").json() == [1]  # nothing half-done


def test_40406_version_soft_deleted(http: httpx.Client, subject: str) -> None:
    register(http, subject, V1).raise_for_status()
    register(http, subject, V2).raise_for_status()
    assert http.delete(f"/subjects/{subject}/versions/1").json() == 1
    error(http.delete(f"/subjects/{subject}/versions/1"), 404, 40406, "soft deleted")


def test_40407_version_not_soft_deleted_before_permanent_delete(
    http: httpx.Client, subject: str
) -> None:
    register(http, subject, V1).raise_for_status()
    error(
        http.delete(f"/subjects/{subject}/versions/1", params={"permanent": "true"}),
        404, 40407, "not deleted first",
    )  # fmt: skip
    assert http.delete(f"/subjects/{subject}/versions/1").json() == 1
    response = http.delete(f"/subjects/{subject}/versions/1", params={"permanent": "true"})
    assert response.json() == 1


def test_40408_no_subject_level_compatibility(http: httpx.Client, subject: str) -> None:
    error(http.get(f"/config/{subject}"), 404, 40408, subject)
    level = http.get(f"/config/{subject}", params={"defaultToGlobal": "true"}).json()
    assert level == {"compatibilityLevel": "BACKWARD"}


def test_409_incompatible_schema(http: httpx.Client, subject: str) -> None:
    register(http, subject, V1).raise_for_status()
    response = register(http, subject, BAD)
    error(response, 409, 409, "incompatible", "/fields/a")
    assert http.get(f"/subjects/{subject}/versions").json() == [1]


def test_42201_invalid_schema(http: httpx.Client, subject: str) -> None:
    error(register(http, subject, '{"type":"record"'), 422, 42201, "Invalid schema")
    error(register(http, subject, '{"type":"record","name":"X"}'), 422, 42201, "fields")
    response = http.post(f"/subjects/{subject}/versions", json={"schema": V1, "schemaType": "XML"})
    error(response, 422, 42201, "XML")
    error(http.get(f"/subjects/{subject}/versions"), 404, 40401)  # nothing registered


def test_42202_invalid_version(http: httpx.Client, subject: str) -> None:
    register(http, subject, V1).raise_for_status()
    for bad in ("0", "abc", "-2"):
        error(http.get(f"/subjects/{subject}/versions/{bad}"), 422, 42202, bad)


def test_42203_invalid_compatibility_level(http: httpx.Client, subject: str) -> None:
    error(http.put(f"/config/{subject}", json={"compatibility": "SIDEWAYS"}), 422, 42203)
    error(http.get(f"/config/{subject}"), 404, 40408)  # nothing stored


def test_42204_invalid_mode(http: httpx.Client, subject: str) -> None:
    error(http.put(f"/mode/{subject}", json={"mode": "WRITEONLY"}), 422, 42204)


def test_42205_operation_not_permitted_in_read_only_mode(http: httpx.Client, subject: str) -> None:
    register(http, subject, V1).raise_for_status()
    assert http.put(f"/mode/{subject}", json={"mode": "READONLY"}).status_code == 200
    try:
        error(register(http, subject, V2), 422, 42205, "read-only")
        error(http.delete(f"/subjects/{subject}"), 422, 42205, "read-only")
        assert http.get(f"/subjects/{subject}/versions").json() == [1]  # reads still work
    finally:
        assert http.put(f"/mode/{subject}", json={"mode": "READWRITE"}).status_code == 200
    register(http, subject, V2).raise_for_status()


def test_unknown_path_and_method_keep_the_error_body(http: httpx.Client) -> None:
    error(http.get("/no/such/path"), 404, 404)
    error(http.request("PATCH", "/subjects"), 405, 405)
