"""Prometheus recording and alerting rules generated from the spec's SLOs.

The shape follows Sloth and Pyrra: one recording rule per SLO and alert window holding
the error ratio over that window, the budget left over the SLO's whole window, and the
three multiwindow burn-rate alerts of :mod:`streamplane.slo.budget`, each labelled with
the SLO, its owner (``platform`` or the tenant) and the SLI, so Alertmanager can route a
tenant's pages to its team.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from streamplane.model import Objective
from streamplane.slo import metrics as m
from streamplane.slo.budget import alert_policy, error_budget

RATIO = "streamplane_slo:error_ratio"
REMAINING = "streamplane_slo:error_budget_remaining"
ALERT_NAMES = {
    "fast-burn": "StreamplaneSLOFastBurn",
    "slow-burn": "StreamplaneSLOSlowBurn",
    "budget-drain": "StreamplaneSLOBudgetDrain",
}


def prom_duration(seconds: float) -> str:
    """A Prometheus duration: 2h24m, 10s, 416ms."""
    ms = round(seconds * 1000)
    if ms <= 0:
        raise ValueError(f"a window of {seconds}s is too short for Prometheus")
    parts = []
    for unit, size in (("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)


def _apps(objective: Objective) -> str:
    # Application names are [a-z0-9-] (the spec's Name): nothing in them needs escaping
    # in a PromQL regex.
    return "|".join(objective.applications)


def error_ratio(objective: Objective, window: str) -> str:
    """PromQL for the share of bad events of ``objective`` over ``window``."""
    slo = objective.slo
    if slo.sli == "freshness":
        sel = f'{{slo="{slo.name}",owner="{objective.owner}"}}'
        return _ratio(f"{m.FRESHNESS_STALE}{sel}", f"{m.FRESHNESS_CHECKS}{sel}", window)
    if objective.tenant is None:
        if slo.sli == "availability":
            return _ratio(m.CANARY_ERRORS, m.CANARY_REQUESTS, window)
        if slo.sli == "durability":
            return _ratio(m.CANARY_LOST, m.CANARY_CHECKED, window)
        family = m.CANARY_PRODUCE_LATENCY if slo.sli == "produce_latency" else m.CANARY_E2E_LATENCY
        return _latency(family, "", slo.threshold, window)
    apps = f'app=~"{_apps(objective)}"'
    if slo.sli == "availability":
        errors = f'{m.CLIENT_ERRORS}{{{apps},role="producer",kind="delivery"}}'
        good = f"{m.CLIENT_PRODUCED}{{{apps}}}"
        bad = f"(sum(rate({errors}[{window}])) or vector(0))"
        return f"{bad} / ({bad} + sum(rate({good}[{window}])))"
    return _latency(m.CLIENT_DELIVERY_LATENCY, apps + ",", slo.threshold, window)


def _ratio(bad: str, total: str, window: str) -> str:
    return f"(sum(rate({bad}[{window}])) or vector(0)) / sum(rate({total}[{window}]))"


def _latency(family: str, selector: str, threshold_ms: int | None, window: str) -> str:
    assert threshold_ms is not None, "lint requires a latency threshold"
    bucket = f'{family}_bucket{{{selector}le="{m.le(threshold_ms / 1000)}"}}'
    count = f"{family}_count{{{selector.rstrip(',')}}}" if selector else f"{family}_count"
    return f"1 - (sum(rate({bucket}[{window}])) / sum(rate({count}[{window}])))"


def _labels(objective: Objective) -> dict[str, str]:
    return {"slo": objective.slo.name, "owner": objective.owner, "sli": objective.slo.sli}


def rule_groups(objectives: list[Objective]) -> dict[str, Any]:
    """The rules file (as data) for ``objectives``."""
    groups = []
    for objective in objectives:
        slo = objective.slo
        labels = _labels(objective)
        selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
        policy = alert_policy(slo.window / 1000)
        windows = sorted({a.long_s for a in policy} | {a.short_s for a in policy})
        rules: list[dict[str, Any]] = [
            {
                "record": f"{RATIO}:rate{prom_duration(w)}",
                "expr": error_ratio(objective, prom_duration(w)),
                "labels": dict(labels),
            }
            for w in windows
        ]
        budget = error_budget(slo.objective)
        shortest = f"{RATIO}:rate{prom_duration(windows[0])}{{{selector}}}"
        span = prom_duration(slo.window / 1000)
        rules.append(
            {
                "record": REMAINING,
                "expr": f"1 - (avg_over_time({shortest}[{span}]) / {budget:.10g})"
                if budget > 0
                else f"1 - clamp_max(max_over_time({shortest}[{span}]) * 1e9, 1)",
                "labels": dict(labels),
            }
        )
        for alert in policy:
            threshold = f"({alert.factor:g} * {budget:.10g})"
            long_w, short_w = prom_duration(alert.long_s), prom_duration(alert.short_s)
            rules.append(
                {
                    "alert": ALERT_NAMES[alert.name],
                    "expr": f"{RATIO}:rate{long_w}{{{selector}}} > {threshold} "
                    f"and {RATIO}:rate{short_w}{{{selector}}} > {threshold}",
                    "labels": {**labels, "severity": alert.severity, "window": alert.name},
                    "annotations": {
                        "summary": f"{objective.owner} SLO {slo.name} ({slo.sli}, "
                        f"{slo.objective:g}% over {span}) burns its error budget "
                        f"{alert.factor:g}x too fast",
                        "description": f"Over {long_w} and {short_w} the error ratio is above "
                        f"{alert.factor:g} times the budget: {alert.budget_share:.0%} of the "
                        f"{span} budget goes in {long_w}.",
                    },
                }
            )
        groups.append({"name": f"streamplane-slo-{objective.owner}-{slo.name}", "rules": rules})
    return {"groups": groups}


def write_rules(objectives: list[Objective], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(rule_groups(objectives), sort_keys=False, width=120)
    out.write_text("# Generated by `streamplane slo rules` from the spec; edit the spec.\n" + text)
    return out


def promtool_check(path: Path) -> tuple[bool, str]:
    """``promtool check rules PATH``: (passed, its output); (False, why) without promtool."""
    tool = shutil.which("promtool")
    if tool is None:
        return False, "promtool is not installed (Debian: apt-get install prometheus)"
    done = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()
