"""The topic config catalogue, offline: every kind of value, message and hint."""

from __future__ import annotations

from datetime import timedelta

import pytest

from streamplane.model._topic_configs import (
    TOPIC_CONFIGS,
    TopicConfigKey,
    check_topic_config,
    check_topic_configs,
    parse_bytes,
    parse_duration_ms,
)

# ------------------------------------------------------------------------ the catalogue


def test_catalogue_holds_the_kafka_4_4_topic_keys() -> None:
    # The integration test compares this set with what a live broker reports; here it
    # guards against an accidental edit.
    assert set(TOPIC_CONFIGS) == {
        "cleanup.policy",
        "compression.gzip.level",
        "compression.lz4.level",
        "compression.type",
        "compression.zstd.level",
        "delete.retention.ms",
        "errors.deadletterqueue.group.enable",
        "file.delete.delay.ms",
        "flush.messages",
        "flush.ms",
        "follower.replication.throttled.replicas",
        "index.interval.bytes",
        "leader.replication.throttled.replicas",
        "local.retention.bytes",
        "local.retention.ms",
        "max.compaction.lag.ms",
        "max.decompressed.message.bytes",
        "max.message.bytes",
        "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms",
        "message.timestamp.type",
        "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms",
        "min.insync.replicas",
        "preallocate",
        "remote.copy.lag.bytes",
        "remote.copy.lag.ms",
        "remote.log.copy.disable",
        "remote.log.delete.on.disable",
        "remote.storage.enable",
        "retention.bytes",
        "retention.ms",
        "segment.bytes",
        "segment.index.bytes",
        "segment.jitter.ms",
        "segment.ms",
        "unclean.leader.election.enable",
    }
    assert list(TOPIC_CONFIGS) == sorted(TOPIC_CONFIGS)


@pytest.mark.parametrize("key", list(TOPIC_CONFIGS.values()), ids=list(TOPIC_CONFIGS))
def test_every_default_is_valid_and_already_normal(key: TopicConfigKey) -> None:
    assert key.name
    assert key.doc and "\n" not in key.doc
    assert key.default is not None
    assert key.validate(key.default) is None
    assert key.normalise(key.default) == key.default


def test_keys_are_frozen() -> None:
    key = TOPIC_CONFIGS["retention.ms"]
    with pytest.raises(AttributeError):
        key.default = "1"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "kind", "default"),
    [
        ("retention.ms", "long", "604800000"),
        ("retention.bytes", "long", "-1"),
        ("segment.bytes", "int", "1073741824"),
        ("max.message.bytes", "int", "1048588"),
        ("min.cleanable.dirty.ratio", "double", "0.5"),
        ("cleanup.policy", "list", "delete"),
        ("compression.type", "string", "producer"),
        ("unclean.leader.election.enable", "boolean", "false"),
        ("leader.replication.throttled.replicas", "list", ""),
        ("flush.ms", "long", "9223372036854775807"),
        ("local.retention.ms", "long", "-2"),
        ("message.timestamp.after.max.ms", "long", "3600000"),
    ],
)
def test_kinds_and_defaults(name: str, kind: str, default: str) -> None:
    assert (TOPIC_CONFIGS[name].kind, TOPIC_CONFIGS[name].default) == (kind, default)


# ------------------------------------------------------------------- check_topic_config


def test_unknown_key_suggests_the_nearest_one() -> None:
    assert check_topic_config("retention.msx", 1) == (
        'unknown topic config "retention.msx"',
        'did you mean "retention.ms"?',
    )


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("retention_ms", "retention.ms"),
        ("Retention.MS", "retention.ms"),
        ("min.insync.replica", "min.insync.replicas"),
        ("cleanup-policy", "cleanup.policy"),
        ("compresion.type", "compression.type"),
        ("segment.byte", "segment.bytes"),
    ],
)
def test_did_you_mean(typo: str, meant: str) -> None:
    error, hint = check_topic_config(typo, "x")
    assert error == f'unknown topic config "{typo}"'
    assert hint == f'did you mean "{meant}"?'


