"""The spec's KEK reaches the real DEK registry, so a tenant's producer encrypts PII.

A spec with a platform KEK (``estate-pii``, local KMS) and a tenant's pii topic is applied
to a 1-node cluster and its registry (RegistryProcess, as `streamplane up` runs it, with
auth on). A tenant principal may not create a platform KEK, so before this step the
tenant's first encrypted record failed; after apply the tenant's own producer writes the
PII field as ciphertext and its consumer reads it plain. A new KMS key for an existing KEK
is refused, and a KEK the spec drops is kept, even with --allow-delete.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import TopicPartition

from streamplane.client import Consumer, DataContracts, Producer, Record, RegistrySettings
from streamplane.kafka import ConnectionSettings
from streamplane.model import Spec, load_spec
from tests.integration.conftest import PORT_SHIFT
from tests.integration.reconcile.conftest import platform
from tests.integration.reconcile.test_schemas import Applied, sp

#: The cluster (and registry) of this module; between test_schemas.py's and the contracts'.
KEKS_OFFSET = 20180 + PORT_SHIFT
TOPIC = "kyc.customers.identities"
SUBJECT = f"{TOPIC}-value"
CUSTOMER = {
    "type": "record",
    "name": "Customer",
    "namespace": "kyc",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "email", "type": "string", "confluent:tags": ["PII"]},
        {"name": "country", "type": "string"},
    ],
}
SPEC = """\
encryption: {kek: estate-pii, kms_type: local-kms, kms_key_id: estate-pii}
clusters:
  - name: local
    local: true
    data_classes: [public, internal, confidential, pii]
tenants:
  - name: kyc
    owners: [kyc@example.com]
    clusters: [local]
    domains:
      - name: customers
        topics:
          - name: identities
            partitions: 1
            classification: pii
            value_schema: schemas/customer.avsc
        applications:
          - name: kyc-writer
            produces: [kyc.customers.identities]
          - name: kyc-reader
            consumes: [kyc.customers.identities]
            dead_letters: {}
"""


def write_spec(root: Path) -> Path:
    (root / "schemas").mkdir(parents=True)
    (root / "schemas" / "customer.avsc").write_text(json.dumps(CUSTOMER))
    (root / "platform.yaml").write_text(textwrap.dedent(SPEC))
    return root


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Applied]:
    """The cluster and registry, nothing applied yet: the first test applies by the CLI."""
    spec_dir = write_spec(tmp_path_factory.mktemp("keks") / "platform")
    with platform("keks", port_offset=KEKS_OFFSET) as (cluster, registry):
        yield Applied(cluster, registry, spec_dir)


def as_app(applied: Applied, spec: Spec, app: str) -> tuple[ConnectionSettings, RegistrySettings]:
    """The application's own principal, for Kafka and the registry alike."""
    principal = spec.applications[app].principal
    password = (applied.cluster.dir.root / "secrets" / principal).read_text().strip()
    connection = applied.cluster.admin_settings().with_credentials(principal, password)
    # Schemas are the platform's to register: the tenant's clients only use them.
    return connection, RegistrySettings(
        applied.registry.url, username=principal, password=password, auto_register=False
    )


def raw_values(connection: ConnectionSettings, topic: str, count: int) -> list[bytes]:
    """The values as the log holds them, read without any deserializer."""
    reader = RawConsumer(connection.librdkafka(**{"group.id": f"raw-{uuid.uuid4().hex[:6]}"}))
    reader.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    try:
        for _ in range(200):
            message = reader.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value())
            if len(values) >= count:
                break
    finally:
        reader.close()
    return values


