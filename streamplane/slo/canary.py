"""The canary: synthetic traffic through every broker, measured as the SLOs need it.

Like Strimzi's canary and Xinfra Monitor, it owns a topic with one partition led by each
broker (``_streamplane_canary``, RF up to 3, replicas spread after the leader) and writes
one record to each partition every interval with acks=all and an idempotent producer.
A request counts as failed when it is not acknowledged within ``timeout_s`` (its
``message.timeout.ms``): a broker that cannot take writes shows up as failures of its
partition within that time. A consumer in the same process reads everything back.

Each record carries the run's id and a sequence number per partition. With idempotence,
records of one partition land in order, so when the consumer reads sequence ``s`` every
acknowledged record before it must have been read already: one that was not is lost (an
unclean election truncated it). A sequence read twice is a duplicate. ``checked`` counts
the acknowledged records whose fate is known; durability is lost over checked.

Counts are kept per broker (the partition's preferred leader) and exported in three ways:
Prometheus metrics (served on ``metrics_port``), one sample per broker per
``sample_s`` into ``_streamplane_slo``, and the status file the supervisor reads.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from streamplane.kafka import ConnectionSettings
from streamplane.model import LATENCY_BUCKETS_S
from streamplane.slo import metrics as m
from streamplane.slo.samples import SLO_TOPIC, create_if_missing, encode, ensure_slo_topic

log = logging.getLogger(__name__)

CANARY_TOPIC = "_streamplane_canary"


@dataclass(frozen=True)
class CanarySettings:
    #: One record per broker per interval.
    interval_s: float = 1.0
    #: How often a sample per broker goes to _streamplane_slo (and alerts are evaluated).
    sample_s: float = 10.0
    #: A request not acknowledged within this is a failure (message.timeout.ms).
    timeout_s: float = 5.0
    #: Latency bounds (seconds) of the histograms: the SDK's plus the spec's thresholds.
    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    #: Records of the first seconds go through but are not counted: connections and the
    #: consumer's first fetch are still being set up.
    warmup_s: float = 3.0


class Histogram:
    """Non-cumulative bucket counts; the last bucket is above every bound."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def as_sample(self, since: list[int]) -> dict[str, Any]:
        return {
            "bounds": list(self.bounds),
            "counts": [a - b for a, b in zip(self.counts, since, strict=True)],
        }

    def cumulative(self) -> list[tuple[str, float]]:
        running = 0
        found = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            found.append((m.le(bound), float(running)))
        return found


COUNTERS = ("requests", "errors", "acked", "checked", "lost", "duplicated", "consumed")


@dataclass
class BrokerCounts:
    """What the canary saw through one broker since it started."""

    bounds: tuple[float, ...]
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    produce: Histogram = field(init=False)
    e2e: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.produce = Histogram(self.bounds)
        self.e2e = Histogram(self.bounds)

    def snapshot(self) -> dict[str, Any]:
        return {**self.counts, "produce": list(self.produce.counts), "e2e": list(self.e2e.counts)}

    def delta(self, since: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {k: self.counts[k] - since.get(k, 0) for k in COUNTERS}
        out["produce"] = self.produce.as_sample(
            since.get("produce", [0] * len(self.produce.counts))
        )
        out["e2e"] = self.e2e.as_sample(since.get("e2e", [0] * len(self.e2e.counts)))
        return out


@dataclass
class PartitionTrack:
    """Sequence bookkeeping of one partition: what was acknowledged and not yet read."""

    broker: int
    next_seq: int = 0
    sent: dict[int, float] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)
    seen: set[int] = field(default_factory=set)
    seen_max: int = -1


def canary_assignment(brokers: list[int]) -> list[list[int]]:
    """Partition i is led by the i-th broker, its followers the next ones round the ring."""
    rf = min(3, len(brokers))
    return [[brokers[(i + k) % len(brokers)] for k in range(rf)] for i in range(len(brokers))]


