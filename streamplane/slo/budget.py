"""Error budgets, burn rates and the SRE workbook's multiwindow, multi-burn-rate alerts.

An SLO of objective ``o`` percent over a window ``W`` allows a share ``1 - o/100`` of bad
events: the error budget. The burn rate over any stretch of time is the error ratio seen
there divided by that share; a burn rate of 1 spends exactly the budget over ``W``.

The workbook pages when 2 % of a 30-day budget burns in an hour (burn rate 14.4, checked
over 1 h and, so the alert stops soon after the errors do, over 5 min), or 5 % in six
hours (6, over 6 h and 30 min), and opens a ticket when 10 % burns in three days (1, over
3 d and 6 h). For another window the alert windows scale with it (as Pyrra does), so a
1-day SLO pages on 2 min and 10 s; the burn rates stay the same because each alert still
fires on the same share of the budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The window the workbook's alert windows are written for.
WORKBOOK_WINDOW_S = 30 * 86400.0


@dataclass(frozen=True)
class BurnAlert:
    """One multiwindow alert: fires while both windows burn faster than ``factor``."""

    name: str
    severity: str
    long_s: float
    short_s: float
    #: The share of the whole budget burnt over ``long_s`` when the alert fires.
    budget_share: float
    factor: float


#: (name, severity, long window, short window, share of the budget) for a 30-day SLO.
WORKBOOK: tuple[tuple[str, str, float, float, float], ...] = (
    ("fast-burn", "page", 3600.0, 300.0, 0.02),
    ("slow-burn", "page", 6 * 3600.0, 1800.0, 0.05),
    ("budget-drain", "ticket", 3 * 86400.0, 6 * 3600.0, 0.10),
)


def alert_policy(window_s: float) -> list[BurnAlert]:
    """The three workbook alerts of an SLO over ``window_s``, their windows scaled."""
    scale = window_s / WORKBOOK_WINDOW_S
    alerts = []
    for name, severity, long_s, short_s, share in WORKBOOK:
        scaled_long = long_s * scale
        alerts.append(
            BurnAlert(
                name=name,
                severity=severity,
                long_s=scaled_long,
                short_s=short_s * scale,
                budget_share=share,
                factor=round(share * window_s / scaled_long, 6),
            )
        )
    return alerts


def error_budget(objective_pct: float) -> float:
    """The share of events that may be bad: 0.001 for 99.9 %."""
    return max(0.0, 1.0 - objective_pct / 100.0)


def burn_rate(bad: float, total: float, objective_pct: float) -> float:
    """How fast the budget burns: 1.0 spends it exactly over the SLO's window.

    No events burn nothing; with no budget at all (objective 100 %) any bad event burns
    infinitely fast.
    """
    if total <= 0 or bad <= 0:
        return 0.0
    budget = error_budget(objective_pct)
    if budget == 0:
        return math.inf
    return (bad / total) / budget


def budget_remaining(bad: float, total: float, objective_pct: float) -> float:
    """The share of the window's budget left: 1.0 untouched, 0 spent, negative overspent.

    ``bad`` and ``total`` are the whole window's counts: the budget is a share of the
    events that happened, so it grows with the traffic.
    """
    if total <= 0:
        return 1.0
    budget = error_budget(objective_pct) * total
    if budget == 0:
        return 1.0 if bad <= 0 else -math.inf
    return 1.0 - bad / budget


@dataclass(frozen=True)
class Sample:
    """Good and total events in the interval ending at ``time`` (seconds since the epoch)."""

    time: float
    good: float
    total: float

    @property
    def bad(self) -> float:
        return self.total - self.good


def counts(samples: Iterable[Sample], *, now: float, span_s: float) -> tuple[float, float]:
    """(bad, total) of the samples in the ``span_s`` seconds up to ``now``."""
    bad = total = 0.0
    since = now - span_s
    for sample in samples:
        if since < sample.time <= now:
            bad += sample.bad
            total += sample.total
    return bad, total


def bad_by_part(
    parts: Iterable[tuple[str, Sample]], *, now: float, span_s: float
) -> list[tuple[str, float]]:
    """Bad events per part (``broker 2``, ``group g``) in the ``span_s`` seconds up to
    ``now``, most first: what burned the budget."""
    bad: dict[str, float] = {}
    for part, sample in parts:
        if now - span_s < sample.time <= now and sample.bad > 0:
            bad[part] = bad.get(part, 0.0) + sample.bad
    return sorted(bad.items(), key=lambda kv: -kv[1])


def firing(
    alert: BurnAlert, samples: Sequence[Sample], *, now: float, objective_pct: float
) -> tuple[bool, float, float]:
    """Whether ``alert`` fires at ``now``, with the burn rates of its long and short windows."""
    long_rate = burn_rate(*counts(samples, now=now, span_s=alert.long_s), objective_pct)
    short_rate = burn_rate(*counts(samples, now=now, span_s=alert.short_s), objective_pct)
    return (long_rate > alert.factor and short_rate > alert.factor), long_rate, short_rate


def seconds_to_fire(
    alert: BurnAlert,
    *,
    objective_pct: float,
    failing_share: float,
    healthy_s: float,
    step_s: float = 0.01,
) -> float:
    """How long after errors start ``alert`` fires, for steady traffic of which a share
    ``failing_share`` fails from then on, after ``healthy_s`` seconds of good traffic
    (which fill the windows' denominators). The rate of traffic cancels out.

    Returns ``math.inf`` when it never fires (the failing share is under the threshold).
    """
    threshold = alert.factor * error_budget(objective_pct)
    if failing_share <= threshold:
        return math.inf

    def ratio(window_s: float, t: float) -> float:
        errors = failing_share * min(t, window_s)
        total = min(healthy_s + t, window_s)
        return errors / total if total > 0 else 0.0

    t = 0.0
    limit = alert.long_s * 2
    while t <= limit:
        if ratio(alert.long_s, t) > threshold and ratio(alert.short_s, t) > threshold:
            return t
        t += step_s
    return math.inf
