"""Produce-to-consume latency for bench_client.py: a paced producer, a consumer thread.

Each side sends ``rate`` records a second for ``seconds`` through a producer and reads them
back with a consumer in a thread of the same process: once with raw confluent-kafka, once
with the SDK, each on a fresh topic. A record carries its send time (microseconds since the
epoch), and its latency is the time it reaches the consumer's code minus that.

The tail (p99) of a shared 2-core machine is mostly the machine: a stall of the broker or
of the scheduler delays every record in flight, and two runs a minute apart see different
stalls. So by default the two sides run at the same time, each in a process of its own,
pacing from the same instant: a stall hits both, and each run's SDK / raw ratio compares
like with like. ``alternate`` runs them one after the other instead (the order switching
between runs), each alone on the machine.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, cast

from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer as RawProducer

from streamplane.client import Consumer, Producer, Record

#: Records marked so open the way and are not measured: the first one (group joined,
#: schema registered and fetched, connections up), then LEAD_IN_S of records at the rate.
WARM_ID = "warm"
#: A fresh topic read by a fresh group stalls 40-95 ms once, in its first fraction of a
#: second of traffic, raw confluent-kafka and the SDK alike (measured: gone after 0.5 s of
#: traffic from any producer, not back after an idle pause, untouched by fetch.wait.max.ms,
#: fetch.queue.backoff.ms or fetch.error.backoff.ms). At 1,000 records/s for 10 s that one
#: stall is 50-120 of the 10,000 records: it alone would set the p99. The figure is the
#: steady state, so the runs send this long at the rate before measuring.
LEAD_IN_S = 0.5


def paced(rate: int, seconds: float, send: Callable[[int], None]) -> None:
    """Call ``send(i)`` ``rate`` times a second, on schedule (late calls are not skipped)."""
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(i)


def wait_until(start_at: float | None, *, warm_up_s: float = 3.0) -> None:
    """Sleep until ``start_at`` (epoch seconds), or for ``warm_up_s`` without one."""
    time.sleep(warm_up_s if start_at is None else max(0.0, start_at - time.time()))


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
    start_at: float | None = None,
) -> list[float]:
    """Latencies in ms through the SDK: Avro records, ``sent_us`` stamped before produce().

    Sending starts at ``start_at`` (epoch seconds), else 3 s after the consumer started,
    with LEAD_IN_S of unmeasured records.
    """
    producer.produce(topic, {**records[0], "id": WARM_ID})
    producer.flush()
    latencies: list[float] = []
    total = int(rate * seconds)
    lead_in = int(rate * LEAD_IN_S)

    def handle(record: Record) -> None:
        if record.value["id"] != WARM_ID:
            latencies.append(time.time_ns() / 1000 - record.value["sent_us"])

    worker = threading.Thread(
        target=lambda: consumer.run(handle, max_records=1 + lead_in + total, idle_timeout_s=30)
    )
    worker.start()
    wait_until(start_at)  # the group joined and the warm-up record read
    k = len(records)

    def send(i: int) -> None:
        producer.produce(topic, {**records[i % k], "sent_us": time.time_ns() // 1000})

    def send_lead_in(i: int) -> None:
        producer.produce(topic, {**records[i % k], "id": WARM_ID, "sent_us": 0})

    try:
        paced(rate, LEAD_IN_S, send_lead_in)
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
    start_at: float | None = None,
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
    wait_until(start_at)
    k = len(payloads)

    def send(i: int) -> None:
        stamp = (time.time_ns() // 1000).to_bytes(8, "big")
        producer.produce(topic, stamp + payloads[i % k][8:])
        producer.poll(0)

    def send_lead_in(i: int) -> None:
        producer.produce(topic, warm + payloads[i % k][len(warm) :])
        producer.poll(0)

    try:
        paced(rate, LEAD_IN_S, send_lead_in)
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


#: One side of a run: (run number, start instant or None) -> latencies in ms. Paired runs
#: call it in another process, so it must pickle (a module-level function, or a partial).
Side = Callable[[int, float | None], list[float]]

#: Paired runs start pacing this long after the processes are started: enough to import
#: the client, join the group and read the warm-up record on a loaded machine.
PAIRED_LEAD_S = 15.0


def paired_runs(runs: int, *, raw: Side, sdk: Side, timeout_s: float) -> list[LatencyRun]:
    """``runs`` runs of both sides at the same time, each in a process of its own."""
    done = []
    context = multiprocessing.get_context("spawn")
    for number in range(runs):
        start_at = time.time() + PAIRED_LEAD_S
        started = []
        for side in (raw, sdk):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_one_side, args=(side, number, start_at, send))
            process.start()
            send.close()
            started.append((process, receive))
        raw_ms, sdk_ms = (_result(process, receive, timeout_s) for process, receive in started)
        run = LatencyRun(raw=raw_ms, sdk=sdk_ms, load=os.getloadavg()[0])
        print(run.line(number + 1), flush=True)
        done.append(run)
    return done


def _one_side(side: Side, number: int, start_at: float, send: Connection) -> None:
    """In a process of its own: run one side, send back its latencies or why it failed."""
    try:
        send.send(("ok", side(number, start_at)))
    except BaseException:  # noqa: BLE001 (reported to the parent, which raises it)
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


def _result(process: BaseProcess, receive: Connection, timeout_s: float) -> list[float]:
    try:
        if not receive.poll(timeout_s):
            raise TimeoutError(f"a latency side ran longer than {timeout_s:g}s")
        status, value = receive.recv()
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()
    if status != "ok":
        raise RuntimeError(f"a latency side failed:\n{value}")
    return cast("list[float]", value)


def alternating_runs(runs: int, *, raw: Side, sdk: Side) -> list[LatencyRun]:
    """``runs`` runs of one side after the other, switching which goes first."""
    done = []
    for number in range(runs):
        if number % 2 == 0:
            raw_ms = raw(number, None)
            sdk_ms = sdk(number, None)
        else:
            sdk_ms = sdk(number, None)
            raw_ms = raw(number, None)
        run = LatencyRun(raw=raw_ms, sdk=sdk_ms, load=os.getloadavg()[0])
        print(run.line(number + 1), flush=True)
        done.append(run)
    return done


def latency_rows(runs: list[LatencyRun], rate: int, mode: str) -> list[tuple[str, str, str]]:
    """The report rows: medians over runs of p50 and p99, and the per-run p99 ratios."""

    def middle(side: str, q: float) -> float:
        return statistics.median(percentile(getattr(run, side), q) for run in runs)

    ratios = [run.p99_ratio for run in runs]
    label = f"low_latency, {rate}/s, {mode}, median of {len(runs)} runs"
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
