"""The cost model against hand-computed cases, the codecs on known data, the prices file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamplane.errors import StreamplaneError
from streamplane.ops.cost.compression import measure
from streamplane.ops.cost.model import (
    PartitionPlacement,
    Reader,
    consumer_cross_zone_bytes,
    monthly,
    topic_cost,
)
from streamplane.ops.cost.prices import load_prices

# Three zones, RF 3, one replica per zone; leaders a, b, c; 1 MB/s each.
PARTS = [
    PartitionPlacement("a", ("a", "b", "c"), 1e6),
    PartitionPlacement("b", ("b", "c", "a"), 1e6),
    PartitionPlacement("c", ("c", "a", "b"), 1e6),
]


def test_replication_sends_every_byte_to_each_follower_in_another_zone() -> None:
    cost = topic_cost("t", PARTS, zones=3, retention_s=86400, local_retention_s=None, readers=[])
    assert cost.cross_zone_replication_s == 6e6  # 3 MB/s x 2 followers
    assert cost.cross_zone_produce_s == pytest.approx(2e6)  # unknown zone: 2/3 cross
    assert cost.local_bytes == 3e6 * 86400 * 3 and cost.remote_bytes == 0


def test_follower_fetching_removes_consumer_cross_zone_bytes_when_a_replica_is_local() -> None:
    # A consumer in zone a reads b's and c's leaders across zones: 2 MB/s; with follower
    # fetching it reads zone a's replica of every partition: 0.
    assert consumer_cross_zone_bytes(PARTS, "a", 3, follower=False) == 2e6
    assert consumer_cross_zone_bytes(PARTS, "a", 3, follower=True) == 0
    # RF 2 over three zones: partition 1 has no replica in a.
    thin = [PartitionPlacement("b", ("b", "c"), 1e6), PartitionPlacement("a", ("a", "b"), 1e6)]
    assert consumer_cross_zone_bytes(thin, "a", 3, follower=True) == 1e6
    # Zone unknown: 1/3 of zones lack a replica of the thin partition 0 (and of 1).
    assert consumer_cross_zone_bytes(thin, None, 3, follower=True) == pytest.approx(2e6 / 3)
    cost = topic_cost(
        "t", PARTS, zones=3, retention_s=1, local_retention_s=None,
        readers=[Reader("g1", "a"), Reader("g2", None)],
    )  # fmt: skip
    assert cost.cross_zone_consume_s == pytest.approx(2e6 + 2e6)
    assert cost.cross_zone_consume_ff_s == 0


def test_tiered_keeps_the_local_retention_on_disks_and_one_copy_remote() -> None:
    cost = topic_cost("t", PARTS, zones=3, retention_s=30 * 86400, local_retention_s=86400,
                      readers=[])  # fmt: skip
    assert cost.local_bytes == 3e6 * 86400 * 3
    assert cost.remote_bytes == 3e6 * 30 * 86400


def test_monthly_prices_a_steady_rate() -> None:
    assert monthly(1e9 / (30 * 86400), 0.02) == pytest.approx(0.02)  # one GB in a month


def test_codecs_compress_repetitive_json_and_not_random_bytes() -> None:
    text = [b'{"order": %d, "status": "placed", "currency": "EUR"}' % i for i in range(500)]
    figures = {
        f.codec: f for f in measure([b"".join(text[i : i + 100]) for i in range(0, 500, 100)])
    }
    assert set(figures) == {"gzip", "snappy", "lz4", "zstd"}
    assert all(f.ratio < 0.5 and f.compress_mb_s > 0 for f in figures.values())
    noise = {f.codec: f for f in measure([os.urandom(100_000)])}
    assert all(f.ratio > 0.98 for f in noise.values())


def test_prices_default_per_cloud_and_a_bad_file_says_what_is_wrong(tmp_path: Path) -> None:
    aws = load_prices("aws")
    assert aws.cross_zone_gb == 0.02 and aws.object_storage_gb_month < aws.block_storage_gb_month
    assert load_prices("azure").cross_zone_gb == 0.0
    with pytest.raises(StreamplaneError, match=r"no section 'oracle'.*aws, azure, gcp"):
        load_prices("oracle")
    bad = tmp_path / "prices.yaml"
    bad.write_text("aws:\n  block_storage_gb_month: cheap\n")
    with pytest.raises(StreamplaneError, match=r"aws.block_storage_gb_month must be a price"):
        load_prices("aws", bad)
