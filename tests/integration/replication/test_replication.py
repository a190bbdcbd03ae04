"""Two regions on real local clusters, replicated both ways by the real MirrorMaker 2.

One estate for the module (starting two clusters and two MM2s costs most of a minute):
``streamplane up --spec --all`` starts both clusters, ``apply`` gives each its topics,
principals and ACLs (MM2's own, least privilege), ``replicate apply`` starts one
supervised MM2 per flow. The tests run in file order: the last one kills east with -9.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer as RawProducer
from confluent_kafka import TopicPartition
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.client import Consumer
from streamplane.kafka import ClusterInspector, ConnectionSettings
from streamplane.local import ConsoleProcess, DataDir
from streamplane.local._mirror_service import MirrorProcess
from streamplane.model import Spec, find_flow, load_spec
from streamplane.replication.observe import latest_checkpoints, watermarks
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT

SPEC = Path(__file__).parent / "spec"
#: east on this offset, west 1000 above it (the spec's port_offset).
BASE_OFFSET = 20125 + PORT_SHIFT
ORDERS = "shop.orders.placed.v1"
CUSTOMERS = "crm.people.customers"
READER = "order-reader"
runner = CliRunner()


@dataclass
class Regions:
    spec: Spec
    root: Path

    def admin(self, cluster: str) -> ConnectionSettings:
        return ConnectionSettings.from_properties_file(self.root / cluster / "admin.properties")

    def cli(self, *args: str) -> str:
        result = runner.invoke(app, [*args, "--data-dir", str(self.root)])
        assert result.exit_code == 0, result.output
        return result.output

    def produce(self, cluster: str, topic: str, keys: list[str]) -> None:
        producer = RawProducer(self.admin(cluster).librdkafka(**{"enable.idempotence": True}))
        for key in keys:
            producer.produce(topic, key=key.encode(), value=key.encode())
            producer.poll(0)
        assert producer.flush(30) == 0

    def keys(self, cluster: str, topic: str, *, at_least: int, timeout_s: float = 90) -> Counter:
        """Every key of ``topic`` on ``cluster``, waiting until there are ``at_least``."""
        settings = self.admin(cluster)
        deadline = time.monotonic() + timeout_s
        while True:
            marks = watermarks(settings, [topic])
            total = sum(high - low for (_t, _p), (low, high) in marks.items())
            if total >= at_least or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        consumer = RawConsumer(
            settings.librdkafka(
                **{"group.id": f"check-{uuid.uuid4()}", "enable.auto.commit": False}
            )
        )
        consumer.assign([TopicPartition(t, p, low) for (t, p), (low, _h) in marks.items()])
        seen: Counter = Counter()
        remaining = total
        while remaining > 0:
            msg = consumer.poll(10)
            assert msg is not None, f"{topic} on {cluster}: {remaining} record(s) never came"
            if msg.error() is None:
                seen[msg.key().decode()] += 1
                remaining -= 1
        consumer.close()
        return seen


@pytest.fixture(scope="module")
def regions() -> Iterator[Regions]:
    root = TEST_ROOT / "regions"
    spec = load_spec(SPEC)
    estate = Regions(spec, root)
    up = ["up", "--spec", str(SPEC), "--all", "--port-offset", str(BASE_OFFSET)]
    estate.cli(*up, "--no-registry", "--no-audit")
    try:
        for cluster in ("east", "west"):
            estate.cli("apply", str(SPEC), "--cluster", cluster, "--auto-approve")
        estate.cli("replicate", "apply", str(SPEC))
        yield estate
    finally:
        runner.invoke(app, ["down", "--spec", str(SPEC), "--all", "--data-dir", str(root)])


def _topics(regions: Regions, cluster: str) -> set[str]:
    return {t.name for t in ClusterInspector(regions.admin(cluster)).layouts()}


def test_status_lists_each_region_with_its_bootstrap_and_admin_config(regions: Regions) -> None:
    listed = json.loads(regions.cli("status", "--spec", str(SPEC), "--json"))["clusters"]
    assert [(c["name"], c["region"], c["ready"]) for c in listed] == [
        ("east", "us-east", True),
        ("west", "us-west", True),
    ]
    for cluster in listed:
        props = Path(cluster["admin_properties"])
        assert props.samefile(regions.root / cluster["name"] / "admin.properties")
        assert (
            ConnectionSettings.from_properties_file(props).bootstrap_servers
            == (cluster["bootstrap_servers"])
        )
    east, west = (int(c["bootstrap_servers"].rsplit(":", 1)[1]) for c in listed)
    assert west - east == 1000  # the spec's port offsets, shifted together


def test_active_active_each_region_reads_both_regions_writes_exactly_once(
    regions: Regions,
) -> None:
    east = [f"east-{i}" for i in range(300)]
    west = [f"west-{i}" for i in range(200)]
    regions.produce("east", ORDERS, east)
    regions.produce("west", ORDERS, west)
    # The copies hold exactly the other region's records: nothing lost, nothing looped.
    assert regions.keys("west", f"east.{ORDERS}", at_least=300) == Counter(east)
    assert regions.keys("east", f"west.{ORDERS}", at_least=200) == Counter(west)
    for cluster in ("east", "west"):
        looped = {
            t for t in _topics(regions, cluster) if t.startswith(("east.west.", "west.east."))
        }
        assert looped == set(), f"copies of copies on {cluster}: {looped}"
    # The SDK reads the logical topic across its regional copies, as the application.
    for cluster in ("east", "west"):
        seen: Counter = Counter()
        consumer = Consumer.for_application(
            regions.spec, READER, cluster=cluster, data_dir=regions.root, with_copies=True
        )
        other = "west" if cluster == "east" else "east"
        assert consumer.topics == [ORDERS, f"{other}.{ORDERS}"]
        with consumer:
            consumer.run(
                lambda r, seen=seen: seen.update([r.key.decode()]),
                max_records=500,
                idle_timeout_s=30,
            )
        assert seen == Counter(east + west), f"{cluster} read {sum(seen.values())} records"


def test_each_regions_console_shows_its_flows_running_and_their_lag(regions: Regions) -> None:
    """The console `up --spec` runs beside each region: its replication page is `replicate
    status` for the flows from and to that region, read as the region's admin."""
    regions.produce("east", ORDERS, [f"console-{i}" for i in range(20)])
    for cluster in ("east", "west"):
        layout = DataDir(regions.root / cluster)
        state = layout.read_state()
        creds = layout.read_credentials()
        assert state is not None and creds is not None
        url = ConsoleProcess(layout, port_offset=state.port_offset).url
        deadline = time.monotonic() + 60
        while True:
            flows = httpx.get(
                f"{url}/api/v1/replication", auth=("admin", creds.admin_password), timeout=60
            ).json()
            copied = [t for f in flows for t in f.get("topics", []) if t["copied"]]
            if {f["flow"] for f in flows} == {"east->west", "west->east"} and copied:
                break
            assert time.monotonic() < deadline, flows
            time.sleep(1)
        assert all(f["running"] and f["restarts"] >= 0 for f in flows), flows
        assert all(isinstance(f["lag_records"], int) for f in flows), flows
        assert "log" not in flows[0], "the console does not hand out MM2's file paths"


