"""The SLO monitor run by ``streamplane canary run``: canary, lag sampling and alerts.

One process per cluster, supervised by ``up``. Every ``sample_s`` it writes the canary's
counts per broker and every consumer group's offsets into ``_streamplane_slo``, evaluates
the burn-rate alerts of the SLOs those samples measure, and refreshes its status file.
On start it reads the topic back over the longest alert window, so a restart neither
forgets the budget spent nor fires again an alert that was already firing.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streamplane.kafka import ConnectionSettings
from streamplane.model import Objective
from streamplane.slo import metrics as m
from streamplane.slo.alerts import AlertBook, AlertEvent, Notifier
from streamplane.slo.budget import Sample, alert_policy, budget_remaining, counts
from streamplane.slo.canary import Canary, CanaryMetrics, CanarySettings
from streamplane.slo.lag import GroupSample, evaluate, sample_groups
from streamplane.slo.samples import SLO_TOPIC, Record, encode, read_samples, sli_samples

log = logging.getLogger(__name__)

#: Burrow's default window: the last 10 samples of a partition.
LAG_WINDOW = 10
STATUS_VALUES = {"OK": 0, "WARN": 1, "ERR": 2}


@dataclass(frozen=True)
class MonitorSettings:
    canary: CanarySettings = field(default_factory=CanarySettings)
    metrics_port: int | None = None
    status_file: Path | None = None
    webhook: str | None = None
    audit: bool = True
    #: Sample consumer groups (lag health, freshness).
    lag: bool = True


def canary_bounds(objectives: Sequence[Objective], base: Sequence[float]) -> tuple[float, ...]:
    """The canary's histogram bounds: ``base`` plus every latency threshold of the spec, so
    each latency SLO is counted exactly at its threshold."""
    extra = {o.slo.threshold / 1000 for o in objectives if o.slo.threshold is not None}
    return tuple(sorted(set(base) | extra))


class Monitor:
    def __init__(
        self,
        settings: ConnectionSettings,
        objectives: Sequence[Objective],
        config: MonitorSettings,
    ) -> None:
        self.settings = settings
        self.objectives = list(objectives)
        self.config = config
        canary_config = replace(
            config.canary, bounds=canary_bounds(self.objectives, config.canary.bounds)
        )
        self.canary = Canary(settings, canary_config, on_sample=self._on_canary_sample)
        self.lookback_s = max(
            [a.long_s for o in self.objectives for a in alert_policy(o.slo.window / 1000)],
            default=3600.0,
        )
        self.records: deque[Record] = deque()
        self.lock = threading.Lock()
        self.book = AlertBook(
            [o for o in self.objectives if _from_samples(o)],
        )
        self.groups: dict[str, deque[GroupSample]] = {}
        #: (slo name, owner, group) -> [lag samples, samples over max_lag]
        self.freshness: dict[tuple[str, str, str], list[int]] = {}
        self.notifier = Notifier(
            webhook=config.webhook,
            audit=self._audit if config.audit else None,
            record=self._record_alert,
        )
        self._admin_producer: Producer | None = None
        self.registry = CollectorRegistry()
        self.alerts_fired: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.canary.start()
        if self.notifier.audit is not None:
            # The audit topic is made now, while the cluster is healthy: an alert is written
            # when a broker is down, and creating a topic then can wait on a dead controller.
            from streamplane.security.audit import ensure_audit_topic

            try:
                ensure_audit_topic(self.settings)
            except Exception as exc:  # noqa: BLE001 - retried when the first alert is recorded
                log.warning("could not make the audit topic for alerts yet: %r", exc)
        self._admin_producer = Producer(
            self.settings.librdkafka(**{"acks": "all", "enable.idempotence": True, "log_level": 3})
        )
        since = time.time() - self.lookback_s
        history = read_samples(self.settings, since=since)
        with self.lock:
            self.records.extend(r for r in history if r.kind in ("canary", "lag"))
        # Alerts firing before a restart are firing still: take them up without a new page.
        for record in history:
            if record.kind == "alert":
                key = (
                    f"{record.data.get('owner')}/{record.data.get('slo')}",
                    str(record.data.get("window")),
                )
                if record.data.get("status") == "firing":
                    self.book.firing[key] = record.time
                else:
                    self.book.firing.pop(key, None)
        CanaryMetrics(self.canary, self.registry)
        MonitorMetrics(self, self.registry)
        if self.config.metrics_port is not None:
            start_http_server(self.config.metrics_port, addr="127.0.0.1", registry=self.registry)
        self._write_status()

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: the canary's traffic, its samples and alert checks every
        ``sample_s``, and (in a thread of its own: admin requests to a dead broker wait for
        their timeout) the consumer groups' lag samples."""
        lag = threading.Thread(target=self._lag_loop, args=(stop,), name="lag-monitor")
        if self.config.lag:
            lag.start()
        try:
            self.canary.run(stop, tick=self._tick)
        finally:
            stop.set()
            if lag.is_alive():
                lag.join()

    def _lag_loop(self, stop: threading.Event) -> None:
        period = self.canary.config.sample_s
        while not stop.wait(period):
            self._sample_lag(time.time())

    def close(self) -> None:
        self.canary.close()
        if self._admin_producer is not None:
            self._admin_producer.flush(10)
        self.notifier.close()

    # ------------------------------------------------------------------ samples
    def _on_canary_sample(self, at: float, deltas: dict[int, dict[str, Any]]) -> None:
        with self.lock:
            for broker, delta in deltas.items():
                self.records.append(Record("canary", at, {"broker": broker, **delta}))

    def _tick(self) -> None:
        at = time.time()
        with self.lock:
            while self.records and self.records[0].time < at - self.lookback_s:
                self.records.popleft()
        # Each objective's samples once per tick, for the alerts and the status alike.
        series = {o.key: self.series(o) for o in self.book.objectives}
        events = self.book.evaluate(at, lambda o: series[o.key])
        self.notifier.send(events)
        self._write_status(series)

    def _sample_lag(self, at: float) -> None:
        try:
            found = sample_groups(self.canary.admin)
        except Exception as exc:  # noqa: BLE001 - a failed sample is a gap, not a crash
            log.warning("could not sample consumer groups: %s", exc)
            return
        assert self._admin_producer is not None
        for name, sample in found.items():
            data = sample.as_record()
            self._admin_producer.produce(
                SLO_TOPIC, key=f"lag/{name}".encode(), value=encode("lag", at, data)
            )
            lag = sum(o.lag for o in sample.partitions.values())
            with self.lock:
                self.groups.setdefault(name, deque(maxlen=LAG_WINDOW)).append(sample)
                self.records.append(Record("lag", at, data))
                for objective in self.objectives:
                    slo = objective.slo
                    if slo.sli != "freshness" or (
                        objective.tenant and name not in objective.groups
                    ):
                        continue
                    assert slo.max_lag is not None
                    cell = self.freshness.setdefault((slo.name, objective.owner, name), [0, 0])
                    cell[0] += 1
                    cell[1] += int(lag > slo.max_lag)
        self._admin_producer.poll(0)

    def series(self, objective: Objective) -> list[tuple[str, Sample]]:
        with self.lock:
            records = list(self.records)
        return list(sli_samples(objective, records))

    # ------------------------------------------------------------------ alerts
    def _record_alert(self, event: AlertEvent) -> None:
        assert self._admin_producer is not None
        data = event.as_json()
        self.alerts_fired.append({"time": event.at, **data})
        self._admin_producer.produce(
            SLO_TOPIC,
            key=f"alert/{event.objective.key}".encode(),
            value=encode("alert", event.at, data),
        )
        self._admin_producer.poll(0)

    def _audit(self, event: AlertEvent) -> None:
        # Imported here: the audit trail is optional for the monitor, and its module pulls in
        # the shipper's dependencies.
        from streamplane.security.audit import Change, record_changes

        record_changes(
            self.settings,
            [
                Change(
                    event.status,
                    "slo",
                    event.objective.key,
                    event.objective.tenant,
                    event.summary(),
                )
            ],
            principal=None,
            source="slo",
        )

    # ------------------------------------------------------------------ status
    def budgets(
        self,
        series: Mapping[str, list[tuple[str, Sample]]] | None = None,
        at: float | None = None,
    ) -> list[dict[str, Any]]:
        at = time.time() if at is None else at
        out = []
        for objective in self.book.objectives:
            parts = series[objective.key] if series is not None else self.series(objective)
            samples = [s for _, s in parts]
            bad, total = counts(samples, now=at, span_s=objective.slo.window / 1000)
            out.append(
                {
                    "slo": objective.key,
                    "sli": objective.slo.sli,
                    "events": total,
                    "bad": bad,
                    "budget_remaining": budget_remaining(bad, total, objective.slo.objective),
                    "firing": sorted(w for (k, w) in self.book.firing if k == objective.key),
                }
            )
        return out

    def group_health(self) -> dict[str, str]:
        with self.lock:
            histories = {name: list(h) for name, h in self.groups.items()}
        return {
            name: evaluate(name, [s.partitions for s in h], window=LAG_WINDOW).status
            for name, h in histories.items()
        }

    def _write_status(self, series: Mapping[str, list[tuple[str, Sample]]] | None = None) -> None:
        if self.config.status_file is None:
            return
        status = {
            "time": time.time(),
            "run": self.canary.run_id,
            "counting_since": self.canary.counting_since,
            "pid": os.getpid(),
            "brokers": {str(b): c for b, c in self.canary.totals().items()},
            "slos": [
                {**b, "budget_remaining": _json_number(b["budget_remaining"])}
                for b in self.budgets(series)
            ],
            "groups": self.group_health(),
            "alerts": self.alerts_fired[-50:],
            "metrics_port": self.config.metrics_port,
        }
        tmp = self.config.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=1))
        tmp.replace(self.config.status_file)


