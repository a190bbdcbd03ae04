"""The query side: balances and statements in SQLite or PostgreSQL, built from the events.

``Projector`` is the SDK's ``IdempotentSink`` over ``bank.ledger.events.v1``: each batch's
rows and the consumed offsets are written in one database transaction, so a projector
killed at any point resumes exactly where its database says, never applying an event
twice or skipping one. A second projection (application ``ledger-rebuilder``, another
database) replays the events from offset 0 while the live one keeps serving: that is how
a new read model, or a fixed one, is built.

Events of an older schema version are upcast as Avro's schema resolution reads them: a
field the writer's schema lacks takes the default of the topic's current schema
(``Upcaster``), so version 1 events (before transfers had their own fields) project like
version 2 ones.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Message

from blueprints.ledger.account import SIGN
from streamplane.client import (
    ApplicationCodec,
    ApplicationScope,
    BatchSettings,
    IdempotentSink,
    PostgresSinkStore,
    SinkStore,
    SqliteSinkStore,
    application_connection,
)

if TYPE_CHECKING:
    from streamplane.model import Spec

EVENTS = "bank.ledger.events.v1"
SCHEMA = Path(__file__).parent / "spec" / "schemas" / "account-event.avsc"

TABLES = (
    "CREATE TABLE IF NOT EXISTS accounts ("
    " account_id TEXT PRIMARY KEY, balance_minor BIGINT NOT NULL, version BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS statement ("
    " account_id TEXT NOT NULL, version BIGINT NOT NULL, kind TEXT NOT NULL,"
    " amount_minor BIGINT NOT NULL, balance_minor BIGINT NOT NULL, currency TEXT NOT NULL,"
    " transfer_id TEXT, counterparty TEXT, occurred_at BIGINT NOT NULL,"
    " PRIMARY KEY (account_id, version))",
)


class Upcaster:
    """Old events in the current schema's shape: each field the record lacks gets the
    current schema's default (Avro's rule for a field added with a default)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.defaults = {f["name"]: f["default"] for f in schema["fields"] if "default" in f}

    @classmethod
    def of(cls, path: Path = SCHEMA) -> Upcaster:
        return cls(json.loads(path.read_text()))

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with the fields its writer's schema lacked (the same dict, if none)."""
        if self.defaults.keys() <= event.keys():
            return event
        return {**self.defaults, **event}


@dataclass(frozen=True)
class Dialect:
    marker: str

    def sql(self, text: str) -> str:
        return text.replace("?", self.marker)


