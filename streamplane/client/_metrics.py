"""Prometheus metrics of SDK clients, kept as plain counters and read at scrape time.

A producer running at 100,000 records/s cannot afford a locked prometheus-client
``Counter.inc()`` per record, let alone a histogram observation. The hot path therefore
adds to plain Python ints in a per-client block (:class:`ProducerStats`,
:class:`ConsumerStats`), and one collector per ``CollectorRegistry``
(:class:`ClientMetrics`) turns every block into metric families when Prometheus scrapes.
Counters of a closed client stay (counters must not go backwards); its lag gauges go.

Consumer lag comes from librdkafka's statistics (``statistics.interval.ms`` and
``stats_cb``): ``consumer_lag`` per partition is the high watermark minus the committed
offset, the lag the group's owners see.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, push_to_gateway, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from streamplane.model import LATENCY_BUCKETS_S

#: Seconds; delivery of an acks=all record on a healthy cluster is milliseconds, a broker
#: failover seconds, and delivery.timeout.ms (120 s for zero_loss) the ceiling. The spec's
#: tenant latency SLOs take their thresholds from these bounds.
LATENCY_BUCKETS: tuple[float, ...] = LATENCY_BUCKETS_S

PREFIX = "streamplane_client"


class LatencyHistogram:
    """Bucket counts without locks: observed from one thread (the one serving callbacks)."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs, ``+Inf`` last, as exposition wants them."""
        running = 0
        buckets = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return buckets


class ProducerStats:
    """What one producer has done, by topic; written on the hot path, read at scrape time."""

    def __init__(self, labels: tuple[str, str]) -> None:
        self.labels = labels  # (app, client_id)
        #: topic -> [records, bytes] acknowledged by the cluster
        self.produced: dict[str, list[int]] = {}
        self.errors: dict[str, int] = {}
        self.delivery_latency = LatencyHistogram()

    def error(self, kind: str, count: int = 1) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + count


class ConsumerStats:
    """What one consumer has done: records by topic, errors, lag, commit latency."""

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self.labels = labels  # (app, client_id, group)
        #: topic -> [records, bytes] handed to the application
        self.consumed: dict[str, list[int]] = {}
        self.errors: dict[str, int] = {}
        #: destination topic (retry or dead letter) -> records parked there
        self.dead_lettered: dict[str, int] = {}
        self.lag: dict[tuple[str, int], int] = {}
        self.commit_latency: dict[str, LatencyHistogram] = {}

    def error(self, kind: str, count: int = 1) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + count

    def commit_took(self, mode: str, seconds: float) -> None:
        histogram = self.commit_latency.get(mode)
        if histogram is None:
            histogram = self.commit_latency[mode] = LatencyHistogram()
        histogram.observe(seconds)


def consumer_lag(statistics: Mapping[str, Any]) -> dict[tuple[str, int], int]:
    """Per-partition lag from one librdkafka statistics document (unknown lags left out)."""
    lag: dict[tuple[str, int], int] = {}
    for topic, entry in statistics.get("topics", {}).items():
        for partition in entry.get("partitions", {}).values():
            number = partition.get("partition", -1)
            value = partition.get("consumer_lag", -1)
            if number >= 0 and value >= 0:
                lag[(topic, number)] = value
    return lag


_SHARED: weakref.WeakKeyDictionary[CollectorRegistry, ClientMetrics] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


