"""Alert state changes and the report, from hand-made samples: an alert fires once, says
what burned the budget, resolves when the short window is clean; the report's budget is
the hand-computed one."""

from __future__ import annotations

import math

import pytest

from streamplane.model import Objective, Slo
from streamplane.slo.alerts import AlertBook, AlertEvent
from streamplane.slo.budget import Sample, alert_policy
from streamplane.slo.report import from_samples
from streamplane.slo.samples import Record, decode, encode, sli_samples


def availability(window: str = "1d", objective: float = 99.9) -> Objective:
    return Objective(
        Slo.model_validate(
            {"name": "a", "sli": "availability", "objective": objective, "window": window}
        ),
        None,
    )


def canary(at: float, broker: int, requests: int, errors: int) -> Record:
    return Record("canary", at, {"broker": broker, "requests": requests, "errors": errors})


def test_alerts_fire_in_the_order_the_maths_says_and_resolve() -> None:
    # 1-day SLO at 99.9 %: fast 120 s / 10 s at 14.4, slow 720 s / 60 s at 6, ticket
    # 8640 s / 720 s at 1. 101 s of clean traffic (30 requests a second), then broker 2
    # fails every request: after k seconds the ratio is 10k / 30(101 + k) in the long
    # windows, which crosses 0.1 % at k = 1, 0.6 % at k = 2 and 1.44 % at k = 5.
    objective = availability()
    records = [canary(t, b, 10, 0) for t in range(101) for b in (1, 2, 3)]
    book = AlertBook([objective])

    def series(o: Objective) -> list[tuple[str, Sample]]:
        return list(sli_samples(o, records))

    assert book.evaluate(100, series) == []
    fired: dict[str, int] = {}
    for t in range(101, 106):
        records.extend(canary(t, b, 10, 10 if b == 2 else 0) for b in (1, 2, 3))
        for event in book.evaluate(t, series):
            assert event.status == "firing" and event.culprit == "broker 2"
            fired[event.alert.name] = t - 100
    assert fired == {"budget-drain": 1, "slow-burn": 2, "fast-burn": 5}
    assert book.evaluate(105, series) == [], "already firing: no second page"
    resolved: dict[str, int] = {}
    for t in range(106, 170):
        records.extend(canary(t, b, 10, 0) for b in (1, 2, 3))
        for event in book.evaluate(t, series):
            assert event.status == "resolved"
            resolved[event.alert.name] = t
    # Each resolves when its short window burns slower than its factor: the fast one once
    # (t - 10, t] holds no failure (the last was at t = 105); the slow one when the 10
    # failures of t = 105 are all its 60 s window holds (10 / 1,800 = 0.56 % < 0.6 %).
    assert resolved == {"fast-burn": 115, "slow-burn": 164}


def test_webhook_payload_has_alertmanagers_shape() -> None:
    objective = availability()
    alert = alert_policy(86400)[0]
    event = AlertEvent(objective, alert, "firing", 1_800_000_000.0, 20.0, math.inf, "broker 1")
    body = event.alertmanager()
    assert body["status"] == "firing" and body["version"] == "4"
    entry = body["alerts"][0]
    assert entry["labels"]["alertname"] == "StreamplaneSLOFastBurn"
    assert entry["labels"]["severity"] == "page" and entry["startsAt"].startswith("2027-01-15")
    assert event.as_json()["short_burn"] is None  # infinity is not JSON


def test_report_budget_by_hand() -> None:
    objective = availability(window="1h", objective=99.0)
    # 2,000 requests in the hour, 5 failed on broker 3: the budget is 20, 25 % spent.
    records = [canary(t, 1, 10, 0) for t in range(0, 1000, 10)]
    records += [canary(t, 3, 10, 1 if t < 50 else 0) for t in range(0, 1000, 10)]
    records.append(
        Record("alert", 500, {"slo": "a", "owner": "platform", "alert": "X", "status": "firing"})
    )
    status = from_samples(objective, records, now=1000)
    assert (status.events, status.bad) == (2000, 5)
    assert status.remaining == pytest.approx(0.75)
    assert status.culprits == [("broker 3", 5.0)]
    assert status.firing == ["X"]


def test_samples_round_trip_and_bad_records_are_skipped() -> None:
    value = encode("canary", 12.5, {"broker": 1, "requests": 3})
    assert decode(value) == Record("canary", 12.5, {"broker": 1, "requests": 3})
    assert decode(b"not json") is None and decode(b'{"kind": "x"}') is None


def test_latency_and_freshness_samples() -> None:
    latency = Objective(
        Slo.model_validate(
            {"name": "l", "sli": "e2e_latency", "objective": 99, "threshold": "50ms"}
        ),
        None,
    )
    record = Record(
        "canary", 1.0, {"broker": 1, "e2e": {"bounds": [0.01, 0.05, 0.1], "counts": [5, 3, 1, 1]}}
    )
    [(part, sample)] = list(sli_samples(latency, [record]))
    assert part == "broker 1" and (sample.good, sample.total) == (8, 10)
    fresh = Objective(
        Slo.model_validate({"name": "f", "sli": "freshness", "objective": 99, "max_lag": 10}),
        "shop",
        ("reader",),
        ("shop.reader",),
    )
    lag = [
        Record("lag", 1.0, {"group": "shop.reader", "partitions": [{"lag": 4}, {"lag": 7}]}),
        Record("lag", 1.0, {"group": "other", "partitions": [{"lag": 99}]}),
    ]
    assert [(p, s.good) for p, s in sli_samples(fresh, lag)] == [("group shop.reader", 0.0)]
