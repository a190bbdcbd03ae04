"""The zero_loss producer on RF 3 / min ISR 2: partition leaders killed -9 again and again.

Every record is accounted for: acknowledged ones are in the log exactly once and in
order per key; failed ones were reported to the application; none is silently dropped.
"""

from __future__ import annotations

import pytest

from streamplane.local import LocalCluster
from tests.integration.client._zero_loss import prove_producer

#: Leader kills in CI; benchmarks/bench_zero_loss.py runs 30 and more.
KILLS = 5


@pytest.mark.slow
def test_zero_loss_producer_survives_repeated_leader_kills_without_loss_or_duplicates(
    cluster3: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = prove_producer(cluster3, kills=KILLS, rate=800, log=lambda _line: None)
    with capsys.disabled():
        print("\n" + figures.render())
    assert figures.kills == KILLS
    assert figures.acknowledged > 0
    figures.assert_exact()
    assert figures.extra["acknowledged with a node down"] > 0, "writes stopped with one node down"
