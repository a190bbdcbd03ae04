"""The rebalance planner on small hand-built clusters and on the synthetic ones."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.ops.rebalance import Broker, ClusterModel, Goals, Partition, plan_rebalance
from streamplane.ops.rebalance.synthetic import bytes_to_move, generate_placement, skewed_cluster

GIB = 1 << 30


def _cluster(partitions: list[tuple[list[int], int]], brokers: int = 4) -> ClusterModel:
    racks = {1: "a", 2: "b", 3: "c", 4: "a", 5: "b", 6: "c"}
    return ClusterModel(
        {b: Broker(b, racks[b], 1000 * GIB) for b in range(1, brokers + 1)},
        [Partition("t", i, replicas, size * GIB) for i, (replicas, size) in enumerate(partitions)],
    )


def test_an_empty_new_broker_is_filled_by_moving_about_the_lower_bound() -> None:
    # Brokers 1-3 hold everything; broker 4 (rack a, like broker 1) was just added.
    model = _cluster([([1, 2, 3], 10) for _ in range(12)])
    plan = plan_rebalance(model, Goals(tolerance=0.05))
    assert plan.moves, "the new broker got nothing"
    # Only broker 1 shares broker 4's rack, so every move is 1 -> 4, and no more than needed.
    assert all(set(m.before) - set(m.after) == {1} and 4 in m.after for m in plan.moves)
    # The band is mean use (9%) +- 5%: broker 4 must receive 4% of 1000 GiB, i.e. 4 moves.
    assert plan.lower_bound_bytes == 40 * GIB == plan.bytes_moved
    assert plan.disk_stddev_after < plan.disk_stddev_before
    # The input is left as it was: a plan is a proposal.
    assert all(p.replicas == [1, 2, 3] for p in model.partitions)


def test_a_balanced_cluster_gets_no_moves_and_rack_violations_are_fixed_first() -> None:
    balanced = _cluster([([1, 2, 3], 10), ([2, 3, 1], 10), ([3, 1, 2], 10)], brokers=3)
    assert plan_rebalance(balanced).moves == []
    # Two replicas in rack a (brokers 1 and 4): one must move to rack c (broker 3 or 6).
    skewed = _cluster([([1, 4, 2], 5), ([2, 3, 1], 5), ([3, 5, 4], 5)], brokers=6)
    plan = plan_rebalance(skewed, Goals(tolerance=0.5))
    assert plan.rack_violations_before == 1 and plan.rack_violations_after == 0
    fix = next(m for m in plan.moves if m.partition == 0)
    assert "rack awareness" in fix.why and fix.bytes == 5 * GIB
    assert {"a", "b", "c"} == {skewed.brokers[b].rack for b in fix.after}


def test_leadership_is_balanced_without_moving_data() -> None:
    model = _cluster([([1, 2, 3], 1) for _ in range(9)], brokers=3)
    plan = plan_rebalance(model, Goals(tolerance=0.5))
    assert plan.moves == [] and plan.bytes_moved == 0
    assert plan.leader_changes >= 6  # 9 leaders on broker 1 become 3 + 3 + 3


def test_on_a_synthetic_cluster_the_plan_stays_near_its_lower_bound_and_far_below_generate() -> (
    None
):
    model = skewed_cluster(30, 3000, seed=7)
    plan = plan_rebalance(model)
    generated = bytes_to_move(model, generate_placement(model, seed=7))
    assert plan.rack_violations_after == 0 < plan.rack_violations_before
    assert plan.disk_stddev_after < plan.disk_stddev_before / 3
    assert plan.lower_bound_bytes <= plan.bytes_moved <= 1.2 * plan.lower_bound_bytes
    assert plan.bytes_moved * 4 < generated
    # Every move keeps a partition's replicas on distinct brokers.
    assert all(len(set(m.after)) == len(m.after) for m in plan.moves)


def test_the_same_seed_gives_the_same_cluster_and_plan() -> None:
    first = plan_rebalance(skewed_cluster(20, 500, seed=3))
    second = plan_rebalance(skewed_cluster(20, 500, seed=3))
    assert [(m.topic, m.partition, m.after) for m in first.moves] == [
        (m.topic, m.partition, m.after) for m in second.moves
    ]


def test_simulate_prints_the_figures_anyone_can_reproduce() -> None:
    args = ["rebalance", "simulate", "--brokers", "20", "--partitions", "600", "--json"]
    first = CliRunner().invoke(app, [*args, "--seed", "5"])
    assert first.exit_code == 0, first.output
    figures = json.loads(first.output)
    assert set(figures) >= {
        "plan_seconds", "bytes_moved", "lower_bound_bytes", "generate_bytes",
        "disk_stddev_before", "disk_stddev_after",
    }  # fmt: skip
    assert figures["lower_bound_bytes"] <= figures["bytes_moved"] < figures["generate_bytes"]
    again = json.loads(CliRunner().invoke(app, [*args, "--seed", "5"]).output)
    assert {k: v for k, v in again.items() if k != "plan_seconds"} == {
        k: v for k, v in figures.items() if k != "plan_seconds"
    }
    refused = CliRunner().invoke(
        app, ["rebalance", "simulate", "--brokers", "2", "--partitions", "9"]
    )
    assert refused.exit_code != 0 and "--brokers" in refused.output
