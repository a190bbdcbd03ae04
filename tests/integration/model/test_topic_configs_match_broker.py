"""The topic config catalogue against a live Kafka 4.4 broker: same keys, defaults and limits.

The catalogue is written from Kafka's Java sources; these tests make the broker the judge,
so a Kafka upgrade that adds a key, moves a default or a range fails here rather than
letting the offline validator drift from what brokers really accept.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)

from streamplane.local import LocalCluster
from streamplane.model._topic_configs import (
    INT_MAX,
    INT_MIN,
    LONG_MAX,
    LONG_MIN,
    TOPIC_CONFIGS,
    check_topic_config,
    check_topic_configs,
)
from tests.integration.conftest import create_topic


@pytest.fixture
def admin(cluster1: LocalCluster) -> AdminClient:
    return AdminClient(cluster1.admin_settings().librdkafka())


@pytest.fixture
def topic(cluster1: LocalCluster, topic_name: str) -> str:
    """A fresh topic with no overrides: whatever it reports comes from the broker."""
    create_topic(cluster1.admin_settings(), topic_name)
    return topic_name


def _describe(admin: AdminClient, topic: str) -> dict[str, Any]:
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries: dict[str, Any] = admin.describe_configs([resource])[resource].result(timeout=30)
    return entries


def _alter(admin: AdminClient, topic: str, name: str, value: str, *, validate_only: bool) -> None:
    entry = ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    futures = admin.incremental_alter_configs([resource], validate_only=validate_only)
    futures[resource].result(timeout=30)


def _reported_after_alter(admin: AdminClient, topic: str, name: str, expected: str) -> str:
    """The value the broker reports once the change has reached it (or the last one seen).

    An alter is applied by the controller and reaches the broker's metadata a moment
    later, so an immediate describe can still show the old value.
    """
    deadline = time.monotonic() + 15
    while True:
        value: str = _describe(admin, topic)[name].value
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _broker_accepts(admin: AdminClient, topic: str, name: str, value: str) -> bool:
    """The broker's verdict on ``name=value``, asked with validate_only so nothing changes."""
    try:
        _alter(admin, topic, name, value, validate_only=True)
    except KafkaException as exc:
        assert exc.args[0].code() == KafkaError.INVALID_CONFIG, exc
        return False
    return True


def _server_properties(cluster: LocalCluster) -> dict[str, str]:
    props = {}
    for line in cluster.dir.node_config(1).read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


# ------------------------------------------------------------------- keys and defaults


def test_broker_reports_exactly_the_catalogue_keys(admin: AdminClient, topic: str) -> None:
    reported = set(_describe(admin, topic))
    assert sorted(reported - set(TOPIC_CONFIGS)) == [], "keys the catalogue lacks"
    assert sorted(set(TOPIC_CONFIGS) - reported) == [], "catalogue keys the broker lacks"


def test_catalogue_defaults_are_the_brokers_defaults(
    admin: AdminClient, topic: str, cluster1: LocalCluster
) -> None:
    server_properties = _server_properties(cluster1)
    from_cluster_settings = []
    for name, entry in sorted(_describe(admin, topic).items()):
        default = TOPIC_CONFIGS[name].default
        if ConfigSource(entry.source) == ConfigSource.DEFAULT_CONFIG:
            assert entry.value == default, name
            continue
        # The local cluster's server.properties sets some broker-wide defaults itself
        # (min.insync.replicas, which Kafka 4 also copies into a cluster-level dynamic
        # default at format time, and unclean.leader.election.enable=false), so the topic
        # reports the cluster's value with a broker-level source rather than Kafka's
        # built-in default. For those: the value must be the one server.properties sets,
        # and our default must equal the built-in default the broker lists among the
        # key's synonyms.
        from_cluster_settings.append(name)
        assert ConfigSource(entry.source) in (
            ConfigSource.STATIC_BROKER_CONFIG,
            ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG,
        ), (name, entry.source)
        synonyms = entry.synonyms.values()
        configured = [s.name for s in synonyms if s.name in server_properties]
        assert configured, f"{name}: no synonym of it is set in server.properties"
        assert entry.value == server_properties[configured[0]], name
        builtin = [
            s.value for s in synonyms if ConfigSource(s.source) == ConfigSource.DEFAULT_CONFIG
        ]
        assert builtin == [default], name
    # Guards the comment above: if the template starts setting more topic defaults, this
    # list shows which keys are now checked against the cluster instead of Kafka.
    assert set(from_cluster_settings) <= {"min.insync.replicas", "unclean.leader.election.enable"}


def test_every_value_the_broker_reports_passes_and_is_already_normal(
    admin: AdminClient, topic: str
) -> None:
    for name, entry in _describe(admin, topic).items():
        key = TOPIC_CONFIGS[name]
        assert key.validate(entry.value) is None, (name, entry.value)
        assert key.normalise(entry.value) == entry.value, name


# ----------------------------------------------------------- values the broker accepts