def ensure_canary_topic(admin: AdminClient, *, timeout_s: float = 30.0) -> dict[int, int]:
    """Create the canary topic (or give it a partition for each new broker); return its
    partition -> preferred leader."""
    metadata = admin.list_topics(timeout=timeout_s)
    brokers = sorted(metadata.brokers)
    wanted = canary_assignment(brokers)
    existing = metadata.topics.get(CANARY_TOPIC)
    if existing is None or existing.error is not None:
        rf = len(wanted[0])
        topic = NewTopic(
            CANARY_TOPIC,
            num_partitions=len(wanted),
            replica_assignment=wanted,
            config={"min.insync.replicas": str(max(1, rf - 1)), "retention.ms": str(3600_000)},
        )
        create_if_missing(admin, topic, timeout_s=timeout_s)
        return {i: replicas[0] for i, replicas in enumerate(wanted)}
    leaders = {p: meta.replicas[0] for p, meta in existing.partitions.items() if meta.replicas}
    missing = [b for b in brokers if b not in leaders.values()]
    if missing:
        extra = canary_assignment(brokers)
        new = [next(r for r in extra if r[0] == b) for b in missing]
        futures = admin.create_partitions(
            [NewPartitions(CANARY_TOPIC, len(leaders) + len(new), new)]
        )
        for future in futures.values():
            future.result(timeout_s)
        base = len(leaders)
        for n, replicas in enumerate(new):
            leaders[base + n] = replicas[0]
    return leaders


