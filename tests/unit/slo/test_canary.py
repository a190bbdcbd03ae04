"""The canary's bookkeeping: sequence numbers tell lost and duplicated records apart from
failed requests, whatever order acknowledgements and reads arrive in. Its placement puts
one partition's leader on each broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaError

from streamplane.kafka import ConnectionSettings
from streamplane.slo.canary import BrokerCounts, Canary, PartitionTrack, canary_assignment


@pytest.fixture
def canary() -> Iterator[Canary]:
    # No broker: the bookkeeping is driven by hand (the admin client never connects).
    found = Canary(ConnectionSettings(bootstrap_servers="127.0.0.1:1", username="u", password="p"))
    found.tracks = {0: PartitionTrack(broker=7)}
    found.brokers = {7: BrokerCounts(found.config.bounds)}
    yield found


def send(canary: Canary, count: int) -> list[int]:
    track = canary.tracks[0]
    seqs = []
    for _ in range(count):
        seqs.append(track.next_seq)
        track.sent[track.next_seq] = 0.0
        track.next_seq += 1
        canary.brokers[7].counts["requests"] += 1
    return seqs


def ack(canary: Canary, seq: int, error: KafkaError | None = None) -> None:
    canary._delivered(0, seq)(error, None)  # type: ignore[arg-type]


def counts(canary: Canary) -> dict[str, int]:
    return canary.totals()[7]


def test_a_gap_behind_a_later_record_is_a_loss(canary: Canary) -> None:
    for seq in send(canary, 3):
        ack(canary, seq)
    canary._read(0, 0, 0.01)
    canary._read(0, 2, 0.01)  # 1 was acknowledged, and 2 came after it: 1 is gone
    found = counts(canary)
    assert (found["acked"], found["checked"], found["lost"], found["duplicated"]) == (3, 3, 1, 0)


def test_a_record_read_twice_is_a_duplicate(canary: Canary) -> None:
    for seq in send(canary, 2):
        ack(canary, seq)
    for seq in (0, 1, 1):
        canary._read(0, seq, 0.01)
    found = counts(canary)
    assert (found["duplicated"], found["lost"], found["checked"]) == (1, 0, 2)


def test_read_before_its_acknowledgement_is_not_lost(canary: Canary) -> None:
    send(canary, 2)
    canary._read(0, 0, 0.01)
    canary._read(0, 1, 0.01)
    ack(canary, 0)
    ack(canary, 1)
    found = counts(canary)
    assert (found["checked"], found["lost"]) == (2, 0)


def test_a_failed_request_is_an_error_not_a_loss(canary: Canary) -> None:
    send(canary, 3)
    ack(canary, 0)
    ack(canary, 1, KafkaError(KafkaError._MSG_TIMED_OUT))
    ack(canary, 2)
    canary._read(0, 0, 0.01)
    canary._read(0, 2, 0.01)
    found = counts(canary)
    assert (found["errors"], found["acked"], found["lost"], found["checked"]) == (1, 2, 0, 2)
    # An acknowledgement arriving after a later record was read is checked, and lost.
    seq = send(canary, 2)
    canary._read(0, seq[1], 0.01)
    ack(canary, seq[0])
    assert counts(canary)["lost"] == 1


def test_samples_carry_the_counts_since_the_last_one(canary: Canary) -> None:
    for seq in send(canary, 4):
        ack(canary, seq)
    first = canary.take_sample(at=1.0)[7]
    assert first["requests"] == 4 and sum(first["produce"]["counts"]) == 4
    send(canary, 1)
    second = canary.take_sample(at=2.0)[7]
    assert second["requests"] == 1 and sum(second["produce"]["counts"]) == 0


def test_each_broker_leads_one_partition_with_followers_round_the_ring() -> None:
    assert canary_assignment([1, 2, 3]) == [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
    assert canary_assignment([4, 9]) == [[4, 9], [9, 4]]
    assert [r[0] for r in canary_assignment([1, 2, 3, 4])] == [1, 2, 3, 4]
    assert all(len(r) == 3 for r in canary_assignment([1, 2, 3, 4]))