def _enum_cases() -> list[tuple[str, object]]:
    cases: list[tuple[str, object]] = []
    for key in TOPIC_CONFIGS.values():
        if key.kind == "string":
            cases += [(key.name, choice) for choice in key.choices]
        elif key.kind == "boolean" and key.name != "remote.storage.enable":
            # remote.storage.enable=true needs tiered storage on the brokers, which the
            # local cluster does not run; the broker refuses it whatever we say.
            cases += [(key.name, True), (key.name, False)]
    policy = "cleanup.policy"
    cases += [
        (policy, v) for v in ("", "compact", "delete", ["compact", "delete"], "delete,compact")
    ]
    return cases


@pytest.mark.parametrize(("name", "value"), _enum_cases(), ids=repr)
def test_each_enum_value_is_accepted_and_reported_as_normalised(
    admin: AdminClient, topic: str, name: str, value: object
) -> None:
    key = TOPIC_CONFIGS[name]
    assert key.validate(value) is None
    normal = key.normalise(value)
    _alter(admin, topic, name, normal, validate_only=False)
    assert _reported_after_alter(admin, topic, name, normal) == normal


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("min.cleanable.dirty.ratio", "1"),
        ("min.cleanable.dirty.ratio", ".25"),
        ("min.cleanable.dirty.ratio", "1e-4"),
        ("min.cleanable.dirty.ratio", "0"),
        ("cleanup.policy", " compact , delete "),
        ("cleanup.policy", "delete,compact,delete"),
        ("leader.replication.throttled.replicas", "0:1,0:1"),
        ("preallocate", "TRUE"),
        ("retention.ms", "+5"),
        ("retention.ms", " 100 "),
        ("leader.replication.throttled.replicas", "0:1, 1:2"),
        ("compression.type", " zstd "),
        ("message.timestamp.type", " LogAppendTime "),
    ],
)
def test_normalise_predicts_how_the_broker_reports_a_raw_value(
    admin: AdminClient, topic: str, name: str, raw: str
) -> None:
    # Sent as written, parsed by Kafka itself: what describe_configs then reports is the
    # string a reconciler compares against, and normalise must produce the same one.
    normal = TOPIC_CONFIGS[name].normalise(raw)
    _alter(admin, topic, name, raw, validate_only=False)
    assert _reported_after_alter(admin, topic, name, normal) == normal


# ----------------------------------------------------------- limits the broker enforces


def _boundary_cases() -> list[tuple[str, str]]:
    """Each numeric key at and just beyond every bound, plus the ends of its Java type."""
    cases: list[tuple[str, str]] = []
    for key in TOPIC_CONFIGS.values():
        if key.kind in ("int", "long"):
            low, high = (INT_MIN, INT_MAX) if key.kind == "int" else (LONG_MIN, LONG_MAX)
            values = {low, high, low - 1, high + 1, *key.also_allowed}
            if key.minimum is not None:
                values |= {int(key.minimum), int(key.minimum) - 1}
            if key.maximum is not None:
                values |= {int(key.maximum), int(key.maximum) + 1}
            cases += [(key.name, str(v)) for v in sorted(values)]
        elif key.kind == "double":
            cases += [(key.name, v) for v in ("0", "1", "-0.001", "1.001", "0.5", "x")]
        elif key.kind == "list" and not key.choices:
            cases += [(key.name, v) for v in ("*", "0:1,1:1", "a:b", "*,0:1", "-1:1")]
    cases += [("cleanup.policy", v) for v in ("compact,compact", "Compact", "compact,,delete", ",")]
    cases += [("compression.type", v) for v in ("none", "ZSTD")]
    cases += [("preallocate", v) for v in ("yes", "1")]
    cases += [("message.timestamp.type", "createtime")]
    return cases


@pytest.mark.parametrize(("name", "value"), _boundary_cases())
def test_validator_agrees_with_the_broker(
    admin: AdminClient, topic: str, name: str, value: str
) -> None:
    ours = TOPIC_CONFIGS[name].validate(value)
    broker = _broker_accepts(admin, topic, name, value)
    assert (ours is None) == broker, f"{name}={value!r}: broker accepts={broker}, we say {ours!r}"


def test_min_compaction_lag_above_max_is_refused_by_both(admin: AdminClient, topic: str) -> None:
    config = {"min.compaction.lag.ms": "2000", "max.compaction.lag.ms": "1000"}
    assert [key for key, _, _ in check_topic_configs(config)] == ["min.compaction.lag.ms"]
    entries = [
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in config.items()
    ]
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
    with pytest.raises(KafkaException) as info:
        admin.incremental_alter_configs([resource], validate_only=True)[resource].result(timeout=30)
    assert info.value.args[0].code() == KafkaError.INVALID_CONFIG


@pytest.mark.parametrize(
    "name",
    [
        "message.downconversion.enable",
        "message.format.version",
        "message.timestamp.difference.max.ms",
    ],
)
def test_removed_keys_are_unknown_to_the_broker_too(
    admin: AdminClient, topic: str, name: str
) -> None:
    # internal.segment.bytes is left out: the broker accepts it (an internal test knob),
    # we refuse it on purpose because a spec should never set it.
    assert check_topic_config(name, "true")[0] == f'unknown topic config "{name}"'
    with pytest.raises(KafkaException) as info:
        _alter(admin, topic, name, "true", validate_only=True)
    assert "Unknown topic config name" in info.value.args[0].str()
