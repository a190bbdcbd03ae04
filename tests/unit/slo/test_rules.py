"""Prometheus rules from the spec: names, windows, thresholds, and PromQL promtool accepts."""

from __future__ import annotations

import pytest

from streamplane.model import Objective, Slo
from streamplane.slo.rules import (
    error_ratio,
    prom_duration,
    rule_groups,
)


def objective(tenant: str | None = None, apps: tuple[str, ...] = (), **fields: object) -> Objective:
    return Objective(Slo.model_validate({"name": "s", "objective": 99.9, **fields}), tenant, apps)


def test_durations() -> None:
    assert prom_duration(10) == "10s"
    assert prom_duration(8640) == "2h24m"
    assert prom_duration(86400 * 3) == "3d"
    assert prom_duration(0.4166) == "417ms"
    with pytest.raises(ValueError):
        prom_duration(0)


def test_one_slo_gives_five_windows_a_budget_and_three_alerts() -> None:
    rules = rule_groups([objective(sli="availability", window="30d")])["groups"][0]["rules"]
    records = [r["record"] for r in rules if "record" in r]
    assert records[:5] == [
        f"streamplane_slo:error_ratio:rate{w}" for w in ("5m", "30m", "1h", "6h", "3d")
    ]
    assert "streamplane_slo:error_budget_remaining" in records
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    fast = alerts["StreamplaneSLOFastBurn"]
    assert (
        "rate1h{" in fast["expr"] and "rate5m{" in fast["expr"] and "(14.4 * 0.001)" in fast["expr"]
    )
    assert fast["labels"]["severity"] == "page" and fast["labels"]["owner"] == "platform"
    assert alerts["StreamplaneSLOBudgetDrain"]["labels"]["severity"] == "ticket"


def test_latency_counts_the_bucket_at_the_threshold() -> None:
    expr = error_ratio(objective(sli="e2e_latency", threshold="100ms"), "5m")
    assert 'streamplane_canary_e2e_latency_seconds_bucket{le="0.1"}' in expr
    tenant = error_ratio(
        objective("shop", ("writer", "ingest"), sli="produce_latency", threshold="1s"), "5m"
    )
    assert 'app=~"writer|ingest",le="1.0"' in tenant


def test_tenant_availability_reads_the_sdk_metrics_of_its_applications() -> None:
    expr = error_ratio(objective("shop", ("writer",), sli="availability"), "1h")
    assert 'streamplane_client_errors_total{app=~"writer",role="producer",kind="delivery"}' in expr
    assert 'streamplane_client_records_produced_total{app=~"writer"}' in expr


def test_zero_budget_still_has_a_remaining_budget_rule() -> None:
    rules = rule_groups([objective(sli="durability", objective=100)])["groups"][0]["rules"]
    remaining = next(
        r for r in rules if r.get("record") == "streamplane_slo:error_budget_remaining"
    )
    assert "clamp_max" in remaining["expr"]
