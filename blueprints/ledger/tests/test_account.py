"""The account aggregate: rules, optimistic concurrency, the transfer saga, and a replay of
an account's events giving back the writer's state."""

from __future__ import annotations

import random
from typing import Any

from blueprints.ledger.account import Account, apply, decide, replay

NOW = 1_767_225_600_000


def cmd(kind: str, account: str = "a", amount: int = 0, **extra: Any) -> dict[str, Any]:
    return {"command_id": extra.pop("command_id", f"{kind}-{random.random()}"), "kind": kind,
            "account_id": account, "amount_minor": amount, "expected_version": None,
            "counterparty": None, "transfer_id": None, "issued_at": NOW, **extra}  # fmt: skip


def run(account: Account, *commands: dict[str, Any]) -> Account:
    for command in commands:
        for event in decide(account, command, now_ms=NOW).events:
            account = apply(account, event)
    return account


def test_an_account_opens_once_then_takes_deposits_and_withdrawals() -> None:
    a = run(Account("a"), cmd("OPEN"), cmd("DEPOSIT", amount=500), cmd("WITHDRAW", amount=200))
    assert (a.version, a.balance_minor, a.open) == (3, 300, True)
    assert decide(a, cmd("OPEN"), now_ms=NOW).rejected == "account a is already open"
    assert "not open" in (decide(Account("b"), cmd("DEPOSIT", "b", 5), now_ms=NOW).rejected or "")


def test_no_overdraft_and_no_zero_or_negative_amounts() -> None:
    a = run(Account("a"), cmd("OPEN"), cmd("DEPOSIT", amount=100))
    refused = decide(a, cmd("WITHDRAW", amount=101), now_ms=NOW)
    assert refused.rejected == "insufficient funds: the balance is 100, 101 requested"
    assert not refused.events
    assert "positive" in (decide(a, cmd("DEPOSIT", amount=0), now_ms=NOW).rejected or "")
    assert decide(a, cmd("TRANSFER", amount=150, counterparty="b"), now_ms=NOW).rejected


def test_a_stale_expected_version_is_rejected_and_the_current_one_accepted() -> None:
    a = run(Account("a"), cmd("OPEN"), cmd("DEPOSIT", amount=100))
    stale = decide(a, cmd("DEPOSIT", amount=1, expected_version=1), now_ms=NOW)
    assert stale.rejected == "stale: the command expected version 1, the account is at version 2"
    assert decide(a, cmd("DEPOSIT", amount=1, expected_version=2), now_ms=NOW).accepted


def test_a_retried_command_is_answered_not_applied_twice() -> None:
    deposit = cmd("DEPOSIT", amount=100, command_id="same")
    a = run(Account("a"), cmd("OPEN"), deposit)
    again = decide(a, deposit, now_ms=NOW)
    assert again.duplicate and again.accepted and not again.events


def test_a_transfer_debits_then_credits_or_refunds() -> None:
    a = run(Account("a"), cmd("OPEN"), cmd("DEPOSIT", amount=100))
    sent = decide(a, cmd("TRANSFER", amount=40, counterparty="b", command_id="t1"), now_ms=NOW)
    (event,), (credit,) = sent.events, sent.commands
    assert (event["kind"], event["transfer_id"], event["counterparty"]) == (
        "TRANSFER_SENT",
        "t1",
        "b",
    )
    assert (credit["kind"], credit["account_id"], credit["amount_minor"]) == ("CREDIT", "b", 40)
    a = apply(a, event)
    assert a.balance_minor == 60

    b = run(Account("b"), cmd("OPEN", "b"))
    received = decide(b, credit, now_ms=NOW)
    assert received.events[0]["kind"] == "TRANSFER_RECEIVED" and not received.commands

    # An account that is not open cannot take it: the saga compensates on the source.
    failed = decide(Account("b"), credit, now_ms=NOW)
    (refund,) = failed.commands
    assert failed.rejected and not failed.events
    assert (refund["kind"], refund["account_id"], refund["amount_minor"]) == ("REFUND", "a", 40)
    a = run(a, refund)
    assert a.balance_minor == 100


def test_money_is_conserved_through_any_sequence_and_replay_agrees() -> None:
    rng = random.Random(5)
    accounts = {n: run(Account(n), cmd("OPEN", n)) for n in "abcd"}
    events: dict[str, list[dict[str, Any]]] = {n: [] for n in "abcde"}
    for n in "abcd":
        events[n].append({"kind": "OPENED", "version": 1, "amount_minor": 0, "command_id": "o"})
    deposited = withdrawn = 0
    queue: list[dict[str, Any]] = []
    for i in range(2_000):
        source = rng.choice("abcd")
        kind = rng.choice(["DEPOSIT", "WITHDRAW", "TRANSFER"])
        amount = rng.randint(1, 500)
        queue.append(cmd(kind, source, amount, counterparty=rng.choice("abcde"),
                         command_id=f"c{i}"))  # fmt: skip
        while queue:
            command = queue.pop(0)
            target = command["account_id"]
            account = accounts.get(target, Account(target))
            decision = decide(account, command, now_ms=NOW)
            for event in decision.events:
                account = apply(account, event)
                events[target].append(event)
                deposited += event["amount_minor"] if event["kind"] == "DEPOSITED" else 0
                withdrawn += event["amount_minor"] if event["kind"] == "WITHDRAWN" else 0
            accounts[target] = account
            queue.extend(decision.commands)
    assert all(a.balance_minor >= 0 for a in accounts.values())
    assert sum(a.balance_minor for a in accounts.values()) == deposited - withdrawn
    for name, account in accounts.items():
        assert replay(name, events[name]).balance_minor == account.balance_minor


def test_the_state_round_trips_through_its_record() -> None:
    a = run(Account("a"), cmd("OPEN"), cmd("DEPOSIT", amount=7))
    assert Account.from_record(a.record()) == a