def test_unknown_key_without_a_near_match_has_no_hint() -> None:
    assert check_topic_config("zzzz", 1) == ('unknown topic config "zzzz"', None)


def test_broker_wide_names_point_at_the_topic_key() -> None:
    error, hint = check_topic_config("log.retention.hours", 168)
    assert error == 'unknown topic config "log.retention.hours"'
    assert hint == 'that is the broker-wide default; the topic config is "retention.ms"'
    assert check_topic_config("message.max.bytes", 1)[1] == (
        'that is the broker-wide default; the topic config is "max.message.bytes"'
    )


@pytest.mark.parametrize(
    ("name", "hint_part"),
    [
        ("message.downconversion.enable", "no longer down-convert"),
        ("message.format.version", "removed in Kafka 4.0"),
        ("message.timestamp.difference.max.ms", '"message.timestamp.before.max.ms"'),
        ("internal.segment.bytes", '"segment.bytes"'),
    ],
)
def test_removed_and_internal_keys_are_unknown_with_what_to_do(name: str, hint_part: str) -> None:
    error, hint = check_topic_config(name, "x")
    assert error == f'unknown topic config "{name}"'
    assert hint is not None and hint_part in hint


def test_valid_value_gives_no_error_and_no_hint() -> None:
    assert check_topic_config("retention.ms", "7d") == (None, None)
    assert check_topic_config("cleanup.policy", ["compact", "delete"]) == (None, None)


def test_invalid_value_gives_the_validators_message_and_a_hint() -> None:
    error, hint = check_topic_config("segment.bytes", 1000)
    assert error == "segment.bytes must be at least 1048576 bytes (1 MiB), got 1000"
    assert hint == (
        "the nearest allowed value is 1048576 bytes (1 MiB); Kafka 4.0 raised the minimum to 1 MiB"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("retention.ms", "forever"),
        ("retention.ms", -5),
        ("segment.bytes", "4GiB"),
        ("compression.type", "none"),
        ("compression.type", 3),
        ("cleanup.policy", "compact,"),
        ("preallocate", "yes"),
        ("min.cleanable.dirty.ratio", "half"),
        ("leader.replication.throttled.replicas", "x"),
        ("flush.messages", None),
        ("message.timestamp.type", "createtime"),
    ],
)
def test_every_refusal_comes_with_a_hint(name: str, value: object) -> None:
    error, hint = check_topic_config(name, value)
    assert error is not None and error.startswith(name)
    assert hint


# -------------------------------------------------------------------- integers (long/int)


