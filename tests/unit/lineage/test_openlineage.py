"""OpenLineage events from the spec: one streaming job per application, its topics as
Kafka datasets; and the export's POST to an OpenLineage backend over real HTTP."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.lineage.openlineage import lineage_events, parse_json_lines, to_json_lines
from streamplane.model import load_spec
from tests.unit.lineage.test_asyncapi import EXAMPLE


def test_each_application_is_a_running_streaming_job_over_its_topics() -> None:
    spec = load_spec(EXAMPLE)
    events = parse_json_lines(to_json_lines(lineage_events(spec)))

    assert len(events) == len(spec.applications)
    by_job = {e["job"]["name"]: e for e in events}
    authorizer = by_job["card.card-authorizer"]
    assert authorizer["eventType"] == "RUNNING"
    assert authorizer["job"]["namespace"] == "streamplane://payments"
    assert authorizer["job"]["facets"]["jobType"]["processingType"] == "STREAMING"
    assert [d["name"] for d in authorizer["inputs"]] == ["payments.card.authorizations"]
    assert [d["name"] for d in authorizer["outputs"]] == ["payments.card.authorized.v1"]
    assert {d["namespace"] for d in authorizer["inputs"]} == {"kafka://127.0.0.1:9092"}
    # Every run id is a UUID of its own; every event names its producer.
    assert len({uuid.UUID(e["run"]["runId"]) for e in events}) == len(events)
    assert all(e["producer"] == "streamplane://lineage" for e in events)


def test_datasets_carry_schema_fields_with_their_tags_and_owners() -> None:
    events = parse_json_lines(to_json_lines(lineage_events(load_spec(EXAMPLE))))
    kyc = next(e for e in events if e["job"]["name"] == "customers.kyc-service")
    (identities,) = kyc["outputs"]
    fields = {f["name"]: f for f in identities["facets"]["schema"]["fields"]}
    assert "PII" in fields["email"]["description"]
    assert identities["facets"]["ownership"]["owners"] == [
        {"name": "kyc-team@example.com", "type": "TEAM"}
    ]


@pytest.fixture
def backend() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A stand-in OpenLineage backend: a real HTTP server recording what is POSTed."""
    received: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "event": json.loads(body)})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def test_export_posts_every_event_and_writes_the_same_lines(
    tmp_path: Path, backend: tuple[str, list[dict[str, object]]]
) -> None:
    url, received = backend
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(
        app, ["export", "openlineage", str(EXAMPLE), "--out", str(out), "--url", url]
    )
    assert result.exit_code == 0, result.output
    written = parse_json_lines(out.read_text())
    assert [r["event"] for r in received] == written
    assert {r["path"] for r in received} == {"/api/v1/lineage"}


def test_an_unreachable_backend_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["export", "openlineage", str(EXAMPLE), "--url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9/api/v1/lineage" in str(result.exception)
