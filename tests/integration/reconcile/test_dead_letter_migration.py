"""An estate with old-style parking topics migrates to per-consumer ones without losing a record.

Before parking topics belonged to the consumer, ``apply`` created ``<topic>.retry.<n>`` and
``<topic>.dlq`` in the namespace of the consumed topic's owner, and only one consumer of a
topic could retry. The test builds such an estate exactly as that version left it (its
topics, ACLs and parked records), then plans and applies with today's spec: both consumers
of the public event retry, each in its own namespace, and the old topics go only once
drained.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError
from confluent_kafka import Producer as RawProducer
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from streamplane.cli import app as cli_app
from streamplane.client import Consumer, Producer, Record
from streamplane.kafka import ConnectionSettings
from streamplane.kafka._admin import AclTuple, ClusterAdmin
from streamplane.local import LocalCluster
from streamplane.model import Spec, load_spec
from streamplane.reconcile import Plan, Target, apply_plan, compute_plan, connect
from tests.integration.conftest import create_topic

EVENT = "pay.card.authorized.v1"
OLD_RETRY, OLD_DLQ = f"{EVENT}.retry.1", f"{EVENT}.dlq"
SCORER = f"pay.card.scorer.{EVENT}"  # the payments consumer's own parking topics
ENGINE = f"mkt.offers.offer-engine.{EVENT}"  # the marketing consumer's

SPEC = """\
clusters:
  - name: local
    local: true
