"""The ledger on a real cluster, registry and processes, through its HTTP API: commands
with read-your-writes, no overdraft under concurrent withdrawals, stale versions refused,
transfers that complete or compensate; writers and the projector killed -9 during
concurrent commands, after which every balance is the replay of its events, the
balances sum to deposits minus withdrawals, no event is duplicated and no balance ever
went negative; a projection rebuilt from offset 0 beside the live one equals it; and a
version 1 event projects as version 2."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, SerializingProducer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from blueprints.ledger.account import replay
from blueprints.ledger.local import LocalLedger
from blueprints.ledger.projection import SCHEMA, ReadModel
from streamplane.local import LocalPostgres, RegistryProcess, open_cluster
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT

OFFSET = 23400 + PORT_SHIFT
EVENTS = "bank.ledger.events.v1"


class Ledger:
    def __init__(self, local: LocalLedger, postgres: LocalPostgres) -> None:
        self.local = local
        self.postgres = postgres
        self.http = httpx.Client(base_url=local.url, timeout=30)

    def post(self, path: str, **body: Any) -> httpx.Response:
        return self.http.post(path, json=body)

    def open(self, account: str) -> None:
        assert self.post("/accounts", account_id=account).status_code == 200

    def deposit(self, account: str, amount: int, **extra: Any) -> httpx.Response:
        return self.post(f"/accounts/{account}/deposits", amount_minor=amount, **extra)

    def registry(self) -> SchemaRegistryClient:
        """The cluster's registry, as its admin."""
        cluster = open_cluster(self.local.data_dir)
        registry = RegistryProcess(cluster.dir, port_offset=OFFSET)
        creds = cluster.dir.read_credentials()
        assert creds is not None
        return SchemaRegistryClient(
            {"url": registry.url, "basic.auth.user.info": f"admin:{creds.admin_password}"}
        )

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        """Every event in the log, (partition, event), read as the cluster's admin."""
        settings = open_cluster(self.local.data_dir).admin_settings()
        decode = AvroDeserializer(self.registry())
        consumer = Consumer(settings.librdkafka(**{
            "group.id": "ledger-test-reader", "enable.auto.commit": False,
            "enable.partition.eof": True, "isolation.level": "read_committed", "log_level": 3,
        }))  # fmt: skip
        consumer.assign([TopicPartition(EVENTS, p, -2) for p in range(6)])
        found, behind = [], set(range(6))
        while behind:
            for m in consumer.consume(5000, 1.0):
                error = m.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        behind.discard(m.partition())
                    continue
                ctx = SerializationContext(EVENTS, MessageField.VALUE)
                found.append((m.partition() or 0, decode(m.value(), ctx)))
        consumer.close()
        return found


@pytest.fixture(scope="module")
def ledger() -> Iterator[Ledger]:
    local = LocalLedger(TEST_ROOT / "ledger", port_offset=OFFSET)
    postgres = LocalPostgres(port=28060 + PORT_SHIFT, root=TEST_ROOT / "ledger-postgres")
    try:
        postgres.start()
        local.up_with_everything(reporting=postgres.conninfo)
        yield Ledger(local, postgres)
    finally:
        local.down()
        postgres.stop()


def reporting(ledger: Ledger) -> dict[str, tuple[int, int]]:
    """(balance, version) per account in the PostgreSQL projection."""
    with psycopg.connect(ledger.postgres.conninfo) as db:
        rows = db.execute("SELECT account_id, balance_minor, version FROM accounts").fetchall()
    return {a: (int(b), int(v)) for a, b, v in rows}


