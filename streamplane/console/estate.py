"""The live state of the cluster, read in the background and shared by every request.

Pages must answer in well under a second at 10,000 topics, and a page view must not cost
the brokers a metadata request per user. One thread reads the cluster every
``refresh_s``: every topic's layout (one Metadata request), every consumer group with its
lag (one DescribeGroups, the OffsetFetches in flight together, one ListOffsets) and the
ACLs (one DescribeAcls). Requests read the newest snapshot, which is replaced whole, so a
page never mixes two reads. Each group's total lag is also kept for the last
``history`` refreshes, which the group pages chart.

A failed read keeps the previous snapshot and records the error, which the overview shows
(a console must stay up when the cluster it watches does not).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaException

from streamplane.errors import StreamplaneError
from streamplane.kafka import ClusterInspector, ConnectionSettings, GroupDetail, TopicLayout
from streamplane.kafka._admin import AclTuple
from streamplane.slo.lag import GroupHealth, Offsets, evaluate
from streamplane.slo.monitor import LAG_WINDOW

log = logging.getLogger(__name__)

#: One refresh of one group: (topic, partition) -> its offsets then.
Sample = dict[tuple[str, int], Offsets]


@dataclass(frozen=True)
class Snapshot:
    """One read of the cluster; ``taken_at`` is 0 before the first one succeeded."""

    taken_at: float = 0.0
    layouts: dict[str, TopicLayout] = field(default_factory=dict)
    groups: dict[str, GroupDetail] = field(default_factory=dict)
    acls: tuple[AclTuple, ...] = ()
    brokers: tuple[int, ...] = ()
    #: The last read's error, if it failed (the snapshot is then the one before).
    error: str | None = None
    #: group -> its partitions' offsets at each refresh, oldest first.
    offsets: dict[str, list[Sample]] = field(default_factory=dict)

    def lag_series(self, group: str) -> list[tuple[float, int]]:
        """(time, total lag) of ``group`` at each refresh kept, oldest first."""
        return [
            (next(iter(s.values())).time, sum(o.lag for o in s.values()))
            for s in self.offsets.get(group, [])
            if s
        ]

    def health(self, group: str) -> GroupHealth | None:
        """Burrow's verdict on ``group`` over the last refreshes; None before any sample."""
        history = self.offsets.get(group)
        if not history:
            return None
        return evaluate(group, history, window=LAG_WINDOW)


class EstateCache:
    """Reads the cluster every ``refresh_s`` in a daemon thread; ``snapshot`` is the newest."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        refresh_s: float = 2.0,
        history: int = 300,
        inspector: Callable[[], ClusterInspector] | None = None,
    ) -> None:
        self.settings = settings
        self.refresh_s = refresh_s
        self.inspector = (inspector or (lambda: ClusterInspector(settings, timeout_s=10)))()
        self._history: dict[str, deque[Sample]] = {}
        self._keep = history
        self._snapshot = Snapshot()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="estate-cache", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def wait_ready(self, timeout_s: float) -> bool:
        """True once a read finished (successfully or not)."""
        return self._ready.wait(timeout_s)

    def refresh(self) -> Snapshot:
        """Read the cluster now (the thread's step; tests and the first page call it too)."""
        try:
            layouts = {t.name: t for t in self.inspector.layouts()}
            groups = {g.group: g for g in self.inspector.group_details()}
            acls = tuple(self.inspector.acls())
            brokers = tuple(self.inspector.brokers())
        except (StreamplaneError, KafkaException) as exc:
            error = str(exc) if isinstance(exc, StreamplaneError) else exc.args[0].str()
            log.warning("reading the cluster failed: %s", error)
            previous = self._snapshot
            self._snapshot = Snapshot(
                previous.taken_at, previous.layouts, previous.groups, previous.acls,
                previous.brokers, error, previous.offsets,
            )  # fmt: skip
            return self._snapshot
        now = time.time()
        for name, detail in groups.items():
            sample = {
                (p.topic, p.partition): Offsets(
                    now, p.committed, p.end_offset, p.member is not None
                )
                for p in detail.lags
                if p.committed is not None and p.end_offset is not None
            }
            if sample:
                self._history.setdefault(name, deque(maxlen=self._keep)).append(sample)
        history = {name: list(ring) for name, ring in self._history.items() if name in groups}
        self._snapshot = Snapshot(now, layouts, groups, acls, brokers, None, history)
        return self._snapshot

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.refresh()
            self._ready.set()
            self._stop.wait(max(0.0, self.refresh_s - (time.monotonic() - started)))
