"""dead_letters: what an application's retry and dead-letter topics are, and bad declarations."""

from __future__ import annotations

from pathlib import Path

from streamplane.errors import SpecIssue
from streamplane.model import load_spec, parking_topics
from tests.unit.model.test_load import HEAD, errors_of, only

TOPICS = """\
        topics:
          - name: auths
            partitions: 6
            configs: {min.insync.replicas: 2, cleanup.policy: compact}
          - name: refunds
"""


def issue_of(tmp_path: Path, apps: str) -> SpecIssue:
    """The one error of the spec with these applications."""
    return only(errors_of(tmp_path, HEAD + TOPICS + "        applications:\n" + apps))


def write(tmp_path: Path, apps: str) -> Path:
    (tmp_path / "spec.yaml").write_text(HEAD + TOPICS + "        applications:\n" + apps)
    return tmp_path


def test_each_consumed_topic_gets_retry_topics_and_a_dlq_beside_it(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            "          - name: scorer\n"
            "            consumes: [pay.card.auths, pay.card.refunds]\n"
            "            dead_letters: {retries: [5s, 1m], retention: 3d}\n",
        )
    )
    parked = parking_topics(spec)
    assert sorted(parked) == [
        "pay.card.auths.dlq", "pay.card.auths.retry.1", "pay.card.auths.retry.2",
        "pay.card.refunds.dlq", "pay.card.refunds.retry.1", "pay.card.refunds.retry.2",
    ]  # fmt: skip
    first = parked["pay.card.auths.retry.1"]
    assert first.kind == "retry" and first.applications == {"scorer": 5_000}
    assert parked["pay.card.auths.retry.2"].applications == {"scorer": 60_000}
    assert parked["pay.card.auths.dlq"].applications == {"scorer": 0}
    # Durability follows the origin; compaction does not (parked records are not a table).
    assert parked["pay.card.auths.dlq"].configs() == {
        "min.insync.replicas": 2, "retention.ms": 3 * 86_400_000,
    }  # fmt: skip
    assert parked["pay.card.refunds.dlq"].configs() == {"retention.ms": 3 * 86_400_000}


def test_a_dlq_is_shared_and_a_declared_one_wins(tmp_path: Path) -> None:
    text = (
        HEAD
        + TOPICS
        + "          - name: auths.dlq\n            full_name: pay.card.auths.dlq\n"
        + "        applications:\n"
        "          - name: scorer\n            consumes: [pay.card.auths]\n"
        "            dead_letters: {}\n"
        "          - name: auditor\n            consumes: [pay.card.auths]\n"
        "            dead_letters: {retention: 30d}\n"
    )
    (tmp_path / "spec.yaml").write_text(text)
    parked = parking_topics(load_spec(tmp_path))
    assert list(parked) == ["pay.card.auths.dlq"]
    dlq = parked["pay.card.auths.dlq"]
    assert dlq.declared and set(dlq.applications) == {"scorer", "auditor"}
    assert dlq.retention_ms == 30 * 86_400_000  # the longest asked for


def test_dead_letters_need_a_consumed_topic(tmp_path: Path) -> None:
    issue = issue_of(
        tmp_path,
        "          - name: writer\n            produces: [pay.card.auths]\n"
        "            dead_letters: {retries: [5s]}\n",
    )
    assert issue.line == 18 and issue.file.endswith("spec.yaml")
    assert 'application "writer" has dead_letters but consumes no topic' in issue.message
    assert issue.hint is not None and "`consumes`" in issue.hint


def test_two_applications_may_not_share_retry_topics(tmp_path: Path) -> None:
    issue = issue_of(
        tmp_path,
        "          - name: scorer\n            consumes: [pay.card.auths]\n"
        "            dead_letters: {retries: [5s]}\n"
        "          - name: auditor\n            consumes: [pay.card.auths]\n"
        "            dead_letters: {retries: [1m]}\n",
    )
    assert issue.line == 21
    assert 'would share retry topic "pay.card.auths.retry.1"' in issue.message
    assert issue.hint is not None and "dead_letters: {}" in issue.hint


def test_retry_delays_must_be_positive_durations(tmp_path: Path) -> None:
    issue = issue_of(
        tmp_path,
        "          - name: scorer\n            consumes: [pay.card.auths]\n"
        "            dead_letters: {retries: [5s, 0]}\n",
    )
    assert issue.line == 18 and "positive" in issue.message + (issue.hint or "")