def test_pii_never_leaves_east_while_its_public_events_do(regions: Regions) -> None:
    regions.produce("east", CUSTOMERS, [f"person-{i}" for i in range(50)])
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    regions.produce("east", ORDERS, [marker])
    # The public event arrives (after the pii records were written before it) ...
    deadline = time.monotonic() + 60
    while marker not in regions.keys("west", f"east.{ORDERS}", at_least=0):
        assert time.monotonic() < deadline, "the public event never reached west"
        time.sleep(1)
    # ... and west holds nothing of the CRM: no copy, under any name.
    assert {t for t in _topics(regions, "west") if "crm" in t} == set()
    status = json.loads(regions.cli("replicate", "status", str(SPEC), "--json"))
    flows = {f["flow"]: f for f in status["flows"]}
    assert [t["topic"] for t in flows["east->west"]["topics"]] == [ORDERS]
    assert flows["east->west"]["running"] and flows["west->east"]["running"]
    assert flows["east->west"]["errors"] == []


def _mm2_pid(regions: Regions, source: str, target: str) -> int:
    data = MirrorProcess(regions.root, source, target).status_data()
    assert data is not None and data["mm2_pid"] is not None
    return int(data["mm2_pid"])


def test_mm2_killed_mid_stream_is_restarted_and_nothing_is_lost(regions: Regions) -> None:
    keys = [f"burst-{uuid.uuid4().hex[:6]}-{i}" for i in range(20000)]
    before = _mm2_pid(regions, "east", "west")
    writer = threading.Thread(target=regions.produce, args=("east", ORDERS, keys))
    writer.start()
    time.sleep(1.0)
    os.kill(before, signal.SIGKILL)
    writer.join(60)
    deadline = time.monotonic() + 60
    while (after := MirrorProcess(regions.root, "east", "west").status_data() or {}).get(
        "restarts", 0
    ) < 1 or after.get("mm2_pid") in (None, before):
        assert time.monotonic() < deadline, f"the supervisor did not restart MM2: {after}"
        time.sleep(0.5)
    assert psutil.pid_exists(after["mm2_pid"])
    total = sum(
        high - low for (_t, _p), (low, high) in watermarks(regions.admin("east"), [ORDERS]).items()
    )
    deadline = time.monotonic() + 120
    while True:
        copied = regions.keys("west", f"east.{ORDERS}", at_least=total)
        missing = [k for k in keys if k not in copied]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert missing == [], f"{len(missing)} record(s) never reached west"
    # A restarted MM2 re-copies what it had not recorded as done: duplicates, never gaps.
    duplicates = sum(copied[k] - 1 for k in keys)
    print(f"MM2 kill -9 mid-stream: 0 of {len(keys)} lost, {duplicates} duplicated")


