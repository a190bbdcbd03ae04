"""Burn-rate alerts evaluated in the monitor, and where they go when they change state.

Each SLO measured from ``_streamplane_slo`` samples (the platform's, and every freshness
SLO) is checked against its three workbook alerts after every sample. A change of state
(firing, resolved) goes to the log, to the spec's webhook (in the JSON shape of
Alertmanager's webhook, so receivers written for Alertmanager take it), to the audit
trail, and back into ``_streamplane_slo``. Tenant availability and latency SLOs are
measured by Prometheus from the SDK's metrics; ``slo rules`` gives Prometheus the same
alerts for them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from streamplane.model import Objective
from streamplane.slo.budget import BurnAlert, Sample, alert_policy, bad_by_part, firing
from streamplane.slo.rules import ALERT_NAMES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertEvent:
    """One change of an alert's state."""

    objective: Objective
    alert: BurnAlert
    status: str  # "firing" or "resolved"
    at: float
    long_burn: float
    short_burn: float
    #: What burned most in the long window: "broker 2", "group g".
    culprit: str | None

    @property
    def name(self) -> str:
        return ALERT_NAMES[self.alert.name]

    def summary(self) -> str:
        slo = self.objective.slo
        verb = "fires" if self.status == "firing" else "resolved"
        where = f"; most errors from {self.culprit}" if self.culprit else ""
        return (
            f"{self.name} {verb} for {self.objective.key} ({slo.sli} {slo.objective:g}%): burn "
            f"rate {self.long_burn:.1f} over {self.alert.long_s:g}s and {self.short_burn:.1f} over "
            f"{self.alert.short_s:g}s (threshold {self.alert.factor:g}){where}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "slo": self.objective.slo.name,
            "owner": self.objective.owner,
            "alert": self.name,
            "window": self.alert.name,
            "severity": self.alert.severity,
            "status": self.status,
            "long_burn": _finite(self.long_burn),
            "short_burn": _finite(self.short_burn),
            "culprit": self.culprit,
            "summary": self.summary(),
        }

    def alertmanager(self) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.at, UTC).isoformat()
        labels = {
            "alertname": self.name,
            "slo": self.objective.slo.name,
            "owner": self.objective.owner,
            "sli": self.objective.slo.sli,
            "severity": self.alert.severity,
            "window": self.alert.name,
        }
        entry = {
            "status": self.status,
            "labels": labels,
            "annotations": {"summary": self.summary()},
            "startsAt" if self.status == "firing" else "endsAt": stamp,
        }
        return {"version": "4", "status": self.status, "receiver": "streamplane", "alerts": [entry]}


def _finite(value: float) -> float | None:
    return None if value != value or value in (float("inf"), float("-inf")) else round(value, 3)


@dataclass
class AlertBook:
    """The state of every alert of the evaluated objectives."""

    objectives: list[Objective]
    firing: dict[tuple[str, str], float] = field(default_factory=dict)

    def evaluate(
        self,
        now: float,
        series: Callable[[Objective], Sequence[tuple[str, Sample]]],
    ) -> list[AlertEvent]:
        """The alerts that changed state at ``now``; ``series`` gives each objective's
        samples with what each measured."""
        events = []
        for objective in self.objectives:
            parts = series(objective)
            samples = [s for _, s in parts]
            for alert in alert_policy(objective.slo.window / 1000):
                fires, long_burn, short_burn = firing(
                    alert, samples, now=now, objective_pct=objective.slo.objective
                )
                key = (objective.key, alert.name)
                was = key in self.firing
                if fires == was:
                    continue
                if fires:
                    self.firing[key] = now
                else:
                    self.firing.pop(key)
                culprit = _culprit(parts, now=now, span_s=alert.long_s)
                status = "firing" if fires else "resolved"
                events.append(
                    AlertEvent(objective, alert, status, now, long_burn, short_burn, culprit)
                )
        return events


def _culprit(parts: Iterable[tuple[str, Sample]], *, now: float, span_s: float) -> str | None:
    ranked = bad_by_part(parts, now=now, span_s=span_s)
    return ranked[0][0] if ranked else None


class Notifier:
    """Log, record, audit and webhook for each alert event, in a thread of its own.

    Evaluation must not wait on a notification: while a broker is dead, producing the
    audit event can take as long as its timeouts, and a slow webhook as long as its own.
    The log line is written at once; the rest is queued. Failures to notify are logged.
    """

    def __init__(
        self,
        *,
        webhook: str | None = None,
        audit: Callable[[AlertEvent], None] | None = None,
        record: Callable[[AlertEvent], None] | None = None,
    ) -> None:
        self.webhook = webhook
        self.audit = audit
        self.record = record
        self._http = httpx.Client(timeout=5.0)
        self._queue: queue.Queue[AlertEvent | None] = queue.Queue()
        self._worker = threading.Thread(target=self._deliver, name="alert-notifier", daemon=True)
        self._worker.start()

    def send(self, events: Iterable[AlertEvent]) -> None:
        for event in events:
            level = logging.WARNING if event.status == "firing" else logging.INFO
            log.log(level, "ALERT %s", event.summary())
            self._queue.put(event)

    def _deliver(self) -> None:
        # The webhook first: it pages someone, and producing to Kafka may wait on a broker
        # that is down (which is often why the alert fires).
        while (event := self._queue.get()) is not None:
            if self.webhook:
                try:
                    self._http.post(self.webhook, json=event.alertmanager()).raise_for_status()
                except httpx.HTTPError as exc:
                    log.warning("webhook %s refused alert %s: %s", self.webhook, event.name, exc)
            for sink in (self.record, self.audit):
                if sink is None:
                    continue
                try:
                    sink(event)
                except Exception as exc:  # noqa: BLE001 - a failed notification never stops the rest
                    log.warning("could not record alert %s: %s", event.name, exc)

    def close(self, timeout_s: float = 30.0) -> None:
        """Deliver what is queued (for at most ``timeout_s``), then stop."""
        self._queue.put(None)
        self._worker.join(timeout_s)
        self._http.close()
