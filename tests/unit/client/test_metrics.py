"""Metrics: plain counters on the hot path, exposed per registry; lag from librdkafka stats."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from streamplane.client import ClientMetrics, consumer_lag

STATS = {
    "name": "rdkafka#consumer-1",
    "type": "consumer",
    "topics": {
        "orders": {
            "partitions": {
                "0": {"partition": 0, "consumer_lag": 7, "hi_offset": 10, "committed_offset": 3},
                "1": {"partition": 1, "consumer_lag": -1},
                "-1": {"partition": -1, "consumer_lag": -1},
            }
        },
        "orders.retry.1": {"partitions": {"2": {"partition": 2, "consumer_lag": 0}}},
    },
}


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_consumer_lag_keeps_known_lags_of_real_partitions() -> None:
    assert consumer_lag(json.loads(json.dumps(STATS))) == {
        ("orders", 0): 7,
        ("orders.retry.1", 2): 0,
    }
    assert consumer_lag({}) == {}


def test_producer_and_consumer_blocks_are_exposed_with_their_labels() -> None:
    registry = CollectorRegistry()
    metrics = ClientMetrics(registry)
    producer = metrics.producer(app="checkout", client_id="c1")
    producer.produced["orders"] = [3, 3072]
    producer.error("delivery")
    producer.delivery_latency.observe(0.004)
    producer.delivery_latency.observe(0.2)
    consumer = metrics.consumer(app="fulfilment", client_id="f1", group="shop.fulfilment")
    consumer.consumed["orders"] = [2, 100]
    consumer.error("handler", 2)
    consumer.dead_lettered["orders.dlq"] = 1
    consumer.lag = {("orders", 0): 7}
    consumer.commit_took("sync", 0.003)

    p = {"app": "checkout", "client_id": "c1"}
    c = {"app": "fulfilment", "client_id": "f1", "group": "shop.fulfilment"}
    assert value(registry, "streamplane_client_records_produced_total", **p, topic="orders") == 3
    assert value(registry, "streamplane_client_bytes_produced_total", **p, topic="orders") == 3072
    assert (
        value(registry, "streamplane_client_errors_total", **p, role="producer", kind="delivery")
        == 1
    )
    assert value(registry, "streamplane_client_delivery_latency_seconds_count", **p) == 2
    assert (
        value(registry, "streamplane_client_delivery_latency_seconds_bucket", **p, le="0.005") == 1
    )
    assert (
        value(registry, "streamplane_client_delivery_latency_seconds_bucket", **p, le="+Inf") == 2
    )
    assert value(registry, "streamplane_client_records_consumed_total", **c, topic="orders") == 2
    assert (
        value(
            registry,
            "streamplane_client_errors_total",
            app="fulfilment",
            client_id="f1",
            role="consumer",
            kind="handler",
        )
        == 2
    )
    assert (
        value(registry, "streamplane_client_records_dead_lettered_total", **c, topic="orders.dlq")
        == 1
    )
    assert (
        value(registry, "streamplane_client_consumer_lag", **c, topic="orders", partition="0") == 7
    )
    assert value(registry, "streamplane_client_commit_latency_seconds_count", **c, mode="sync") == 1
    assert b"streamplane_client_records_produced_total" in generate_latest(registry)


def test_clients_with_the_same_labels_share_a_block_and_registries_share_one_collector() -> None:
    registry = CollectorRegistry()
    shared = ClientMetrics.shared(registry)
    assert ClientMetrics.shared(registry) is shared
    assert shared.producer(app="a", client_id="x") is shared.producer(app="a", client_id="x")
    with pytest.raises(ValueError, match="Duplicated"):
        ClientMetrics(registry)  # a second collector would duplicate every family


def test_latency_histogram_buckets_are_cumulative() -> None:
    registry = CollectorRegistry()
    stats = ClientMetrics(registry).producer(app="a", client_id="b")
    for seconds in (0.0005, 0.001, 0.003, 500.0):
        stats.delivery_latency.observe(seconds)
    buckets = dict(stats.delivery_latency.cumulative())
    assert buckets["0.001"] == 2 and buckets["0.005"] == 3 and buckets["120.0"] == 3
    assert buckets["+Inf"] == 4


def test_metrics_can_be_pushed_to_a_gateway_and_served_over_http() -> None:
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str, bytes]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    gateway = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=gateway.handle_request, daemon=True).start()
    metrics = ClientMetrics(CollectorRegistry())
    metrics.producer(app="batch-job", client_id="c").produced["orders"] = [5, 50]
    metrics.push(f"127.0.0.1:{gateway.server_port}", job="nightly", grouping_key={"run": "7"})
    gateway.server_close()
    ((path, body),) = received
    assert path == "/metrics/job/nightly/run/7"
    assert (
        b'streamplane_client_records_produced_total{app="batch-job",client_id="c",topic="orders"} 5.0'
        in body
    )

    probe = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_port
    probe.server_close()
    metrics.serve(port)
    scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    assert b"streamplane_client_records_produced_total" in scraped