def test_failover_after_kill_9_skips_nothing_and_failback_returns_exactly(
    regions: Regions,
) -> None:
    # A group of its own (the flow checkpoints shop.*): the application's group already
    # read everything in the first test, and MM2 never checkpoints a rewind.
    group = f"shop.failover-{uuid.uuid4().hex[:6]}"
    # Fresh records, which the group reads half of from where they start: a group that
    # keeps up, whose offsets MM2 checkpoints (KAFKA-14666: MM2 does not checkpoint
    # offsets behind its newest offset syncs, e.g. after the restart of the test above).
    start = {tp: high for tp, (_low, high) in watermarks(regions.admin("east"), [ORDERS]).items()}
    fresh = [f"fo-{uuid.uuid4().hex[:6]}-{i}" for i in range(2000)]
    regions.produce("east", ORDERS, fresh)
    half = len(fresh) // 2
    consumer = RawConsumer(
        regions.admin("east").librdkafka(**{"group.id": group, "enable.auto.commit": False})
    )
    consumer.assign([TopicPartition(t, p, off) for (t, p), off in start.items()])
    read_on_east: Counter = Counter()
    # Every partition is committed, read or not.
    committed = dict(start)
    while sum(read_on_east.values()) < half:
        msg = consumer.poll(10)
        assert msg is not None
        if msg.error() is None:
            read_on_east[msg.key().decode()] += 1
            committed[(msg.topic(), msg.partition())] = msg.offset() + 1
    consumer.commit(
        offsets=[TopicPartition(t, p, off) for (t, p), off in committed.items()],
        asynchronous=False,
    )
    consumer.close()
    # MM2 checkpoints the commit (every 2 s); then east dies without warning.
    flow = find_flow(regions.spec, "east", "west")
    deadline = time.monotonic() + 60
    while True:
        points = latest_checkpoints(regions.admin("west"), flow, group)
        done = {
            (cp.topic.removeprefix("east."), cp.partition): cp.upstream for cp in points.values()
        }
        if all(done.get(tp) == off for tp, off in committed.items()):
            break
        assert time.monotonic() < deadline, f"no checkpoint of {committed}: {done}"
        time.sleep(0.5)
    for proc in psutil.process_iter(["cmdline"]):
        if any(
            a.startswith(f"-Dstreamplane.node={(regions.root / 'east').resolve()}")
            for a in proc.info["cmdline"] or []
        ):
            proc.kill()
    moved = json.loads(
        regions.cli("failover", group, "--from", "east", "--to", "west", str(SPEC), "--json")
    )["groups"][0]
    assert any("does not answer" in note for note in moved["notes"])
    # The group resumes on west, from the copies, at the committed offsets, to their end.
    copy = f"east.{ORDERS}"
    ends = {p: high for (_t, p), (_low, high) in watermarks(regions.admin("west"), [copy]).items()}
    at = {p["partition"]: p["offset"] for p in moved["partitions"]}
    read_on_west: Counter = Counter()
    consumer = RawConsumer(
        regions.admin("west").librdkafka(
            **{"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "latest"}
        )
    )
    consumer.subscribe([copy])
    deadline = time.monotonic() + 60
    while any(at.get(p, high) < high for p, high in ends.items()):
        assert time.monotonic() < deadline, f"west stopped short of the copy's end: {at}"
        msg = consumer.poll(1)
        if msg is not None and msg.error() is None:
            read_on_west[msg.key().decode()] += 1
            at[msg.partition()] = msg.offset() + 1
    consumer.commit(asynchronous=False)
    consumer.close()
    skipped = [k for k in fresh if k not in read_on_east and k not in read_on_west]
    assert skipped == [], f"{len(skipped)} record(s) skipped by the failover"
    # Read twice: on both sides, or twice in the copy (MM2 re-copied after its restart).
    duplicates = sum(read_on_east[k] + read_on_west[k] - 1 for k in fresh)
    assert duplicates <= moved["duplicate_records"], (duplicates, moved)
    print(f"failover: 0 skipped, {duplicates} duplicate(s), {moved['duplicate_records']} reported")

    # East comes back; the group returns to the originals: the end of the copies it read
    # maps back, through the offset syncs, to exactly the end of the originals.
    regions.cli(
        "up", "--spec", str(SPEC), "--cluster", "east", "--port-offset", str(BASE_OFFSET),
        "--no-registry", "--no-audit",
    )  # fmt: skip
    back = json.loads(
        regions.cli("failback", group, "--from", "west", "--to", "east", str(SPEC), "--json")
    )["groups"][0]
    ends_on_east = {
        (t, p): high for (t, p), (_low, high) in watermarks(regions.admin("east"), [ORDERS]).items()
    }
    assert {(p["topic"], p["partition"]): p["offset"] for p in back["partitions"]} == ends_on_east
    inspector = ClusterInspector(regions.admin("east"))
    assert inspector.committed_offsets([group])[group] == ends_on_east