@pytest.mark.parametrize(
    ("name", "value", "normal"),
    [
        ("retention.ms", 604800000, "604800000"),
        ("retention.ms", "604800000", "604800000"),
        ("retention.ms", " 100 ", "100"),
        ("retention.ms", "+5", "5"),
        ("retention.ms", -1, "-1"),
        ("retention.ms", "-1", "-1"),
        ("retention.ms", "7d", "604800000"),
        ("retention.ms", "12h", "43200000"),
        ("retention.ms", "1h30m", "5400000"),
        ("retention.ms", timedelta(days=1), "86400000"),
        ("local.retention.ms", -2, "-2"),
        ("segment.ms", 1, "1"),
        ("segment.bytes", 1048576, "1048576"),
        ("segment.bytes", "1MiB", "1048576"),
        ("segment.bytes", "512MiB", "536870912"),
        ("segment.bytes", 2147483647, "2147483647"),
        ("retention.bytes", "10GiB", "10737418240"),
        ("retention.bytes", "1GB", "1000000000"),
        ("retention.bytes", -5, "-5"),  # Kafka accepts any negative: no size limit
        ("max.message.bytes", 0, "0"),
        ("flush.messages", 9223372036854775807, "9223372036854775807"),
        ("min.insync.replicas", 2, "2"),
        ("min.insync.replicas", "2", "2"),
        ("compression.gzip.level", -1, "-1"),
        ("compression.gzip.level", 9, "9"),
        ("compression.lz4.level", 17, "17"),
        ("compression.zstd.level", -131072, "-131072"),
        ("compression.zstd.level", 22, "22"),
        ("max.decompressed.message.bytes", 2147483639, "2147483639"),
        ("remote.copy.lag.ms", -1, "-1"),
        ("remote.copy.lag.bytes", "1GiB", "1073741824"),
    ],
)
def test_valid_integers_normalise(name: str, value: object, normal: str) -> None:
    key = TOPIC_CONFIGS[name]
    assert key.validate(value) is None
    assert key.normalise(value) == normal


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "retention.ms",
            -2,
            "retention.ms must be at least -1 ms (-1 means no time limit), got -2",
        ),
        ("segment.ms", 0, "segment.ms must be at least 1 ms, got 0"),
        (
            "segment.bytes",
            1048575,
            "segment.bytes must be at least 1048576 bytes (1 MiB), got 1048575",
        ),
        (
            "segment.bytes",
            2**31,
            "segment.bytes must fit in a signed 32-bit integer, got 2147483648",
        ),
        (
            "retention.ms",
            2**63,
            "retention.ms must fit in a signed 64-bit integer, got 9223372036854775808",
        ),
        ("min.insync.replicas", 0, "min.insync.replicas must be at least 1, got 0"),
        ("max.message.bytes", -1, "max.message.bytes must be at least 0 bytes, got -1"),
        (
            "compression.gzip.level",
            0,
            "compression.gzip.level must be between 1 and 9, or -1 (-1 means gzip's own default), "
            "got 0",
        ),
        ("compression.lz4.level", 18, "compression.lz4.level must be between 1 and 17, got 18"),
        (
            "compression.zstd.level",
            23,
            "compression.zstd.level must be between -131072 and 22 (negative levels trade ratio "
            "for speed), got 23",
        ),
        (
            "max.decompressed.message.bytes",
            2147483640,
            "max.decompressed.message.bytes must be between 1 byte and 2147483639 bytes, "
            "got 2147483640",
        ),
        (
            "local.retention.bytes",
            -3,
            "local.retention.bytes must be at least -2 bytes (-2 means use retention.bytes, "
            "-1 means no size limit), got -3",
        ),
        (
            "remote.copy.lag.ms",
            -2,
            "remote.copy.lag.ms must be at least -1 ms (0 uploads as soon as a segment closes, "
            "-1 derives it from local retention), got -2",
        ),
        ("flush.messages", 0, "flush.messages must be at least 1, got 0"),
        ("segment.index.bytes", 3, "segment.index.bytes must be at least 4 bytes, got 3"),
    ],
)
def test_out_of_range_integers_say_the_range(name: str, value: object, message: str) -> None:
    assert TOPIC_CONFIGS[name].validate(value) == message


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "retention.ms",
            "7x",
            'retention.ms: invalid duration "7x"; expected at least -1 ms (-1 means no time limit)',
        ),
        (
            "retention.ms",
            True,
            "retention.ms: true is not a duration; expected at least -1 ms "
            "(-1 means no time limit)",
        ),
        (
            "retention.ms",
            1.5,
            "retention.ms: 1.5 is not a duration; expected at least -1 ms (-1 means no time limit)",
        ),
        (
            "retention.ms",
            "-7d",
            'retention.ms: negative duration "-7d" (only the plain sentinels -1 and -2 may be '
            "negative); expected at least -1 ms (-1 means no time limit)",
        ),
        (
            "retention.ms",
            "0.5ms",
            'retention.ms: "0.5ms" is not a whole number of milliseconds; expected at least -1 ms '
            "(-1 means no time limit)",
        ),
        (
            "retention.bytes",
            "1 GiBs",
            'retention.bytes: invalid size "1 GiBs"; expected any whole number of bytes '
            "(any negative value means no size limit)",
        ),
        (
            "segment.bytes",
            "1G",
            'segment.bytes: invalid size "1G"; expected at least 1048576 bytes (1 MiB)',
        ),
        (
            "flush.messages",
            "1e3",
            'flush.messages: "1e3" is not a whole number; expected at least 1',
        ),
        (
            "flush.messages",
            "10k",
            'flush.messages: "10k" is not a whole number; expected at least 1',
        ),
        (
            "min.insync.replicas",
            True,
            "min.insync.replicas: true is not a whole number; expected at least 1",
        ),
        (
            "min.insync.replicas",
            2.0,
            "min.insync.replicas: 2.0 is not a whole number; expected at least 1",
        ),
        ("min.insync.replicas", None, "min.insync.replicas has no value"),
    ],
)
def test_malformed_integers_are_refused(name: str, value: object, message: str) -> None:
    assert TOPIC_CONFIGS[name].validate(value) == message


