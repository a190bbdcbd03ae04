"""The fast path's features: what one card's recent history says about its next purchase.

Everything here is a pure function of a card's state and the transaction, so the scorer,
the retrain job and the tests compute exactly the same numbers (no training/serving skew):
the features the scorer publishes with each decision are the rows the next model is
trained on.

A card's state is what its windows need and no more: the purchases of the last 24 hours
(time, amount, merchant, city), where and when it was last used, and the merchants it
used before (bounded). Its changelog record is a card-state-v1 Avro record, so the state
is as governed, and as readable by other tools, as any other topic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from blueprints.fraud.generator import CATEGORIES, DAY_MS, HOUR_MS, MINUTE_MS, distance_km

#: The model's inputs, in the order of its feature vector (and of the features schema).
FEATURES: tuple[str, ...] = (
    "amount",
    "log_amount",
    "high_risk_category",
    "local_hour",
    "night",
    "count_1m",
    "sum_1m",
    "count_1h",
    "sum_1h",
    "count_24h",
    "sum_24h",
    "amount_to_avg_24h",
    "small_count_10m",
    "new_merchant",
    "km_from_last",
    "minutes_from_last",
    "speed_kmh",
    "cities_24h",
    "merchant_tx_24h",
    "merchant_cards_24h",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
#: A charge this small (in cents) is the "test the card" kind.
SMALL_MINOR = 200
#: Merchants remembered per card: enough for months of an ordinary card's habits.
MAX_MERCHANTS = 200
#: Purchases kept per card within 24 hours (a burst beyond this adds nothing).
MAX_RECENT = 256


@dataclass
class CardState:
    """One card's history, as its windows need it."""

    #: (occurred_at ms, amount minor, merchant id, city) within the last 24 h, oldest first.
    recent: list[tuple[int, int, str, str]] = field(default_factory=list)
    #: (occurred_at ms, latitude, longitude) of the latest purchase, if any.
    last: tuple[int, float, float] | None = None
    #: Merchants this card used, oldest first.
    merchants: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The card-state-v1 record (the card's changelog value)."""
        at, lat, lon = self.last if self.last is not None else (None, 0.0, 0.0)
        return {
            "recent": [
                {"at": t, "amount_minor": a, "merchant_id": m, "city": c}
                for t, a, m, c in self.recent
            ],
            "last_at": at,
            "last_latitude": lat,
            "last_longitude": lon,
            "merchants": list(self.merchants),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> CardState:
        if not record:
            return cls()
        at = record.get("last_at")
        return cls(
            recent=[
                (int(p["at"]), int(p["amount_minor"]), str(p["merchant_id"]), str(p["city"]))
                for p in record["recent"]
            ],
            last=(
                None
                if at is None
                else (int(at), float(record["last_latitude"]), float(record["last_longitude"]))
            ),
            merchants=list(record["merchants"]),
        )


@dataclass(frozen=True)
class MerchantProfile:
    """What the slow path knows of a merchant over the last 24 hours."""

    transactions: int = 0
    cards: int = 0


def millis(value: int | datetime) -> int:
    """Epoch milliseconds of a timestamp-millis field (decoded as a datetime by Avro)."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MS
    return int(value)


def features(
    state: CardState, tx: Mapping[str, Any], merchant: MerchantProfile | None = None
) -> list[float]:
    """The feature vector of ``tx`` (a card-transaction-v1 record) given the card's state
    *before* it, in :data:`FEATURES` order."""
    now = millis(tx["occurred_at"])
    amount = int(tx["amount_minor"])
    counts = {60_000: [0, 0], HOUR_MS: [0, 0], DAY_MS: [0, 0]}
    small_10m = 0
    cities = {str(tx["city"])}
    for when, paid, _merchant, city in state.recent:
        age = now - when
        if age < 0 or age >= DAY_MS:
            continue
        cities.add(city)
        for window, bucket in counts.items():
            if age < window:
                bucket[0] += 1
                bucket[1] += paid
        if age < 10 * MINUTE_MS and paid < SMALL_MINOR:
            small_10m += 1
    count_24h, sum_24h = counts[DAY_MS]
    average = sum_24h / count_24h if count_24h else 0.0
    local_hour = ((now + int(tx["utc_offset_minutes"]) * MINUTE_MS) % DAY_MS) // HOUR_MS
    km = minutes = speed = 0.0
    if state.last is not None:
        km = distance_km((state.last[1], state.last[2]), (tx["latitude"], tx["longitude"]))
        minutes = max(0.0, (now - state.last[0]) / MINUTE_MS)
        # A purchase in the same minute as the last one has no meaningful speed unless the
        # card moved: count it as one minute, so a jump across a continent stands out.
        speed = km / (max(minutes, 1.0) / 60.0)
    profile = merchant or MerchantProfile()
    category = CATEGORIES.get(str(tx["merchant_category"]))
    return [
        amount / 100.0,
        math.log1p(amount / 100.0),
        1.0 if category is not None and category[2] else 0.0,
        float(local_hour),
        1.0 if local_hour < 5 else 0.0,
        float(counts[60_000][0]),
        counts[60_000][1] / 100.0,
        float(counts[HOUR_MS][0]),
        counts[HOUR_MS][1] / 100.0,
        float(count_24h),
        sum_24h / 100.0,
        amount / average if average else 0.0,
        float(small_10m),
        0.0 if tx["merchant_id"] in state.merchants else 1.0,
        km,
        minutes,
        speed,
        float(len(cities)),
        float(profile.transactions),
        float(profile.cards),
    ]


def advance(state: CardState, tx: Mapping[str, Any]) -> CardState:
    """The card's state after ``tx``: older than 24 h dropped, bounded, the merchant learnt."""
    now = millis(tx["occurred_at"])
    recent = [r for r in state.recent if now - r[0] < DAY_MS]
    recent.append((now, int(tx["amount_minor"]), str(tx["merchant_id"]), str(tx["city"])))
    merchants = [m for m in state.merchants if m != tx["merchant_id"]]
    merchants.append(str(tx["merchant_id"]))
    return CardState(
        recent=recent[-MAX_RECENT:],
        last=(now, float(tx["latitude"]), float(tx["longitude"])),
        merchants=merchants[-MAX_MERCHANTS:],
    )


def named(vector: list[float]) -> dict[str, float]:
    """The vector as the features record's fields."""
    return dict(zip(FEATURES, vector, strict=True))


def vector(record: Mapping[str, Any]) -> list[float]:
    """A features record's vector, in :data:`FEATURES` order (the inverse of :func:`named`)."""
    return [float(record[name]) for name in FEATURES]
