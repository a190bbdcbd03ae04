"""The projection's SQL on SQLite: balances and statements from events, each event once,
and version 1 events upcast to version 2 by the schema's defaults."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from blueprints.ledger.projection import SCHEMA, TABLES, Dialect, ReadModel, Upcaster, project


def event(account: str, version: int, kind: str, amount: int) -> dict[str, Any]:
    return {"event_id": f"{account}:{version}", "account_id": account, "version": version,
            "kind": kind, "amount_minor": amount, "command_id": f"c{version}",
            "occurred_at": 1, "currency": "EUR", "transfer_id": None,
            "counterparty": None}  # fmt: skip


def test_balances_and_statements_and_each_event_once(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    db = sqlite3.connect(path)
    for table in TABLES:
        db.execute(table)
    batch = [event("a", 1, "OPENED", 0), event("a", 2, "DEPOSITED", 500),
             event("b", 1, "OPENED", 0), event("a", 3, "TRANSFER_SENT", 200),
             event("b", 2, "TRANSFER_RECEIVED", 200)]  # fmt: skip
    cursor = db.cursor()
    project(cursor, batch, Dialect("?"))
    project(cursor, batch[3:], Dialect("?"))  # again: skipped by version
    project(cursor, [event("a", 4, "WITHDRAWN", 50)], Dialect("?"))
    db.commit()
    read = ReadModel(path)
    assert read.account("a") == (250, 4) and read.account("b") == (200, 2)
    assert [line["balance_minor"] for line in read.statement("a")] == [0, 500, 300, 250]
    assert read.statement("a", after_version=3)[0]["kind"] == "WITHDRAWN"
    assert read.totals() == (450, 2)
    assert read.account("nobody") is None


def test_a_version_1_event_reads_as_version_2() -> None:
    upcast = Upcaster.of()
    v1 = {k: v for k, v in event("a", 1, "OPENED", 0).items()
          if k not in ("currency", "transfer_id", "counterparty")}  # fmt: skip
    assert upcast(v1) == event("a", 1, "OPENED", 0)
    v1_doc = json.loads((SCHEMA.parent / "account-event-v1.avsc").read_text())
    assert {f["name"] for f in v1_doc["fields"]} == set(v1)
