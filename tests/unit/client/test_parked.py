"""Which parking topic ``dlq inspect|replay TOPIC`` means, and where a replay sends records."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamplane.client import ClientError, find_parked, named_parked
from streamplane.model import Spec, load_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
EVENT = "payments.card.authorized.v1"
FEATURES = "risk.fraud.features"
SCORER = f"risk.fraud.fraud-scorer.{FEATURES}"


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(EXAMPLE)


def test_a_consumed_topic_means_its_one_parking_applications_dlq(spec: Spec) -> None:
    parked = find_parked(spec, FEATURES)
    assert (parked.parked, parked.kind, parked.application) == (
        f"{SCORER}.dlq",
        "dlq",
        "fraud-scorer",
    )
    # fraud-scorer retries: a replay reaches it alone, through its first retry topic.
    assert parked.target == f"{SCORER}.retry.1"
    assert "only fraud-scorer processes them again" in parked.target_reason
    back = find_parked(spec, FEATURES, to_source=True)
    assert back.target == FEATURES and "every consumer" in back.target_reason


def test_several_parking_consumers_need_app_and_each_gets_its_own(spec: Spec) -> None:
    with pytest.raises(ClientError, match=r"fraud-feature-builder, volume-aggregator .* --app"):
        find_parked(spec, EVENT)
    analytics = find_parked(spec, EVENT, app="volume-aggregator")
    assert analytics.parked == f"analytics.reporting.volume-aggregator.{EVENT}.dlq"
    assert analytics.target == f"analytics.reporting.volume-aggregator.{EVENT}.retry.1"
    with pytest.raises(ClientError, match="kyc-service does not consume"):
        find_parked(spec, EVENT, app="kyc-service")
    with pytest.raises(ClientError, match="no such application"):
        find_parked(spec, EVENT, app="nope")


def test_a_parking_topic_by_its_own_name_knows_its_application(spec: Spec) -> None:
    parked = find_parked(spec, f"{SCORER}.dlq")
    assert (parked.topic, parked.application, parked.legacy) == (FEATURES, "fraud-scorer", False)
    retry = find_parked(spec, f"{SCORER}.retry.2")
    assert retry.kind == "retry"
    with pytest.raises(ClientError, match="belongs to application fraud-scorer"):
        find_parked(spec, f"{SCORER}.dlq", app="kyc-service")


def test_old_style_topics_are_read_while_the_estate_migrates(spec: Spec) -> None:
    old_dlq = find_parked(spec, f"{EVENT}.dlq")
    # As replays of it always did: back to the topic, its progress where it was.
    assert (old_dlq.legacy, old_dlq.application, old_dlq.target) == (True, None, EVENT)
    to_app = find_parked(spec, f"{EVENT}.dlq", app="fraud-feature-builder")
    assert to_app.target == f"risk.fraud.fraud-feature-builder.{EVENT}.retry.1"
    old_retry = find_parked(spec, f"{FEATURES}.retry.1")
    # What fraud-scorer's group has not read yet is what still waits for a retry.
    assert old_retry.resume_group == "risk.fraud-scorer" and old_retry.target == f"{SCORER}.retry.1"
    with pytest.raises(ClientError, match="old-style retry topic; pass --app"):
        find_parked(spec, f"{EVENT}.retry.1")


def test_without_a_spec_only_a_parking_topics_own_name_is_accepted() -> None:
    assert named_parked(f"{SCORER}.dlq").parked == f"{SCORER}.dlq"
    with pytest.raises(ClientError, match="pass --spec SPEC"):
        named_parked(FEATURES)
    with pytest.raises(ClientError, match="neither a topic of the spec"):
        find_parked(load_spec(EXAMPLE), "unknown.topic")