def _json_number(value: float) -> float | None:
    return None if value in (float("inf"), float("-inf")) else round(value, 6)


def _from_samples(objective: Objective) -> bool:
    """Whether the monitor's own samples measure ``objective`` (else Prometheus does)."""
    return objective.slo.sli == "freshness" or objective.tenant is None


class MonitorMetrics(Collector):
    """Lag, lag health, freshness checks, budgets and firing alerts, for Prometheus."""

    def __init__(self, monitor: Monitor, registry: CollectorRegistry) -> None:
        self.monitor = monitor
        registry.register(self)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> list[Metric]:
        lag = GaugeMetricFamily(
            m.GROUP_LAG, "Records the group is behind, summed over partitions.", labels=["group"]
        )
        status = GaugeMetricFamily(
            m.GROUP_STATUS, "Burrow's verdict: 0 OK, 1 WARN, 2 ERR.", labels=["group"]
        )
        checks = CounterMetricFamily(
            m.FRESHNESS_CHECKS.removesuffix("_total"),
            "Lag samples of a freshness SLO.",
            labels=["slo", "owner", "group"],
        )
        stale = CounterMetricFamily(
            m.FRESHNESS_STALE.removesuffix("_total"),
            "Lag samples over the SLO's max_lag.",
            labels=["slo", "owner", "group"],
        )
        with self.monitor.lock:
            latest = {name: h[-1] for name, h in self.monitor.groups.items() if h}
            freshness = [(key, tuple(cell)) for key, cell in self.monitor.freshness.items()]
        for name, sample in latest.items():
            lag.add_metric([name], sum(o.lag for o in sample.partitions.values()))
        for name, verdict in self.monitor.group_health().items():
            status.add_metric([name], STATUS_VALUES[verdict])
        for (slo, owner, group), (n, bad) in freshness:
            checks.add_metric([slo, owner, group], n)
            stale.add_metric([slo, owner, group], bad)
        return [lag, status, checks, stale]