class ClientMetrics(Collector):
    """The metrics of every SDK client that reports to one ``CollectorRegistry``.

    Use :meth:`shared` (the default registry, or one of your own) so that all clients of a
    process appear under one set of metric families; a second collector for the same
    names on one registry would be refused by prometheus-client.
    """

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self.registry = registry
        self._producers: dict[tuple[str, str], ProducerStats] = {}
        self._consumers: dict[tuple[str, str, str], ConsumerStats] = {}
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    @classmethod
    def shared(cls, registry: CollectorRegistry | None = None) -> ClientMetrics:
        """The one ClientMetrics of ``registry`` (default: prometheus-client's global one)."""
        target = registry if registry is not None else REGISTRY
        with _SHARED_LOCK:
            found = _SHARED.get(target)
            if found is None:
                found = _SHARED[target] = cls(target)
            return found

    def producer(self, *, app: str, client_id: str) -> ProducerStats:
        """The stats block of a producer; clients with the same labels share one."""
        with self._lock:
            key = (app, client_id)
            stats = self._producers.get(key)
            if stats is None:
                stats = self._producers[key] = ProducerStats(key)
            return stats

    def consumer(self, *, app: str, client_id: str, group: str) -> ConsumerStats:
        with self._lock:
            key = (app, client_id, group)
            stats = self._consumers.get(key)
            if stats is None:
                stats = self._consumers[key] = ConsumerStats(key)
            return stats

    # ------------------------------------------------------------------ exposition
    def serve(self, port: int, *, addr: str = "127.0.0.1") -> None:
        """Expose the registry on ``http://addr:port/metrics`` from a daemon thread."""
        start_http_server(port, addr=addr, registry=self._require_registry())

    def push(
        self, gateway: str, *, job: str, grouping_key: Mapping[str, str] | None = None
    ) -> None:
        """Push the registry to a Prometheus push gateway (for short-lived jobs)."""
        push_to_gateway(
            gateway,
            job=job,
            registry=self._require_registry(),
            grouping_key=dict(grouping_key) if grouping_key is not None else None,
        )

    def _require_registry(self) -> CollectorRegistry:
        if self.registry is None:
            raise ValueError("these metrics are not attached to a CollectorRegistry")
        return self.registry

    def describe(self) -> Iterable[Metric]:
        return list(self._families(values=False))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(values=True))

    def _families(self, *, values: bool) -> Iterator[Metric]:
        with self._lock:
            producers = list(self._producers.values())
            consumers = list(self._consumers.values())
        p_labels = ["app", "client_id"]
        c_labels = ["app", "client_id", "group"]
        records_out = CounterMetricFamily(
            f"{PREFIX}_records_produced", "Records acknowledged by the cluster.",
            labels=[*p_labels, "topic"],
        )  # fmt: skip
        bytes_out = CounterMetricFamily(
            f"{PREFIX}_bytes_produced", "Key and value bytes acknowledged by the cluster.",
            labels=[*p_labels, "topic"],
        )  # fmt: skip
        records_in = CounterMetricFamily(
            f"{PREFIX}_records_consumed", "Records handed to the application.",
            labels=[*c_labels, "topic"],
        )  # fmt: skip
        bytes_in = CounterMetricFamily(
            f"{PREFIX}_bytes_consumed", "Key and value bytes handed to the application.",
            labels=[*c_labels, "topic"],
        )  # fmt: skip
        errors = CounterMetricFamily(
            f"{PREFIX}_errors", "Errors by kind (delivery, serialization, deserialization, "
            "handler, commit, kafka, dead_letter, unlisted_topic).",
            labels=["app", "client_id", "role", "kind"],
        )  # fmt: skip
        parked = CounterMetricFamily(
            f"{PREFIX}_records_dead_lettered",
            "Records a consumer moved to a retry or dead-letter topic, by that topic.",
            labels=[*c_labels, "topic"],
        )  # fmt: skip
        delivery = HistogramMetricFamily(
            f"{PREFIX}_delivery_latency_seconds",
            "From produce() to the cluster's acknowledgement.",
            labels=p_labels,
        )  # fmt: skip
        lag = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag",
            "Records between the committed offset and the high watermark (librdkafka).",
            labels=[*c_labels, "topic", "partition"],
        )  # fmt: skip
        commit = HistogramMetricFamily(
            f"{PREFIX}_commit_latency_seconds", "Offset commit round trips.",
            labels=[*c_labels, "mode"],
        )  # fmt: skip
        if values:
            for p in producers:
                for topic, (count, size) in list(p.produced.items()):
                    records_out.add_metric([*p.labels, topic], count)
                    bytes_out.add_metric([*p.labels, topic], size)
                for kind, count in list(p.errors.items()):
                    errors.add_metric([*p.labels, "producer", kind], count)
                h = p.delivery_latency
                delivery.add_metric(list(p.labels), h.cumulative(), h.total)
            for c in consumers:
                for topic, (count, size) in list(c.consumed.items()):
                    records_in.add_metric([*c.labels, topic], count)
                    bytes_in.add_metric([*c.labels, topic], size)
                for kind, count in list(c.errors.items()):
                    errors.add_metric([*c.labels[:2], "consumer", kind], count)
                for topic, count in list(c.dead_lettered.items()):
                    parked.add_metric([*c.labels, topic], count)
                for (topic, partition), value in list(c.lag.items()):
                    lag.add_metric([*c.labels, topic, str(partition)], value)
                for mode, h in list(c.commit_latency.items()):
                    commit.add_metric([*c.labels, mode], h.cumulative(), h.total)
        yield from (records_out, bytes_out, records_in, bytes_in, errors, parked, delivery)
        yield from (lag, commit)
