"""The canary's cost and speed: its overhead on a three-node cluster, and the time from a
broker's death to the fast-burn page, predicted against measured.

Overhead: the brokers' CPU and the bytes they write to disk over ``--seconds``, first
idle (the baseline), then with the canary at its default settings (a record per broker
per second, a sample every 10 s); and the canary process's own CPU.

Time to alert: the canary restarted with a record per broker every 0.1 s, a sample every
second and a 2 s request timeout, an availability SLO of 99.9 % over 1 day (fast burn: 2
min and 10 s at 14.4x), and Prometheus scraping it every second with the generated rules.
A broker is killed ``--trials`` times (each after the 2-minute window has cleared): the
seconds until the monitor and Prometheus fire, beside the prediction of
``streamplane.slo.budget.seconds_to_fire`` plus the request timeout, librdkafka's 1 s
timeout scan and one sample.

Run: .venv/bin/python benchmarks/bench_slo.py [--seconds 60] [--trials 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from _harness import PORT_OFFSET, report, scratch_cluster

from streamplane.local import CanaryProcess, LocalCluster, PrometheusProcess
from streamplane.model import load_spec, objectives
from streamplane.slo.budget import alert_policy, seconds_to_fire
from streamplane.slo.rules import write_rules

SPEC = """
clusters:
  - {name: local, local: true}
slos:
  - {name: availability, sli: availability, objective: 99.9, window: 1d}
alerting: {audit: false}
"""
TIMEOUT_S, SAMPLE_S, INTERVAL_S = 2.0, 1.0, 0.1


def _cpu(procs: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in procs)


def _disk(cluster: LocalCluster) -> int:
    state = cluster.require_state()
    return sum(
        f.stat().st_size
        for n in state.node_ids()
        for f in cluster.dir.node_data(n).rglob("*.log")
        if f.is_file()
    )


def _measure(
    cluster: LocalCluster, seconds: float, extra: list[psutil.Process]
) -> tuple[float, float, float]:
    """(brokers' CPU %, their disk writes B/s, ``extra``'s CPU %) over ``seconds``."""
    nodes = list(cluster.running_nodes().values())
    cpu0, extra0, disk0 = _cpu(nodes), _cpu(extra), _disk(cluster)
    time.sleep(seconds)
    return (
        100 * (_cpu(nodes) - cpu0) / seconds,
        (_disk(cluster) - disk0) / seconds,
        100 * (_cpu(extra) - extra0) / seconds,
    )


def _firing(canary: CanaryProcess, prometheus: PrometheusProcess) -> tuple[bool, bool]:
    status = canary.status_data() or {}
    monitor = any("fast-burn" in s["firing"] for s in status.get("slos", []))
    alerts = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    prom = any(a["labels"].get("window") == "fast-burn" and a["state"] == "firing" for a in alerts)
    return monitor, prom


def _report_overhead(
    busy: tuple[float, float, float], idle: tuple[float, float, float], seconds: float
) -> None:
    kib = 1024
    report(
        [
            ("brokers' CPU (% of one core), canary vs idle", f"{busy[0]:.1f}", f"{idle[0]:.1f}"),
            ("brokers' disk writes (KiB/s), canary vs idle", f"{busy[1] / kib:.2f}",
             f"{idle[1] / kib:.2f}"),
            ("canary process CPU (% of one core)", f"{busy[2]:.1f}", "-"),
        ],
        title=f"canary overhead on 3 nodes over {seconds:.0f}s (1 record per broker per s)",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    spec = Path(tempfile.mkdtemp(prefix="sp-bench-slo-spec-"))
    (spec / "platform.yaml").write_text(SPEC)
    with scratch_cluster("slo", nodes=3) as cluster:
        canary = CanaryProcess(cluster.dir, port_offset=PORT_OFFSET)
        # The canary's first minute creates topics (and __consumer_offsets, on its first
        # group request) and warms the brokers' code paths: measured after that, and the
        # idle baseline after the canary stops, on the same warmed cluster.
        canary.start()
        time.sleep(30)
        process = canary.process()
        assert process is not None
        busy = _measure(cluster, args.seconds, [process])
        canary.stop()
        time.sleep(10)
        idle = _measure(cluster, args.seconds, [])
        if not args.trials:
            _report_overhead(busy, idle, args.seconds)
            return

        canary.start(spec=spec, options=["--interval", str(INTERVAL_S), "--sample", str(SAMPLE_S),
                                         "--timeout", str(TIMEOUT_S)])  # fmt: skip
        prometheus = PrometheusProcess(cluster.dir, port_offset=PORT_OFFSET)
        prometheus.home.mkdir(parents=True, exist_ok=True)
        write_rules(objectives(load_spec(spec)), prometheus.rules_file)
        prometheus.start(scrape_interval_s=1)
        fast = next(a for a in alert_policy(86400) if a.name == "fast-burn")
        trials: list[tuple[float, float, float]] = []
        try:
            for trial in range(args.trials):
                time.sleep(130 if trial else 30)  # the 2-minute window holds no failure
                status = canary.status_data() or {}
                healthy = min(time.time() - status.get("counting_since", time.time()), 120.0)
                crossing = seconds_to_fire(fast, objective_pct=99.9, failing_share=1.0,
                                           healthy_s=healthy)  # fmt: skip
                predicted = TIMEOUT_S + 1.0 + crossing + SAMPLE_S
                killed = time.monotonic()
                cluster.kill_node(2)
                seen: dict[str, float] = {}
                while len(seen) < 2 and time.monotonic() - killed < 120:
                    monitor, prom = _firing(canary, prometheus)
                    for name, fired in (("monitor", monitor), ("prometheus", prom)):
                        if fired and name not in seen:
                            seen[name] = time.monotonic() - killed
                    time.sleep(0.05)
                trials.append((predicted, seen.get("monitor", float("nan")),
                               seen.get("prometheus", float("nan"))))  # fmt: skip
                cluster.start_node(2)
        finally:
            prometheus.stop()
            canary.stop()
    _report_overhead(busy, idle, args.seconds)
    report(
        [
            (f"trial {n + 1}: monitor / Prometheus vs predicted (s)",
             f"{m:.1f} / {p:.1f}", f"{pred:.1f}")
            for n, (pred, m, p) in enumerate(trials)
        ]
        + [("median monitor vs predicted (s)", f"{statistics.median(t[1] for t in trials):.1f}",
            f"{statistics.median(t[0] for t in trials):.1f}")],
        title="broker killed -> fast-burn page (99.9 % over 1 d: 2 min and 10 s windows); "
        f"requests time out after {TIMEOUT_S:g}s, samples every {SAMPLE_S:g}s",
    )  # fmt: skip


if __name__ == "__main__":
    main()
