"""The synthetic stream: reproducible from its seed, every pattern injected and labelled
with the shape it claims, and no honest card behaving like a fraudulent one."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

import fastavro

from blueprints.fraud.generator import (
    CATEGORIES,
    MAX_HONEST_KMH,
    MINUTE_MS,
    PATTERNS,
    Generator,
    Transaction,
    distance_km,
)

SCHEMA = Path(__file__).parents[1] / "spec" / "schemas" / "card-transaction-v1.avsc"


def stream(seed: int = 7) -> list[Transaction]:
    return Generator(seed, customers=600, days=3, fraud_rate=0.05).transactions()


def by_card(transactions: list[Transaction]) -> dict[str, list[Transaction]]:
    cards: dict[str, list[Transaction]] = defaultdict(list)
    for t in transactions:
        cards[t.card_id].append(t)
    return cards


def test_the_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    first, again, other = stream(7), stream(7), stream(8)
    assert first == again
    assert first != other
    assert [t.occurred_at for t in first] == sorted(t.occurred_at for t in first)


def test_every_pattern_is_injected_on_its_own_cards() -> None:
    transactions = stream()
    fraud = [t for t in transactions if t.is_fraud]
    cards = {p: {t.card_id for t in fraud if t.pattern == p} for p in PATTERNS}
    assert all(len(c) >= 5 for c in cards.values()), {p: len(c) for p, c in cards.items()}
    assert all(t.pattern in PATTERNS for t in fraud)
    assert all(t.pattern is None for t in transactions if not t.is_fraud)
    share = len(fraud) / len(transactions)
    assert 0.005 < share < 0.2, share


def test_each_pattern_has_the_shape_it_claims() -> None:
    for history in by_card(stream()).values():
        patterns = {t.pattern for t in history} - {None}
        if not patterns:
            continue
        (pattern,) = patterns
        fraud = [t for t in history if t.is_fraud]
        if pattern == "velocity":
            assert 5 <= len(fraud) <= 12
            assert fraud[-1].occurred_at - fraud[0].occurred_at <= 2 * MINUTE_MS
            assert len({t.merchant_id for t in fraud}) == len(fraud)
        elif pattern == "impossible_travel":
            (away,) = fraud
            before = history[history.index(away) - 1]
            hours = (away.occurred_at - before.occurred_at) / 3_600_000
            km = distance_km((before.latitude, before.longitude), (away.latitude, away.longitude))
            assert hours <= 0.5 and km > 1_500, (hours, km)
        elif pattern == "small_then_large":
            *small, large = fraud
            assert 1 <= len(small) <= 3 and all(t.amount_minor < 200 for t in small)
            assert large.amount_minor > 50_000
            assert large.occurred_at - small[0].occurred_at <= 10 * MINUTE_MS
        else:
            (night,) = fraud
            local_hour = ((night.occurred_at // MINUTE_MS + night.utc_offset_minutes) // 60) % 24
            assert local_hour < 5
            assert night.merchant_id not in {t.merchant_id for t in history if t is not night}
            assert night.amount_minor >= 40_000


def test_no_honest_purchase_travels_faster_than_a_plane() -> None:
    for history in by_card(stream()).values():
        for before, after in itertools.pairwise(history):
            if after.is_fraud:
                continue
            hours = max((after.occurred_at - before.occurred_at) / 3_600_000, 1e-9)
            km = distance_km((before.latitude, before.longitude), (after.latitude, after.longitude))
            assert km / hours <= MAX_HONEST_KMH, (before, after)


def test_high_risk_merchants_are_rare_for_honest_cards() -> None:
    honest = [t for t in stream() if not t.is_fraud]
    risky = sum(1 for t in honest if CATEGORIES[t.merchant_category][2])
    assert risky / len(honest) < 0.25


def test_records_are_valid_card_transactions() -> None:
    schema = fastavro.parse_schema(json.loads(SCHEMA.read_text()))
    records = [t.as_record() for t in stream()[:2_000]]
    assert all(fastavro.validation.validate(r, schema, raise_errors=True) for r in records)


def test_a_prefix_keeps_the_ids_of_two_streams_apart() -> None:
    plain = Generator(1, customers=50, days=1).transactions()
    other = Generator(2, customers=50, days=1, prefix="b-").transactions()
    assert all(t.transaction_id.startswith("b-tx-") for t in other)
    assert all(t.card_id.startswith("b-card-") for t in other)
    assert not {t.transaction_id for t in plain} & {t.transaction_id for t in other}