def test_apply_creates_the_platform_kek_so_the_tenants_own_producer_encrypts_pii(
    applied: Applied,
) -> None:
    spec_dir = str(applied.spec_dir)
    plan = sp("plan", spec_dir, *applied.data)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "+ kek estate-pii" in plan.stdout
    assert "kmsType = local-kms" in plan.stdout and "kmsKeyId = estate-pii" in plan.stdout
    done = sp("apply", spec_dir, *applied.data, "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    kek = applied.get("/dek-registry/v1/keks/estate-pii")
    assert (kek["kmsType"], kek["kmsKeyId"], kek["shared"]) == ("local-kms", "estate-pii", False)
    assert kek["doc"].startswith("Platform spec: ")
    rule = applied.get(f"/subjects/{SUBJECT}/versions/latest")["ruleSet"]["domainRules"][0]
    assert rule["params"]["encrypt.kek.name"] == "estate-pii"

    spec = load_spec(applied.spec_dir)
    writer, registry = as_app(applied, spec, "kyc-writer")
    # Why the platform must create it: the tenant may not (a platform KEK is admin-only).
    denied = httpx.post(
        f"{applied.registry.url}/dek-registry/v1/keks",
        json={"name": "estate-pii-2", "kmsType": "local-kms", "kmsKeyId": "k"},
        auth=(str(writer.username), str(writer.password)),
        timeout=30,
    )
    assert (denied.status_code, denied.json()["error_code"]) == (403, 40301)

    contracts = DataContracts.from_spec(spec, data_dir=applied.cluster.dir.root)
    customers = [
        {"id": f"c{n}", "email": f"person-{n}@example.com", "country": "NL"} for n in range(3)
    ]
    with Producer.for_application(
        spec, "kyc-writer", connection=writer, registry=registry, contracts=contracts
    ) as producer:
        for customer in customers:
            producer.produce(TOPIC, customer, key=customer["id"])
    logged = raw_values(applied.cluster.admin_settings(), TOPIC, len(customers))
    assert len(logged) == len(customers)
    for value, customer in zip(logged, customers, strict=True):
        assert customer["email"].encode() not in value, "PII in plain text in the log"
        assert customer["id"].encode() in value and b"NL" in value, "other fields stay plain"
    # The tenant made the topic's data key under the platform's KEK.
    assert applied.get("/dek-registry/v1/keks/estate-pii/deks") == [SUBJECT]

    reader, reader_registry = as_app(applied, spec, "kyc-reader")
    seen: list[Record] = []
    with Consumer.for_application(
        spec, "kyc-reader", connection=reader, registry=reader_registry, contracts=contracts
    ) as consumer:
        consumer.run(seen.append, max_records=len(customers), idle_timeout_s=30)
    assert [r.value for r in seen] == customers

    again = sp("plan", spec_dir, *applied.data, "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes." in again.stdout


def test_a_new_key_is_refused_and_a_dropped_kek_is_kept_even_with_allow_delete(
    applied: Applied, tmp_path: Path
) -> None:
    if "estate-pii" not in (applied.get("/dek-registry/v1/keks") or []):
        done = sp("apply", str(applied.spec_dir), *applied.data, "--auto-approve")
        assert done.returncode == 0, done.stdout + done.stderr
    spec_dir = applied.copy(tmp_path / "spec")
    spec_file = spec_dir / "platform.yaml"
    original = spec_file.read_text()
    spec_file.write_text(original.replace("kms_key_id: estate-pii", "kms_key_id: new-key"))
    plan = sp("plan", str(spec_dir), *applied.data, "--json")
    assert plan.returncode == 1, plan.stdout + plan.stderr
    [refusal] = json.loads(plan.stdout)["refusals"]
    assert (refusal["kind"], refusal["resource"]) == ("kek", "estate-pii")
    assert "cannot change a KEK's kmsType or kmsKeyId" in refusal["problem"]
    assert "name a new KEK in the spec (e.g. kek: estate-pii-2)" in refusal["alternative"]
    refused = sp("apply", str(spec_dir), *applied.data, "--auto-approve")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert applied.get("/dek-registry/v1/keks/estate-pii")["kmsKeyId"] == "estate-pii"

    # The way forward: a new KEK; the old one stays for the records written under it.
    spec_file.write_text(
        original.replace("kek: estate-pii, kms_type: local-kms, kms_key_id: estate-pii",
                         "kek: estate-pii-2, kms_type: local-kms, kms_key_id: new-key")
    )  # fmt: skip
    try:
        plan = sp("plan", str(spec_dir), *applied.data)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert "+ kek estate-pii-2" in plan.stdout and f"~ schema {SUBJECT}" in plan.stdout
        assert "· kek estate-pii: the spec no longer names it" in plan.stdout
        done = sp("apply", str(spec_dir), *applied.data, "--auto-approve", "--allow-delete")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "kept kek estate-pii: the spec no longer names it" in done.stdout
        assert applied.get("/dek-registry/v1/keks") == ["estate-pii", "estate-pii-2"]
        rule = applied.get(f"/subjects/{SUBJECT}/versions/latest")["ruleSet"]["domainRules"][0]
        assert rule["params"]["encrypt.kek.name"] == "estate-pii-2"
        again = sp("plan", str(spec_dir), *applied.data, "--detailed-exitcode")
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        # Back to the module's spec, for whichever test runs next.
        sp("apply", str(applied.spec_dir), *applied.data, "--auto-approve")


def test_a_saved_plan_notices_a_kek_made_since(applied: Applied, tmp_path: Path) -> None:
    spec_dir = applied.copy(tmp_path / "spec")
    spec_file = spec_dir / "platform.yaml"
    spec_file.write_text(
        spec_file.read_text().replace("kek: estate-pii,", "kek: estate-pii-saved,")
    )
    saved = tmp_path / "plan.json"
    plan = sp("plan", str(spec_dir), *applied.data, "--out", str(saved))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "+ kek estate-pii-saved" in plan.stdout
    password = applied.cluster.credentials().admin_password
    made = httpx.post(
        f"{applied.registry.url}/dek-registry/v1/keks",
        json={"name": "estate-pii-saved", "kmsType": "local-kms", "kmsKeyId": "estate-pii"},
        auth=("admin", password),
        timeout=30,
    )
    assert made.status_code == 200, made.text
    stale = sp("apply", str(saved), *applied.data, "--auto-approve")
    assert stale.returncode == 1
    assert "kek:estate-pii-saved appeared" in stale.stdout + stale.stderr
    # Planned again, the KEK the spec names is adopted: only its doc is the spec's to set.
    plan = sp("plan", str(spec_dir), *applied.data, "--json")
    [action] = [a for a in json.loads(plan.stdout)["actions"] if a["kind"] == "kek"]
    assert (action["op"], [c["key"] for c in action["changes"]]) == ("update", ["doc"])