def test_duration_keys_hint_at_the_human_forms() -> None:
    hint = TOPIC_CONFIGS["retention.ms"].hint_for("a week")
    assert hint is not None and '"7d"' in hint and "604800000" in hint
    hint = TOPIC_CONFIGS["retention.bytes"].hint_for("lots")
    assert hint is not None and "MiB" in hint and "powers of 1000" in hint
    assert TOPIC_CONFIGS["retention.ms"].hint_for("7d") is None


def test_normalise_refuses_invalid_values_with_the_validators_message() -> None:
    with pytest.raises(ValueError, match=r"^segment.ms must be at least 1 ms, got 0$"):
        TOPIC_CONFIGS["segment.ms"].normalise(0)


# ----------------------------------------------------------------------------- doubles


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        (0.5, "0.5"),
        ("0.5", "0.5"),
        (".5", "0.5"),
        (" 0.25 ", "0.25"),
        (1, "1.0"),
        ("1", "1.0"),
        (0, "0.0"),
        (0.0, "0.0"),
        ("1e-1", "0.1"),
        (0.0001, "1.0E-4"),
        (0.001, "0.001"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_doubles_normalise_like_java(value: object, normal: str) -> None:
    key = TOPIC_CONFIGS["min.cleanable.dirty.ratio"]
    assert key.validate(value) is None
    assert key.normalise(value) == normal


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "min.cleanable.dirty.ratio must be between 0.0 and 1.0, got 1.5"),
        (-0.1, "min.cleanable.dirty.ratio must be between 0.0 and 1.0, got -0.1"),
        ("2", 'min.cleanable.dirty.ratio must be between 0.0 and 1.0, got "2"'),
        ("half", 'min.cleanable.dirty.ratio must be a number, got "half"'),
        ("NaN", 'min.cleanable.dirty.ratio must be a number, got "NaN"'),
        (float("nan"), "min.cleanable.dirty.ratio must be a finite number, got nan"),
        ("1_0", 'min.cleanable.dirty.ratio must be a number, got "1_0"'),
        (True, "min.cleanable.dirty.ratio must be a number, got true"),
    ],
)
def test_invalid_doubles(value: object, message: str) -> None:
    assert TOPIC_CONFIGS["min.cleanable.dirty.ratio"].validate(value) == message


def test_double_range_hint_names_the_nearest_value() -> None:
    assert TOPIC_CONFIGS["min.cleanable.dirty.ratio"].hint_for(1.5) == (
        "the nearest allowed value is 1.0"
    )


# ---------------------------------------------------------------------------- booleans


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        (True, "true"),
        (False, "false"),
        ("true", "true"),
        ("false", "false"),
        ("TRUE", "true"),
        (" False ", "false"),
    ],
)
def test_booleans(value: object, normal: str) -> None:
    key = TOPIC_CONFIGS["unclean.leader.election.enable"]
    assert key.validate(value) is None
    assert key.normalise(value) == normal


