"""Noisy neighbour: does one tenant's flood hurt another's produce latency, and does the
spec's quota stop it?

Tenant ``beta`` writes a 1 KiB record every 10 ms (acks=all, no linger) and measures each
record's produce latency (produce() to its delivery report). Three phases on one 1-node
cluster, each with the same probe:

1. solo: beta alone (the baseline);
2. flooded: tenant ``alpha``'s application writes as fast as it can from another process
   (16 KiB records, acks=all), no quota;
3. quota'd: the spec gives alpha ``quotas: {producer_byte_rate: ...}``, ``apply`` sets it,
   and alpha floods again; the broker throttles it.

The figures are beta's p99 in phases 2 and 3 against phase 1 (goal: phase 3 within 2x),
and alpha's achieved byte rate against its quota.

Run: .venv/bin/python benchmarks/bench_noisy_neighbour.py [--seconds 15] [--quota 2MiB]
     [--port-offset 22000]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _harness import PORT_OFFSET, apply_spec_dir, report, scratch_cluster, write_one_node_spec
from confluent_kafka import KafkaError, Producer

from streamplane.kafka import ConnectionSettings
from streamplane.local import LocalCluster
from streamplane.reconcile import client_config_path

PROBE_TOPIC = "beta.probe.latency"
FLOOD_TOPIC = "alpha.flood.bulk"

TENANTS = """\
tenants:
  - name: alpha
    owners: [alpha@example.com]
    clusters: [local]
{alpha_quota}    domains:
      - name: flood
        owner: alpha@example.com
        topics:
          - {{name: bulk, partitions: 3, classification: internal, owner: alpha@example.com}}
        applications:
          - {{name: flooder, produces: [alpha.flood.bulk]}}
  - name: beta
    owners: [beta@example.com]
    clusters: [local]
    domains:
      - name: probe
        owner: beta@example.com
        topics:
          - {{name: latency, partitions: 1, classification: internal, owner: beta@example.com}}
        applications:
          - {{name: prober, produces: [beta.probe.latency]}}
"""


def _apply(root: Path, cluster: LocalCluster, quota: str | None) -> dict[str, str]:
    """Apply the spec (alpha quota'd or not); each application's principal."""
    alpha_quota = f"    quotas: {{producer_byte_rate: {quota}}}\n" if quota else ""
    write_one_node_spec(root, TENANTS.format(alpha_quota=alpha_quota))
    spec = apply_spec_dir(root, cluster)
    return {name: entry.principal for name, entry in spec.applications.items()}


def _flood(properties: str, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Alpha, in its own process: as many 16 KiB records as the broker takes."""
    settings = ConnectionSettings.from_properties_file(Path(properties))
    producer = Producer(
        settings.librdkafka(**{
            "acks": "all", "linger.ms": 5, "batch.size": 1048576, "log_level": 0,
            # A small queue: what is measured is what the broker took, not a backlog.
            "queue.buffering.max.kbytes": 4096,
        })
    )  # fmt: skip
    record = b"x" * 16384
    delivered = 0

    def done(err: KafkaError | None, _msg: object) -> None:
        nonlocal delivered
        if err is None:
            delivered += len(record)

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            producer.produce(FLOOD_TOPIC, record, on_delivery=done)
        except BufferError:
            producer.poll(0.005)
        producer.poll(0)
    producer.flush(30)
    out.put(delivered / seconds)


def _probe(settings: ConnectionSettings, seconds: float) -> list[float]:
    """Beta: one 1 KiB record every 10 ms; each one's produce latency in ms."""
    producer = Producer(settings.librdkafka(**{"acks": "all", "linger.ms": 0, "log_level": 0}))
    latencies: list[float] = []
    record = b"y" * 1024
    start = time.perf_counter()
    for tick in range(int(seconds * 100)):
        sent = time.perf_counter()

        def done(err: KafkaError | None, _msg: object, sent: float = sent) -> None:
            if err is None:
                latencies.append((time.perf_counter() - sent) * 1000)

        producer.produce(PROBE_TOPIC, record, on_delivery=done)
        # Serve delivery reports until this record's slot ends: a steady 100 records/s.
        while (left := start + (tick + 1) / 100 - time.perf_counter()) > 0:
            producer.poll(left)
    producer.flush(30)
    return latencies


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 10 else 0.0


def _phase(
    cluster: LocalCluster, principals: dict[str, str], seconds: float, flood: bool
) -> tuple[list[float], float | None]:
    root = cluster.dir.root
    prober = ConnectionSettings.from_properties_file(client_config_path(root, principals["prober"]))
    flooder_props = str(client_config_path(root, principals["flooder"]))
    rate: float | None = None
    if not flood:
        return _probe(prober, seconds), None
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    proc = ctx.Process(target=_flood, args=(flooder_props, seconds + 2, queue))
    proc.start()
    time.sleep(2)  # the flood at full speed before the probe starts
    result: list[list[float]] = []
    thread = threading.Thread(target=lambda: result.append(_probe(prober, seconds)))
    thread.start()
    thread.join()
    rate = queue.get(timeout=120)
    proc.join(30)
    return result[0], rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--quota", default="2MiB")
    parser.add_argument("--port-offset", type=int, default=PORT_OFFSET)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sp-bench-noisy-"))
    with scratch_cluster("noisy", nodes=1, port_offset=args.port_offset) as cluster:
        principals = _apply(work / "spec", cluster, None)
        solo, _ = _phase(cluster, principals, args.seconds, flood=False)
        flooded, open_rate = _phase(cluster, principals, args.seconds, flood=True)
        _apply(work / "spec", cluster, args.quota)
        throttled, quota_rate = _phase(cluster, principals, args.seconds, flood=True)
    base99 = _p(solo, 0.99)
    mib = 1024 * 1024
    rows = [
        ("beta p99 produce, solo (ms)", f"{base99:.1f}", "-"),
        ("beta p99 with alpha flooding, no quota (ms)", f"{_p(flooded, 0.99):.1f}",
         f"{base99:.1f}"),
        ("  ratio to solo", f"{_p(flooded, 0.99) / base99:.2f}x", "1.00x"),
        (f"beta p99 with alpha quota'd {args.quota} (ms)", f"{_p(throttled, 0.99):.1f}",
         f"{base99:.1f}"),
        ("  ratio to solo (goal <= 2x)", f"{_p(throttled, 0.99) / base99:.2f}x", "1.00x"),
        ("beta p50 flooded / quota'd vs solo (ms)",
         f"{_p(flooded, 0.5):.1f} / {_p(throttled, 0.5):.1f}", f"{_p(solo, 0.5):.1f}"),
        ("alpha MiB/s, quota'd vs unthrottled", f"{(quota_rate or 0) / mib:.2f}",
         f"{(open_rate or 0) / mib:.2f}"),
        ("beta records measured flooded / quota'd vs solo",
         f"{len(flooded)} / {len(throttled)}", f"{len(solo)}"),
    ]  # fmt: skip
    report(rows, title=f"Noisy neighbour ({args.seconds:.0f} s per phase, 1 node)")


if __name__ == "__main__":
    main()
