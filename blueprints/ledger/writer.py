"""The single writer per account: commands in, events out, exactly once.

Kafka has no per-key optimistic concurrency (no "append if the stream is at version n"),
so the ledger gets it from ownership: commands are keyed by account, a partition's
commands are processed by exactly one member of the ``ledger-writer`` group at a time,
in order, and that member holds the accounts of its partitions (the SDK's
``ChangelogStore``). Each command is decided against the account's current state, and
its events, its outcome, the saga's follow-up commands, the account's new state and the
command's offset are written in one Kafka transaction (the SDK's
``TransactionalProcessor``). A writer that lost its partitions in a rebalance is fenced
by the group coordinator (KIP-447): its offsets and so its transaction are refused, and
the new owner starts from the last committed state. No two writers ever append to one
account; no command is applied twice; no event exists whose command was not consumed.

The state changelog (``bank.ledger.account-state``, compacted) is also every account's
snapshot: a writer taking over a partition reads one record per account, never the
account's whole history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import Message

from blueprints.ledger.account import Account, apply, decide
from streamplane.client import (
    ChangelogStore,
    Output,
    TransactionalProcessor,
    TransactionSettings,
)

if TYPE_CHECKING:
    from streamplane.model import Spec

log = logging.getLogger(__name__)

APP = "ledger-writer"
COMMANDS = "bank.ledger.commands"
EVENTS = "bank.ledger.events.v1"
STATE = "bank.ledger.account-state"
OUTCOMES = "bank.ledger.outcomes"

#: A transaction per poll (2 ms without records ends a poll): a command's outcome is
#: visible one batch and one commit after it arrived; under load batches grow.
SETTINGS = TransactionSettings(max_records=2000, commit_interval_s=0.0, poll_timeout_s=0.002)


class LedgerWriter:
    """One instance of the writer; give each running instance its own ``instance``."""

    def __init__(
        self,
        spec: Spec,
        *,
        instance: int = 0,
        state_dir: Path | str,
        data_dir: Path | str = Path(".streamplane"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self.processor = TransactionalProcessor.for_application(
            spec, APP, topics=[COMMANDS], transform=self._transform, instance=instance,
            settings=SETTINGS, data_dir=data_dir,
            consumer_overrides={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1500},
            producer_overrides={"linger.ms": 0},
        )  # fmt: skip
        codec = self.processor.codec
        assert codec is not None
        self.codec = codec
        self.store: ChangelogStore[Account] = ChangelogStore.for_processor(
            self.processor, Path(state_dir) / "accounts", changelog=STATE,
            to_record=Account.record, from_record=Account.from_record,
        )  # fmt: skip
        self.processor.listener = self.store
        self.accepted = 0
        self.rejected = 0

    def run(self, stop: Callable[[], bool] | None = None) -> None:
        self.processor.run(stop=stop)

    def close(self) -> None:
        try:
            self.processor.close()
        finally:
            self.store.close()

    def _transform(self, messages: list[Message]) -> Iterator[Output]:
        now = int(self._clock() * 1000)
        encode = self.codec.encode
        for message in messages:
            command = self.codec.decode(COMMANDS, message.value())
            account_id = command["account_id"]
            partition = message.partition() or 0
            account = self.store.get(account_id) or Account(account_id)
            decision = decide(account, command, now_ms=now)
            for event in decision.events:
                account = apply(account, event)
                yield Output(EVENTS, encode(EVENTS, event), key=account_id.encode(),
                             partition=partition)  # fmt: skip
            if decision.events:
                self.store.put(account_id, partition, account)
            for follow_up in decision.commands:
                yield Output(COMMANDS, encode(COMMANDS, follow_up),
                             key=follow_up["account_id"].encode())  # fmt: skip
            outcome = {
                "command_id": command["command_id"], "account_id": account_id,
                "accepted": decision.accepted,
                "version": account.version if decision.accepted else None,
                "balance_minor": account.balance_minor if decision.accepted else None,
                "reason": decision.rejected, "decided_at": now,
            }  # fmt: skip
            self.accepted += decision.accepted
            self.rejected += not decision.accepted
            yield Output(OUTCOMES, encode(OUTCOMES, outcome), key=command["command_id"].encode())
        yield from self.store.changelog_outputs()