@pytest.mark.parametrize(
    ("value", "shown"), [("yes", '"yes"'), (1, "1"), (0, "0"), ("", '""'), ([True], "[True]")]
)
def test_non_booleans_are_refused(value: object, shown: str) -> None:
    key = TOPIC_CONFIGS["preallocate"]
    assert key.validate(value) == f"preallocate must be true or false, got {shown}"
    assert key.hint_for(value) == "write true or false (a YAML boolean, or the string)"


# ----------------------------------------------------------------------- enum strings


@pytest.mark.parametrize(
    "value", ["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer", " zstd "]
)
def test_compression_types(value: str) -> None:
    key = TOPIC_CONFIGS["compression.type"]
    assert key.validate(value) is None
    assert key.normalise(value) == value.strip()


def test_enum_values_are_case_sensitive_and_the_hint_finds_the_intended_one() -> None:
    key = TOPIC_CONFIGS["message.timestamp.type"]
    assert key.validate("LogAppendTime") is None
    assert key.validate("createtime") == (
        'message.timestamp.type must be one of "CreateTime", "LogAppendTime", got "createtime"'
    )
    assert key.hint_for("createtime") == 'did you mean "CreateTime"? (values are case-sensitive)'
    assert key.hint_for("append") == 'write one of "CreateTime", "LogAppendTime"'


def test_compression_none_is_explained() -> None:
    key = TOPIC_CONFIGS["compression.type"]
    assert key.validate("none") == (
        'compression.type must be one of "uncompressed", "zstd", "lz4", "snappy", "gzip", '
        '"producer", got "none"'
    )
    hint = key.hint_for("none")
    assert hint is not None and 'equivalent is "uncompressed"' in hint
    assert key.validate(None) == "compression.type has no value"
    assert key.hint_for(None) == (
        'give one, or leave the key out to get the default ("producer"); '
        '"none" is the producer\'s word; the topic-level equivalent is "uncompressed"'
    )


# ------------------------------------------------------------------------------- lists


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("delete", "delete"),
        ("compact", "compact"),
        (["compact", "delete"], "compact,delete"),
        (("delete", "compact"), "delete,compact"),
        ("compact,delete", "compact,delete"),
        (" compact , delete ", "compact,delete"),
        ("", ""),  # Kafka 4.1+: no cleanup at all, segments kept forever
        ([], ""),
        # a 4.4 broker accepts repeats and reports the first occurrence of each
        ("compact,compact", "compact"),
        (["delete", "compact", "delete"], "delete,compact"),
    ],
)
def test_cleanup_policies(value: object, normal: str) -> None:
    key = TOPIC_CONFIGS["cleanup.policy"]
    assert key.validate(value) is None
    assert key.normalise(value) == normal


@pytest.mark.parametrize(
    ("value", "message", "hint_start"),
    [
        (
            "Compact",
            'cleanup.policy elements must be among "compact", "delete", got "Compact"',
            'did you mean "compact"?',
        ),
        (
            "compact,,delete",
            'cleanup.policy has an empty element in "compact,,delete"',
            "remove the stray comma",
        ),
        (
            ["compact", 1],
            "cleanup.policy must be a list of strings or a comma-separated string, "
            "got ['compact', 1]",
            "write a YAML list",
        ),
        (
            "retain",
            'cleanup.policy elements must be among "compact", "delete", got "retain"',
            'write one of "compact", "delete"',
        ),
    ],
)
def test_invalid_cleanup_policies(value: object, message: str, hint_start: str) -> None:
    key = TOPIC_CONFIGS["cleanup.policy"]
    assert key.validate(value) == message
    hint = key.hint_for(value)
    assert hint is not None and hint.startswith(hint_start)


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("", ""),
        ("*", "*"),
        ("0:1", "0:1"),
        ("0:1, 1:2", "0:1,1:2"),
        (["0:1", "1:2"], "0:1,1:2"),
        ("0:1,0:1", "0:1,0:1"),  # the broker keeps repeats here, unlike in cleanup.policy
    ],
)
def test_throttled_replica_lists(value: object, normal: str) -> None:
    for name in (
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
    ):
        assert TOPIC_CONFIGS[name].validate(value) is None
        assert TOPIC_CONFIGS[name].normalise(value) == normal