def project(cursor: Any, events: list[dict[str, Any]], dialect: Dialect) -> None:
    """Apply ``events`` (in partition order) to the tables: each account's balance and
    version, and its statement line per event. Events at or below the stored version of
    their account are skipped (belt and braces: the sink already applies each once)."""
    touched = sorted({e["account_id"] for e in events})
    held: dict[str, tuple[int, int]] = {}
    for start in range(0, len(touched), 500):
        chunk = touched[start : start + 500]
        marks = ", ".join([dialect.marker] * len(chunk))
        cursor.execute(
            f"SELECT account_id, balance_minor, version FROM accounts "
            f"WHERE account_id IN ({marks})",
            chunk,
        )
        held.update({row[0]: (int(row[1]), int(row[2])) for row in cursor.fetchall()})
    lines = []
    for event in events:
        account = event["account_id"]
        balance, version = held.get(account, (0, 0))
        if int(event["version"]) <= version:
            continue
        balance += SIGN[event["kind"]] * int(event["amount_minor"])
        version = int(event["version"])
        held[account] = (balance, version)
        lines.append((
            account, version, event["kind"], int(event["amount_minor"]), balance,
            event["currency"], event["transfer_id"], event["counterparty"],
            int(event["occurred_at"]),
        ))  # fmt: skip
    if not lines:
        return
    cursor.executemany(
        dialect.sql(
            "INSERT INTO statement (account_id, version, kind, amount_minor, balance_minor,"
            " currency, transfer_id, counterparty, occurred_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        ),
        lines,
    )
    now = int(time.time() * 1000)
    changed = {line[0] for line in lines}
    cursor.executemany(
        dialect.sql(
            "INSERT INTO accounts (account_id, balance_minor, version, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET"
            " balance_minor = excluded.balance_minor, version = excluded.version,"
            " updated_at = excluded.updated_at"
        ),
        [(a, held[a][0], held[a][1], now) for a in sorted(changed)],
    )


def sqlite_store(path: Path) -> SqliteSinkStore:
    """The projection's SQLite database (WAL: the API reads while the projector writes)."""
    store = SqliteSinkStore(path, synchronous="NORMAL")
    store.open()
    with store.transaction() as cursor:
        for table in TABLES:
            cursor.execute(table)
    return store


def postgres_store(conninfo: str) -> PostgresSinkStore:
    store = PostgresSinkStore(conninfo)
    store.open()
    with store.transaction() as cursor:
        for table in TABLES:
            cursor.execute(table)
    return store


class Projector:
    """Application ``app`` (``ledger-projector``, or ``ledger-rebuilder`` for a rebuild)
    projecting the events into ``store``."""

    def __init__(
        self,
        spec: Spec,
        store: SinkStore,
        *,
        app: str = "ledger-projector",
        data_dir: Path | str = Path(".streamplane"),
        batch: BatchSettings | None = None,
    ) -> None:
        resolved = application_connection(spec, app, data_dir=data_dir)
        self.codec = ApplicationCodec.for_application(
            spec, ApplicationScope.of(spec, app), resolved.registry
        )
        self.upcast = Upcaster.of()
        self.dialect = Dialect(store.marker)
        self.projected = 0
        self.sink = IdempotentSink(
            [EVENTS],
            group=spec.applications[app].consumer_group,
            store=store,
            effect=self._effect,
            connection=resolved.connection,
            # A poll returns after 5 ms with what it has: a query waiting for its own write
            # (read-your-writes) waits for about one poll plus one database commit.
            batch=batch or BatchSettings(max_records=5000, poll_timeout_s=0.005),
            owner=f"projection {app}",
        )

    def _effect(self, cursor: Any, batch: list[Message]) -> None:
        decode, upcast = self.codec.decode, self.upcast
        project(cursor, [upcast(decode(EVENTS, m.value())) for m in batch], self.dialect)
        self.projected += len(batch)

    def run(self, stop: Callable[[], bool] | None = None) -> None:
        self.sink.run(stop=stop)

    def step(self) -> int:
        return self.sink.step()

    def close(self) -> None:
        self.sink.close()


class ReadModel:
    """Queries of a SQLite projection (a connection per call: the API serves from threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, args: Iterable[Any]) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, tuple(args)).fetchall()
        finally:
            db.close()

    def account(self, account_id: str) -> tuple[int, int] | None:
        """(balance, version) of the account, or None before its first event is projected."""
        rows = self._query(
            "SELECT balance_minor, version FROM accounts WHERE account_id = ?", (account_id,)
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def statement(self, account_id: str, *, after_version: int = 0) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT version, kind, amount_minor, balance_minor, currency, transfer_id,"
            " counterparty, occurred_at FROM statement WHERE account_id = ? AND version > ?"
            " ORDER BY version",
            (account_id, after_version),
        )
        names = ("version", "kind", "amount_minor", "balance_minor", "currency",
                 "transfer_id", "counterparty", "occurred_at")  # fmt: skip
        return [dict(zip(names, row, strict=True)) for row in rows]

    def totals(self) -> tuple[int, int]:
        """(sum of balances, number of accounts)."""
        rows = self._query("SELECT COALESCE(SUM(balance_minor), 0), COUNT(*) FROM accounts", ())
        return int(rows[0][0]), int(rows[0][1])
