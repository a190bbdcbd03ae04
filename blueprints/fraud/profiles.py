"""The slow path: 24-hour aggregates per merchant and per card, for the fast path to join.

``ProfileBuilder`` (application ``fraud-profiler``) reads every partition of the
transactions and keeps, per merchant and per card, hourly buckets of event time: purchase
count, amount, the distinct cards (of a merchant) or merchants (of a card), and the
cities. Every five seconds it publishes the 24-hour sum of each key that changed to the
compacted ``risk.fraud.profiles`` (keyed ``merchant:<id>``) and
``risk.fraud.card-profiles`` (keyed by card, so partitioned like the transactions; for
analysts and the lake). The fast path holds the merchants' topic whole in a
``GlobalTable`` and joins the merchant's profile into each transaction's features (how
many purchases and distinct cards the merchant saw today: a merchant suddenly visited by
many cards at once is a compromised terminal, or a testing site).

It keeps no state of its own: on every start it replays the last 24 hours of the topic
(by record timestamp) before publishing, and since the profiles topic keeps the latest
record per key, publishing the same aggregates again after a restart changes nothing.
That is the right size for one process: a feed too large to replay in a minute or two
needs checkpointed window state, which is what Flink gives (see the README: PyFlink was
evaluated for this path).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from blueprints.fraud.features import millis
from blueprints.fraud.generator import DAY_MS, HOUR_MS
from streamplane.client import (
    ApplicationCodec,
    ApplicationScope,
    Producer,
    application_connection,
)

if TYPE_CHECKING:
    from streamplane.model import Spec

log = logging.getLogger(__name__)

APP = "fraud-profiler"
TRANSACTIONS = "risk.fraud.transactions"
PROFILES = "risk.fraud.profiles"
CARD_PROFILES = "risk.fraud.card-profiles"


@dataclass
class _Bucket:
    transactions: int = 0
    amount_minor: int = 0
    distinct: set[str] = field(default_factory=set)
    cities: set[str] = field(default_factory=set)


class Windows:
    """Hourly buckets per key; the 24-hour aggregate ending at the newest event seen."""

    def __init__(self) -> None:
        #: key -> hour -> bucket
        self.buckets: dict[str, dict[int, _Bucket]] = defaultdict(dict)
        self.watermark = 0
        self.changed: set[str] = set()

    def add(self, tx: dict[str, Any]) -> None:
        at = millis(tx["occurred_at"])
        self.watermark = max(self.watermark, at)
        hour = at // HOUR_MS
        amount = int(tx["amount_minor"])
        for key, other in (
            (f"merchant:{tx['merchant_id']}", tx["card_id"]),
            (f"card:{tx['card_id']}", tx["merchant_id"]),
        ):
            bucket = self.buckets[key].setdefault(hour, _Bucket())
            bucket.transactions += 1
            bucket.amount_minor += amount
            bucket.distinct.add(other)
            bucket.cities.add(tx["city"])
            self.changed.add(key)

    def profile(self, key: str) -> dict[str, Any]:
        """The key's aggregate over the 24 hours ending at the watermark."""
        first_hour = (self.watermark - DAY_MS) // HOUR_MS + 1
        kind, _, ident = key.partition(":")
        transactions = amount = 0
        distinct: set[str] = set()
        cities: set[str] = set()
        for hour, bucket in self.buckets[key].items():
            if hour < first_hour:
                continue
            transactions += bucket.transactions
            amount += bucket.amount_minor
            distinct |= bucket.distinct
            cities |= bucket.cities
        return {
            "kind": kind, "id": ident, "window_end": self.watermark,
            "transactions": transactions, "amount_minor": amount,
            "distinct": len(distinct), "cities": len(cities),
        }  # fmt: skip

    def expire(self) -> None:
        """Drop the buckets older than 24 hours (and keys with none left)."""
        first_hour = (self.watermark - DAY_MS) // HOUR_MS + 1
        for key in list(self.buckets):
            hours = self.buckets[key]
            for hour in [h for h in hours if h < first_hour]:
                del hours[hour]
            if not hours:
                del self.buckets[key]


class ProfileBuilder:
    """One instance of the slow path (reads every partition; run one)."""

    def __init__(
        self,
        spec: Spec,
        *,
        data_dir: Path | str = Path(".streamplane"),
        flush_interval_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        resolved = application_connection(spec, APP, data_dir=data_dir)
        self.codec = ApplicationCodec.for_application(
            spec, ApplicationScope.of(spec, APP), resolved.registry
        )
        self.producer = Producer.for_application(spec, APP, data_dir=data_dir)
        self.consumer = Consumer(
            resolved.connection.librdkafka(
                **{
                    "group.id": spec.applications[APP].consumer_group,  # assigned, never joined
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "log_level": 3,
                }
            )
        )
        self.windows = Windows()
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self.published = 0
        self.read = 0

    def start(self) -> int:
        """Assign every partition from 24 hours ago (record time); the records to replay."""
        metadata = self.consumer.list_topics(TRANSACTIONS, timeout=30)
        partitions = sorted(metadata.topics[TRANSACTIONS].partitions)
        since = int(self._clock() * 1000) - DAY_MS
        wanted = [TopicPartition(TRANSACTIONS, p, since) for p in partitions]
        starts = self.consumer.offsets_for_times(wanted, timeout=30)
        backlog = 0
        for tp in starts:
            low, high = self.consumer.get_watermark_offsets(tp, timeout=30, cached=False)
            if tp.offset < 0:  # nothing that recent: start at the end
                tp.offset = high
            backlog += high - max(tp.offset, low)
        self.consumer.assign(starts)
        return backlog

    def step(self, timeout_s: float = 0.5) -> int:
        """Read what arrived; publish the changed profiles when a flush is due."""
        read = 0
        for message in self.consumer.consume(5000, timeout_s):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("profiler: %s", error.str())
                continue
            self.windows.add(self.codec.decode(TRANSACTIONS, message.value()))
            read += 1
        self.read += read
        return read

    def flush(self) -> int:
        """Publish the profile of every key that changed since the last flush."""
        changed = sorted(self.windows.changed)
        for key in changed:
            profile = self.windows.profile(key)
            if profile["kind"] == "merchant":
                self.producer.produce(PROFILES, profile, key=key)
            else:  # keyed by the card alone: on the partition of the card's transactions
                self.producer.produce(CARD_PROFILES, profile, key=profile["id"])
        self.producer.flush(30)
        self.windows.changed.clear()
        self.windows.expire()
        self.published += len(changed)
        return len(changed)

    def run(self, stop: Callable[[], bool]) -> None:
        self.start()
        last = time.monotonic()
        while not stop():
            self.step()
            if time.monotonic() - last >= self.flush_interval_s:
                self.flush()
                last = time.monotonic()
        self.flush()

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()
