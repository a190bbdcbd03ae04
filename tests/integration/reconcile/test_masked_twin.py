"""The example estate's masked twin, end to end on a real cluster and registry.

100,000 card holders written by the SDK (their PII encrypted per customer) are masked by
the job as its own principal, holders-masker, with the ACLs apply derived for it. A scan
of the twin finds none of the raw values; the malformed records are in the masker's
dead-letter topic and nowhere else; another tenant reads the twin but not the raw topic
nor the vault; the raw owners turn a token back, and ``gdpr forget`` reaches the vault.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer as KafkaConsumer
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from typer.testing import CliRunner

from streamplane.cli import app
from streamplane.client import Producer
from streamplane.client.subject_encryption import FORGOTTEN
from streamplane.lake.sink import LakeSink, SinkSettings
from streamplane.lake.table import local_catalog
from streamplane.lineage.forget import forget
from streamplane.lineage.masking import MaskingJob, reveal
from streamplane.local import RegistryProcess
from streamplane.local._jobs import MaskingJobProcess
from streamplane.model import lake_source, lake_table
from streamplane.reconcile._registry_client import RegistryEndpoint
from tests.integration.reconcile.conftest import ESTATE_OFFSET, EXAMPLE, Estate
from tests.integration.reconcile.test_dead_letters import registry

RAW = "payments.card.holders"
TWIN = "payments.card.holders-masked.v1"
DLQ = "payments.card.holders-masker.payments.card.holders.dlq"
RECORDS = 100_000
CUSTOMERS = 500


def holder(run: str, n: int) -> dict[str, Any]:
    customer = f"{run}-c{n % CUSTOMERS}"
    return {
        "customer_id": customer,
        "name": f"Holder {run} {n:06d}",
        "email": f"holder-{run}-{n:06d}@example.com",
        "card_number": f"4{n:015d}",
        "country": "NL",
    }


def read_all(estate: Estate, topic: str, app: str | None = None) -> list[Any]:
    """Every record of ``topic`` as committed (admin, or ``app``'s own credentials)."""
    connection = estate.as_app(app) if app else estate.cluster.admin_settings()
    group = f"{estate.spec.applications[app].consumer_group}" if app else f"scan-{uuid.uuid4()}"
    reader = KafkaConsumer(
        connection.librdkafka(**{"group.id": group, "enable.auto.commit": False})
    )
    found: list[Any] = []
    try:
        metadata = reader.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise KafkaException(metadata.error)
        for partition in metadata.partitions:
            low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high <= low:
                continue
            reader.assign([TopicPartition(topic, partition, low)])
            while reader.position([TopicPartition(topic, partition)])[0].offset < high:
                message = reader.poll(1.0)
                if message is None:
                    continue
                if message.error() is not None:
                    raise KafkaException(message.error())
                found.append(message)
    finally:
        reader.close()
    return found


def test_the_twin_holds_no_raw_pii_bad_records_are_parked_and_only_owners_reveal(
    estate: Estate, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    data_dir = estate.cluster.dir.root
    good = [holder(run, n) for n in range(RECORDS)]
    bad = [
        {**holder(run, RECORDS), "card_number": "not-a-card"},
        {**holder(run, RECORDS + 1), "email": ""},
        {**holder(run, RECORDS + 2), "card_number": "12"},
    ]
    with Producer.for_application(
        estate.spec, "card-holder-service", connection=estate.as_app("card-holder-service"),
        registry=registry(estate, "card-holder-service"), data_dir=data_dir,
    ) as producer:  # fmt: skip
        for value in [*good[:50_000], *bad, *good[50_000:]]:
            producer.produce(RAW, value, key=value["customer_id"])

    job = MaskingJob(
        estate.spec, RAW, connection=estate.as_app("holders-masker"),
        registry=registry(estate, "holders-masker"), data_dir=data_dir,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    with job:
        while job.stats.masked + job.stats.parked < RECORDS + len(bad):
            assert time.monotonic() < deadline, job.stats
            job.step()
        job.processor.run(stop=lambda: True)
    assert (job.stats.masked, job.stats.parked) == (RECORDS, len(bad)), job.stats

    # The scan: not one raw value of a masked field in any byte of the twin.
    everything = read_all(estate, TWIN)
    twin = [m for m in everything if m.key().startswith(run.encode())]
    assert len(twin) == RECORDS, "each record masked exactly once"
    # Bytes first: every raw name holds "Holder " and every email "@example.com", which no
    # hash or token can. Then each decoded field: masked as its mask says, never a raw value.
    raw_values = {v[f] for v in good + bad for f in ("name", "email", "card_number")}
    reader = fastavro.parse_schema(
        json.loads((EXAMPLE / "schemas" / "card-holder.avsc").read_text())
    )
    leaked = []
    for m in twin:
        fields = fastavro.schemaless_reader(io.BytesIO(m.value()[5:]), reader)
        if (
            re.search(rb"Holder |@example\.com", m.value())
            or raw_values & {str(v) for v in fields.values()}
            or not re.fullmatch(r"[0-9a-f]{64}", fields["name"])
            or not re.fullmatch(r"tok_[0-9a-f]{32}", fields["email"])
            or not re.fullmatch(r"\*{12}[0-9]{4}", fields["card_number"])
        ):
            leaked.append((m.offset(), fields))
    assert leaked == [], leaked[:3]
    # The last four digits are what last4 keeps, the customer id is not masked.
    assert any(m.value().find(good[7]["card_number"][-4:].encode()) >= 0 for m in twin)
    lake_keeps_masks_and_ciphertext(estate, tmp_path, run, good, len(everything))

    parked = [m for m in read_all(estate, DLQ) if m.key().startswith(run.encode())]
    assert sorted(m.key().decode() for m in parked) == sorted(b["customer_id"] for b in bad)
    reasons = {dict(m.headers())["streamplane-error-message"] for m in parked}
    assert any(b"is not a card number" in r for r in reasons)
    assert any(b"field email (tokenize) is missing" in r for r in reasons)

    # Another tenant's application reads the twin, not the raw topic, not the vault.
    assert len(read_all(estate, TWIN, "adhoc-explorer")) >= RECORDS
    for forbidden in (RAW, "payments.card.holders-vault"):
        try:
            read_all(estate, forbidden, "adhoc-explorer")
        except KafkaException as exc:
            assert "AUTHORIZATION" in exc.args[0].name() or exc.args[0].name() in (
                "UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_PARTITION",
            ), exc  # fmt: skip
        else:
            raise AssertionError(f"adhoc-explorer read {forbidden}")

    # The raw owners turn a token back; forgetting the customer reaches the vault too.
    url = RegistryProcess(estate.cluster.dir, port_offset=ESTATE_OFFSET).url
    admin = estate.cluster.admin_settings()
    token = job.masker.token("email", good[3]["email"])
    found = reveal(
        estate.spec, RAW, token, connection=admin,
        registry=registry(estate, "holders-masker"), data_dir=data_dir,
    )  # fmt: skip
    assert found is not None and found.value == good[3]["email"]
    assert found.subject == good[3]["customer_id"]
    endpoint = RegistryEndpoint(url, admin.username, admin.password)
    with endpoint.client() as client:
        report = forget(client, good[3]["customer_id"])
    assert report.topics == [RAW, "payments.card.holders-vault"]
    gone = reveal(
        estate.spec, RAW, token, connection=admin,
        registry=registry(estate, "holders-masker"), data_dir=data_dir,
    )  # fmt: skip
    assert gone is not None and gone.value == FORGOTTEN


def lake_rows(estate: Estate, home: Path, topic: str, table: str, records: int) -> list[Any]:
    """Stream ``topic`` (``records`` records in all) into ``table`` with the lake sink."""
    admin = estate.cluster.admin_settings()
    url = RegistryProcess(estate.cluster.dir, port_offset=ESTATE_OFFSET).url
    client = SchemaRegistryClient(
        {"url": url, "basic.auth.user.info": f"{admin.username}:{admin.password}"}
    )
    sink = LakeSink(
        admin, client, local_catalog(home), topic, table,
        SinkSettings(max_rows=50_000, max_wait_s=1.0),
    )  # fmt: skip
    stop = threading.Event()
    runner = threading.Thread(target=sink.run, args=(stop,))
    runner.start()
    deadline = time.monotonic() + 120
    try:
        while sink.stats.rows < records:
            assert time.monotonic() < deadline and runner.is_alive(), sink.stats
            time.sleep(0.2)
    finally:
        stop.set()
        runner.join(30)
    rows: list[Any] = local_catalog(home).load_table(table).scan().to_arrow().to_pylist()
    return rows


def lake_keeps_masks_and_ciphertext(
    estate: Estate, home: Path, run: str, good: list[dict[str, Any]], twin_records: int
) -> None:
    """`lake:` on the raw topic streams its twin: masked values only. A sink pointed at the
    raw topic itself decodes without the schema's rules: its PII stays ciphertext."""
    entry = estate.spec.topics[RAW]
    assert lake_source(entry) == TWIN
    raw_values = {v[f] for v in good for f in ("name", "email", "card_number")}
    twin = [
        r for r in lake_rows(estate, home, TWIN, lake_table(entry), twin_records)
        if r["customer_id"].startswith(run)
    ]  # fmt: skip
    assert len(twin) == RECORDS
    assert {str(r[f]) for r in twin for f in ("name", "email", "card_number")} & raw_values == set()
    assert all(re.fullmatch(r"\*{12}[0-9]{4}", r["card_number"]) for r in twin)

    raw = [
        r for r in lake_rows(estate, home, RAW, "payments.raw_holders", len(read_all(estate, RAW)))
        if r["customer_id"].startswith(run)
    ]  # fmt: skip
    assert len(raw) == RECORDS + 3  # the three bad ones too: the raw topic has them
    assert {str(r[f]) for r in raw for f in ("name", "email", "card_number")} & raw_values == set()
    assert {r["country"] for r in raw} == {"NL"}  # untagged fields as written


def test_up_with_the_spec_supervises_the_masking_job_and_status_lists_it(estate: Estate) -> None:
    root = str(estate.cluster.dir.root)
    runner = CliRunner()
    started = runner.invoke(
        app, ["up", "--spec", str(EXAMPLE), "--no-audit", "--no-canary", "--data-dir", root]
    )
    job = MaskingJobProcess(estate.cluster.dir, RAW)
    try:
        assert started.exit_code == 0, started.output
        assert f"ready the masking job of {RAW}" in started.output
        assert job.process() is not None
        status = job.status_data()
        assert status is not None and (status["twin"], status["application"]) == (
            TWIN, "holders-masker",
        )  # fmt: skip
        listed = runner.invoke(app, ["status", "--data-dir", root])
        assert f"mask {RAW}" in listed.output and "ready" in listed.output
        again = runner.invoke(
            app, ["up", "--spec", str(EXAMPLE), "--no-audit", "--no-canary", "--data-dir", root]
        )
        assert again.exit_code == 0 and job.process() is not None, "running: left as it is"
    finally:
        stopped = job.stop()
    assert stopped and job.process() is None
