"""The HTTP gate: authentication before anything else, and one audit event per write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from streamplane.registry._audit import AuditTrail
from streamplane.registry._auth import AuthSettings, CredentialCache
from streamplane.registry._gate import RegistryGate, classify


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/subjects/a-value/versions", ("register", "a-value", None)),
        ("POST", "/subjects/a%2Fb-value/versions", ("register", "a/b-value", None)),
        ("DELETE", "/subjects/a-value", ("delete-subject", "a-value", None)),
        ("DELETE", "/subjects/a-value/versions/3", ("delete-version", "a-value", "3")),
        ("PUT", "/config", ("set-config", None, None)),
        ("PUT", "/config/a-value", ("set-config", "a-value", None)),
        ("DELETE", "/config/a-value", ("delete-config", "a-value", None)),
        ("PUT", "/mode/a-value", ("set-mode", "a-value", None)),
        ("DELETE", "/mode/a-value", ("delete-mode", "a-value", None)),
        ("PUT", "/streamplane/access", ("set-access", None, None)),
        ("POST", "/subjects/a-value", None),  # lookup: a read
        ("POST", "/compatibility/subjects/a-value/versions/latest", None),
        ("GET", "/subjects/a-value/versions", None),
    ],
)
def test_writes_are_told_apart_from_reads(
    method: str, path: str, expected: tuple[str, str | None, str | None] | None
) -> None:
    assert classify(method, path) == expected


def gated(tmp_path: Path, *, auth: bool) -> tuple[TestClient, Path]:
    app = FastAPI()

    @app.post("/subjects/{subject}/versions")
    async def register(request: Request, subject: str) -> JSONResponse:
        caller = request.state.caller
        if subject.startswith("forbidden"):
            return JSONResponse({"error_code": 40301, "message": "no"}, status_code=403)
        return JSONResponse({"id": 7, "principal": caller.principal})

    @app.get("/subjects")
    async def subjects() -> JSONResponse:
        return JSONResponse([])

    @app.get("/subjects/{subject}/versions/latest")
    async def latest(subject: str) -> JSONResponse:
        if subject.startswith("forbidden"):
            return JSONResponse({"error_code": 40301, "message": "no"}, status_code=403)
        return JSONResponse({"subject": subject, "version": 1, "id": 7, "schema": '"string"'})

    audit = AuditTrail(path=tmp_path / "audit.log", settings=None)
    audit.start()
    credentials = CredentialCache(lambda user, pw: (user, pw) == ("alice", "s3cret-pw"))
    app.add_middleware(
        RegistryGate,
        auth=AuthSettings() if auth else None,
        credentials=credentials if auth else None,
        audit=audit,
        instance="http://registry-1:8081",
    )
    return TestClient(app), tmp_path / "audit.log"


def events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_missing_or_wrong_credentials_get_401_with_a_basic_challenge(tmp_path: Path) -> None:
    client, _ = gated(tmp_path, auth=True)
    for auth in (None, ("alice", "wrong"), ("bob", "pw")):
        answer = client.get("/subjects", auth=auth)
        assert answer.status_code == 401
        assert answer.json()["error_code"] == 401  # Confluent's code for it
        assert answer.text.startswith('{"error_code":401,"message":"Unauthorized')
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert answer.headers["content-type"] == "application/vnd.schemaregistry.v1+json"
    # Authentication comes first: a malformed body is not even looked at.
    assert client.post("/subjects/x/versions", content=b"{not json").status_code == 401
    assert client.get("/subjects", auth=("alice", "s3cret-pw")).status_code == 200


def test_every_write_is_audited_once_with_its_outcome_and_no_secret(tmp_path: Path) -> None:
    client, log = gated(tmp_path, auth=True)
    assert client.post("/subjects/s-value/versions", auth=("alice", "s3cret-pw")).json()["id"] == 7
    assert (
        client.post("/subjects/forbidden-value/versions", auth=("alice", "s3cret-pw")).status_code
        == 403
    )
    assert client.post("/subjects/s-value/versions", auth=("alice", "hunter2")).status_code == 401
    client.get("/subjects", auth=("alice", "s3cret-pw"))  # a read: not audited
    allowed, denied, unauthenticated = events(log)
    assert allowed["principal"] == "alice" and allowed["authenticated"] is True
    assert (allowed["action"], allowed["subject"], allowed["id"]) == ("register", "s-value", 7)
    assert (allowed["status"], allowed["decision"]) == (200, "allowed")
    assert allowed["instance"] == "http://registry-1:8081"
    assert str(allowed["at"]).endswith("Z") and allowed["client"]
    assert (denied["status"], denied["decision"], denied["error_code"]) == (403, "denied", 40301)
    assert unauthenticated["principal"] == "alice" and unauthenticated["authenticated"] is False
    assert (unauthenticated["status"], unauthenticated["decision"]) == (401, "denied")
    assert "hunter2" not in log.read_text() and "s3cret-pw" not in log.read_text()


def test_without_auth_callers_are_anonymous_and_writes_still_audited(tmp_path: Path) -> None:
    client, log = gated(tmp_path, auth=False)
    assert client.post("/subjects/s-value/versions").json()["principal"] == "ANONYMOUS"
    assert [e["principal"] for e in events(log)] == ["ANONYMOUS"]


def test_a_refused_read_is_audited_and_an_allowed_one_is_not(tmp_path: Path) -> None:
    client, log = gated(tmp_path, auth=True)
    alice = ("alice", "s3cret-pw")
    assert client.get("/subjects/mine-value/versions/latest", auth=alice).status_code == 200
    assert client.get("/subjects/forbidden-value/versions/latest", auth=alice).status_code == 403
    assert client.get("/subjects/x-value/versions/latest", auth=("mallory", "x")).status_code == 401
    refused, unauthenticated = events(log)
    assert (refused["action"], refused["subject"], refused["principal"]) == (
        "read", "forbidden-value", "alice",
    )  # fmt: skip
    assert (refused["status"], refused["decision"]) == (403, "denied")
    assert (unauthenticated["principal"], unauthenticated["status"]) == ("mallory", 401)
