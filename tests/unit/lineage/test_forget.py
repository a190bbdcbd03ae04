"""``gdpr forget`` over a DEK registry: which keys it destroys, what it reports."""

from __future__ import annotations

import hashlib

import pytest

from streamplane.client.subject_encryption import dek_name, split_dek_name
from streamplane.lineage.forget import ForgetError, copies_of, forget, topic_of


class Registry:
    """A DEK registry in memory: KEK -> DEK subjects (the thing isolated, not under test)."""

    def __init__(self, deks: dict[str, list[str]]) -> None:
        self.deks = deks
        self.destroyed: list[tuple[str, str]] = []

    def kek_names(self) -> list[str] | None:
        return list(self.deks)

    def dek_subjects(self, kek: str) -> list[str]:
        return list(self.deks[kek])

    def destroy_dek(self, kek: str, subject: str) -> None:
        self.deks[kek].remove(subject)
        self.destroyed.append((kek, subject))


def test_dek_names_split_at_the_first_separator_so_ids_may_hold_one() -> None:
    assert split_dek_name(dek_name("a.orders-value", "x|y")) == ("a.orders-value", "x|y")
    assert split_dek_name("a.orders-value") is None  # a per-topic ENCRYPT rule's DEK
    assert split_dek_name("|alice") is None


def test_forget_destroys_the_subjects_keys_under_every_kek_and_no_other() -> None:
    registry = Registry(
        {
            "pay-kek": [dek_name("pay.made-value", "alice"), dek_name("pay.made-value", "bob"),
                        "pay.made-value"],
            "kyc-kek": [dek_name("kyc.ids-value", "alice"), dek_name("kyc.ids-value", "alicex")],
        }
    )  # fmt: skip
    report = forget(registry, "alice", cluster_topics=["pay.made", "eu.pay.made", "kyc.ids"])
    assert sorted(registry.destroyed) == [
        ("kyc-kek", "kyc.ids-value|alice"),
        ("pay-kek", "pay.made-value|alice"),
    ]
    assert report.topics == ["kyc.ids", "pay.made"]
    assert report.copies == ["eu.pay.made"]
    assert report.reference == "sha256:" + hashlib.sha256(b"alice").hexdigest()
    assert forget(registry, "alice").keys == []


def test_an_empty_id_is_refused_before_anything_is_destroyed() -> None:
    registry = Registry({"k": [dek_name("t-value", "a")]})
    with pytest.raises(ForgetError, match="empty"):
        forget(registry, "  ")
    assert registry.destroyed == []


def test_topics_come_from_topic_name_strategy_subjects_and_copies_from_prefixes() -> None:
    assert topic_of("pay.made-value") == "pay.made" and topic_of("pay.made-key") == "pay.made"
    assert copies_of(["pay.made"], ["pay.made", "us.pay.made", "pay.made.v2"]) == ["us.pay.made"]
