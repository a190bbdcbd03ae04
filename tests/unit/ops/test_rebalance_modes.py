"""Planner modes (add a broker, drain one, fix racks only, relative bands) and plan files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamplane.errors import PlanError, StreamplaneError
from streamplane.ops.rebalance import Broker, ClusterModel, Goals, Partition, plan_rebalance
from streamplane.ops.rebalance.plan_file import plan_file, read_plan
from streamplane.ops.rebalance.replication import replication_moves

MIB = 1 << 20


def _cluster(partitions: list[tuple[list[int], int]], brokers: int = 4) -> ClusterModel:
    """Each broker its own rack (as the local cluster), disks far larger than the data."""
    return ClusterModel(
        {b: Broker(b, f"rack-{b}", 1 << 40) for b in range(1, brokers + 1)},
        [Partition("t", i, replicas, size * MIB) for i, (replicas, size) in enumerate(partitions)],
    )


def _three_on_four() -> ClusterModel:
    rotations = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
    return _cluster([(rotations[i % 3], 100) for i in range(12)])


def test_absolute_bands_see_no_imbalance_when_disks_dwarf_the_data_relative_bands_do() -> None:
    model = _three_on_four()
    assert plan_rebalance(model, Goals(tolerance=0.05)).moves == []
    plan = plan_rebalance(model, Goals(tolerance=0.10, relative=True))
    assert plan.moves and plan.disk_cv_after < plan.disk_cv_before


def test_add_broker_moves_replicas_onto_the_new_broker_only() -> None:
    plan = plan_rebalance(
        _three_on_four(), Goals(tolerance=0.10, relative=True, only_to=frozenset({4}))
    )
    assert plan.moves
    for move in plan.moves:
        added = set(move.after) - set(move.before)
        assert added == {4}, move
    # 12 x 3 replicas of 100 MiB over 4 brokers: broker 4 gets 9 (band 8.1-9.9 replicas).
    assert sum(m.bytes for m in plan.moves) == 9 * 100 * MIB


def test_drain_empties_the_broker_and_never_puts_two_replicas_in_one_rack() -> None:
    model = _cluster([([1, 2, 4], 50), ([4, 3, 2], 70), ([2, 3, 1], 10)])
    plan = plan_rebalance(model, Goals(relative=True, drain=frozenset({4})))
    moved = {(m.topic, m.partition): m.after for m in plan.moves}
    assert set(moved) == {("t", 0), ("t", 1)}
    for after in moved.values():
        assert 4 not in after and len(set(after)) == 3
    assert plan.stranded == []


def test_a_drain_that_would_break_rack_awareness_reports_the_replica_instead() -> None:
    # Three brokers, RF 3: draining one leaves nowhere rack-safe to go.
    model = _cluster([([1, 2, 3], 10)], brokers=3)
    plan = plan_rebalance(model, Goals(relative=True, drain=frozenset({3})))
    assert plan.moves == [] and plan.stranded == [("t", 0, 3)]


def test_fix_racks_only_fixes_racks_and_leaves_imbalance_alone() -> None:
    model = ClusterModel(
        {1: Broker(1, "a", 1 << 40), 2: Broker(2, "a", 1 << 40), 3: Broker(3, "b", 1 << 40),
         4: Broker(4, "c", 1 << 40)},
        [Partition("t", 0, [1, 2, 3], 10 * MIB), Partition("t", 1, [1, 3, 4], 500 * MIB)],
    )  # fmt: skip
    plan = plan_rebalance(model, Goals(relative=True, racks_only=True))
    assert [(m.partition, m.after) for m in plan.moves] == [(0, [1, 4, 3])]
    assert plan.rack_violations_after == 0 and plan.leader_moves == []


def test_leader_only_changes_are_separate_moves_of_no_bytes() -> None:
    model = _cluster([([1, 2, 3], 10) for _ in range(6)], brokers=3)
    plan = plan_rebalance(model, Goals(relative=True))
    assert plan.moves == [] and plan.leader_moves
    assert all(m.bytes == 0 and sorted(m.after) == sorted(m.before) for m in plan.leader_moves)
    firsts = [m.after[0] for m in plan.leader_moves] + [1] * (6 - len(plan.leader_moves))
    assert max(firsts.count(b) for b in (1, 2, 3)) == 2


def test_a_plan_file_round_trips_and_bad_files_say_how_to_get_a_good_one(tmp_path: Path) -> None:
    plan = plan_rebalance(_three_on_four(), Goals(tolerance=0.10, relative=True))
    path = tmp_path / "plan.json"
    path.write_text(plan_file(plan, "cluster-x", "balance").to_json())
    read, digest = read_plan(path)
    assert read.cluster_id == "cluster-x" and len(read.moves) == len(plan.moves)
    assert read.total_bytes == plan.bytes_moved and len(digest) == 64
    body = json.loads(path.read_text())
    body["moves"][0]["after"] = [4, 4, 1]
    path.write_text(json.dumps(body))
    with pytest.raises(
        StreamplaneError, match=r"not a rebalance plan .*not distinct.*rebalance plan --out"
    ):
        read_plan(path)
    with pytest.raises(StreamplaneError, match="cannot read the plan"):
        read_plan(tmp_path / "missing.json")


def test_raising_rf_adds_replicas_in_new_racks_on_the_least_used_brokers() -> None:
    model = _cluster([([1, 2], 100), ([2, 3], 100), ([3, 1], 100)], brokers=4)
    moves = replication_moves(model, {"t": 3})
    assert [m.after[:2] for m in moves] == [m.before for m in moves]  # leaders stay
    added = [m.after[2] for m in moves]
    assert added[0] == 4  # the empty broker first
    assert all(len(set(m.after)) == 3 for m in moves)
    assert sum(m.bytes for m in moves) == 3 * 100 * MIB


def test_lowering_rf_drops_followers_on_the_most_used_brokers_and_keeps_leaders() -> None:
    model = _cluster([([1, 2, 3], 100), ([2, 3, 1], 100), ([3, 1, 2], 500)], brokers=3)
    moves = replication_moves(model, {"t": 2})
    assert [m.after[0] for m in moves] == [1, 2, 3]
    assert all(len(m.after) == 2 and m.bytes == 0 for m in moves)


def test_an_rf_above_the_broker_count_is_refused_with_what_to_do() -> None:
    with pytest.raises(PlanError, match=r"replication factor 5 needs 5 brokers; the cluster has 4"):
        replication_moves(_three_on_four(), {"t": 5})


def test_replica_counts_are_evened_with_empty_replicas_only() -> None:
    # Brokers 1-3 hold six empty replicas and two of data each, broker 4 three of data.
    empties = [([1, 2, 3], 0) for _ in range(6)]
    model = _cluster([*empties, ([4, 1, 2], 100), ([4, 2, 3], 100), ([4, 3, 1], 100)])
    plan = plan_rebalance(model, Goals(relative=True))
    assert plan.replica_spread_before == 5 and plan.replica_spread_after <= 1
    assert plan.bytes_moved == 0  # only empty replicas moved
    assert all(m.why == "replica balance" for m in plan.moves)


def test_measured_write_rates_spread_leadership_by_bytes_not_count() -> None:
    # Four partitions, all led by broker 1; one writes 90 % of the bytes.
    model = _cluster([([1, 2, 3], 10), ([1, 2, 3], 10), ([1, 3, 2], 10), ([1, 3, 2], 10)], 3)
    for part, rate in zip(model.partitions, (9e6, 4e5, 3e5, 3e5), strict=True):
        part.bytes_in_s = rate
    plan = plan_rebalance(model, Goals(relative=True))
    assert plan.moves == []  # leadership moves no data
    leaders = {m.partition: m.after[0] for m in plan.leader_moves}
    # The hot partition leaves broker 1; the rest are not all piled where it went.
    assert leaders.get(0, 1) != 1
    assert plan.network_cv_after < plan.network_cv_before
