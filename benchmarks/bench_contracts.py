"""SDK produce with one encrypted field against the same records with none.

Also per data subject (crypto-shredding): a third topic encrypts ``email`` under an
``ENCRYPT_PER_SUBJECT`` rule keyed by ``id``, 1,000 customers, so 1,000 data keys, made
in the warm-up and then cached like the per-topic one.

Two topics with the same Avro schema of a customer (id, email, country, a 200-byte
note): on one, ``email`` is tagged PII and the schema's ENCRYPT rule has confluent-kafka's
``FieldEncryptionExecutor`` encrypt it (AES-256-GCM with a DEK from the registry's DEK
registry, wrapped by a local-KMS KEK); on the other the schema has no contract, so the
SDK's compiled Avro path writes it. Both go through ``streamplane.client.Producer``
(zero_loss profile, linger 5 ms) to the same 1-node cluster and registry, alternating in
chunks so both see the same machine. The figure is the ratio of the two rates.

Run: .venv/bin/python benchmarks/bench_contracts.py [--records 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from _harness import PORT_OFFSET, median, report, scratch_cluster
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.rule_registry import RuleRegistry
from confluent_kafka.serialization import MessageField, SerializationContext
from prometheus_client import CollectorRegistry

from streamplane.client import (
    ClientMetrics,
    DataContracts,
    Producer,
    RegistrySettings,
    Telemetry,
    TopicSchema,
    TopicSchemas,
)
from streamplane.client._contracts import rule_registry
from streamplane.local import LocalCluster, RegistryProcess

CHUNKS = 10
TUNING: dict[str, Any] = {"linger.ms": 5, "batch.size": 262144}
FIELDS = [
    {"name": "id", "type": "string"},
    {"name": "email", "type": "string", "confluent:tags": ["PII"]},
    {"name": "country", "type": "string"},
    {"name": "note", "type": "string"},
]
ENCRYPT = {
    "domainRules": [
        {
            "name": "encrypt-pii", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "ENCRYPT",
            "tags": ["PII"], "onFailure": "ERROR,NONE",
            "params": {"encrypt.kek.name": "bench-kek", "encrypt.kms.type": "local-kms",
                       "encrypt.kms.key.id": "bench-key"},
        }
    ]
}  # fmt: skip
PER_SUBJECT = {
    "domainRules": [
        {
            **ENCRYPT["domainRules"][0], "name": "forget-me", "type": "ENCRYPT_PER_SUBJECT",
            "params": {**ENCRYPT["domainRules"][0]["params"], "encrypt.subject.field": "id"},
        }
    ]
}  # fmt: skip
TOPICS = ("plain", "encrypted", "per-subject")


def schema(name: str) -> str:
    return json.dumps({"type": "record", "name": name, "namespace": "bench", "fields": FIELDS})


def producer(cluster: LocalCluster, url: str, topic: str, value: TopicSchema) -> Producer:
    conn = cluster.admin_settings()
    return Producer(
        connection=conn, app_id="bench-contracts", profile="zero_loss", config=TUNING,
        schemas={topic: TopicSchemas(value=value)},
        registry=RegistrySettings(url, username=conn.username, password=conn.password),
        telemetry=Telemetry(metrics=ClientMetrics(CollectorRegistry())),
        contracts=DataContracts({"secret": "bench-local-kms-secret"}),
    )  # fmt: skip


def timed(producer: Producer, topic: str, records: list[dict[str, Any]], count: int) -> float:
    began = time.perf_counter()
    for i in range(count):
        producer.produce(topic, records[i % len(records)])
    producer.flush(120)
    return time.perf_counter() - began


def serializer_cost(url: str, conn: Any, subject_schema: str, rules: bool, n: int) -> float:
    """µs per record in confluent-kafka's own AvroSerializer (no SDK, no Kafka)."""
    client = SchemaRegistryClient(
        {"url": url, "basic.auth.user.info": f"{conn.username}:{conn.password}"}
    )
    registry = rule_registry() if rules else RuleRegistry()
    conf: dict[str, Any] = {"auto.register.schemas": False, "use.latest.version": True}
    serializer = AvroSerializer(
        client, subject_schema, conf=conf, rule_conf={"secret": "bench-local-kms-secret"},
        rule_registry=registry,
    )  # fmt: skip
    topic = "encrypted" if rules else "plain"
    ctx = SerializationContext(topic, MessageField.VALUE)
    record = {"id": "c-1", "email": "person@example.com", "country": "NL", "note": "x" * 200}
    serializer(dict(record), ctx)
    began = time.perf_counter()
    for _ in range(n):
        serializer(dict(record), ctx)
    return (time.perf_counter() - began) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    records = [
        {"id": f"c-{i:06d}", "email": f"person{i}@example.com", "country": "NL",
         "note": "x" * 200}
        for i in range(1000)
    ]  # fmt: skip
    with scratch_cluster("contracts", nodes=1) as cluster:
        service = RegistryProcess(cluster.dir, port_offset=PORT_OFFSET)
        service.start()
        try:
            admin = AdminClient(cluster.admin_settings().librdkafka())
            for future in admin.create_topics([NewTopic(t, 3, 1) for t in TOPICS]).values():
                future.result(60)
            plain = producer(cluster, service.url, "plain", TopicSchema.avro(schema("Plain")))
            encrypted = producer(
                cluster, service.url, "encrypted",
                TopicSchema("AVRO", text=schema("Secret"), rule_set=ENCRYPT),
            )  # fmt: skip
            subjects = producer(
                cluster, service.url, "per-subject",
                TopicSchema("AVRO", text=schema("Subject"), rule_set=PER_SUBJECT),
            )  # fmt: skip
            producers = {"plain": plain, "encrypted": encrypted, "per-subject": subjects}
            for topic, p in producers.items():
                # Registers the schema and makes the DEKs (one per customer per-subject).
                timed(p, topic, records, len(records))
            chunk = args.records // CHUNKS
            rates: dict[str, list[float]] = {topic: [] for topic in TOPICS}
            for _ in range(args.runs):
                spent = dict.fromkeys(TOPICS, 0.0)
                for _ in range(CHUNKS):
                    for topic, p in producers.items():
                        spent[topic] += timed(p, topic, records, chunk)
                for name, seconds in spent.items():
                    rates[name].append(chunk * CHUNKS / seconds)
            for p in producers.values():
                p.close()
            conn = cluster.admin_settings()
            n = min(args.records, 5000)
            ser_rules = serializer_cost(service.url, conn, schema("Secret"), True, n)
            ser_plain = serializer_cost(service.url, conn, schema("Plain"), False, n)
        finally:
            service.stop()
    enc, base = median(rates["encrypted"]), median(rates["plain"])
    per = median(rates["per-subject"])
    pairs = zip(rates["encrypted"], rates["plain"], strict=True)
    ratios = ", ".join(f"{e / p:.2f}" for e, p in pairs)
    per_ratios = ", ".join(
        f"{e / p:.2f}" for e, p in zip(rates["per-subject"], rates["plain"], strict=True)
    )
    report(
        [
            ("SDK produce, one field encrypted (msgs/s)", f"{enc:,.0f}", f"{base:,.0f}"),
            (f"ratio, median of {args.runs} (runs: {ratios})", f"{enc / base:.2f}", "1.00"),
            ("SDK produce, one field per data subject (msgs/s)", f"{per:,.0f}", f"{base:,.0f}"),
            (f"ratio, median of {args.runs} (runs: {per_ratios})", f"{per / base:.2f}", "1.00"),
            ("per data subject vs per topic (ratio)", f"{per / enc:.2f}", "1.00"),
            (
                "confluent-kafka AvroSerializer alone, ENCRYPT rule vs none (µs/record)",
                f"{ser_rules:.1f}",
                f"{ser_plain:.1f}",
            ),
        ],
        title="data contracts (baseline: the same records, schema without a contract)",
    )


if __name__ == "__main__":
    main()
