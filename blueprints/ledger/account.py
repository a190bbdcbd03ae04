"""The account aggregate: commands decided against the account's state, events folded into it.

Pure functions, so the writer, the projections, the tests and a replay agree on what
every event means:

- :func:`decide` takes an account's state and a command and gives the events to append
  (with the follow-up commands a transfer's saga needs) or a rejection with its reason;
- :func:`apply` folds one event into the state. The state after a replay of an
  account's events equals the writer's state, always (the tests check it).

Rules: an account must be opened before anything else; amounts are positive; a
withdrawal or a transfer never takes the balance below zero; a command carrying an
``expected_version`` other than the account's is rejected (optimistic concurrency, as
EventStoreDB's expected revision). A command id seen among the account's latest is
answered as already applied, not applied twice (a client's retry).

A transfer is a saga over two accounts that live on different partitions, with
different writers:

1. ``TRANSFER`` on the source: the money leaves (``TRANSFER_SENT``) and a ``CREDIT``
   command for the destination is issued, in the same Kafka transaction;
2. ``CREDIT`` on the destination: if it is open, ``TRANSFER_RECEIVED``; if not, a
   ``REFUND`` command back to the source;
3. ``REFUND`` on the source: ``TRANSFER_REFUNDED``, the compensation.

Money is never created or destroyed: at any moment the balances sum to deposits minus
withdrawals minus the transfers in flight, and once the saga settles none is in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: Command ids remembered per account, to answer a retry instead of applying it again.
RECENT_COMMANDS = 32

#: Each event's effect on the balance.
SIGN = {
    "OPENED": 0,
    "DEPOSITED": 1,
    "WITHDRAWN": -1,
    "TRANSFER_SENT": -1,
    "TRANSFER_RECEIVED": 1,
    "TRANSFER_REFUNDED": 1,
}


@dataclass(frozen=True)
class Account:
    account_id: str
    version: int = 0
    balance_minor: int = 0
    open: bool = False
    recent_commands: tuple[str, ...] = field(default=())

    def record(self) -> dict[str, Any]:
        """The account-state-v1 record (the changelog's value, the account's snapshot)."""
        return {
            "account_id": self.account_id,
            "version": self.version,
            "balance_minor": self.balance_minor,
            "open": self.open,
            "recent_commands": list(self.recent_commands),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Account:
        return cls(
            account_id=str(record["account_id"]),
            version=int(record["version"]),
            balance_minor=int(record["balance_minor"]),
            open=bool(record["open"]),
            recent_commands=tuple(record.get("recent_commands") or ()),
        )


@dataclass(frozen=True)
class Decision:
    """What a command does: events to append and commands to issue, or a rejection."""

    events: tuple[dict[str, Any], ...] = ()
    commands: tuple[dict[str, Any], ...] = ()
    rejected: str | None = None
    #: The command was applied before (a retry): answered, nothing appended.
    duplicate: bool = False

    @property
    def accepted(self) -> bool:
        return self.rejected is None


def apply(account: Account, event: Mapping[str, Any]) -> Account:
    """The account after ``event`` (which must be its next version)."""
    kind = str(event["kind"])
    version = int(event["version"])
    if version != account.version + 1:
        raise ValueError(
            f"event {event.get('event_id')} is version {version} of {account.account_id}, "
            f"which is at version {account.version}: events must be applied in order"
        )
    recent = (*account.recent_commands, str(event["command_id"]))[-RECENT_COMMANDS:]
    return replace(
        account,
        version=version,
        balance_minor=account.balance_minor + SIGN[kind] * int(event["amount_minor"]),
        open=account.open or kind == "OPENED",
        recent_commands=recent,
    )


def decide(account: Account, command: Mapping[str, Any], *, now_ms: int) -> Decision:
    """The events ``command`` appends to ``account``, or why it is rejected."""
    kind = str(command["kind"])
    command_id = str(command["command_id"])
    amount = int(command.get("amount_minor") or 0)
    if command_id in account.recent_commands:
        return Decision(duplicate=True)
    expected = command.get("expected_version")
    if expected is not None and int(expected) != account.version:
        return Decision(
            rejected=f"stale: the command expected version {expected}, the account is at "
            f"version {account.version}"
        )

    def event(name: str, **extra: Any) -> dict[str, Any]:
        version = account.version + 1
        return {
            "event_id": f"{account.account_id}:{version}", "account_id": account.account_id,
            "version": version, "kind": name, "amount_minor": amount, "command_id": command_id,
            "occurred_at": now_ms, "currency": "EUR", "transfer_id": None,
            "counterparty": None, **extra,
        }  # fmt: skip

    if kind == "OPEN":
        if account.open:
            return Decision(rejected=f"account {account.account_id} is already open")
        return Decision(events=(event("OPENED", amount_minor=0),))
    if kind == "CREDIT":
        source = str(command["counterparty"])
        transfer = command["transfer_id"]
        if not account.open:
            # The destination cannot take it: the saga compensates on the source.
            refund = _saga_step("REFUND", source, amount, account.account_id, transfer, now_ms)
            return Decision(
                commands=(refund,),
                rejected=f"account {account.account_id} is not open: the transfer is refunded",
            )
        return Decision(
            events=(event("TRANSFER_RECEIVED", transfer_id=transfer, counterparty=source),)
        )
    if kind == "REFUND":
        return Decision(
            events=(
                event(
                    "TRANSFER_REFUNDED",
                    transfer_id=command["transfer_id"],
                    counterparty=command["counterparty"],
                ),
            )
        )
    if not account.open:
        return Decision(rejected=f"account {account.account_id} is not open")
    if amount <= 0:
        return Decision(rejected=f"the amount must be positive, not {amount}")
    if kind == "DEPOSIT":
        return Decision(events=(event("DEPOSITED"),))
    if amount > account.balance_minor:
        return Decision(
            rejected=f"insufficient funds: the balance is {account.balance_minor}, "
            f"{amount} requested"
        )
    if kind == "WITHDRAW":
        return Decision(events=(event("WITHDRAWN"),))
    if kind == "TRANSFER":
        target = command.get("counterparty")
        if not target or target == account.account_id:
            return Decision(rejected="a transfer needs another account to credit")
        credit = _saga_step("CREDIT", target, amount, account.account_id, command_id, now_ms)
        sent = event("TRANSFER_SENT", transfer_id=command_id, counterparty=target)
        return Decision(events=(sent,), commands=(credit,))
    return Decision(rejected=f"unknown command kind {kind!r}")


def _saga_step(
    kind: str, account_id: str, amount: int, counterparty: str, transfer_id: str, now_ms: int
) -> dict[str, Any]:
    """The command a transfer's saga issues to ``account_id``: its id derives from the
    transfer's, so a step issued twice is the same command (answered, not reapplied)."""
    return {
        "command_id": f"{transfer_id}:{kind.lower()}", "kind": kind, "account_id": account_id,
        "amount_minor": amount, "expected_version": None, "counterparty": counterparty,
        "transfer_id": transfer_id, "issued_at": now_ms,
    }  # fmt: skip


def replay(account_id: str, events: Iterable[Mapping[str, Any]]) -> Account:
    """The account its events make, from nothing."""
    account = Account(account_id)
    for event in events:
        account = apply(account, event)
    return account
