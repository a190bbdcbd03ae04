"""dead_letters: each consuming application's own retry and dead-letter topics, and bad
declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamplane.errors import SpecIssue
from streamplane.model import (
    DeadLetterOwner,
    dlq_topic,
    legacy_parking_of,
    load_spec,
    parking_kind,
    parking_topics,
    parking_topics_of,
    retry_topic,
)
from streamplane.model._dead_letters import longest_parking_name, parked_by
from tests.unit.model.test_load import HEAD, errors_of, only

TOPICS = """\
        topics:
          - name: auths
            partitions: 6
            configs: {min.insync.replicas: 2, cleanup.policy: compact}
          - name: refunds
          - name: authorized.v1
            visibility: public
"""

#: A second tenant consuming pay's public event (tenants[1], domains[0]).
MARKETING = """\
  - name: mkt
    owners: [growth@example.com]
    clusters: [local]
    domains:
      - name: offers
        applications:
"""


def issue_of(tmp_path: Path, apps: str) -> SpecIssue:
    """The one error of the spec with these applications."""
    return only(errors_of(tmp_path, HEAD + TOPICS + "        applications:\n" + apps))


def write(tmp_path: Path, apps: str, marketing: str = "") -> Path:
    text = HEAD + TOPICS + "        applications:\n" + apps
    if marketing:
        text += MARKETING + marketing
    (tmp_path / "spec.yaml").write_text(text)
    return tmp_path


def test_names_are_the_consumers_prefix_domain_and_app_then_the_consumed_topic() -> None:
    owner = DeadLetterOwner("mkt.", "offers", "offer-engine")
    assert owner.prefix == "mkt.offers.offer-engine."
    assert dlq_topic(owner, "pay.card.authorized.v1") == (
        "mkt.offers.offer-engine.pay.card.authorized.v1.dlq"
    )
    assert retry_topic(owner, "pay.card.authorized.v1", 2) == (
        "mkt.offers.offer-engine.pay.card.authorized.v1.retry.2"
    )
    # A tenant prefix is used as written (it need not be the tenant's name).
    assert dlq_topic(DeadLetterOwner("p-", "card", "a"), "t") == "p-card.a.t.dlq"
    assert longest_parking_name(owner, "t", 0) == "mkt.offers.offer-engine.t.dlq"
    assert longest_parking_name(owner, "t", 10) == "mkt.offers.offer-engine.t.retry.10"


def test_names_read_back_to_their_application_and_topic() -> None:
    owner = DeadLetterOwner("mkt.", "offers", "offer-engine")
    consumes = ["pay.card.authorized.v1"]
    retry = retry_topic(owner, consumes[0], 3)
    assert parked_by(retry, owner, consumes) == (retry, "retry", consumes[0])
    assert parked_by(dlq_topic(owner, consumes[0]), owner, consumes) is not None
    assert parked_by(dlq_topic(owner, "other.topic"), owner, consumes) is None
    other = DeadLetterOwner("mkt.", "offers", "other-app")
    assert parked_by(dlq_topic(other, consumes[0]), owner, consumes) is None
    assert parking_kind(retry) == "retry" and parking_kind("x.dlq") == "dlq"
    assert parking_kind("x.retry") is None and parking_kind("x.retry.0") is None


def test_old_style_names_are_recognised_only_beside_a_known_topic() -> None:
    topics = {"pay.card.auths"}
    old = legacy_parking_of("pay.card.auths.retry.2", topics)
    assert old is not None and (old.kind, old.origin, old.attempt) == ("retry", "pay.card.auths", 2)
    dlq = legacy_parking_of("pay.card.auths.dlq", topics)
    assert dlq is not None and (dlq.kind, dlq.attempt) == ("dlq", 0)
    assert legacy_parking_of("pay.card.refunds.dlq", topics) is None
    assert legacy_parking_of("pay.card.auths", topics) is None


def test_each_consumed_topic_gets_retry_topics_and_a_dlq_in_the_consumers_namespace(
    tmp_path: Path,
) -> None:
    spec = load_spec(
        write(
            tmp_path,
            "          - name: scorer\n"
            "            consumes: [pay.card.auths, pay.card.refunds]\n"
            "            dead_letters: {retries: [5s, 1m], retention: 3d}\n",
        )
    )
    parked = parking_topics(spec)
    mine = "pay.card.scorer."
    assert sorted(parked) == [
        f"{mine}pay.card.auths.dlq", f"{mine}pay.card.auths.retry.1",
        f"{mine}pay.card.auths.retry.2", f"{mine}pay.card.refunds.dlq",
        f"{mine}pay.card.refunds.retry.1", f"{mine}pay.card.refunds.retry.2",
    ]  # fmt: skip
    first = parked[f"{mine}pay.card.auths.retry.1"]
    assert (first.kind, first.attempt, first.delay_ms) == ("retry", 1, 5_000)
    assert first.application.app.name == "scorer"
    assert first.origin.full_name == "pay.card.auths"
    assert parked[f"{mine}pay.card.auths.retry.2"].delay_ms == 60_000
    assert parked[f"{mine}pay.card.auths.dlq"].delay_ms == 0
    # Durability follows the origin; compaction does not (parked records are not a table).
    assert parked[f"{mine}pay.card.auths.dlq"].configs() == {
        "min.insync.replicas": 2, "retention.ms": 3 * 86_400_000,
    }  # fmt: skip
    assert parked[f"{mine}pay.card.refunds.dlq"].configs() == {"retention.ms": 3 * 86_400_000}


def test_two_consumers_of_one_public_event_both_retry_each_in_its_own_namespace(
    tmp_path: Path,
) -> None:
    spec = load_spec(
        write(
            tmp_path,
            "          - name: scorer\n"
            "            consumes: [pay.card.authorized.v1]\n"
            "            dead_letters: {retries: [5s]}\n",
            "          - name: offer-engine\n"
            "            consumes: [pay.card.authorized.v1]\n"
            "            dead_letters: {retries: [1m, 10m]}\n",
        )
    )
    by_app = {
        (p.application.app.name, p.kind, p.attempt): p.name
        for p in parking_topics_of(spec, "pay.card.authorized.v1")
    }
    assert by_app == {
        ("offer-engine", "dlq", 0): "mkt.offers.offer-engine.pay.card.authorized.v1.dlq",
        ("offer-engine", "retry", 1): "mkt.offers.offer-engine.pay.card.authorized.v1.retry.1",
        ("offer-engine", "retry", 2): "mkt.offers.offer-engine.pay.card.authorized.v1.retry.2",
        ("scorer", "dlq", 0): "pay.card.scorer.pay.card.authorized.v1.dlq",
        ("scorer", "retry", 1): "pay.card.scorer.pay.card.authorized.v1.retry.1",
    }
    # Nothing of marketing's lands in the payments namespace.
    assert spec.tenant_of_topic(by_app[("offer-engine", "retry", 1)]).name == "mkt"  # type: ignore[union-attr]


def test_a_declared_parking_topic_wins_over_the_derived_settings(tmp_path: Path) -> None:
    name = "pay.card.scorer.pay.card.auths.dlq"
    text = (
        HEAD
        + TOPICS
        + f"          - name: scorer-dlq\n            full_name: {name}\n"
        + "        applications:\n"
        "          - name: scorer\n            consumes: [pay.card.auths]\n"
        "            dead_letters: {retention: 30d}\n"
    )
    (tmp_path / "spec.yaml").write_text(text)
    parked = parking_topics(load_spec(tmp_path))
    assert list(parked) == [name]
    assert parked[name].declared and parked[name].retention_ms == 30 * 86_400_000


def test_dead_letters_need_a_consumed_topic(tmp_path: Path) -> None:
    issue = issue_of(
        tmp_path,
        "          - name: writer\n            produces: [pay.card.auths]\n"
        "            dead_letters: {retries: [5s]}\n",
    )
    assert issue.line == 20 and issue.file.endswith("spec.yaml")
    assert 'application "writer" has dead_letters but consumes no topic' in issue.message
    assert issue.hint is not None and "`consumes`" in issue.hint


@pytest.mark.parametrize(
    ("length", "retries", "suffix", "give_up"),
    [
        (229, "[5s, 1m]", ".retry.2", True),
        (233, "[5s, 1m]", ".retry.2", False),
        (235, "[]", ".dlq", False),
    ],
)
def test_a_parking_topic_name_kafka_would_refuse_is_an_error_at_the_consumed_topic(
    tmp_path: Path, length: int, retries: str, suffix: str, give_up: bool
) -> None:
    # A legacy topic pinned by full_name, long but legal on its own.
    long_name = "legacy." + "x" * (length - 7)
    text = (
        HEAD
        + TOPICS
        + f"          - name: old\n            full_name: {long_name}\n"
        + "        applications:\n"
        "          - name: scorer\n"
        f"            consumes: [pay.card.auths, {long_name}]\n"
        f"            dead_letters: {{retries: {retries}}}\n"
    )
    issue = only(errors_of(tmp_path, text))
    assert issue.line == 21 and issue.file.endswith("spec.yaml")  # the consumes entry
    parked = f"pay.card.scorer.{long_name}{suffix}"
    assert f'its parking topic "{parked}" would be {len(parked)} characters' in issue.message
    assert "more than Kafka's 249" in issue.message
    assert issue.hint is not None
    assert 'the application name "scorer" (6)' in issue.hint
    assert 'the tenant prefix "pay." (4)' in issue.hint
    assert f"by {len(parked) - 249} characters in total" in issue.hint
    assert ("`dead_letters: {}` the .dlq name fits" in issue.hint) is give_up


def test_a_consumed_topic_too_long_for_any_parking_name_says_so(tmp_path: Path) -> None:
    long_name = "legacy." + "x" * 242  # 249: Kafka's limit on its own
    text = (
        HEAD
        + TOPICS
        + f"          - name: old\n            full_name: {long_name}\n"
        + "        applications:\n"
        "          - name: scorer\n"
        f"            consumes: [{long_name}]\n"
        "            dead_letters: {}\n"
    )
    issue = only(errors_of(tmp_path, text))
    assert issue.hint is not None and "shorten" not in issue.hint
    assert "no shorter application, domain or prefix name is enough" in issue.hint
    assert "consume it from an application without `dead_letters`" in issue.hint


def test_retry_delays_must_be_positive_durations(tmp_path: Path) -> None:
    issue = issue_of(
        tmp_path,
        "          - name: scorer\n            consumes: [pay.card.auths]\n"
        "            dead_letters: {retries: [5s, 0]}\n",
    )
    assert issue.line == 20 and "positive" in issue.message + (issue.hint or "")
