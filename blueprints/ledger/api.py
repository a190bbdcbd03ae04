"""The ledger's HTTP API (FastAPI): commands in, queries out, read-your-writes between them.

Commands (``POST``) are produced to ``bank.ledger.commands`` keyed by account, as the
``ledger-api`` application; the call waits for the command's outcome (the writer's
answer on ``bank.ledger.outcomes``) and returns it: accepted, with the account's new
**version** (the event's position in the account's stream), or rejected (409) with the
reason (insufficient funds, a stale ``expected_version``, an account not open).

Queries (``GET``) read the projection. ``min_version`` makes a query wait until the
projection has applied that version of the account (read-your-writes: pass the version a
command returned), up to ``timeout_s`` (then 504). ``/updates`` streams the account's
new statement lines as server-sent events. The OpenAPI document is at ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, TopicPartition
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from blueprints.ledger.projection import ReadModel
from streamplane.client import (
    ApplicationCodec,
    ApplicationScope,
    Producer,
    application_connection,
)

if TYPE_CHECKING:
    from streamplane.model import Spec

APP = "ledger-api"
COMMANDS = "bank.ledger.commands"
OUTCOMES = "bank.ledger.outcomes"


class Open(BaseModel):
    account_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    command_id: str | None = Field(None, description="Your id for the request (a retry).")


class Amount(BaseModel):
    amount_minor: int = Field(gt=0, description="In cents.")
    expected_version: int | None = Field(
        None, description="The account version you based this on; stale: 409."
    )
    command_id: str | None = None


class Transfer(Amount):
    to_account: str = Field(min_length=1, max_length=64)


class Outcome(BaseModel):
    command_id: str
    account_id: str
    accepted: bool
    version: int | None = Field(None, description="The account's version after the command.")
    balance_minor: int | None = None
    reason: str | None = None


class Balance(BaseModel):
    account_id: str
    balance_minor: int
    version: int


@dataclass
class _Waiting:
    done: threading.Event = field(default_factory=threading.Event)
    outcome: dict[str, Any] | None = None


class Outcomes:
    """Every outcome from now on, handed to the request waiting for it."""

    def __init__(self, spec: Spec, data_dir: Path) -> None:
        resolved = application_connection(spec, APP, data_dir=data_dir)
        self.codec = ApplicationCodec.for_application(
            spec, ApplicationScope.of(spec, APP), resolved.registry
        )
        self.consumer = Consumer(
            resolved.connection.librdkafka(
                **{
                    "group.id": spec.applications[APP].consumer_group,  # assigned, not joined
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": 5,
                    "log_level": 3,
                }
            )
        )
        self.waiting: dict[str, _Waiting] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="outcomes", daemon=True)

    def start(self) -> None:
        """Assign every partition at its end, and wait until the positions are known (an
        outcome produced after this returns is never missed)."""
        metadata = self.consumer.list_topics(OUTCOMES, timeout=30)
        partitions = [TopicPartition(OUTCOMES, p) for p in metadata.topics[OUTCOMES].partitions]
        ends = []
        for tp in partitions:
            _low, high = self.consumer.get_watermark_offsets(tp, timeout=30, cached=False)
            ends.append(TopicPartition(OUTCOMES, tp.partition, high))
        self.consumer.assign(ends)
        self._thread.start()

    def expect(self, command_id: str) -> _Waiting:
        waiting = _Waiting()
        with self._lock:
            self.waiting[command_id] = waiting
        return waiting

    def forget(self, command_id: str) -> None:
        with self._lock:
            self.waiting.pop(command_id, None)

    def _read(self) -> None:
        while not self._stop.is_set():
            for message in self.consumer.consume(1, 0.05) + self.consumer.consume(500, 0):
                if message.error() is not None:
                    continue
                outcome = self.codec.decode(OUTCOMES, message.value())
                with self._lock:
                    waiting = self.waiting.pop(outcome["command_id"], None)
                if waiting is not None:
                    waiting.outcome = outcome
                    waiting.done.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


def create_app(
    spec: Spec, *, data_dir: Path, read_model: ReadModel, command_timeout_s: float = 10.0
) -> FastAPI:
    """The API of the ledger whose projection ``read_model`` reads."""
    state: dict[str, Any] = {}
    producing = threading.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        outcomes = Outcomes(spec, data_dir)
        outcomes.start()
        state["outcomes"] = outcomes
        state["producer"] = Producer.for_application(
            spec, APP, data_dir=data_dir, config={"linger.ms": 0}
        )
        try:
            yield
        finally:
            state["producer"].close()
            outcomes.close()

    app = FastAPI(
        title="Streamplane ledger",
        version="1",
        description=(__doc__ or "").strip(),
        lifespan=lifespan,
    )

    def command(kind: str, account_id: str, body: Any, **extra: Any) -> Outcome:
        command_id = body.command_id or str(uuid.uuid4())
        outcomes: Outcomes = state["outcomes"]
        waiting = outcomes.expect(command_id)
        record = {
            "command_id": command_id, "kind": kind, "account_id": account_id,
            "amount_minor": getattr(body, "amount_minor", 0),
            "expected_version": getattr(body, "expected_version", None),
            "counterparty": None, "transfer_id": None, "issued_at": int(time.time() * 1000),
            **extra,
        }  # fmt: skip
        producer: Producer = state["producer"]

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:  # the outcome will never come: say why at once
                waiting.outcome = {"error": str(error)}
                waiting.done.set()

        with producing:
            producer.produce(COMMANDS, record, key=account_id, on_delivery=delivered)
            producer.poll(0)
        if not waiting.done.wait(command_timeout_s):
            outcomes.forget(command_id)
            raise HTTPException(
                504,
                f"no outcome for command {command_id} within {command_timeout_s:.0f}s; "
                "retry with the same command_id",
            )
        found = waiting.outcome or {}
        if "error" in found:
            raise HTTPException(503, f"command {command_id} not written: {found['error']}")
        result = Outcome(**{k: found[k] for k in Outcome.model_fields})
        if not result.accepted:
            raise HTTPException(409, result.reason or "rejected")
        return result

    @app.post("/accounts", response_model=Outcome, summary="Open an account")
    def open_account(body: Open) -> Outcome:
        return command("OPEN", body.account_id, body)

    @app.post("/accounts/{account_id}/deposits", response_model=Outcome)
    def deposit(account_id: str, body: Amount) -> Outcome:
        return command("DEPOSIT", account_id, body)

    @app.post("/accounts/{account_id}/withdrawals", response_model=Outcome)
    def withdraw(account_id: str, body: Amount) -> Outcome:
        return command("WITHDRAW", account_id, body)

    @app.post(
        "/accounts/{account_id}/transfers",
        response_model=Outcome,
        summary="Transfer to another account (accepted once debited; credited or refunded "
        "by the saga)",
    )
    def transfer(account_id: str, body: Transfer) -> Outcome:
        return command("TRANSFER", account_id, body, counterparty=body.to_account)

    def wait_for(account_id: str, min_version: int, timeout_s: float) -> tuple[int, int] | None:
        deadline = time.monotonic() + timeout_s
        while True:
            found = read_model.account(account_id)
            if found is not None and found[1] >= min_version:
                return found
            if time.monotonic() >= deadline:
                if min_version > 0:
                    raise HTTPException(
                        504, f"the projection has not reached version {min_version} of "
                        f"{account_id} within {timeout_s}s",
                    )  # fmt: skip
                return found
            time.sleep(0.005)

    @app.get("/accounts/{account_id}", response_model=Balance)
    def balance(
        account_id: str,
        min_version: int = Query(0, ge=0, description="Wait until this version is applied."),
        timeout_s: float = Query(5.0, gt=0, le=60),
    ) -> Balance:
        found = wait_for(account_id, min_version, timeout_s if min_version else 0)
        if found is None:
            raise HTTPException(404, f"no account {account_id}")
        return Balance(account_id=account_id, balance_minor=found[0], version=found[1])

    @app.get("/accounts/{account_id}/statement")
    def statement(
        account_id: str,
        min_version: int = Query(0, ge=0),
        timeout_s: float = Query(5.0, gt=0, le=60),
    ) -> list[dict[str, Any]]:
        wait_for(account_id, min_version, timeout_s if min_version else 0)
        return read_model.statement(account_id)

    @app.get("/accounts/{account_id}/updates", summary="New statement lines, as server-sent events")
    async def updates(
        account_id: str, after_version: int = Query(0, ge=0), limit: int = Query(0, ge=0)
    ) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            seen, sent = after_version, 0
            while limit == 0 or sent < limit:
                for line in read_model.statement(account_id, after_version=seen):
                    seen = line["version"]
                    sent += 1
                    yield f"id: {seen}\nevent: {line['kind']}\ndata: {json.dumps(line)}\n\n"
                    if limit and sent >= limit:
                        return
                await asyncio.sleep(0.05)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app
