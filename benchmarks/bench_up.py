"""How fast `streamplane up` is ready, and how much memory the 3-node cluster holds.

Figures (issue: foundation):
- `streamplane up` ready time, jars cached: median of N runs for 1 and 3 nodes,
  first start (formats storage) and restart (existing data); and the cold fetch.
- Resident memory of the 3-node cluster (sum of RSS) after start and under load.

Baselines, same run:
- start time: the bare broker, i.e. ``java kafka.Kafka server.properties`` on the
  same rendered config, timed to its own "Kafka Server started" log line; the gap
  is what readiness (SASL login + metadata from every node) and the CLI cost.
- memory: the same 3-node cluster on the heap flags of Kafka's own start script
  (-Xms1G -Xmx1G).

Run: .venv/bin/python benchmarks/bench_up.py [--runs 5] [--skip-cold]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import PORT_OFFSET, median, report, scratch_cluster
from confluent_kafka import Producer

from streamplane.local import JvmOptions, LocalCluster, fetch_runtime, find_java, open_cluster
from streamplane.local._fetch import package_file


def _cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "streamplane", *args], check=True, capture_output=True, text=True
    )


def time_cold_fetch() -> tuple[float, float]:
    """(seconds with an empty Maven repository, seconds with Maven's cache warm)."""
    results = []
    for empty_m2 in (True, False):
        scratch = Path(tempfile.mkdtemp(prefix="sp-bench-fetch-"))
        env = dict(os.environ, STREAMPLANE_CACHE=str(scratch / "cache"))
        if empty_m2:
            env["MAVEN_OPTS"] = f"-Dmaven.repo.local={scratch / 'm2'}"
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "streamplane", "local", "fetch"], env=env, check=True,
            capture_output=True,
        )  # fmt: skip
        results.append(time.monotonic() - started)
        shutil.rmtree(scratch, ignore_errors=True)
    return results[0], results[1]


def time_up(nodes: int, runs: int) -> tuple[list[float], list[float]]:
    """CLI `up` to ready: on a fresh data dir (formats) and again on existing data."""
    fresh, restart = [], []
    for _ in range(runs):
        root = Path(tempfile.mkdtemp(prefix="sp-bench-up-"))
        data = ["--data-dir", str(root / "data")]
        try:
            started = time.monotonic()
            _cli(
                "up",
                "--nodes",
                str(nodes),
                *data,
                "--port-offset",
                str(PORT_OFFSET),
                "--no-registry",
            )
            fresh.append(time.monotonic() - started)
            _cli("down", *data)
            started = time.monotonic()
            _cli("up", "--nodes", str(nodes), *data, "--no-registry")
            restart.append(time.monotonic() - started)
        finally:
            subprocess.run(
                [sys.executable, "-m", "streamplane", "down", *data], capture_output=True
            )
            shutil.rmtree(root, ignore_errors=True)
    return fresh, restart


def time_bare_broker(nodes: int, runs: int) -> list[float]:
    """java kafka.Kafka on the same configs, to its "Kafka Server started" line (all nodes)."""
    java, runtime = find_java(), fetch_runtime()
    times = []
    root = Path(tempfile.mkdtemp(prefix="sp-bench-bare-"))
    cluster = open_cluster(root / "data")
    cluster.up(nodes=nodes, port_offset=PORT_OFFSET)
    cluster.down()
    try:
        for _ in range(runs):
            procs, logs = [], []
            started = time.monotonic()
            for node in range(1, nodes + 1):
                log_dir = root / f"bare-{node}"
                shutil.rmtree(log_dir, ignore_errors=True)
                log_dir.mkdir()
                logs.append(log_dir / "server.log")
                cmd = [
                    str(java.executable), *cluster.jvm.args(),
                    f"-Dlog4j2.configurationFile={package_file('templates/log4j2.yaml')}",
                    f"-Dkafka.logs.dir={log_dir}", "-cp", runtime.classpath,
                    "kafka.Kafka", str(cluster.dir.node_config(node)),
                ]  # fmt: skip
                procs.append(
                    subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
                )
            while not all(
                log.exists() and "Kafka Server started" in log.read_text(errors="replace")
                for log in logs
            ):
                dead = [p for p in procs if p.poll() is not None]
                if dead:
                    raise SystemExit(f"bare broker exited during start; see {logs}")
                time.sleep(0.05)
            times.append(time.monotonic() - started)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return times


def cluster_rss_mib(cluster: LocalCluster) -> float:
    return sum(p.memory_info().rss for p in cluster.running_nodes().values()) / 2**20


def load(cluster: LocalCluster, records: int = 50_000) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(cluster.admin_settings().librdkafka())
    admin.create_topics([NewTopic("bench-rss", 3, 3)])["bench-rss"].result(60)
    producer = Producer(cluster.admin_settings().librdkafka(**{"linger.ms": 5, "acks": "all"}))
    payload = os.urandom(1024)
    for _ in range(records):
        while True:
            try:
                producer.produce("bench-rss", payload)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(120)


def measure_rss(jvm: JvmOptions | None) -> tuple[float, float]:
    with scratch_cluster("rss", nodes=3, jvm=jvm) as cluster:
        time.sleep(5)  # let start-up settle
        idle = cluster_rss_mib(cluster)
        load(cluster)
        return idle, cluster_rss_mib(cluster)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold Maven fetch")
    args = parser.parse_args()
    fetch_runtime()

    rows: list[tuple[str, str, str]] = []
    if not args.skip_cold:
        cold, warm_m2 = time_cold_fetch()
        rows.append(("cold fetch, empty Maven repo (s)", f"{cold:.1f}", "-"))
        rows.append(("fetch, Maven repo warm (s)", f"{warm_m2:.1f}", "-"))
    for nodes in (1, 3):
        fresh, restart = time_up(nodes, args.runs)
        bare = time_bare_broker(nodes, args.runs)
        rows.append((f"up {nodes} node(s), first start, median (s)", f"{median(fresh):.1f}", "-"))
        rows.append(
            (
                f"up {nodes} node(s), restart, median (s)",
                f"{median(restart):.1f}",
                f"{median(bare):.1f}",
            )
        )
    ours_idle, ours_load = measure_rss(None)
    stock_idle, stock_load = measure_rss(JvmOptions(heap_max_mb=1024, heap_initial_mb=1024))
    rows.append(("3-node RSS sum after start (MiB)", f"{ours_idle:.0f}", f"{stock_idle:.0f}"))
    rows.append(("3-node RSS sum after 50k x 1 KiB (MiB)", f"{ours_load:.0f}", f"{stock_load:.0f}"))
    report(
        rows,
        title=(
            f"streamplane up ({args.runs} runs; baseline: bare kafka.Kafka to 'Kafka Server "
            "started' / Kafka start-script heap -Xms1G -Xmx1G)"
        ),
    )


if __name__ == "__main__":
    main()
