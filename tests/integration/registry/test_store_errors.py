"""The registry's own 5xx errors when Kafka, its store, cannot take a write.

50001 (store error) and 50002 (operation timed out) carry Confluent's body; the failed
registration leaves nothing half-done, and the registry serves writes again once the
broker is back. (50003 and 50004, forwarding errors, are in test_forwarding.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from streamplane.local import LocalCluster
from tests.integration.conftest import next_http_port
from tests.integration.registry.serving import serve

V1 = '{"type":"record","name":"E","fields":[{"name":"a","type":"int"}]}'
V2 = '{"type":"record","name":"E","fields":[{"name":"a","type":"int"},{"name":"b","type":"int","default":0}]}'


@pytest.fixture
def registry_on_own_cluster(own_cluster: LocalCluster, next_port_offset: int) -> Iterator[str]:
    own_cluster.up(nodes=1, port_offset=next_port_offset)
    served = serve(own_cluster, "_schemas", next_http_port())
    yield served.url
    served.stop()


def test_a_write_kafka_cannot_take_is_a_5000x_store_error_and_nothing_half_done(
    registry_on_own_cluster: str, own_cluster: LocalCluster
) -> None:
    with httpx.Client(base_url=registry_on_own_cluster, timeout=120) as http:
        assert http.post("/subjects/s-value/versions", json={"schema": V1}).status_code == 200
        own_cluster.kill_node(1)
        failed = http.post("/subjects/s-value/versions", json={"schema": V2})
        assert failed.status_code == 500, failed.text
        body = failed.json()
        assert set(body) == {"error_code", "message"}
        assert body["error_code"] in (50001, 50002), body  # store error, or timed out
        assert "_schemas" in body["message"], body
        assert http.get("/subjects/s-value/versions").json() == [1]  # reads still served
        own_cluster.start_node(1)
        deadline = time.monotonic() + 90
        while True:  # the writer claims the role afresh once the broker is back
            again = http.post("/subjects/s-value/versions", json={"schema": V2})
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert again.status_code == 200, again.text
        assert http.get("/subjects/s-value/versions").json() == [1, 2]
