"""Synthetic card transactions with labelled fraud, reproducible from a seed.

Fraud models need labels, and real labels arrive weeks late (chargebacks) and are never
shared; a blueprint needs a stream whose truth is known. Customers live in one of a set
of cities and shop mostly at nearby merchants, in the daytime, with amounts drawn per
merchant category; honest travel is a trip of at least a day, at plane speed or slower,
so no honest card ever moves impossibly fast. Into that stream four patterns are
injected, each labelled with its name, after the shapes the Flink and ksqlDB fraud demos
and the card networks describe:

- ``velocity``: a burst of 5-12 purchases on one card within two minutes, at different
  merchants (a card tested or drained by a script);
- ``impossible_travel``: a purchase in a city over 1,500 km away within 30 minutes of
  one at home (a cloned card used elsewhere);
- ``small_then_large``: one to three charges under 2.00, then within ten minutes one
  over 500.00 (a stolen card checked, then used);
- ``night_new_merchant``: between 00:00 and 05:00 local time, a large purchase at a
  high-risk merchant the card never used before.

The same seed and sizes give the same transactions, byte for byte, so a test, a
benchmark and a retrain can share a held-back stream without storing it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

#: (name, latitude, longitude, UTC offset in minutes)
CITIES: tuple[tuple[str, float, float, int], ...] = (
    ("Amsterdam", 52.37, 4.90, 60),
    ("Berlin", 52.52, 13.40, 60),
    ("Madrid", 40.42, -3.70, 60),
    ("London", 51.51, -0.13, 0),
    ("Warsaw", 52.23, 21.01, 60),
    ("Lisbon", 38.72, -9.14, 0),
    ("Athens", 37.98, 23.73, 120),
    ("Helsinki", 60.17, 24.94, 120),
    ("New York", 40.71, -74.01, -300),
    ("Singapore", 1.35, 103.82, 480),
)
#: category -> (median amount in cents, spread of its logarithm, high risk)
CATEGORIES: dict[str, tuple[int, float, bool]] = {
    "grocery": (3_500, 0.6, False),
    "restaurant": (4_500, 0.5, False),
    "fuel": (6_000, 0.3, False),
    "pharmacy": (2_000, 0.6, False),
    "clothing": (7_000, 0.7, False),
    "electronics": (25_000, 0.8, True),
    "jewellery": (60_000, 0.8, True),
    "gift_cards": (10_000, 0.5, True),
    "crypto_exchange": (50_000, 1.0, True),
}
PATTERNS = ("velocity", "impossible_travel", "small_then_large", "night_new_merchant")
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
#: The speed no honest card exceeds: a plane's, with room for clocks and airports.
MAX_HONEST_KMH = 900.0


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    category: str
    city: int


@dataclass(frozen=True)
class Card:
    card_id: str
    customer_id: str
    home: int
    #: Mean purchases per day.
    rate: float


@dataclass(frozen=True)
class Transaction:
    """A row of the card-transaction-v1 schema (``as_record`` gives its Avro form)."""

    transaction_id: str
    card_id: str
    customer_id: str
    merchant_id: str
    merchant_category: str
    amount_minor: int
    currency: str
    city: str
    latitude: float
    longitude: float
    utc_offset_minutes: int
    occurred_at: int
    is_fraud: bool | None
    pattern: str | None

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(h))


class Generator:
    """Transactions of ``customers`` customers over ``days`` days from ``start_ms``; a
    share ``fraud_rate`` of cards suffers one of the patterns (cycled, so each occurs)."""

    def __init__(
        self,
        seed: int,
        *,
        customers: int = 1_000,
        days: float = 1.0,
        fraud_rate: float = 0.02,
        merchants_per_city: int = 40,
        start_ms: int = 1_767_225_600_000,  # 2026-01-01T00:00:00Z
        prefix: str = "",
    ) -> None:
        """``prefix`` starts every card, customer and transaction id: streams of other
        seeds with other prefixes share no id (a held-back stream of unseen customers)."""
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.days = days
        self.start_ms = start_ms
        self.end_ms = start_ms + int(days * DAY_MS)
        self.fraud_rate = fraud_rate
        self.merchants = [
            Merchant(f"m-{c:02d}-{n:03d}", self.rng.choice(list(CATEGORIES)), c)
            for c in range(len(CITIES))
            for n in range(merchants_per_city)
        ]
        self.by_city = [[m for m in self.merchants if m.city == c] for c in range(len(CITIES))]
        self.cards: list[Card] = []
        for n in range(customers):
            home = self.rng.randrange(len(CITIES))
            for k in range(1 + (self.rng.random() < 0.3)):
                rate = self.rng.uniform(1.0, 6.0)
                self.cards.append(
                    Card(f"{prefix}card-{n:06d}-{k}", f"{prefix}cust-{n:06d}", home, rate)
                )
        self._serial = 0

    # ------------------------------------------------------------------ honest
    def _honest(self, card: Card) -> list[Transaction]:
        """A card's own purchases: at home, daytime-heavy, with an occasional trip."""
        found: list[Transaction] = []
        city, trip_until = card.home, -1
        t = self.start_ms + int(self.rng.expovariate(card.rate) * DAY_MS)
        while t < self.end_ms:
            if t > trip_until and city != card.home:
                city = card.home  # home again, a day later at the earliest
                t += DAY_MS
            if t > trip_until and self.rng.random() < 0.01:
                # A trip of one to three days: far enough apart in time for any plane.
                city = self.rng.randrange(len(CITIES))
                t += DAY_MS
                trip_until = t + self.rng.randint(1, 3) * DAY_MS
            if t >= self.end_ms:
                break
            if self._local_hour(t, city) < 7 and self.rng.random() < 0.85:
                t += int(self.rng.uniform(6, 8) * HOUR_MS)  # most people sleep
                continue
            merchant = self.rng.choice(self.by_city[city])
            if CATEGORIES[merchant.category][2] and self.rng.random() < 0.7:
                merchant = self.rng.choice(
                    [m for m in self.by_city[city] if not CATEGORIES[m.category][2]]
                )
            found.append(self._make(card, merchant, t, self._amount(merchant.category), None))
            t += int(self.rng.expovariate(card.rate) * DAY_MS) + 5 * MINUTE_MS
        return found

    # ------------------------------------------------------------------ fraud
    def _velocity(self, card: Card, at: int) -> list[Transaction]:
        city = self.by_city[card.home]
        count = self.rng.randint(5, 12)
        stamps = sorted(at + self.rng.randrange(0, 2 * MINUTE_MS) for _ in range(count))
        chosen = self.rng.sample(city, count)
        return [
            self._make(card, m, t, self._amount(m.category), "velocity")
            for m, t in zip(chosen, stamps, strict=True)
        ]

    def _impossible_travel(self, card: Card, at: int) -> list[Transaction]:
        home = CITIES[card.home]
        far = [
            c for c in range(len(CITIES))
            if distance_km(home[1:3], CITIES[c][1:3]) > 1_500
        ]  # fmt: skip
        local = self.rng.choice(self.by_city[card.home])
        away = self.rng.choice(self.by_city[self.rng.choice(far)])
        later = at + self.rng.randrange(MINUTE_MS, 30 * MINUTE_MS)
        return [
            self._make(card, local, at, self._amount(local.category), None),
            self._make(card, away, later, self._amount(away.category), "impossible_travel"),
        ]

    def _small_then_large(self, card: Card, at: int) -> list[Transaction]:
        city = self.by_city[card.home]
        found, t = [], at
        for _ in range(self.rng.randint(1, 3)):
            m = self.rng.choice(city)
            found.append(self._make(card, m, t, self.rng.randint(50, 199), "small_then_large"))
            t += self.rng.randrange(20_000, 3 * MINUTE_MS)
        big = self.rng.choice([m for m in city if CATEGORIES[m.category][2]] or city)
        amount = self.rng.randint(50_001, 300_000)
        found.append(self._make(card, big, t, amount, "small_then_large"))
        return found

    def _night_new_merchant(self, card: Card, at: int, used: set[str]) -> list[Transaction]:
        risky = [
            m for m in self.by_city[card.home]
            if CATEGORIES[m.category][2] and m.merchant_id not in used
        ] or [m for m in self.merchants if m.merchant_id not in used]  # fmt: skip
        merchant = self.rng.choice(risky)
        # Move to between 00:00 and 05:00 local time on the same day.
        offset = CITIES[merchant.city][3] * MINUTE_MS
        day = (at + offset) // DAY_MS * DAY_MS - offset
        t = day + self.rng.randrange(0, 5 * HOUR_MS)
        if t < self.start_ms:
            t += DAY_MS
        amount = self.rng.randint(40_000, 250_000)
        return [self._make(card, merchant, t, amount, "night_new_merchant")]

    # ------------------------------------------------------------------ assembly
    def transactions(self) -> list[Transaction]:
        """Every transaction, in time order (ties by id)."""
        everything: list[Transaction] = []
        fraud_cards = int(len(self.cards) * self.fraud_rate)
        victims = set(self.rng.sample(range(len(self.cards)), fraud_cards))
        pattern_of = {v: PATTERNS[i % len(PATTERNS)] for i, v in enumerate(sorted(victims))}
        for index, card in enumerate(self.cards):
            honest = self._honest(card)
            pattern = pattern_of.get(index)
            if pattern is not None:
                # After the card's honest purchases (if any) have a history, before the end.
                span = self.end_ms - self.start_ms
                at = self.start_ms + int(self.rng.uniform(0.3, 0.9) * span)
                used = {t.merchant_id for t in honest}
                if pattern == "velocity":
                    injected = self._velocity(card, at)
                elif pattern == "impossible_travel":
                    injected = self._impossible_travel(card, at)
                elif pattern == "small_then_large":
                    injected = self._small_then_large(card, at)
                else:
                    injected = self._night_new_merchant(card, at, used)
                # The card is blocked after the fraud, and its last day before is kept
                # quiet, so no honest trip makes the injected purchases look otherwise.
                honest = [t for t in honest if t.occurred_at < at - DAY_MS]
                everything.extend(injected)
            everything.extend(honest)
        everything.sort(key=lambda t: (t.occurred_at, t.transaction_id))
        return everything

    def __iter__(self) -> Iterator[Transaction]:
        return iter(self.transactions())

    def _amount(self, category: str) -> int:
        median, spread, _ = CATEGORIES[category]
        return max(50, int(self.rng.lognormvariate(math.log(median), spread)))

    def _local_hour(self, t: int, city: int) -> int:
        return int(((t + CITIES[city][3] * MINUTE_MS) % DAY_MS) // HOUR_MS)

    def _make(
        self, card: Card, merchant: Merchant, t: int, amount: int, pattern: str | None
    ) -> Transaction:
        self._serial += 1
        name, lat, lon, offset = CITIES[merchant.city]
        return Transaction(
            transaction_id=f"{self.prefix}tx-{self._serial:09d}", card_id=card.card_id,
            customer_id=card.customer_id, merchant_id=merchant.merchant_id,
            merchant_category=merchant.category, amount_minor=amount, currency="EUR",
            city=name, latitude=lat, longitude=lon, utc_offset_minutes=offset, occurred_at=t,
            is_fraud=pattern is not None, pattern=pattern,
        )  # fmt: skip
