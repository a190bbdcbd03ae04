"""Fuzz the registry's HTTP API from its own OpenAPI description: no 5xx, no hang.

Schemathesis generates requests for every operation FastAPI describes (random subjects,
versions, ids, bodies that are almost right). The API may refuse them, with a 4xx and an
error body, but it must never fail with a server error or take longer than the timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from streamplane.local import LocalCluster
from tests.integration.conftest import next_http_port
from tests.integration.registry.serving import serve


@pytest.fixture(scope="module")
def fuzzed_url(cluster1: LocalCluster) -> Iterator[str]:
    served = serve(cluster1, f"_schemas-{uuid.uuid4().hex[:8]}", next_http_port())
    # Something to find: fuzzed reads of ids 1 and subject "s-value" hit real data.
    import httpx

    httpx.post(
        f"{served.url}/subjects/s-value/versions",
        json={"schema": '{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}'},
        timeout=30,
    ).raise_for_status()
    yield served.url
    served.stop()


def test_no_server_error_and_no_hang(fuzzed_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28  # every route is described, so every route is fuzzed
    for operation in operations:

        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(base_url=fuzzed_url, timeout=15)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
            )

        call()
