"""A rebalance plan that reaches the goals moving the fewest bytes.

Goals, in priority order (a later goal never undoes an earlier one):

1. rack awareness (hard): a partition's replicas in distinct racks, where there are
   enough racks;
2. capacity (hard): no broker above ``max_disk`` of its capacity;
3. disk balance (soft): every broker's use within ``tolerance`` (a fraction of capacity)
   of the cluster's mean use;
4. replica balance (soft): replica counts within one of each other, as far as cheap
   replicas (at most 1 MiB or 0.1 % of a broker's mean use; empty ones first) can do it
   without leaving the disk band: counts are worth evening out, not worth copying data;
5. network and leader balance (soft): preferred leaders chosen so each broker leads an
   even share of the bytes written (measured rates; counts when nothing was measured),
   by reordering replicas, which moves no data.

Why not Cruise Control's approach, or ``kafka-reassign-partitions --generate``:
``--generate`` computes a placement from scratch and moves whatever differs from it
(most of the data); Cruise Control's goal optimizer searches widely and takes its time at
millions of replicas. Here each byte moved must fix a broker that is outside its band:
for each one over its upper bound the largest replicas that do not overshoot what it
must shed go first to the least-used broker that may take them (rack-safe, not holding
the partition, staying inside its own band), then brokers under their lower bound are
filled the same way from the most-used ones. The plan reports its lower bound: no plan
reaching the same bands can move less than the bytes the brokers outside them must shed
or receive.
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from dataclasses import dataclass, field

from streamplane.ops.rebalance.model import ClusterModel, Partition


@dataclass(frozen=True)
class Goals:
    """What a plan must reach, and which brokers it may touch.

    ``relative``: the band is ``tolerance`` of the mean use itself (±10 % of the mean),
    not of capacity; a live cluster whose data is small beside its disks is otherwise
    always "balanced". ``only_to``: replicas may move only onto these brokers (adding a
    broker: nothing else moves). ``drain``: every replica leaves these brokers (before
    removing them); they take none. ``racks_only``: fix rack violations and stop.
    """

    tolerance: float = 0.05
    max_disk: float = 0.85
    relative: bool = False
    only_to: frozenset[int] | None = None
    drain: frozenset[int] = frozenset()
    racks_only: bool = False
    #: Balance replica counts too (moves small replicas; off for synthetic figures,
    #: whose baseline, --generate, balances counts by construction anyway).
    replicas: bool = True


@dataclass
class Move:
    topic: str
    partition: int
    before: list[int]
    after: list[int]
    bytes: int
    why: str


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    leader_changes: int = 0
    #: Replica orders changed for leader balance alone (same brokers, no data moved).
    leader_moves: list[Move] = field(default_factory=list)
    #: Replicas a drain could not place (no rack-safe broker left): the drain is partial.
    stranded: list[tuple[str, int, int]] = field(default_factory=list)
    lower_bound_bytes: int = 0
    disk_stddev_before: float = 0.0
    disk_stddev_after: float = 0.0
    disk_cv_before: float = 0.0
    disk_cv_after: float = 0.0
    network_cv_before: float = 0.0
    network_cv_after: float = 0.0
    replica_spread_before: int = 0
    replica_spread_after: int = 0
    rack_violations_before: int = 0
    rack_violations_after: int = 0
    plan_seconds: float = 0.0

    @property
    def bytes_moved(self) -> int:
        return sum(m.bytes for m in self.moves)


class _Planner:
    def __init__(self, model: ClusterModel, goals: Goals) -> None:
        self.m = model
        self.goals = goals
        self.racks = len(model.racks())
        kept = [b for b in model.brokers.values() if b.id not in goals.drain]
        total_cap = sum(b.capacity_bytes for b in kept)
        self.mean = sum(model.disk.values()) / total_cap if total_cap else 0.0
        self.moves: dict[int, Move] = {}
        self.stranded: list[tuple[str, int, int]] = []

    # ------------------------------------------------------------------ bounds
    def upper(self, broker: int) -> float:
        if broker in self.goals.drain:
            return 0.0
        cap = self.m.brokers[broker].capacity_bytes
        tol = self.goals.tolerance * (self.mean if self.goals.relative else 1.0)
        return min(self.mean + tol, self.goals.max_disk) * cap

    def lower(self, broker: int) -> float:
        if broker in self.goals.drain or not self.receives(broker):
            return 0.0
        tol = self.goals.tolerance * (self.mean if self.goals.relative else 1.0)
        return max(0.0, self.mean - tol) * self.m.brokers[broker].capacity_bytes

    def receives(self, broker: int) -> bool:
        """May replicas move onto ``broker`` at all (modes restrict the targets)?"""
        if broker in self.goals.drain:
            return False
        return self.goals.only_to is None or broker in self.goals.only_to

    def util(self, broker: int) -> float:
        return self.m.disk[broker] / self.m.brokers[broker].capacity_bytes

    def lower_bound(self) -> int:
        shed = sum(max(0.0, self.m.disk[b] - self.upper(b)) for b in self.m.brokers)
        need = sum(max(0.0, self.lower(b) - self.m.disk[b]) for b in self.m.brokers)
        racks = sum(self._rack_excess(i) * self.m.partitions[i].size_bytes
                    for i in self.m.rack_violations())  # fmt: skip
        return math.ceil(max(shed, need, racks) - 1e-6)

    def _rack_excess(self, index: int) -> int:
        part = self.m.partitions[index]
        return len(part.replicas) - len({self.m.brokers[b].rack for b in part.replicas})

    # ------------------------------------------------------------------ moves
    def may_take(self, index: int, source: int, target: int, *, band: bool = True) -> bool:
        part = self.m.partitions[index]
        if target in part.replicas or not self.receives(target):
            return False
        if band and part.size_bytes and self.m.disk[target] + part.size_bytes > self.upper(target):
            return False
        if self.racks >= len(part.replicas):
            others = {self.m.brokers[b].rack for b in part.replicas if b != source}
            if self.m.brokers[target].rack in others:
                return False
        return True

    def move(self, index: int, source: int, target: int, why: str) -> None:
        part = self.m.partitions[index]
        before = list(part.replicas)
        part.replicas[part.replicas.index(source)] = target
        self.m.holdings[source].discard(index)
        self.m.holdings[target].add(index)
        self.m.disk[source] -= part.size_bytes
        self.m.disk[target] += part.size_bytes
        if part.replicas[0] == target:
            self.m.leaders[source] -= 1
            self.m.leaders[target] += 1
        earlier = self.moves.get(index)
        original = earlier.before if earlier else before
        added = [b for b in part.replicas if b not in original]
        self.moves[index] = Move(
            part.topic, part.partition, original, list(part.replicas),
            len(added) * part.size_bytes, why if earlier is None else f"{earlier.why}; {why}",
        )  # fmt: skip

    def _top(self, heap: list[tuple[float, int]]) -> tuple[float, int] | None:
        """The valid least-used entry of a lazy heap (stale entries re-pushed)."""
        while heap and abs(heap[0][0] - self.util(heap[0][1])) > 1e-12:
            _, broker = heapq.heappop(heap)
            heapq.heappush(heap, (self.util(broker), broker))
        return heap[0] if heap else None

    def _least_used(
        self, index: int, source: int, heaps: dict[str, list[tuple[float, int]]]
    ) -> int | None:
        """The least-used broker that may take the replica, from the racks it may go to
        (one lazy heap of utilisation per rack)."""
        part = self.m.partitions[index]
        racks = list(heaps)
        if self.racks >= len(part.replicas):
            taken = {self.m.brokers[b].rack for b in part.replicas if b != source}
            racks = [r for r in racks if r not in taken]
        best: int | None = None
        for rack in racks:
            heap = heaps[rack]
            popped: list[tuple[float, int]] = []
            while (top := self._top(heap)) is not None and len(popped) < 16:
                if best is not None and top[0] >= self.util(best):
                    break
                if self.may_take(index, source, top[1]):
                    best = top[1]
                    break
                if self.m.disk[top[1]] + part.size_bytes > self.upper(top[1]):
                    break  # the least-used here has no room: none in this rack has
                popped.append(heapq.heappop(heap))
            for entry in popped:
                heapq.heappush(heap, entry)
        return best

    # ------------------------------------------------------------------ goals
    def fix_racks(self) -> None:
        for index in self.m.rack_violations():
            part = self.m.partitions[index]
            seen: set[str] = set()
            for broker in list(part.replicas):
                rack = self.m.brokers[broker].rack
                if rack not in seen:
                    seen.add(rack)
                    continue
                options = sorted(
                    (b for b in self.m.brokers if self.m.brokers[b].rack not in seen
                     and self.may_take(index, broker, b, band=False)),
                    key=self.util,
                )  # fmt: skip
                if options:
                    self.move(index, broker, options[0], "rack awareness")
                    seen.add(self.m.brokers[options[0]].rack)

    def drain(self) -> None:
        """Every replica off the drained brokers, largest first, each to the least-used
        broker that may take it rack-safely; what none may take is reported, not forced."""
        for source in sorted(self.goals.drain):
            for index in self._by_size(source):
                options = [b for b in self.m.brokers if self.may_take(index, source, b, band=False)]
                if not options:
                    part = self.m.partitions[index]
                    self.stranded.append((part.topic, part.partition, source))
                    continue
                self.move(index, source, min(options, key=self.util), f"drain broker {source}")

    def _by_size(self, broker: int, *, empty: bool = True) -> list[int]:
        """``broker``'s replicas, largest first; ``empty=False`` leaves out empty ones
        (moving them changes no broker's disk use: pure churn for a disk goal)."""
        held = self.m.holdings[broker]
        if not empty:
            held = {i for i in held if self.m.partitions[i].size_bytes > 0}
        return sorted(held, key=lambda i: -self.m.partitions[i].size_bytes)

    def shed(self) -> None:
        """Each broker over its upper bound sheds to the least-used brokers that may take it:
        the largest replicas that do not overshoot first, then the smallest that covers
        the rest."""
        heaps: dict[str, list[tuple[float, int]]] = {}
        for b in self.m.brokers:
            heaps.setdefault(self.m.brokers[b].rack, []).append((self.util(b), b))
        for heap in heaps.values():
            heapq.heapify(heap)
        for source in sorted(self.m.brokers, key=lambda b: self.upper(b) - self.m.disk[b]):
            candidates = self._by_size(source, empty=False)
            for fits in (True, False):
                for index in candidates if fits else reversed(candidates):
                    left = self.m.disk[source] - self.upper(source)
                    if left <= 0:
                        break
                    if index not in self.m.holdings[source]:
                        continue
                    if fits and self.m.partitions[index].size_bytes > left:
                        continue
                    target = self._least_used(index, source, heaps)
                    if target is not None:
                        self.move(index, source, target, "disk balance (shed)")
                        heapq.heappush(
                            heaps[self.m.brokers[target].rack], (self.util(target), target)
                        )

    def fill(self) -> None:
        """Each broker under its lower bound takes, from the most-used broker that can
        spare it, the largest replica that fits what it lacks and what the donor can
        spare (never taking a donor under its own lower bound)."""
        donors = [(-self.util(b), b) for b in self.m.brokers]
        heapq.heapify(donors)
        sizes = {b: self._ascending(b) for b in self.m.brokers}
        for target in sorted(self.m.brokers, key=lambda b: self.m.disk[b] - self.lower(b)):
            tried: list[tuple[float, int]] = []
            while self.lower(target) - self.m.disk[target] > 0 and donors:
                util, source = heapq.heappop(donors)
                if abs(-util - self.util(source)) > 1e-12:
                    heapq.heappush(donors, (-self.util(source), source))
                    continue
                if source == target:
                    tried.append((util, source))
                    continue
                need = self.lower(target) - self.m.disk[target]
                spare = self.m.disk[source] - self.lower(source)
                if spare <= 0:  # the most-used can spare nothing: neither can the rest
                    tried.append((util, source))
                    break
                index = self._largest_fitting(sizes[source], source, target, min(need, spare))
                if index is None:  # then the smallest that covers what is left
                    index = self._largest_fitting(sizes[source], source, target, spare)
                if index is None:
                    tried.append((util, source))
                    continue
                self.move(index, source, target, "disk balance (fill)")
                heapq.heappush(donors, (-self.util(source), source))
            for entry in tried:
                heapq.heappush(donors, entry)

    def _ascending(self, broker: int) -> list[tuple[int, int]]:
        return sorted(
            (self.m.partitions[i].size_bytes, i)
            for i in self.m.holdings[broker]
            if self.m.partitions[i].size_bytes > 0
        )

    def _largest_fitting(
        self, ascending: list[tuple[int, int]], source: int, target: int, amount: float
    ) -> int | None:
        """The largest replica on ``source`` of at most ``amount`` bytes ``target`` may take."""
        at = bisect.bisect_right(ascending, (int(amount), 1 << 62))
        for pos in range(at - 1, max(-1, at - 65), -1):
            index = ascending[pos][1]
            if index in self.m.holdings[source] and self.may_take(index, source, target):
                del ascending[pos]
                return index
        return None

    def balance_replicas(self) -> None:
        """Move the smallest replicas from the broker with the most to the one with the
        fewest until counts are within one, never leaving a broker's disk band."""
        movable = [b for b in self.m.brokers if b not in self.goals.drain]
        if not movable:
            return
        cheap = max(1 << 20, 0.001 * sum(self.m.disk.values()) / len(movable))
        for _ in range(len(self.m.partitions) * 3):
            counts = {b: len(self.m.holdings[b]) for b in movable}
            most = max(counts, key=lambda b: (counts[b], b))
            fewest = [b for b in sorted(counts, key=lambda b: counts[b]) if self.receives(b)]
            if not fewest or counts[most] - counts[fewest[0]] <= 1:
                return
            moved = False
            for target in fewest:
                if counts[most] - counts[target] <= 1:
                    break
                smallest = sorted(
                    self.m.holdings[most], key=lambda i: self.m.partitions[i].size_bytes
                )
                for index in smallest[:64]:
                    part = self.m.partitions[index]
                    if part.size_bytes > cheap:
                        break  # sorted by size: the rest are dearer still
                    if part.size_bytes and self.m.disk[most] - part.size_bytes < self.lower(most):
                        continue  # it would leave the disk band (an empty replica never does)
                    if self.may_take(index, most, target):
                        self.move(index, most, target, "replica balance")
                        moved = True
                        break
                if moved:
                    break
            if not moved:
                return

    def balance_leaders(self) -> int:
        """Reorder replicas so leadership is even: by bytes written per second when rates
        were measured (a leader's network in and out follow them), else by count."""
        brokers = len(self.m.brokers) - len(self.goals.drain)
        if brokers <= 0:
            return 0
        measured = any(p.bytes_in_s > 0 for p in self.m.partitions)
        if measured:
            return self._balance_leader_bytes()
        ceiling = -(-sum(self.m.leaders.values()) // brokers)
        changes = 0
        for part in self.m.partitions:
            lead = part.replicas[0]
            if self.m.leaders[lead] <= ceiling:
                continue
            other = min(part.replicas[1:], key=lambda b: self.m.leaders[b], default=None)
            if other is not None and self.m.leaders[other] + 1 < self.m.leaders[lead]:
                self._lead(part, other)
                changes += 1
        return changes

    def _lead(self, part: Partition, broker: int) -> None:
        lead = part.replicas[0]
        part.replicas.remove(broker)
        part.replicas.insert(0, broker)
        self.m.leaders[lead] -= 1
        self.m.leaders[broker] += 1

    def _balance_leader_bytes(self) -> int:
        """Largest partitions first: hand leadership to the replica whose broker leads the
        fewest bytes when that narrows the gap (a swap that overshoots is not made)."""
        load = self.m.leader_load()
        changes = 0
        for part in sorted(self.m.partitions, key=lambda p: -p.bytes_in_s):
            if part.bytes_in_s <= 0 or len(part.replicas) < 2:
                continue
            lead = part.replicas[0]
            other = min(part.replicas[1:], key=lambda b: load[b])
            if other in self.goals.drain:
                continue
            if load[other] + part.bytes_in_s < load[lead]:
                load[lead] -= part.bytes_in_s
                load[other] += part.bytes_in_s
                self._lead(part, other)
                changes += 1
        return changes


def plan_rebalance(model: ClusterModel, goals: Goals | None = None) -> Plan:
    """Plan on a copy of ``model``; the model itself is left as it was."""
    started = time.perf_counter()
    work = model.copy()
    planner = _Planner(work, goals or Goals())
    plan = Plan(
        lower_bound_bytes=planner.lower_bound(),
        disk_stddev_before=model.disk_stddev(),
        disk_cv_before=model.disk_cv(),
        network_cv_before=model.network_cv(),
        replica_spread_before=model.replica_spread(),
        rack_violations_before=len(model.rack_violations()),
    )
    planner.fix_racks()
    if not planner.goals.racks_only:
        planner.drain()
        planner.shed()
        planner.fill()
        if planner.goals.replicas:
            planner.balance_replicas()
        plan.leader_changes = planner.balance_leaders()
    for index, move in planner.moves.items():
        # Leader balance may have reordered a moved partition's replicas since.
        move.after = list(work.partitions[index].replicas)
    plan.moves = sorted(planner.moves.values(), key=lambda m: (m.topic, m.partition))
    plan.leader_moves = [
        Move(new.topic, new.partition, list(old.replicas), list(new.replicas), 0, "leader balance")
        for i, (old, new) in enumerate(zip(model.partitions, work.partitions, strict=True))
        if i not in planner.moves and old.replicas != new.replicas
    ]
    plan.stranded = planner.stranded
    plan.disk_stddev_after = work.disk_stddev()
    plan.disk_cv_after = work.disk_cv()
    plan.network_cv_after = work.network_cv()
    plan.replica_spread_after = work.replica_spread()
    plan.rack_violations_after = len(work.rack_violations())
    plan.plan_seconds = time.perf_counter() - started
    return plan