class Canary:
    """Produce, consume and count; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        settings: ConnectionSettings,
        config: CanarySettings | None = None,
        *,
        on_sample: Callable[[float, dict[int, dict[str, Any]]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.config = config if config is not None else CanarySettings()
        self.run_id = uuid.uuid4().hex[:12]
        self.on_sample = on_sample
        self.lock = threading.Lock()
        self.brokers: dict[int, BrokerCounts] = {}
        self.tracks: dict[int, PartitionTrack] = {}
        self._last_sample: dict[int, dict[str, Any]] = {}
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._slo_producer: Producer | None = None
        self._counting_from = 0.0
        #: When counting began (epoch seconds): the end of the warm-up.
        self.counting_since = 0.0

    @property
    def admin(self) -> AdminClient:
        """The canary's admin client, made on first use (it connects at once)."""
        if self._admin is None:
            self._admin = AdminClient(self.settings.librdkafka(**{"log_level": 3}))
        return self._admin

    # ------------------------------------------------------------------ set-up
    def start(self) -> None:
        leaders = ensure_canary_topic(self.admin)
        brokers = len(self.admin.list_topics(timeout=30).brokers)
        ensure_slo_topic(self.admin, brokers=brokers)
        for partition, broker in sorted(leaders.items()):
            self.tracks[partition] = PartitionTrack(broker)
            self.brokers.setdefault(broker, BrokerCounts(self.config.bounds))
        self._last_sample = {b: c.snapshot() for b, c in self.brokers.items()}
        self._producer = Producer(
            self.settings.librdkafka(
                **{
                    "acks": "all",
                    "enable.idempotence": True,
                    "linger.ms": 0,
                    "message.timeout.ms": int(self.config.timeout_s * 1000),
                    "client.id": "streamplane-canary",
                    "log_level": 3,
                }
            )
        )
        self._slo_producer = Producer(
            self.settings.librdkafka(
                **{"acks": "all", "enable.idempotence": True, "linger.ms": 50, "log_level": 3}
            )
        )
        self._consumer = Consumer(
            self.settings.librdkafka(
                **{
                    "group.id": "_streamplane_canary",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "latest",
                    "client.id": "streamplane-canary",
                    "log_level": 3,
                }
            )
        )
        parts = []
        for partition in self.tracks:
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(CANARY_TOPIC, partition), timeout=30
            )
            parts.append(TopicPartition(CANARY_TOPIC, partition, high))
        self._consumer.assign(parts)
        self._counting_from = time.monotonic() + self.config.warmup_s
        self.counting_since = time.time() + self.config.warmup_s

    # ------------------------------------------------------------------ traffic
    def produce_round(self) -> None:
        assert self._producer is not None
        warming = time.monotonic() < self._counting_from
        for partition, track in self.tracks.items():
            sent = time.time()
            if warming:
                body = {"run": self.run_id, "warmup": True, "ts": sent}
                self._producer.produce(
                    CANARY_TOPIC, value=json.dumps(body).encode(), partition=partition
                )
                continue
            with self.lock:
                seq = track.next_seq
                track.next_seq += 1
                track.sent[seq] = sent
                self.brokers[track.broker].counts["requests"] += 1
            value = json.dumps({"run": self.run_id, "seq": seq, "ts": sent}).encode()
            try:
                self._producer.produce(
                    CANARY_TOPIC,
                    value=value,
                    partition=partition,
                    on_delivery=self._delivered(partition, seq),
                )
            except (BufferError, KafkaException):
                self._fail(partition, seq)
        self._producer.poll(0)

    def _fail(self, partition: int, seq: int) -> None:
        with self.lock:
            track = self.tracks[partition]
            track.sent.pop(seq, None)
            self.brokers[track.broker].counts["errors"] += 1

    def _delivered(self, partition: int, seq: int) -> Callable[[KafkaError | None, Message], None]:
        def done(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                self._fail(partition, seq)
                return
            with self.lock:
                track = self.tracks[partition]
                counts = self.brokers[track.broker]
                sent = track.sent.pop(seq, None)
                counts.counts["acked"] += 1
                if sent is not None:
                    counts.produce.observe(time.time() - sent)
                if seq in track.seen:
                    counts.counts["checked"] += 1  # read back before its ack arrived
                elif seq < track.seen_max:
                    counts.counts["checked"] += 1
                    counts.counts["lost"] += 1  # a later record was read: this one is gone
                else:
                    track.pending.add(seq)

        return done

    def consume_one(self, timeout_s: float) -> bool:
        """Read at most one record (``poll`` returns as soon as one arrives, so the
        end-to-end latency is not inflated by waiting for a batch)."""
        assert self._consumer is not None
        message = self._consumer.poll(timeout_s)
        if message is None or message.error() is not None:
            return False
        now = time.time()
        try:
            body = json.loads(message.value() or b"")
        except ValueError:
            return False
        if body.get("run") != self.run_id or body.get("warmup"):
            return False
        self._read(message.partition() or 0, int(body["seq"]), now - float(body["ts"]))
        return True

    def _consume(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.consume_one(0.1)

    def _read(self, partition: int, seq: int, e2e_s: float) -> None:
        with self.lock:
            track = self.tracks.get(partition)
            if track is None:
                return
            counts = self.brokers[track.broker]
            counts.counts["consumed"] += 1
            if seq in track.seen:
                counts.counts["duplicated"] += 1
                return
            track.seen.add(seq)
            counts.e2e.observe(e2e_s)
            if seq in track.pending:
                track.pending.discard(seq)
                counts.counts["checked"] += 1
            if seq > track.seen_max:
                gone = [s for s in track.pending if s < seq]
                for s in gone:
                    track.pending.discard(s)
                counts.counts["checked"] += len(gone)
                counts.counts["lost"] += len(gone)
                track.seen_max = seq
            if len(track.seen) > 20_000:
                floor = track.seen_max - 10_000
                track.seen = {s for s in track.seen if s >= floor}

    # ------------------------------------------------------------------ samples
    def take_sample(self, at: float | None = None) -> dict[int, dict[str, Any]]:
        """The counts since the last sample, per broker; written to _streamplane_slo."""
        at = time.time() if at is None else at
        with self.lock:
            deltas = {}
            for broker, counts in self.brokers.items():
                deltas[broker] = counts.delta(self._last_sample.get(broker, {}))
                self._last_sample[broker] = counts.snapshot()
        if self._slo_producer is not None:
            for broker, delta in deltas.items():
                self._slo_producer.produce(
                    SLO_TOPIC,
                    key=f"canary/{broker}".encode(),
                    value=encode("canary", at, {"broker": broker, **delta}),
                )
            self._slo_producer.poll(0)
        if self.on_sample is not None:
            self.on_sample(at, deltas)
        return deltas

    def totals(self) -> dict[int, dict[str, int]]:
        with self.lock:
            return {b: dict(c.counts) for b, c in self.brokers.items()}

    def run(self, stop: threading.Event, *, tick: Callable[[], None] | None = None) -> None:
        """Produce every interval; a thread consumes and another samples every ``sample_s``
        (then calls ``tick``), so slow sampling (admin requests to a dead broker wait for
        their timeout) never delays the traffic being measured.

        Between rounds the producer is polled with a timeout, so each acknowledgement is
        timed when it arrives, not when the loop next looks.
        """
        assert self._producer is not None
        threads = [
            threading.Thread(target=self._consume, args=(stop,), name="canary-consumer"),
            threading.Thread(target=self._sample, args=(stop, tick), name="canary-sampler"),
        ]
        for thread in threads:
            thread.start()
        next_round = time.monotonic()
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_round:
                    self.produce_round()
                    next_round += self.config.interval_s
                    if next_round < now:  # fell behind (a stall): do not burst to catch up
                        next_round = now + self.config.interval_s
                self._producer.poll(max(0.0, min(next_round - time.monotonic(), 0.5)))
        finally:
            stop.set()
            for thread in threads:
                thread.join()

    def _sample(self, stop: threading.Event, tick: Callable[[], None] | None) -> None:
        next_sample = time.monotonic() + self.config.sample_s
        while not stop.wait(max(0.0, next_sample - time.monotonic())):
            next_sample += self.config.sample_s
            if next_sample < time.monotonic():  # fell behind: skip, do not write empty samples
                next_sample = time.monotonic() + self.config.sample_s
            try:
                self.take_sample()
                if tick is not None:
                    tick()
            except Exception:  # one failed sample must not end the canary
                log.exception("sampling failed")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.config.timeout_s)
        if self._slo_producer is not None:
            self._slo_producer.flush(10)
        if self._consumer is not None:
            self._consumer.close()


#: (count, metric, help) of the counters the canary exports per broker.
COUNTER_FAMILIES = (
    ("requests", m.CANARY_REQUESTS, "Produce requests sent (one record each)."),
    ("errors", m.CANARY_ERRORS, "Produce requests not acknowledged in time."),
    ("checked", m.CANARY_CHECKED, "Acknowledged records whose fate is known (read or lost)."),
    ("lost", m.CANARY_LOST, "Acknowledged records never read back."),
    ("duplicated", m.CANARY_DUPLICATED, "Records read more than once."),
)


class CanaryMetrics(Collector):
    """The canary's counts as Prometheus families, read at scrape time."""

    def __init__(self, canary: Canary, registry: CollectorRegistry) -> None:
        self.canary = canary
        registry.register(self)

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        families = {
            key: CounterMetricFamily(name.removesuffix("_total"), text, labels=["broker"])
            for key, name, text in COUNTER_FAMILIES
        }
        produce = HistogramMetricFamily(
            m.CANARY_PRODUCE_LATENCY, "Send to acknowledgement.", labels=["broker"]
        )
        e2e = HistogramMetricFamily(m.CANARY_E2E_LATENCY, "Send to read back.", labels=["broker"])
        with self.canary.lock:
            for broker, counts in sorted(self.canary.brokers.items()):
                label = [str(broker)]
                for key, family in families.items():
                    family.add_metric(label, counts.counts[key])
                produce.add_metric(label, counts.produce.cumulative(), counts.produce.total)
                e2e.add_metric(label, counts.e2e.cumulative(), counts.e2e.total)
        yield from families.values()
        yield produce
        yield e2e