def test_commands_and_read_your_writes(ledger: Ledger) -> None:
    ledger.open("alice")
    assert ledger.post("/accounts", account_id="alice").status_code == 409
    done = ledger.deposit("alice", 1_000).json()
    assert done["accepted"] and done["version"] == 2 and done["balance_minor"] == 1_000
    # Read-your-writes: the query waits until the projection applied the version.
    got = ledger.http.get("/accounts/alice", params={"min_version": done["version"]}).json()
    assert got == {"account_id": "alice", "balance_minor": 1_000, "version": 2}
    over = ledger.post("/accounts/alice/withdrawals", amount_minor=1_001)
    assert over.status_code == 409 and "insufficient funds" in over.json()["detail"]
    stale = ledger.deposit("alice", 5, expected_version=1)
    assert stale.status_code == 409 and "stale" in stale.json()["detail"]
    fresh = ledger.deposit("alice", 5, expected_version=2).json()
    assert fresh["version"] == 3
    lines = ledger.http.get("/accounts/alice/statement", params={"min_version": 3}).json()
    assert [(x["kind"], x["balance_minor"]) for x in lines] == [
        ("OPENED", 0),
        ("DEPOSITED", 1_000),
        ("DEPOSITED", 1_005),
    ]
    with ledger.http.stream("GET", "/accounts/alice/updates",
                            params={"after_version": 1, "limit": 2}) as stream:  # fmt: skip
        data = [json.loads(x[6:]) for x in stream.iter_lines() if x.startswith("data: ")]
    assert [d["version"] for d in data] == [2, 3]
    paths = ledger.http.get("/openapi.json").json()["paths"]
    assert "/accounts/{account_id}/transfers" in paths
    assert ledger.http.get("/accounts/nobody").status_code == 404


def test_concurrent_withdrawals_never_overdraw(ledger: Ledger) -> None:
    ledger.open("bob")
    ledger.deposit("bob", 1_000)
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(
            lambda _: ledger.post("/accounts/bob/withdrawals", amount_minor=100).status_code,
            range(25),
        ))  # fmt: skip
    assert Counter(codes) == {200: 10, 409: 15}
    assert ledger.http.get("/accounts/bob", params={"min_version": 12}).json()["balance_minor"] == 0


def test_a_transfer_completes_or_compensates(ledger: Ledger) -> None:
    for name in ("carol", "dave"):
        ledger.open(name)
    ledger.deposit("carol", 500)
    sent = ledger.post("/accounts/carol/transfers", to_account="dave", amount_minor=200).json()
    assert sent["balance_minor"] == 300
    got = ledger.http.get("/accounts/dave", params={"min_version": 2}).json()
    assert got["balance_minor"] == 200
    # To an account that does not exist: debited, then refunded by the saga.
    ledger.post("/accounts/carol/transfers", to_account="nobody", amount_minor=100)
    lines = ledger.http.get("/accounts/carol/statement", params={"min_version": 5}).json()
    assert [x["kind"] for x in lines][-2:] == ["TRANSFER_SENT", "TRANSFER_REFUNDED"]
    assert lines[-1]["balance_minor"] == 300


