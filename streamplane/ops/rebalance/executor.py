"""Execute a rebalance plan through Kafka's own reassignment, in throttled batches.

Kafka moves the data (AlterPartitionReassignments); this decides the order and the pace
and keeps a record that survives the process. The record (``execution.json`` in the
state directory) is written before every step that changes the cluster, so:

- throttles are recorded before they are set, and removed at the end of the run, when
  it is cancelled, when it fails, and — after a SIGKILL — by a janitor process that
  outlives the executor and removes them once the batch in flight has landed;
- an interrupted run resumes where it stopped: ``execute`` again skips what landed,
  waits for what is in flight, and continues (a plan is tied to its bytes by digest);
- ``cancel`` from another shell asks the executor to stop (a flag file beside the record:
  the record is the executor's alone to write while it runs, so a request written into it
  could be overwritten), or, when none runs, cancels the plan's reassignments in flight and
  removes the throttles itself.

Moves are checked against the live placement before each batch: a partition already
where the plan puts it is done; one that changed since the plan was made is skipped
(and reported), never forced back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from streamplane.errors import StreamplaneError
from streamplane.kafka import ConnectionSettings
from streamplane.kafka._admin import ClusterAdmin
from streamplane.local._layout import write_public_file
from streamplane.local._process import running_process, write_pid_file
from streamplane.ops.rebalance.live import elect_preferred, in_flight, read_cluster, reassign
from streamplane.ops.rebalance.model import Partition
from streamplane.ops.rebalance.plan_file import PlanFile, read_plan
from streamplane.ops.rebalance.planner import Move

Key = tuple[str, int]

#: Replication throttle (bytes/s per broker, leader and follower side) unless told.
DEFAULT_THROTTLE = 50 * 1024 * 1024
DEFAULT_BATCH = 10
POLL_S = 0.5

_TOPIC_KEYS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")
_BROKER_KEYS = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")


@dataclass
class Execution:
    """What ``execution.json`` records: enough to resume, report, cancel and clean up."""

    plan: str
    digest: str
    cluster_id: str
    #: The librdkafka properties file of the cluster (the janitor reconnects with it).
    connection: str = ""
    status: str = "running"  # running | done | cancelled | interrupted | failed
    completed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    bytes_done: int = 0
    bytes_total: int = 0
    moves_total: int = 0
    throttled_topics: list[str] = field(default_factory=list)
    throttled_brokers: list[int] = field(default_factory=list)
    throttle: int = DEFAULT_THROTTLE
    started: float = 0.0
    finished: float = 0.0
    error: str = ""


class StateDir:
    """The executor's folder: its record, its pid file and the janitor's log."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.record = root / "execution.json"
        self.pid_file = root / "executor.pid"
        self.janitor_log = root / "janitor.log"
        #: Created by ``cancel``; the executor stops at its next look.
        self.cancel_flag = root / "cancel-requested"

    def read(self) -> Execution | None:
        if not self.record.exists():
            return None
        try:
            return Execution(**json.loads(self.record.read_text()))
        except (ValueError, TypeError) as exc:
            raise StreamplaneError(
                f"{self.record} is not a rebalance record ({exc}); move it away to start afresh"
            ) from exc

    def write(self, execution: Execution) -> None:
        write_public_file(self.record, json.dumps(asdict(execution), indent=1) + "\n")

    def executor_alive(self) -> bool:
        return running_process(self.pid_file) is not None


