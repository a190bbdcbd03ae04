"""Features from a card's state: the windows count what they claim, the state stays
bounded, and the state survives its changelog record (card-state-v1) unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro

from blueprints.fraud.features import (
    FEATURES,
    MAX_MERCHANTS,
    CardState,
    MerchantProfile,
    advance,
    features,
    named,
)
from blueprints.fraud.generator import DAY_MS, HOUR_MS, MINUTE_MS, Generator

SCHEMAS = Path(__file__).parents[1] / "spec" / "schemas"
T0 = 1_767_225_600_000


Tx = dict[str, Any]


def tx(at: int, amount: int = 1_000, merchant: str = "m-1", lat: float = 52.37,
       lon: float = 4.90, city: str = "Amsterdam", category: str = "grocery") -> Tx:  # fmt: skip
    return {
        "transaction_id": f"tx-{at}", "card_id": "c", "merchant_id": merchant,
        "merchant_category": category, "amount_minor": amount, "city": city,
        "latitude": lat, "longitude": lon, "utc_offset_minutes": 60, "occurred_at": at,
    }  # fmt: skip


def replay(*records: dict[str, Any]) -> CardState:
    state = CardState()
    for record in records:
        state = advance(state, record)
    return state


def test_windows_count_and_sum_what_is_inside_them() -> None:
    state = replay(
        tx(T0 - 25 * HOUR_MS, 9_999),  # outside every window (and dropped from the state)
        tx(T0 - 23 * HOUR_MS, 500),  # in 24 h only
        tx(T0 - 30 * MINUTE_MS, 700),  # in 1 h and 24 h
        tx(T0 - 30_000, 150),  # in 1 m, 1 h, 24 h; small
    )
    assert len(state.recent) == 3
    f = named(features(state, tx(T0, 80_000)))
    assert (f["count_1m"], f["sum_1m"]) == (1, 1.5)
    assert (f["count_1h"], f["sum_1h"]) == (2, 8.5)
    assert (f["count_24h"], f["sum_24h"]) == (3, 13.5)
    assert f["small_count_10m"] == 1
    assert f["amount_to_avg_24h"] == 800 / 4.5
    assert f["amount"] == 800 and f["new_merchant"] == 0


def test_distance_and_speed_since_the_last_purchase() -> None:
    state = replay(tx(T0 - 10 * MINUTE_MS))  # Amsterdam
    f = named(features(state, tx(T0, lat=40.71, lon=-74.01, city="New York")))
    assert 5_800 < f["km_from_last"] < 5_900
    assert f["minutes_from_last"] == 10
    assert f["speed_kmh"] == f["km_from_last"] * 6
    assert f["cities_24h"] == 2
    first = named(features(CardState(), tx(T0)))
    assert first["km_from_last"] == first["speed_kmh"] == 0 and first["new_merchant"] == 1


def test_local_hour_night_and_risk_come_from_the_merchant() -> None:
    at_0130_local = T0 + 30 * MINUTE_MS  # 00:30 UTC is 01:30 at UTC+1
    f = named(features(CardState(), tx(at_0130_local, category="jewellery")))
    assert f["local_hour"] == 1 and f["night"] == 1 and f["high_risk_category"] == 1
    g = named(features(CardState(), tx(T0 + 10 * HOUR_MS), MerchantProfile(40, 25)))
    assert g["night"] == 0 and g["merchant_tx_24h"] == 40 and g["merchant_cards_24h"] == 25


def test_state_forgets_after_a_day_and_stays_bounded() -> None:
    records = [tx(T0 + i * MINUTE_MS, merchant=f"m-{i}") for i in range(MAX_MERCHANTS + 50)]
    state = replay(*records)
    assert len(state.merchants) == MAX_MERCHANTS
    assert state.merchants[-1] == f"m-{MAX_MERCHANTS + 49}"
    later = advance(state, tx(T0 + 2 * DAY_MS))
    assert len(later.recent) == 1


def test_the_state_round_trips_through_its_changelog_schema() -> None:
    schema = fastavro.parse_schema(json.loads((SCHEMAS / "card-state-v1.avsc").read_text()))
    state = CardState()
    for t in Generator(3, customers=50, days=1).transactions()[:300]:
        state = advance(state, t.as_record())
    record = state.record()
    assert fastavro.validation.validate(record, schema, raise_errors=True)
    assert CardState.from_record(record) == state
    assert CardState.from_record(None) == CardState()


def test_the_features_schema_has_every_feature_in_order() -> None:
    document = json.loads((SCHEMAS / "fraud-features-v1.avsc").read_text())
    names = [f["name"] for f in document["fields"]]
    assert names[3 : 3 + len(FEATURES)] == list(FEATURES)
