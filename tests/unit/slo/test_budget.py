"""Error budgets, burn rates and the workbook's alerts, against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from streamplane.slo.budget import (
    Sample,
    alert_policy,
    budget_remaining,
    burn_rate,
    counts,
    error_budget,
    firing,
    seconds_to_fire,
)


def test_thirty_day_policy_is_the_workbooks() -> None:
    policy = {a.name: a for a in alert_policy(30 * 86400)}
    assert (policy["fast-burn"].long_s, policy["fast-burn"].short_s) == (3600, 300)
    assert (policy["slow-burn"].long_s, policy["slow-burn"].short_s) == (6 * 3600, 1800)
    assert (policy["budget-drain"].long_s, policy["budget-drain"].short_s) == (3 * 86400, 6 * 3600)
    assert [policy[n].factor for n in ("fast-burn", "slow-burn", "budget-drain")] == [14.4, 6, 1]
    assert policy["budget-drain"].severity == "ticket"


def test_windows_scale_with_the_slo_window_and_factors_do_not() -> None:
    policy = {a.name: a for a in alert_policy(86400)}
    assert policy["fast-burn"].long_s == pytest.approx(120)
    assert policy["fast-burn"].short_s == pytest.approx(10)
    assert policy["budget-drain"].long_s == pytest.approx(8640)
    assert policy["fast-burn"].factor == 14.4


def test_budget_and_burn_by_hand() -> None:
    assert error_budget(99.9) == pytest.approx(0.001)
    # 30 bad of 10,000 at 99.9 %: the ratio 0.003 is three times the budget.
    assert burn_rate(30, 10_000, 99.9) == pytest.approx(3.0)
    # Budget for 10,000 events is 10; 4 spent leaves 60 %, 15 spent is 50 % overspent.
    assert budget_remaining(4, 10_000, 99.9) == pytest.approx(0.6)
    assert budget_remaining(15, 10_000, 99.9) == pytest.approx(-0.5)
    assert budget_remaining(0, 0, 99.9) == 1.0
    assert burn_rate(0, 0, 99.9) == 0.0


def test_a_zero_budget_burns_infinitely_on_the_first_bad_event() -> None:
    assert burn_rate(1, 1_000_000, 100) == math.inf
    assert burn_rate(0, 1_000_000, 100) == 0.0
    assert budget_remaining(1, 10, 100) == -math.inf
    assert budget_remaining(0, 10, 100) == 1.0


def test_counts_take_the_samples_of_the_span() -> None:
    samples = [Sample(t, good=9, total=10) for t in range(1, 11)]
    assert counts(samples, now=10, span_s=3) == (3.0, 30.0)  # t = 8, 9, 10
    assert counts(samples, now=10, span_s=100) == (10.0, 100.0)


def test_fast_burn_needs_both_windows() -> None:
    alert = next(a for a in alert_policy(86400) if a.name == "fast-burn")  # 120 s / 10 s
    healthy = [Sample(t, 100, 100) for t in range(0, 110)]
    # A burst of errors 60 s ago: the long window burns, the short one does not.
    burst = [Sample(t, 0, 100) for t in (49.5, 50.5, 51.5)]
    fires, long_burn, short_burn = firing(alert, healthy + burst, now=110, objective_pct=99.9)
    assert not fires and long_burn > 14.4 and short_burn == 0.0
    # The same errors now: both windows burn.
    now_burst = [Sample(t, 0, 100) for t in (108.5, 109.5, 110)]
    fires, _, short_burn = firing(alert, healthy + now_burst, now=110, objective_pct=99.9)
    assert fires and short_burn > 14.4


def test_seconds_to_fire_by_hand() -> None:
    alert = next(a for a in alert_policy(30 * 86400) if a.name == "fast-burn")
    # A full hour of good traffic, then a third of requests fail: the 1 h ratio reaches
    # 1.44 % after 0.0144 * 3600 / (1/3) = 155.5 s; the 5 min one long before.
    assert seconds_to_fire(
        alert, objective_pct=99.9, failing_share=1 / 3, healthy_s=3600
    ) == pytest.approx(155.52, abs=0.02)
    # Everything fails: 51.8 s.
    assert seconds_to_fire(
        alert, objective_pct=99.9, failing_share=1.0, healthy_s=3600
    ) == pytest.approx(51.84, abs=0.02)
    # 20 s of history only: t / (20 + t) > 0.0144 after 0.29 s.
    assert seconds_to_fire(
        alert, objective_pct=99.9, failing_share=1.0, healthy_s=20
    ) == pytest.approx(0.29, abs=0.02)
    # Failing less than the threshold never fires.
    assert (
        seconds_to_fire(alert, objective_pct=99.9, failing_share=0.01, healthy_s=3600) == math.inf
    )