def _key(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


ProgressFn = Callable[[Execution], None]


class Executor:
    def __init__(
        self,
        settings: ConnectionSettings,
        state: StateDir,
        *,
        throttle: int = DEFAULT_THROTTLE,
        batch: int = DEFAULT_BATCH,
        progress: ProgressFn | None = None,
    ) -> None:
        self.settings = settings
        self.state = state
        self.throttle = throttle
        self.batch = batch
        self.progress = progress or (lambda _: None)

    # ------------------------------------------------------------------ run
    def execute(
        self,
        plan: PlanFile,
        path: Path,
        digest: str,
        *,
        connection: Path | None,
    ) -> Execution:
        """Run (or resume) ``plan``; returns the final record. Raises when refused.

        ``connection``: the cluster's properties file, which the janitor reconnects with;
        without one no janitor runs (throttles are still removed on every exit but a
        SIGKILL, and by the next ``execute``/``cancel``)."""
        if self.state.executor_alive():
            raise StreamplaneError(
                f"a rebalance is already executing (pid file {self.state.pid_file}); watch it "
                "with `streamplane rebalance status` or stop it with `streamplane rebalance cancel`"
            )
        live = read_cluster(self.settings)
        if live.cluster_id != plan.cluster_id:
            raise StreamplaneError(
                f"{path} was planned for cluster {plan.cluster_id}, not {live.cluster_id}; "
                "plan again against this cluster"
            )
        record = self._resume_or_start(plan, path, digest)
        self.state.cancel_flag.unlink(missing_ok=True)  # an old request is not this run's
        record.connection = str(connection.resolve()) if connection is not None else ""
        self.state.root.mkdir(parents=True, exist_ok=True)
        write_pid_file(self.state.pid_file, _this_process())
        if connection is not None:
            _start_janitor(self.state)
        try:
            self._run(plan, record, live.model.partitions, live.reassigning)
        except BaseException as exc:
            record.status = "failed" if isinstance(exc, Exception) else "interrupted"
            record.error = str(exc) or type(exc).__name__
            self.state.write(record)
            raise
        finally:
            self._remove_throttles(record)
            record.finished = time.time()
            self.state.write(record)
            self.state.pid_file.unlink(missing_ok=True)
            if record.status == "cancelled":
                self.state.cancel_flag.unlink(missing_ok=True)
        return record

    def _resume_or_start(self, plan: PlanFile, path: Path, digest: str) -> Execution:
        record = self.state.read()
        if record is not None and record.status in ("running", "interrupted", "failed"):
            if record.digest != digest:
                raise StreamplaneError(
                    f"an execution of another plan ({record.plan}) did not finish "
                    f"({record.status}); resume it with `streamplane rebalance execute "
                    f"{record.plan}` or end it with `streamplane rebalance cancel`"
                )
            record.status = "running"
            record.error = ""
            record.throttle = self.throttle  # a resume may go faster or slower
            return record
        return Execution(
            plan=str(path),
            digest=digest,
            cluster_id=plan.cluster_id,
            bytes_total=plan.total_bytes,
            moves_total=len(plan.all_moves),
            throttle=self.throttle,
            started=time.time(),
        )

    def _run(
        self,
        plan: PlanFile,
        record: Execution,
        partitions: list[Partition],
        reassigning: dict[Key, list[int]],
    ) -> None:
        current = {p.key: p.replicas for p in partitions}
        by_key = {(m.topic, m.partition): m for m in plan.all_moves}
        todo: list[Move] = []
        landing: list[Move] = []
        for key, move in by_key.items():
            if _key(*key) in record.completed:
                continue
            now = current.get(key)
            if key in reassigning:
                landing.append(move)  # in flight from an interrupted run: wait for it
            elif now == move.after:
                self._complete(record, move)
            elif now is None or sorted(now) != sorted(move.before):
                record.skipped[_key(*key)] = (
                    f"placement is now {now}, the plan expected {move.before}"
                    if now is not None
                    else "the partition no longer exists"
                )
            else:
                todo.append(move)
        self.state.write(record)
        self.progress(record)
        batches = ([landing] if landing else []) + [
            todo[i : i + self.batch] for i in range(0, len(todo), self.batch)
        ]
        for index, batch in enumerate(batches):
            if self._cancel_requested(record):
                return
            self._throttle(record, batch)
            if not (landing and index == 0):
                refused = reassign(self.settings, {(m.topic, m.partition): m.after for m in batch})
                for key, reason in refused.items():
                    record.skipped[_key(*key)] = f"the controller refused: {reason}"
                batch = [m for m in batch if (m.topic, m.partition) not in refused]
            if not self._wait(record, batch):
                return
        moved = [
            (m.topic, m.partition)
            for m in plan.all_moves
            if _key(m.topic, m.partition) in record.completed
        ]
        elect_preferred(self.settings, moved)
        record.status = "done"

    def _wait(self, record: Execution, batch: list[Move]) -> bool:
        """Until every move of ``batch`` landed; False when cancelled meanwhile."""
        pending = {(m.topic, m.partition): m for m in batch}
        while pending:
            if self._cancel_requested(record):
                reassign(self.settings, dict.fromkeys(pending))
                return False
            moving = in_flight(self.settings)
            for key in [k for k in pending if k not in moving]:
                self._complete(record, pending.pop(key))
            self.state.write(record)
            self.progress(record)
            if pending:
                time.sleep(POLL_S)
        return True

    def _complete(self, record: Execution, move: Move) -> None:
        record.completed.append(_key(move.topic, move.partition))
        record.bytes_done += move.bytes

    def _cancel_requested(self, record: Execution) -> bool:
        if self.state.cancel_flag.exists():
            record.status = "cancelled"
            return True
        return False

    # ------------------------------------------------------------- throttles
    def _throttle(self, record: Execution, batch: list[Move]) -> None:
        """Throttle exactly the replicas this batch moves: the sources (leader side, every
        current replica, as Kafka's own tool does) and the new ones (follower side)."""
        leader: dict[str, list[str]] = {}
        follower: dict[str, list[str]] = {}
        brokers: set[int] = set()
        for m in batch:
            added = [b for b in m.after if b not in m.before]
            if not added:
                continue
            leader.setdefault(m.topic, []).extend(f"{m.partition}:{b}" for b in m.before)
            follower.setdefault(m.topic, []).extend(f"{m.partition}:{b}" for b in added)
            brokers.update(m.before)
            brokers.update(m.after)
        if not brokers:
            return
        # Recorded first: a crash between the two writes leaves a record naming more
        # than is set (harmless to remove), never throttles nobody knows of.
        record.throttled_topics = sorted(set(record.throttled_topics) | set(leader))
        record.throttled_brokers = sorted(set(record.throttled_brokers) | brokers)
        self.state.write(record)
        admin = ClusterAdmin(self.settings)
        admin.alter_topic_configs(
            {
                t: {_TOPIC_KEYS[0]: ",".join(leader[t]), _TOPIC_KEYS[1]: ",".join(follower[t])}
                for t in leader
            }
        )
        rate = str(record.throttle)
        admin.alter_broker_configs({b: dict.fromkeys(_BROKER_KEYS, rate) for b in brokers})

    def _remove_throttles(self, record: Execution) -> None:
        remove_throttles(self.settings, record)
        self.state.write(record)


def remove_throttles(settings: ConnectionSettings, record: Execution) -> None:
    """Delete every throttle the record names (idempotent: deleting an unset key is fine)."""
    if not record.throttled_topics and not record.throttled_brokers:
        return
    admin = ClusterAdmin(settings)
    live_topics = admin.topic_names()
    admin.alter_topic_configs(
        {t: dict.fromkeys(_TOPIC_KEYS) for t in record.throttled_topics if t in live_topics}
    )
    admin.alter_broker_configs({b: dict.fromkeys(_BROKER_KEYS) for b in record.throttled_brokers})
    record.throttled_topics = []
    record.throttled_brokers = []


def cancel(settings: ConnectionSettings, state: StateDir, *, wait_s: float = 30.0) -> Execution:
    """Stop the execution: ask a live executor to stop (it cancels its batch and removes
    the throttles), or do that here when none runs."""
    record = state.read()
    if record is None or record.status in ("done", "cancelled"):
        raise StreamplaneError(
            f"no rebalance to cancel in {state.root} "
            f"({'none was executed' if record is None else 'the last one is ' + record.status})"
        )
    state.cancel_flag.touch()
    deadline = time.monotonic() + wait_s
    while state.executor_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    record = state.read() or record
    if record.status != "cancelled":
        # No executor ran (or it did not answer): cancel what of the plan is in flight.
        moving = in_flight(settings)
        planned = plan_keys(Path(record.plan))
        reassign(settings, {k: None for k in moving if k in planned})
        remove_throttles(settings, record)
        record.status = "cancelled"
        record.finished = time.time()
        state.write(record)
        if not state.executor_alive():
            state.cancel_flag.unlink(missing_ok=True)
    return record


def plan_keys(path: Path) -> set[Key]:
    """The partitions a plan moves; empty when its file is gone (nothing is then ours)."""
    if not path.exists():
        return set()
    plan, _ = read_plan(path)
    return {(m.topic, m.partition) for m in plan.all_moves}


def clean_up_after(state: StateDir, settings: ConnectionSettings, dead_pid: int) -> bool:
    """After executor ``dead_pid`` died mid-run: let the plan's batch in flight land
    (throttled, as it started), then remove the throttles and mark the run interrupted
    (``execute`` resumes it). False when there was nothing to do (it finished, or a new
    executor took over)."""
    record = state.read()
    if record is None or record.status != "running":
        return False
    planned = plan_keys(Path(record.plan))
    while planned & set(in_flight(settings)):
        if state.executor_alive():
            return False  # resumed meanwhile: the new executor owns the throttles
        time.sleep(1.0)
    if state.executor_alive():
        return False
    remove_throttles(settings, record)
    cancelled = state.cancel_flag.exists()
    record.status = "cancelled" if cancelled else "interrupted"
    state.cancel_flag.unlink(missing_ok=True)
    record.error = f"the executor (pid {dead_pid}) died; `streamplane rebalance execute` resumes"
    record.finished = time.time()
    state.write(record)
    return True


# ------------------------------------------------------------------ janitor
def _this_process() -> psutil.Process:
    return psutil.Process(os.getpid())


def _start_janitor(state: StateDir) -> None:
    """A detached process that removes the throttles if this executor dies without doing
    so (SIGKILL, OOM, a lost terminal): no signal handler survives those."""
    state.root.mkdir(parents=True, exist_ok=True)
    with state.janitor_log.open("a") as log:
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamplane.ops.rebalance.janitor",
                str(state.root),
                str(os.getpid()),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
