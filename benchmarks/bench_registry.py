"""Schema registry figures, with the load generated from this (separate) process.

- register 10,000 distinct Avro schemas (target <= 60 s), from 1 client and from 16
  concurrent clients (concurrent registrations share produce requests and read-backs:
  group commit); baselines: the same number of acks=all writes to a Kafka topic, each
  waited for, from 1 and from 16 threads (the floor of a durable registration);
- registrations per second with a data contract (metadata and a CEL rule set) against
  the same without (2,000 each);
- GET /schemas/ids/{id}: requests/s at full load (target >= 3,000) and p99 latency at
  a paced 1,000 requests/s (target <= 10 ms); baseline: GET / on the same server (the
  HTTP stack without registry work);
- cold start replaying 10,000 schemas from `_schemas` (target <= 10 s); baseline:
  consuming the same topic end to end with a bare confluent-kafka consumer.

Run: .venv/bin/python benchmarks/bench_registry.py [--schemas 10000]
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _harness import PORT_OFFSET, report
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.local import RegistryProcess, open_cluster

CT = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def schema(i: int) -> str:
    return f'{{"type":"record","name":"R{i}","fields":[{{"name":"f{i}","type":"long"}}]}}'


RULES = {
    "domainRules": [
        {"name": "positive", "kind": "CONDITION", "mode": "WRITE", "type": "CEL",
         "expr": "message.f >= 0"},
    ]
}  # fmt: skip


def register_all(
    url: str,
    count: int,
    auth: tuple[str, str],
    *,
    clients: int = 1,
    prefix: str = "s",
    contract: bool = False,
) -> tuple[float, list[int]]:
    """Seconds to register ``count`` distinct schemas from ``clients`` threads, and the ids."""
    ids: list[int] = [0] * count

    def run(shard: int) -> None:
        with httpx.Client(base_url=url, headers=CT, timeout=60, auth=auth) as http:
            for i in range(shard, count, clients):
                body: dict[str, object] = {"schema": schema(i)}
                if contract:
                    body["metadata"] = {"properties": {"owner": "bench"}}
                    body["ruleSet"] = RULES
                answer = http.post(f"/subjects/{prefix}{i}-value/versions", json=body)
                answer.raise_for_status()
                ids[i] = answer.json()["id"]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    return time.perf_counter() - started, ids


def _setter(event: threading.Event) -> Callable[..., None]:
    return lambda *_: event.set()


def kafka_floor(settings: object, count: int, *, clients: int = 1) -> float:
    """``count`` acks=all writes, each waited for, from ``clients`` threads (one producer)."""
    topic = f"bench-registry-floor-{clients}"
    admin = AdminClient(settings.librdkafka())  # type: ignore[attr-defined]
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer(
        settings.librdkafka(**{"acks": "all", "enable.idempotence": True, "linger.ms": 0})
    )  # type: ignore[attr-defined]

    def run(shard: int) -> None:
        for i in range(shard, count, clients):
            done = threading.Event()
            producer.produce(topic, schema(i).encode(), on_delivery=_setter(done))
            while not done.is_set():
                producer.poll(0.001)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, range(clients)))
    return time.perf_counter() - started


def wrk(url: str, *, seconds: float, paced: bool, auth: tuple[str, str]) -> tuple[float, float]:
    """(requests/s, p99 ms) from wrk (a C load generator: Python clients saturate first).

    Paced mode gives each of 32 connections a 31 ms pause between requests, about
    1,000 requests/s in all, through wrk's Lua ``delay`` hook.
    """
    binary = shutil.which("wrk")
    if binary is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
        binary = "wrk"
    token = base64.b64encode(":".join(auth).encode()).decode()
    cmd = [binary, "-t1", "-c32", f"-d{int(seconds)}s", "--latency"]
    cmd += ["-H", f"Authorization: Basic {token}"]
    script = None
    if paced:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        script.write_text("function delay() return 31 end\n")
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    if script is not None:
        script.unlink()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, p99


def consume_all(settings: object, topic: str, count: int) -> float:
    consumer = Consumer(
        settings.librdkafka(**{"group.id": f"b-{uuid.uuid4().hex}", "enable.auto.commit": False})
    )  # type: ignore[attr-defined]
    started = time.perf_counter()
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen = 0
    while seen < count:
        seen += sum(1 for m in consumer.consume(1000, 1.0) if m.error() is None)
    consumer.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--contracts", type=int, default=2_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-bench-registry-"))
    cluster = open_cluster(root / "data")
    service = RegistryProcess(cluster.dir, port_offset=PORT_OFFSET)
    try:
        cluster.up(nodes=1, port_offset=PORT_OFFSET)
        settings = cluster.admin_settings()
        service.start()
        auth = (str(settings.username), str(settings.password))  # the registry checks them
        reg_s, ids = register_all(service.url, args.schemas, auth)
        floor_s = kafka_floor(settings, args.schemas)
        reg16_s, _ = register_all(service.url, args.schemas, auth, clients=16, prefix="c")
        floor16_s = kafka_floor(settings, args.schemas, clients=16)
        plain_s, _ = register_all(service.url, args.contracts, auth, clients=4, prefix="p")
        rules_s, _ = register_all(
            service.url, args.contracts, auth, clients=4, prefix="r", contract=True
        )
        probe = f"{service.url}/schemas/ids/{ids[len(ids) // 2]}"
        full_rate, _ = wrk(probe, seconds=args.seconds, paced=False, auth=auth)
        base_rate, _ = wrk(f"{service.url}/", seconds=args.seconds, paced=False, auth=auth)
        paced_rate, paced_p99 = wrk(probe, seconds=args.seconds, paced=True, auth=auth)
        base_paced_rate, base_p99 = wrk(
            f"{service.url}/", seconds=args.seconds, paced=True, auth=auth
        )
        service.stop()
        started = time.perf_counter()
        service.start()
        cold_s = time.perf_counter() - started
        replay_s = consume_all(settings, "_schemas", 2 * args.schemas + 2 * args.contracts)
        total = 2 * args.schemas + 2 * args.contracts

        n = args.schemas
        report(
            [
                (f"register {n:,} schemas, 1 client (s)", f"{reg_s:.1f}", f"{floor_s:.1f}"),
                (
                    f"register {n:,} schemas, 16 concurrent clients (s)",
                    f"{reg16_s:.1f}",
                    f"{floor16_s:.1f}",
                ),
                (
                    "registrations/s with a contract (4 clients; baseline: none)",
                    f"{args.contracts / rules_s:,.0f}",
                    f"{args.contracts / plain_s:,.0f}",
                ),
                (
                    "GET /schemas/ids/{id}, flat out (req/s)",
                    f"{full_rate:,.0f}",
                    f"{base_rate:,.0f}",
                ),
                ("p99 paced at ~1,000 req/s (ms)", f"{paced_p99:.1f}", f"{base_p99:.1f}"),
                ("achieved paced rate (req/s)", f"{paced_rate:,.0f}", f"{base_paced_rate:,.0f}"),
                (
                    f"cold start replaying {total:,} schemas (s)",
                    f"{cold_s:.1f}",
                    f"{replay_s:.1f}",
                ),
            ],
            title="schema registry (baselines: acks=all Kafka writes; GET / on the same server; "
            "bare consumer replay)",
        )
    finally:
        service.stop()
        cluster.down(timeout_s=20)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
