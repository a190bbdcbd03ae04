"""Cluster sizing against hand-computed cases: each limit and which one binds."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.ops.capacity import BrokerShape, Workload, size_cluster

DAY = 86400


def test_storage_binds_for_a_week_of_100_mb_s_at_rf_3() -> None:
    # 100 MB/s x 7 d x 3 = 181.44 TB; a 4 TB disk with 30 % free takes 2.8 TB: 65 brokers.
    sizing = size_cluster(
        Workload(100e6, 7 * DAY, replication_factor=3, fan_out=3),
        BrokerShape(disk_bytes=4 * 10**12, network_bytes_s=1.25e9, headroom=0.3),
    )
    limits = {lim.name: lim for lim in sizing.limits}
    assert limits["storage"].needs == pytest.approx(181.44e12)
    assert limits["storage"].brokers == 65 == sizing.brokers and sizing.binding == "storage"
    # In: 300 MB/s; out: 100 x (2 + 3) = 500 MB/s; 875 MB/s per broker after headroom.
    assert limits["network in"].needs == pytest.approx(300e6)
    assert limits["network out"].needs == pytest.approx(500e6)
    assert limits["network out"].brokers == 1


def test_tiered_storage_keeps_only_the_local_retention_on_disks() -> None:
    work = Workload(100e6, 7 * DAY, local_retention_s=1 * DAY)
    sizing = size_cluster(work, BrokerShape(disk_bytes=4 * 10**12, headroom=0.3))
    assert sizing.local_bytes == pytest.approx(25.92e12)  # 100 MB/s x 1 d x 3
    assert sizing.remote_bytes == pytest.approx(60.48e12)  # one copy of 7 d
    assert sizing.brokers == 10  # 25.92 / 2.8 = 9.3


def test_network_binds_for_a_high_fan_out_and_rf_is_the_floor() -> None:
    sizing = size_cluster(
        Workload(1e9, 3600, replication_factor=3, fan_out=10),
        BrokerShape(disk_bytes=10**15, network_bytes_s=1e9, headroom=0.5),
    )
    # Out: 1 GB/s x (2 + 10) = 12 GB/s over 0.5 GB/s per broker: 24.
    assert (sizing.binding, sizing.brokers) == ("network out", 24)
    small = size_cluster(Workload(1e6, 3600), BrokerShape())
    assert (small.binding, small.brokers) == ("replication factor", 3)


def test_partitions_bind_when_there_are_many() -> None:
    sizing = size_cluster(Workload(1e6, 3600, partitions=40_000), BrokerShape())
    assert (sizing.binding, sizing.brokers) == ("partitions", 30)  # 120,000 / 4,000


def test_the_cli_prints_the_limits_and_refuses_a_longer_local_retention() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["capacity", "--throughput", "100MB", "--fan-out", "3", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["binding"] == "storage"
    bad = runner.invoke(app, ["capacity", "--throughput", "100MB", "--local-retention", "30d"])
    said = " ".join(bad.output.replace("│", " ").split())  # the error box wraps lines
    assert bad.exit_code == 2 and "is longer than the retention (7d)" in said
    worse = runner.invoke(app, ["capacity", "--throughput", "lots"])
    assert worse.exit_code == 2 and "--throughput" in worse.output
