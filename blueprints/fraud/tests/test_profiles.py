"""The slow path's windows: 24 hours of hourly buckets per merchant and per card."""

from __future__ import annotations

from typing import Any

from blueprints.fraud.generator import DAY_MS, HOUR_MS
from blueprints.fraud.profiles import Windows

T0 = 1_767_225_600_000
Tx = dict[str, Any]


def tx(
    at: int, card: str, merchant: str, amount: int = 100, city: str = "Lisbon"
) -> dict[str, Any]:
    return {"occurred_at": at, "card_id": card, "merchant_id": merchant,
            "amount_minor": amount, "city": city}  # fmt: skip


def test_a_merchant_profile_counts_purchases_and_distinct_cards_of_24_hours() -> None:
    w = Windows()
    w.add(tx(T0, "c1", "m1"))
    w.add(tx(T0 + HOUR_MS, "c2", "m1", city="Athens"))
    w.add(tx(T0 + 2 * HOUR_MS, "c1", "m1"))
    p = w.profile("merchant:m1")
    assert (p["transactions"], p["distinct"], p["cities"], p["amount_minor"]) == (3, 2, 2, 300)
    assert p["kind"] == "merchant" and p["id"] == "m1" and p["window_end"] == T0 + 2 * HOUR_MS
    card = w.profile("card:c1")
    assert (card["transactions"], card["distinct"]) == (2, 1)
    assert w.changed == {"merchant:m1", "card:c1", "card:c2"}


def test_hours_older_than_a_day_leave_the_window_and_the_state() -> None:
    w = Windows()
    w.add(tx(T0, "c1", "m1"))
    w.add(tx(T0 + DAY_MS + HOUR_MS, "c2", "m2"))
    assert w.profile("merchant:m1")["transactions"] == 0
    w.expire()
    assert "merchant:m1" not in w.buckets and "merchant:m2" in w.buckets
