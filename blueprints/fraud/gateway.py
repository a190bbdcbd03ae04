"""The card gateway: the synthetic transactions into ``risk.fraud.transactions``.

Application ``card-gateway``, a ``zero_loss`` producer keyed by card (a card's purchases
stay in order on one partition, with the scorer instance that owns it). ``rate`` paces
the stream (transactions per second) as a live feed would arrive; without it the
generator's transactions are written as fast as the producer takes them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from blueprints.fraud.generator import Transaction
from streamplane.client import Producer

if TYPE_CHECKING:
    from streamplane.model import Spec

APP = "card-gateway"
TRANSACTIONS = "risk.fraud.transactions"


def publish(
    spec: Spec,
    transactions: Iterable[Transaction],
    *,
    rate: float | None = None,
    data_dir: Path | str = Path(".streamplane"),
    config: dict[str, object] | None = None,
) -> int:
    """Produce every transaction (paced at ``rate`` per second if given); the count sent,
    all acknowledged when this returns."""
    sent = 0
    began = time.monotonic()
    with Producer.for_application(spec, APP, data_dir=data_dir, config=config) as producer:
        for tx in transactions:
            if rate:
                due = began + sent / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            producer.produce(TRANSACTIONS, tx.as_record(), key=tx.card_id)
            sent += 1
        producer.flush(60)
    return sent
