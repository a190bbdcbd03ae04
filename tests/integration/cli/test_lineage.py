"""``streamplane lineage``: graph, who-consumes and undeclared over the CLI."""

from __future__ import annotations

import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from streamplane.kafka._admin import AclTuple, ClusterAdmin
from streamplane.local import LocalCluster
from tests.integration.cli.conftest import cli, cli_json
from tests.integration.conftest import create_topic
from tests.unit.client.specs import write_spec


def test_lineage_commands_join_the_spec_with_groups_on_the_cluster(
    cluster1: LocalCluster, tmp_path: Path
) -> None:
    prefix = f"l{uuid.uuid4().hex[:8]}."
    spec = write_spec(tmp_path / "spec", prefix=prefix)
    raw = f"{prefix}orders.raw"
    create_topic(cluster1.admin_settings(), raw)
    producer = Producer(cluster1.admin_settings().librdkafka())
    for _ in range(10):
        producer.produce(raw, b"x" * 1000, headers=[("streamplane-app", b"checkout")])
    assert producer.flush(30) == 0
    for group in (f"{prefix}auditor", f"{prefix}adhoc"):
        committer = Consumer(cluster1.admin_settings().librdkafka(**{"group.id": group}))
        committer.commit(offsets=[TopicPartition(raw, 0, 0)], asynchronous=False)
        committer.close()

    consumers = cli_json(cluster1, "lineage", "who-consumes", raw, str(spec.root))
    assert {(r["application"], r["declared"], r["observed"]) for r in consumers} == {
        ("auditor", True, True), ("fulfilment", True, False),
        (f"group {prefix}adhoc", False, True),
    }  # fmt: skip

    undeclared = cli_json(cluster1, "lineage", "undeclared", str(spec.root), exit_code=1)
    assert {r["application"] for r in undeclared if r["topic"] == raw} == {f"group {prefix}adhoc"}
    # The platform's own groups on its own topics (the registry's writer) are not flows.
    assert not [r for r in undeclared if r["topic"].startswith("_")]
    text = cli(cluster1, "lineage", "undeclared", str(spec.root), exit_code=1)
    assert "UNDECLARED" in text and f"{prefix}adhoc" in text

    picture = cli(cluster1, "lineage", "graph", str(spec.root), "--mermaid")
    assert picture.startswith("flowchart LR") and f'(["{raw}"])' in picture

    grants = [
        AclTuple("User:auditor", "TOPIC", raw, "LITERAL", "READ", "ALLOW", "*"),
        AclTuple(f"User:{prefix}tool", "TOPIC", prefix, "PREFIXED", "READ", "ALLOW", "*"),
    ]
    admin = ClusterAdmin(cluster1.admin_settings())
    admin.create_acls(grants)
    try:
        entries = {e["topic"]: e for e in cli_json(cluster1, "lineage", "catalog", str(spec.root))}
    finally:
        admin.delete_acls(grants)
    entry = entries[raw]
    assert entry["size_on_disk_bytes"] > 10 * 1000  # the records, on the one replica
    assert entry["observed_producers"] == ["checkout"] and entry["producers"] == ["checkout"]
    assert entry["observed_consumers"] == ["auditor", f"group {prefix}adhoc"]
    assert entries[f"{prefix}orders.placed"]["size_on_disk_bytes"] is None  # not created
    # Who may read, by the cluster's ACLs (a prefixed grant included), not by the spec.
    assert entry["acl_readers"] == [f"User:{prefix}tool", "auditor"]
    # The small spec holds no personal data: an empty map, not an error.
    assert cli_json(cluster1, "gdpr", "report", str(spec.root)) == []

    stray = f"{prefix}scratch"
    create_topic(cluster1.admin_settings(), stray)
    found = {o["topic"]: o for o in cli_json(cluster1, "lineage", "orphans", str(spec.root))}
    assert found[stray] == {"topic": stray, "in_spec": False, "size_on_disk_bytes": 0}
    assert raw not in found  # declared, and read by groups
