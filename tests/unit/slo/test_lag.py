"""Burrow's evaluation rules over hand-written windows of samples."""

from __future__ import annotations

from streamplane.slo.lag import GroupSample, Offsets, evaluate, group_status, partition_status


def window(committed: list[int], end: list[int], *, owned: bool = True) -> list[Offsets]:
    return [
        Offsets(float(t), c, e, owned) for t, (c, e) in enumerate(zip(committed, end, strict=True))
    ]


def test_caught_up_at_any_point_is_ok() -> None:
    assert partition_status(window([10, 20, 20], [30, 20, 40])) == "OK"


def test_a_member_that_does_not_move_while_lagging_is_stall() -> None:
    assert partition_status(window([10, 10, 10], [20, 25, 30])) == "STALL"


def test_nobody_owning_a_lagging_partition_is_stop() -> None:
    assert partition_status(window([10, 10, 10], [20, 25, 30], owned=False)) == "STOP"
    # ... and caught up, an idle group without members is fine.
    assert partition_status(window([30, 30], [30, 30], owned=False)) == "OK"


def test_offsets_going_back_is_rewind_before_anything_else() -> None:
    assert partition_status(window([50, 20, 30], [50, 60, 70])) == "REWIND"


def test_moving_but_falling_further_behind_every_step_is_warn() -> None:
    assert partition_status(window([10, 12, 14], [20, 30, 40])) == "WARN"
    # Falling behind only some of the steps is not.
    assert partition_status(window([10, 12, 30], [20, 30, 40])) == "OK"


def test_group_status_is_the_worst_partition() -> None:
    assert group_status(["OK", "WARN"]) == "WARN"
    assert group_status(["OK", "STALL", "WARN"]) == "ERR"
    assert group_status(["OK"]) == "OK"


def test_evaluate_takes_the_newest_window_and_reports_completeness() -> None:
    key = ("t", 0)
    history = [{key: Offsets(float(n), 5 if n < 3 else 5 + n, 100, True)} for n in range(6)]
    # Over all six samples the offset moved; over the first three alone it stalled.
    assert evaluate("g", history[:3], window=3).partitions[0].status == "STALL"
    health = evaluate("g", history, window=10)
    assert health.status == "OK" and health.complete == 0.6
    assert health.total_lag == 100 - 10


def test_samples_survive_the_slo_topic() -> None:
    sample = GroupSample("g", 12.0, "Stable", 1, {("t", 3): Offsets(12.0, 7, 9, True)})
    again = GroupSample.from_record(12.0, sample.as_record())
    assert again.partitions == sample.partitions and again.members == 1
