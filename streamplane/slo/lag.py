"""Consumer lag health, evaluated the way Burrow does it, over a sliding window of samples.

Burrow judges each partition of a group over its last offsets, not a lag threshold (a
lag of 10,000 is fine for a consumer keeping up with a busy topic and alarming for one
that stopped). Its rules, in the order they apply here:

* **REWIND** – the committed offset went backwards within the window.
* **OK** – the lag was zero at some point of the window: the consumer caught up.
* **STOP** – nobody consumes the partition: no member of the group owns it, and it lags.
* **STALL** – a member owns it but its committed offset did not move over the window
  while it lagged (a consumer stuck on a record, or one that stopped committing).
* **WARN** – the offset moves but the lag grew at every step: the consumer falls behind.
* **OK** – anything else.

A group is ERR if any partition is STOP, STALL or REWIND, WARN if any is WARN, else OK.

Burrow tells STOP from STALL by the age of the last commit (it reads every commit from
``__consumer_offsets``); here samples come from the admin API (committed and end offsets
plus the group's members), and whether a member owns the partition tells them apart: a
consumer that died is STALL until its session times out and the group drops it, then STOP.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

ERROR_STATUSES = ("STOP", "STALL", "REWIND")


@dataclass(frozen=True)
class Offsets:
    """One sample of one partition of a group."""

    time: float
    committed: int
    end: int
    owned: bool

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class PartitionHealth:
    topic: str
    partition: int
    status: str
    lag: int
    committed: int
    end: int
    samples: int


@dataclass(frozen=True)
class GroupHealth:
    group: str
    status: str
    total_lag: int
    partitions: list[PartitionHealth]
    #: Samples in the window out of those asked for (Burrow's "complete").
    complete: float

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "status": self.status,
            "total_lag": self.total_lag,
            "complete": round(self.complete, 2),
            "partitions": [p.__dict__ for p in self.partitions],
        }


def partition_status(window: Sequence[Offsets]) -> str:
    """Burrow's verdict on one partition's samples, oldest first."""
    committed = [s.committed for s in window]
    lags = [s.lag for s in window]
    if any(b < a for a, b in itertools.pairwise(committed)):
        return "REWIND"
    if any(lag == 0 for lag in lags):
        return "OK"
    if not window[-1].owned:
        return "STOP"
    if len(window) >= 2 and committed[0] == committed[-1]:
        return "STALL"
    if len(window) >= 2 and all(b > a for a, b in itertools.pairwise(lags)):
        return "WARN"
    return "OK"


def group_status(statuses: Iterable[str]) -> str:
    found = set(statuses)
    if found & set(ERROR_STATUSES):
        return "ERR"
    return "WARN" if "WARN" in found else "OK"


def evaluate(
    group: str, history: Sequence[Mapping[tuple[str, int], Offsets]], *, window: int
) -> GroupHealth:
    """Health of ``group`` from its samples (oldest first; each maps (topic, partition) to
    that sample's offsets), judged over the newest ``window`` of them."""
    recent = list(history)[-window:]
    keys = sorted({key for sample in recent for key in sample})
    partitions = []
    for topic, partition in keys:
        series = [s[(topic, partition)] for s in recent if (topic, partition) in s]
        last = series[-1]
        partitions.append(
            PartitionHealth(
                topic, partition, partition_status(series), last.lag, last.committed, last.end,
                len(series),
            )
        )  # fmt: skip
    return GroupHealth(
        group,
        group_status(p.status for p in partitions),
        sum(p.lag for p in partitions),
        partitions,
        min(1.0, len(recent) / window) if window else 1.0,
    )


@dataclass
class GroupSample:
    group: str
    time: float
    state: str
    members: int
    partitions: dict[tuple[str, int], Offsets] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "state": self.state,
            "members": self.members,
            "partitions": [
                {
                    "topic": topic,
                    "partition": partition,
                    "committed": o.committed,
                    "end": o.end,
                    "lag": o.lag,
                    "owned": o.owned,
                }
                for (topic, partition), o in sorted(self.partitions.items())
            ],
        }

    @classmethod
    def from_record(cls, at: float, data: Mapping[str, Any]) -> GroupSample:
        sample = cls(
            str(data["group"]), at, str(data.get("state", "")), int(data.get("members", 0))
        )
        for p in data.get("partitions", []):
            sample.partitions[(str(p["topic"]), int(p["partition"]))] = Offsets(
                at, int(p["committed"]), int(p["end"]), bool(p.get("owned", False))
            )
        return sample


def sample_groups(
    admin: AdminClient,
    groups: Iterable[str] | None = None,
    *,
    skip_prefix: str = "_streamplane",
    timeout_s: float = 5.0,
) -> dict[str, GroupSample]:
    """Committed and end offsets of every partition each group has committed, and which
    of them a member owns. ``groups`` None: every consumer group but the platform's own."""
    if groups is None:
        listed = admin.list_consumer_groups(request_timeout=timeout_s).result(timeout_s)
        names = sorted(g.group_id for g in listed.valid if not g.group_id.startswith(skip_prefix))
    else:
        names = sorted(groups)
    if not names:
        return {}
    now = time.time()
    described = admin.describe_consumer_groups(names, request_timeout=timeout_s)
    found: dict[str, GroupSample] = {}
    committed: dict[str, dict[tuple[str, int], int]] = {}
    owned: dict[str, set[tuple[str, int]]] = {}
    for name in names:
        try:
            description = described[name].result(timeout_s)
        except KafkaException:
            continue
        owners = set()
        for member in description.members:
            for tp in member.assignment.topic_partitions if member.assignment else []:
                owners.add((tp.topic, tp.partition))
        owned[name] = owners
        found[name] = GroupSample(
            name, now, str(description.state).rsplit(".", 1)[-1], len(description.members)
        )
        futures = admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(name)], request_timeout=timeout_s
        )
        offsets = futures[name].result(timeout_s)
        committed[name] = {
            (tp.topic, tp.partition): tp.offset
            for tp in offsets.topic_partitions or []
            if tp.offset >= 0
        }
    wanted = {key for per in committed.values() for key in per}
    ends: dict[tuple[str, int], int] = {}
    if wanted:
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        requests = {TopicPartition(t, p): latest for t, p in wanted}
        for tp, future in admin.list_offsets(requests, request_timeout=timeout_s).items():
            try:
                ends[(tp.topic, tp.partition)] = future.result(timeout_s).offset
            except KafkaException:
                continue
    for name, per in committed.items():
        for key, offset in per.items():
            if key in ends:
                found[name].partitions[key] = Offsets(now, offset, ends[key], key in owned[name])
    return found