def test_kill_minus_nine_during_concurrent_commands_keeps_every_invariant(ledger: Ledger) -> None:
    local = ledger.local
    names = [f"acct-{i}" for i in range(30)]
    for name in names:
        ledger.open(name)
        ledger.deposit(name, 1_000)
    stop = threading.Event()
    rng = random.Random(3)
    answered: Counter[int] = Counter()

    def client(seed: int) -> None:
        r = random.Random(seed)
        while not stop.is_set():
            source, target = r.sample(names, 2)
            kind = r.choice(["deposits", "withdrawals", "transfers", "transfers"])
            body: dict[str, Any] = {"amount_minor": r.randint(1, 400)}
            if kind == "transfers":
                body["to_account"] = target
            # A timeout while a writer is down: the outcome is in the log either way.
            with contextlib.suppress(httpx.HTTPError):
                answered[ledger.post(f"/accounts/{source}/{kind}", **body).status_code] += 1

    threads = [threading.Thread(target=client, args=(rng.random(),)) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        for victim in ("writer-1", "projector-live", "writer-0", "projector-reporting",
                       "writer-1"):  # fmt: skip
            time.sleep(3)
            local.kill(victim)
            if victim.startswith("writer"):
                local.start_writer(int(victim[-1]))
            elif victim == "projector-live":
                local.start_projector()
            else:
                local.start_reporting(ledger.postgres.conninfo)
    finally:
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(60)

    # The clients kept going through the kills: commands were accepted and refused (how
    # many depends on how long each writer took to come back, so only that some were).
    assert answered[200] >= 20 and answered[409] >= 1, answered
    events = ledger.events()
    ids = Counter(e["event_id"] for _p, e in events)
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1][:5]
    partitions: dict[str, set[int]] = defaultdict(set)
    for partition, event in events:
        partitions[event["account_id"]].add(partition)
    assert all(len(p) == 1 for p in partitions.values())  # one writer's partition each

    # Every transfer settled: received or refunded (the last sagas may still be moving).
    def settled() -> bool:
        found = [e for _p, e in ledger.events()]
        sent = {e["transfer_id"] for e in found if e["kind"] == "TRANSFER_SENT"}
        done = {e["transfer_id"] for e in found
                if e["kind"] in ("TRANSFER_RECEIVED", "TRANSFER_REFUNDED")}  # fmt: skip
        return sent <= done

    local.wait(settled, "every saga settled", timeout_s=60)
    events = ledger.events()
    deposits = sum(e["amount_minor"] for _p, e in events if e["kind"] == "DEPOSITED")
    withdrawals = sum(e["amount_minor"] for _p, e in events if e["kind"] == "WITHDRAWN")
    read = ReadModel(local.projection())
    versions: dict[str, int] = defaultdict(int)
    for _p, e in events:
        versions[e["account_id"]] = max(versions[e["account_id"]], e["version"])
    local.wait(lambda: all((read.account(a) or (0, 0))[1] == v for a, v in versions.items()),
               "the projection caught up", timeout_s=60)  # fmt: skip
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _p, e in events:
        by_account[e["account_id"]].append(e)
    for account, history in by_account.items():
        history.sort(key=lambda e: e["version"])
        assert [e["version"] for e in history] == list(range(1, len(history) + 1)), account
        expected = replay(account, history)
        assert read.account(account) == (expected.balance_minor, expected.version), account
        assert all(line["balance_minor"] >= 0 for line in read.statement(account)), account
    total, _count = read.totals()
    assert total == deposits - withdrawals
    # The PostgreSQL projection, killed too, agrees account by account.
    local.wait(lambda: reporting(ledger) == {a: read.account(a) for a in versions},
               "the PostgreSQL projection to agree", timeout_s=60)  # fmt: skip


def test_a_rebuilt_projection_equals_the_live_one(ledger: Ledger) -> None:
    local = ledger.local
    began = time.monotonic()
    local.start_projector("rebuilt", app="ledger-rebuilder")
    live, rebuilt = ReadModel(local.projection()), ReadModel(local.projection("rebuilt"))
    local.wait(lambda: local.projection("rebuilt").exists() and rebuilt.totals() == live.totals(),
               "the rebuild to catch up", timeout_s=120)  # fmt: skip
    assert time.monotonic() - began < 120
    for name in ("alice", "bob", "carol", "acct-3"):
        assert rebuilt.account(name) == live.account(name)
        assert rebuilt.statement(name) == live.statement(name)


def test_a_version_1_event_projects_as_version_2(ledger: Ledger) -> None:
    """An event written with the first schema (before transfers had their own fields)."""
    cluster = open_cluster(ledger.local.data_dir)
    client = ledger.registry()
    old = (SCHEMA.parent / "account-event-v1.avsc").read_text()
    producer = SerializingProducer(cluster.admin_settings().librdkafka(**{
        "value.serializer": AvroSerializer(client, old, conf={"auto.register.schemas": True}),
        "log_level": 3,
    }))  # fmt: skip
    legacy = f"legacy-{uuid.uuid4().hex[:6]}"
    producer.produce(EVENTS, key=legacy.encode(), value={
        "event_id": f"{legacy}:1", "account_id": legacy, "version": 1, "kind": "OPENED",
        "amount_minor": 0, "command_id": "v1-open", "occurred_at": 1,
    })  # fmt: skip
    producer.flush(30)
    read = ReadModel(ledger.local.projection())
    ledger.local.wait(lambda: read.account(legacy) is not None, "the v1 event projected")
    (line,) = read.statement(legacy)
    assert (line["currency"], line["transfer_id"], line["kind"]) == ("EUR", None, "OPENED")