tenants:
  - name: pay
    owners: [payments@example.com]
    clusters: [local]
    domains:
      - name: card
        topics:
          - name: authorized.v1
            visibility: public
            partitions: 2
        applications:
          - name: card-issuer
            produces: [pay.card.authorized.v1]
          - name: scorer
            consumes: [pay.card.authorized.v1]
{scorer}
  - name: mkt
    owners: [growth@example.com]
    clusters: [local]
    domains:
      - name: offers
        applications:
          - name: offer-engine
            consumes: [pay.card.authorized.v1]
{engine}
deletion: {{grace_period: 2s}}
"""
RETRIES = "            dead_letters: {retries: [1s]}"

runner = CliRunner()


@pytest.fixture
def cluster(own_cluster: LocalCluster, next_port_offset: int) -> Iterator[LocalCluster]:
    own_cluster.up(nodes=1, port_offset=next_port_offset)
    yield own_cluster


def write(root: Path, *, scorer: str = "", engine: str = "") -> Spec:
    root.mkdir(parents=True, exist_ok=True)
    (root / "spec.yaml").write_text(SPEC.format(scorer=scorer, engine=engine))
    return load_spec(root)


def as_app(cluster: LocalCluster, spec: Spec, name: str) -> ConnectionSettings:
    principal = spec.applications[name].principal
    password = (cluster.dir.root / "secrets" / principal).read_text().strip()
    return cluster.admin_settings().with_credentials(principal, password)


def apply(spec: Spec, target: Target, *, allow_delete: bool = False) -> None:
    plan = compute_plan(spec, target, allow_delete=allow_delete).plan
    assert not plan.refusals, plan.refusals
    apply_plan(plan, spec, target)


def build_old_estate(cluster: LocalCluster, tmp_path: Path) -> None:
    """What the earlier version applied for: scorer `dead_letters: {retries: [1s]}` and
    offer-engine `dead_letters: {}` (it could not retry too), with records still parked."""
    spec = write(tmp_path / "old")
    apply(spec, connect(spec, data_dir=cluster.dir.root))
    admin = cluster.admin_settings()
    for name in (OLD_RETRY, OLD_DLQ):
        create_topic(admin, name, partitions=2, config={"retention.ms": str(14 * 86_400_000)})
    grants = [("scorer", OLD_RETRY, op) for op in ("READ", "WRITE", "DESCRIBE")]
    grants += [
        (app, OLD_DLQ, op) for app in ("scorer", "offer-engine") for op in ("WRITE", "DESCRIBE")
    ]
    acls = [AclTuple(f"User:{a}", "TOPIC", t, "LITERAL", op, "ALLOW", "*") for a, t, op in grants]
    acls += [
        AclTuple(
            f"User:{a}", "CLUSTER", "kafka-cluster", "LITERAL", "IDEMPOTENT_WRITE", "ALLOW", "*"
        )
        for a in ("scorer", "offer-engine")
    ]
    ClusterAdmin(admin).create_acls(acls)
    raw = RawProducer(admin.librdkafka(**{"log_level": 0}))
    headers = [
        ("streamplane-failed-app", b"offer-engine"),
        ("streamplane-origin-topic", EVENT.encode()),
    ]
    for value in (b"parked-1", b"parked-2"):
        raw.produce(OLD_DLQ, value, key=value, partition=0, headers=headers)
    raw.produce(OLD_RETRY, b"waiting", key=b"waiting", partition=1)
    assert raw.flush(30) == 0


def topics(cluster: LocalCluster) -> set[str]:
    admin = AdminClient(cluster.admin_settings().librdkafka(**{"log_level": 0}))
    return set(admin.list_topics(timeout=15).topics)


def cli(cluster: LocalCluster, *args: str) -> str:
    result = runner.invoke(cli_app, [*args, "--data-dir", str(cluster.dir.root)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_old_parking_topics_migrate_to_each_consumers_namespace(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    build_old_estate(cluster, tmp_path)
    spec = write(tmp_path / "new", scorer=RETRIES, engine=RETRIES)
    target = connect(spec, data_dir=cluster.dir.root)

    # The plan shows the renames: new topics to create, old ones kept while they hold records.
    plan = compute_plan(spec, target, allow_delete=True).plan
    renames = {r.old: r for r in plan.renames}
    assert set(renames) == {OLD_RETRY, OLD_DLQ}
    assert renames[OLD_RETRY].new == (f"{SCORER}.retry.1",)  # its one reader, by its ACLs
    assert renames[OLD_DLQ].new == (f"{ENGINE}.dlq", f"{SCORER}.dlq")  # a shared DLQ splits
    assert all(r.state == "kept" for r in renames.values())
    assert "1 record(s) no consumer group has read past" in renames[OLD_RETRY].why
    suggested = f"streamplane dlq replay {OLD_RETRY} --spec {spec.root} --app scorer"
    assert f"`{suggested}`" in renames[OLD_RETRY].why
    assert "2 record(s) no consumer group has read past" in renames[OLD_DLQ].why
    creates = {a.resource: a.reason for a in plan.actions if (a.op, a.kind) == ("create", "topic")}
    assert set(creates) == {f"{p}.{s}" for p in (SCORER, ENGINE) for s in ("retry.1", "dlq")}
    assert creates[f"{ENGINE}.retry.1"] == ""  # new: offer-engine could not retry before
    assert creates[f"{SCORER}.retry.1"].startswith(f"replaces {OLD_RETRY}")
    assert not any(a.op == "delete" and a.kind == "topic" for a in plan.actions)
    # Not even the old topics' ACLs go while they hold records.
    assert not any(a.op == "delete" and OLD_DLQ in a.resource for a in plan.actions)
    text = cli(cluster, "plan", str(spec.root))
    assert f"~ rename {OLD_DLQ} -> {ENGINE}.dlq, {SCORER}.dlq" in text
    assert "Kafka cannot rename topics" in text
    assert "old topic kept: 2 record(s) no consumer group has read past" in text
    saved = json.loads(cli(cluster, "plan", str(spec.root), "--json"))
    assert {r["old"] for r in saved["renames"]} == {OLD_RETRY, OLD_DLQ}

    apply(spec, target, allow_delete=True)
    present = topics(cluster)
    assert {f"{SCORER}.retry.1", f"{SCORER}.dlq", f"{ENGINE}.retry.1", f"{ENGINE}.dlq"} <= present
    assert {OLD_RETRY, OLD_DLQ} <= present  # kept: they hold records

    # Both consumers of the public event retry, each through its own namespace's topic.
    with Producer.for_application(
        spec, "card-issuer", connection=as_app(cluster, spec, "card-issuer")
    ) as producer:
        producer.produce(EVENT, b"flaky", key=b"flaky")
    for app, parked in (("scorer", SCORER), ("offer-engine", ENGINE)):
        seen: list[tuple[bytes, int, str]] = []

        def handle(record: Record, seen: list[tuple[bytes, int, str]] = seen) -> None:
            seen.append((record.value, record.attempt, record.read_from))
            if record.attempt == 0:
                raise RuntimeError("downstream unavailable")

        with Consumer.for_application(spec, app, connection=as_app(cluster, spec, app)) as consumer:
            consumer.run(handle, max_records=2, idle_timeout_s=30)
        assert seen == [(b"flaky", 0, EVENT), (b"flaky", 1, f"{parked}.retry.1")], app

    # Least privilege: marketing cannot touch payments' parking topics, nor the reverse.
    for app, foreign in (("offer-engine", f"{SCORER}.retry.1"), ("scorer", f"{ENGINE}.dlq")):
        errors: list[KafkaError] = []
        sneaky = RawProducer(as_app(cluster, spec, app).librdkafka(**{"log_level": 0}))
        sneaky.produce(foreign, b"x", on_delivery=lambda err, _m, out=errors: out.append(err))
        sneaky.flush(15)
        assert errors and errors[0] is not None
        assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]

    # Drain: the old DLQ replays as it always did; the old retry topic's waiting record
    # moves into scorer's new retry topic, from where scorer's group had got to.
    drained = json.loads(cli(cluster, "dlq", "replay", OLD_DLQ, "--spec", str(spec.root), "--json"))
    assert (drained["replayed"], drained["target"]) == (2, EVENT)
    # The command the plan printed, as printed.
    moved = json.loads(cli(cluster, *suggested.split()[1:], "--json"))
    assert (moved["replayed"], moved["target"]) == (1, f"{SCORER}.retry.1")
    assert [r["value"] for r in moved["records"]] == ["d2FpdGluZw=="]  # b"waiting"

    # Drained and past the grace period: the old topics and their ACLs go.
    time.sleep(2.5)
    plan = compute_plan(spec, target, allow_delete=True).plan
    assert {r.old: r.state for r in plan.renames} == {OLD_RETRY: "delete", OLD_DLQ: "delete"}
    assert renames_why(plan, OLD_DLQ).startswith("drained (every one of its 2 record(s) read by")
    deleted = {a.resource for a in plan.actions if a.op == "delete"}
    assert {OLD_RETRY, OLD_DLQ} <= deleted
    assert any(f"TOPIC:{OLD_DLQ}" in d for d in deleted)
    apply_plan(plan, spec, target)
    assert not {OLD_RETRY, OLD_DLQ} & topics(cluster)
    after = compute_plan(spec, target).plan
    assert after.renames == [] and after.actions == []


def renames_why(plan: Plan, old: str) -> str:
    return next(r.why for r in plan.renames if r.old == old)
