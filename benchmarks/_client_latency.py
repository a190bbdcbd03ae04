"""Produce-to-consume latency for bench_client.py: a paced producer, a consumer thread.

Each run sends ``rate`` records a second for ``seconds`` through a producer and reads
them back with a consumer in a thread of the same process, once with raw confluent-kafka
and once with the SDK, on fresh topics; the order alternates between runs so that a
drifting machine load does not always favour the same side. A record carries its send
time (microseconds since the epoch), and its latency is the time it reaches the consumer's
code minus that.

The tail (p99) of a shared 2-core machine is mostly the machine: a stall of the broker or
of the scheduler delays every record in flight. So each run's SDK and raw figures are
printed side by side with the load average, and the ratio is what carries over.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer as RawProducer

from streamplane.client import Consumer, Producer, Record

#: The first record of each run opens the way (group joined, schema registered and
#: fetched, connections up); it is not measured.
WARM_ID = "warm"


def paced(rate: int, seconds: float, send: Callable[[int], None]) -> None:
    """Call ``send(i)`` ``rate`` times a second, on schedule (late calls are not skipped)."""
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(i)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sdk_latencies(
    producer: Producer,
    consumer: Consumer,
    topic: str,
    records: list[dict[str, Any]],
    *,
    rate: int,
    seconds: float,
) -> list[float]:
    """Latencies in ms through the SDK: Avro records, ``sent_us`` stamped before produce()."""
    producer.produce(topic, {**records[0], "id": WARM_ID})
    producer.flush()
    latencies: list[float] = []
    total = int(rate * seconds)

    def handle(record: Record) -> None:
        if record.value["id"] != WARM_ID:
            latencies.append(time.time_ns() / 1000 - record.value["sent_us"])

    worker = threading.Thread(
        target=lambda: consumer.run(handle, max_records=total + 1, idle_timeout_s=30)
    )
    worker.start()
    time.sleep(3)  # join the group and read the warm-up record
    k = len(records)

    def send(i: int) -> None:
        producer.produce(topic, {**records[i % k], "sent_us": time.time_ns() // 1000})

    try:
        paced(rate, seconds, send)
        producer.flush()
    finally:
        worker.join(60)
        consumer.close()
        producer.close()
    return [x / 1000 for x in latencies]


def raw_latencies(
    producer: RawProducer,
    consumer: RawConsumer,
    topic: str,
    payloads: list[bytes],
    *,
    rate: int,
    seconds: float,
) -> list[float]:
    """Latencies in ms through raw confluent-kafka: bytes whose first 8 are the send time."""
    consumer.subscribe([topic])
    latencies: list[float] = []
    total = int(rate * seconds)
    done = threading.Event()
    warm = WARM_ID.encode()

    def read() -> None:
        while len(latencies) < total and not done.is_set():
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            value = msg.value()
            if value is not None and not value.startswith(warm):
                sent = int.from_bytes(value[:8], "big")
                latencies.append(time.time_ns() / 1000 - sent)

    worker = threading.Thread(target=read)
    worker.start()
    producer.produce(topic, warm + payloads[0][len(warm) :])
    producer.flush()
    time.sleep(3)
    k = len(payloads)

    def send(i: int) -> None:
        stamp = (time.time_ns() // 1000).to_bytes(8, "big")
        producer.produce(topic, stamp + payloads[i % k][8:])
        producer.poll(0)

    try:
        paced(rate, seconds, send)
        producer.flush()
    finally:
        worker.join(60)
        done.set()
        consumer.close()
    return [x / 1000 for x in latencies]


@dataclass(frozen=True)
class LatencyRun:
    """One run's raw and SDK latencies (ms), and the load average when it ended."""

    raw: list[float]
    sdk: list[float]
    load: float

    @property
    def p99_ratio(self) -> float:
        return percentile(self.sdk, 0.99) / percentile(self.raw, 0.99)

    def line(self, number: int) -> str:
        raw, sdk = self.raw, self.sdk
        return (
            f"latency run {number}: raw p50 {percentile(raw, 0.5):.2f} p99 "
            f"{percentile(raw, 0.99):.2f} ms ({len(raw):,}), SDK p50 {percentile(sdk, 0.5):.2f} "
            f"p99 {percentile(sdk, 0.99):.2f} ms ({len(sdk):,}); p99 SDK / raw "
            f"{self.p99_ratio:.2f}; load average {self.load:.2f}"
        )


def latency_runs(
    runs: int, *, raw: Callable[[int], list[float]], sdk: Callable[[int], list[float]]
) -> list[LatencyRun]:
    """``runs`` runs of both sides, alternating which goes first; each run printed."""
    done = []
    for number in range(runs):
        if number % 2 == 0:
            raw_ms = raw(number)
            sdk_ms = sdk(number)
        else:
            sdk_ms = sdk(number)
            raw_ms = raw(number)
        run = LatencyRun(raw=raw_ms, sdk=sdk_ms, load=os.getloadavg()[0])
        print(run.line(number + 1), flush=True)
        done.append(run)
    return done


def latency_rows(runs: list[LatencyRun], rate: int) -> list[tuple[str, str, str]]:
    """The report rows: medians over runs of p50 and p99, and the per-run p99 ratios."""

    def middle(side: str, q: float) -> float:
        return statistics.median(percentile(getattr(run, side), q) for run in runs)

    ratios = [run.p99_ratio for run in runs]
    label = f"low_latency, {rate}/s, median of {len(runs)} runs"
    return [
        (f"latency p50 ms ({label})", f"{middle('sdk', 0.5):.2f}", f"{middle('raw', 0.5):.2f}"),
        (f"latency p99 ms ({label})", f"{middle('sdk', 0.99):.2f}", f"{middle('raw', 0.99):.2f}"),
        (
            "latency p99 SDK / raw per run (target <= 1.2)",
            " ".join(f"{r:.2f}" for r in ratios),
            "1.00",
        ),
        ("latency samples per run", f"{len(runs[0].sdk):,}", f"{len(runs[0].raw):,}"),
    ]
