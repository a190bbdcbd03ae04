"""``slo report``: the budget left per SLO and owner, and what burned it.

SLOs the monitor measures (the platform's, every freshness SLO) are computed from the
samples in ``_streamplane_slo``; a tenant's availability and produce latency from the
SDK's metrics through a Prometheus that scrapes its applications (``--prometheus``).
For each SLO: events and bad events over its window, the budget left, the burn rate of
each alert window, the alerts firing, and the parts (brokers, groups, applications) that
spent most of the budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from streamplane.errors import StreamplaneError
from streamplane.model import Objective
from streamplane.slo import metrics as m
from streamplane.slo.budget import alert_policy, bad_by_part, budget_remaining, burn_rate, counts
from streamplane.slo.rules import ALERT_NAMES, prom_duration
from streamplane.slo.samples import Record, sli_samples


@dataclass
class SloStatus:
    objective: Objective
    source: str
    events: float = 0.0
    bad: float = 0.0
    remaining: float | None = None
    #: alert window name -> (long burn, short burn)
    burns: dict[str, tuple[float, float]] = field(default_factory=dict)
    firing: list[str] = field(default_factory=list)
    #: part -> bad events over the SLO's window, most first
    culprits: list[tuple[str, float]] = field(default_factory=list)
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        slo = self.objective.slo
        return {
            "slo": slo.name,
            "owner": self.objective.owner,
            "sli": slo.sli,
            "objective": slo.objective,
            "window_s": slo.window / 1000,
            "source": self.source,
            "events": self.events,
            "bad": self.bad,
            "budget_remaining": _finite(self.remaining),
            "burn_rates": {
                k: {"long": _finite(a), "short": _finite(b)} for k, (a, b) in self.burns.items()
            },
            "firing": self.firing,
            "burned_by": [{"part": p, "bad": b} for p, b in self.culprits],
            "note": self.note,
        }


def _finite(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value, 6)


def measured_by_samples(objective: Objective) -> bool:
    return objective.tenant is None or objective.slo.sli == "freshness"


def from_samples(objective: Objective, records: Sequence[Record], *, now: float) -> SloStatus:
    parts = list(sli_samples(objective, records))
    samples = [s for _, s in parts]
    status = SloStatus(objective, "canary" if objective.slo.sli != "freshness" else "lag monitor")
    window_s = objective.slo.window / 1000
    status.bad, status.events = counts(samples, now=now, span_s=window_s)
    status.remaining = budget_remaining(status.bad, status.events, objective.slo.objective)
    for alert in alert_policy(window_s):
        long_burn = burn_rate(
            *counts(samples, now=now, span_s=alert.long_s), objective.slo.objective
        )
        short_burn = burn_rate(
            *counts(samples, now=now, span_s=alert.short_s), objective.slo.objective
        )
        status.burns[alert.name] = (long_burn, short_burn)
    state: dict[str, str] = {}
    for record in records:
        data = record.data
        if (
            record.kind == "alert"
            and data.get("slo") == objective.slo.name
            and data.get("owner") == objective.owner
        ):
            state[str(data.get("alert"))] = str(data.get("status"))
    status.firing = sorted(name for name, s in state.items() if s == "firing")
    status.culprits = bad_by_part(parts, now=now, span_s=window_s)[:5]
    if status.events == 0 and objective.slo.sli == "freshness":
        groups = ", ".join(objective.groups) if objective.tenant else "any consumer group"
        status.note = f"no lag samples of {groups}: no offsets committed yet"
    elif status.events == 0:
        status.note = "no samples yet: is the canary running (streamplane canary status)?"
    return status


def _queries(objective: Objective, window: str) -> tuple[str, str]:
    """(bad, total) PromQL over ``window`` for a tenant SLO measured by the SDK, by app."""
    apps = "|".join(objective.applications)
    if objective.slo.sli == "availability":
        errors = f'{m.CLIENT_ERRORS}{{app=~"{apps}",role="producer",kind="delivery"}}'
        bad = f"sum by (app) (increase({errors}[{window}]))"
        good = f'sum by (app) (increase({m.CLIENT_PRODUCED}{{app=~"{apps}"}}[{window}]))'
        return bad, f"({good}) + ({bad} or {good} * 0)"
    threshold = objective.slo.threshold
    assert threshold is not None
    family = m.CLIENT_DELIVERY_LATENCY
    total = f'sum by (app) (increase({family}_count{{app=~"{apps}"}}[{window}]))'
    bucket = f'{family}_bucket{{app=~"{apps}",le="{m.le(threshold / 1000)}"}}'
    good = f"sum by (app) (increase({bucket}[{window}]))"
    return f"({total}) - ({good})", total


def _query(prometheus: str, promql: str) -> dict[str, float]:
    try:
        answer = httpx.get(
            f"{prometheus.rstrip('/')}/api/v1/query", params={"query": promql}, timeout=15
        )
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        raise StreamplaneError(
            f"Prometheus at {prometheus} did not answer the query: {exc}"
        ) from exc
    found: dict[str, float] = {}
    for row in answer.json().get("data", {}).get("result", []):
        found[row["metric"].get("app", "")] = float(row["value"][1])
    return found


def from_prometheus(objective: Objective, prometheus: str | None) -> SloStatus:
    status = SloStatus(objective, "sdk metrics")
    if prometheus is None:
        status.note = (
            "measured from the SDK's metrics: pass --prometheus URL of a Prometheus that "
            "scrapes the applications"
        )
        return status
    window_s = objective.slo.window / 1000
    bad_q, total_q = _queries(objective, prom_duration(window_s))
    bad_by, total_by = _query(prometheus, bad_q), _query(prometheus, total_q)
    status.bad, status.events = sum(bad_by.values()), sum(total_by.values())
    status.remaining = budget_remaining(status.bad, status.events, objective.slo.objective)
    for alert in alert_policy(window_s):
        rates = []
        for span in (alert.long_s, alert.short_s):
            b, t = (_query(prometheus, q) for q in _queries(objective, prom_duration(span)))
            rates.append(burn_rate(sum(b.values()), sum(t.values()), objective.slo.objective))
        status.burns[alert.name] = (rates[0], rates[1])
        if rates[0] > alert.factor and rates[1] > alert.factor:
            status.firing.append(ALERT_NAMES[alert.name])
    status.culprits = sorted(
        ((f"app {a}", b) for a, b in bad_by.items() if b > 0), key=lambda kv: -kv[1]
    )[:5]
    if status.events == 0:
        status.note = "Prometheus has no traffic of these applications in the window"
    return status


def slo_report(
    objectives: Sequence[Objective],
    records: Sequence[Record],
    *,
    now: float,
    prometheus: str | None,
) -> list[SloStatus]:
    return [
        from_samples(o, records, now=now)
        if measured_by_samples(o)
        else from_prometheus(o, prometheus)
        for o in objectives
    ]


def lookback_s(objectives: Sequence[Objective]) -> float:
    """How far back the samples of ``objectives`` reach: their longest window."""
    return max((o.slo.window / 1000 for o in objectives), default=3600.0)