@pytest.mark.parametrize("value", ["a:b", "*,0:1", "-1:1", "0", "0:1:2", "0;1"])
def test_invalid_throttled_replica_lists(value: str) -> None:
    assert TOPIC_CONFIGS["leader.replication.throttled.replicas"].validate(value) == (
        'leader.replication.throttled.replicas must be "*" (every replica) or a list of '
        f'partition:broker pairs such as "0:1,1:2", got "{value}"'
    )


# ------------------------------------------------------------------------------- class


def test_class_kind_checks_a_java_class_name() -> None:
    # No 4.4 topic key is a class, but the kind exists in Kafka's ConfigDef and in ours.
    key = TopicConfigKey("x.policy.class", "class", None, "a policy class")
    assert key.validate("org.example.My$Policy") is None
    assert key.normalise(" org.example.Policy ") == "org.example.Policy"
    assert key.validate("org..example") == (
        'x.policy.class must be a fully qualified Java class name, got "org..example"'
    )
    assert key.validate(None) == "x.policy.class has no value"
    assert key.hint_for(None) == "give one, or leave the key out to get the default (none)"


# --------------------------------------------------------------------- duration parsing


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        (0, 0),
        (604800000, 604800000),
        (-1, -1),
        ("-1", -1),
        ("-2", -2),
        ("7", 7),
        ("500", 500),
        ("500ms", 500),
        ("45s", 45_000),
        ("30m", 1_800_000),
        ("12h", 43_200_000),
        ("7d", 604_800_000),
        ("2w", 1_209_600_000),
        ("1h30m", 5_400_000),
        ("1h 30m 15s", 5_415_000),
        ("1.5h", 5_400_000),
        (" 7 d ", 604_800_000),
        (timedelta(hours=1), 3_600_000),
        (timedelta(milliseconds=1), 1),
    ],
)
def test_parse_duration_ms(text: object, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("value", "start"),
    [
        ("7x", 'invalid duration "7x"'),
        ("", 'invalid duration ""'),
        ("d", 'invalid duration "d"'),
        ("7D", 'invalid duration "7D"'),
        ("1.5", 'invalid duration "1.5"'),
        ("-7d", 'negative duration "-7d"'),
        ("0.5ms", '"0.5ms" is not a whole number of milliseconds'),
        (True, "true is not a duration"),
        (1.5, "1.5 is not a duration"),
        (None, "None is not a duration"),
        (timedelta(microseconds=1), "datetime.timedelta(microseconds=1) is not a whole number"),
    ],
)
def test_parse_duration_ms_refuses(value: object, start: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration_ms(value)
    assert str(info.value).startswith(start)
    assert '"7d"' in str(info.value)  # every refusal shows how to write one


# ------------------------------------------------------------------------- byte parsing


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (0, 0),
        (1073741824, 1073741824),
        (-1, -1),
        ("-1", -1),
        ("4096", 4096),
        ("10B", 10),
        ("10KiB", 10_240),
        ("512MiB", 536_870_912),
        ("1GiB", 1_073_741_824),
        ("2TiB", 2 * 1024**4),
        ("1KB", 1_000),
        ("1MB", 1_000_000),
        ("1GB", 1_000_000_000),
        ("1TB", 1_000_000_000_000),
        ("1gib", 1_073_741_824),
        ("1.5GiB", 1_610_612_736),
        (" 512 MiB ", 536_870_912),
    ],
)
def test_parse_bytes(text: object, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize(
    ("value", "start"),
    [
        ("1G", 'invalid size "1G"'),
        ("1 gigabyte", 'invalid size "1 gigabyte"'),
        ("MiB", 'invalid size "MiB"'),
        ("-1GiB", 'invalid size "-1GiB"'),
        ("0.5B", '"0.5B" is not a whole number of bytes'),
        ("1.1KiB", '"1.1KiB" is not a whole number of bytes'),
        (True, "true is not a size"),
        (1.0, "1.0 is not a size"),
        ([1], "[1] is not a size"),
    ],
)
def test_parse_bytes_refuses(value: object, start: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_bytes(value)
    assert str(info.value).startswith(start)
    assert "KiB" in str(info.value) and "powers of 1000" in str(info.value)


# ------------------------------------------------------------------------- across keys


def test_a_clean_config_map_has_no_problems() -> None:
    assert check_topic_configs({"retention.ms": "7d", "cleanup.policy": "delete"}) == []
    assert check_topic_configs({}) == []


def test_per_key_problems_are_listed_with_their_key() -> None:
    assert check_topic_configs({"retention.msx": 1, "segment.ms": 0}) == [
        ("retention.msx", 'unknown topic config "retention.msx"', 'did you mean "retention.ms"?'),
        (
            "segment.ms",
            "segment.ms must be at least 1 ms, got 0",
            "the nearest allowed value is 1 ms",
        ),
    ]


def test_min_compaction_lag_must_not_exceed_max() -> None:
    assert check_topic_configs({"min.compaction.lag.ms": "2d", "max.compaction.lag.ms": "1d"}) == [
        (
            "min.compaction.lag.ms",
            "min.compaction.lag.ms (172800000) must not exceed max.compaction.lag.ms (86400000)",
            "lower one or raise the other",
        )
    ]
    # against the default max (Long.MAX_VALUE) anything goes
    assert check_topic_configs({"min.compaction.lag.ms": "365d"}) == []
    # an invalid side is reported once, by its own check
    problems = check_topic_configs({"min.compaction.lag.ms": "x", "max.compaction.lag.ms": 1})
    assert [key for key, _, _ in problems] == ["min.compaction.lag.ms"]


def test_remote_storage_rules() -> None:
    problems = check_topic_configs(
        {
            "remote.storage.enable": True,
            "cleanup.policy": "compact,delete",
            "retention.ms": "7d",
            "local.retention.ms": "8d",
            "retention.bytes": "1GiB",
            "local.retention.bytes": -1,
            "remote.copy.lag.ms": "1d",
        }
    )
    assert [(key, error) for key, error, _ in problems] == [
        (
            "cleanup.policy",
            'remote storage needs cleanup.policy "delete" or empty, got "compact,delete"',
        ),
        (
            "local.retention.bytes",
            "local.retention.bytes must not be -1 (no limit) while retention.bytes is 1073741824",
        ),
        (
            "local.retention.ms",
            "local.retention.ms (691200000) must not exceed retention.ms (604800000)",
        ),
    ]


def test_remote_copy_lag_must_fit_inside_local_retention() -> None:
    problems = check_topic_configs(
        {"remote.storage.enable": "true", "local.retention.ms": "1d", "remote.copy.lag.ms": "2d"}
    )
    assert problems == [
        (
            "remote.copy.lag.ms",
            "remote.copy.lag.ms (172800000) must not exceed the effective local.retention.ms "
            "(86400000)",
            "a segment would be deleted before its upload",
        )
    ]


def test_remote_copy_disabled_needs_matching_local_retention() -> None:
    config = {
        "remote.storage.enable": True,
        "remote.log.copy.disable": True,
        "retention.ms": "7d",
        "local.retention.ms": "1d",
    }
    assert [error for _, error, _ in check_topic_configs(config)] == [
        "with remote.log.copy.disable=true, local.retention.ms must be -2 or equal retention.ms "
        "(604800000)"
    ]
    assert check_topic_configs({**config, "local.retention.ms": -2}) == []


def test_remote_rules_do_not_apply_without_remote_storage() -> None:
    assert check_topic_configs({"cleanup.policy": "compact", "local.retention.ms": "8d"}) == []
