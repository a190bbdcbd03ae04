"""Every topic-level config key of Apache Kafka 4.4, with a validator, checked without a broker.

A platform spec names topic configs by hand, and a typo or an out-of-range value would
otherwise only surface when the reconciler talks to a broker, as a terse
``InvalidConfigurationException``, after part of a plan has been applied. This catalogue
lets the spec be rejected up front, offline, with a message that says what is wrong and
what is allowed, and lets the reconciler compare desired and actual values as the same
strings (``normalise`` renders values the way a broker reports them back).

No maintained Python library provides this: confluent-kafka and kafka-python pass config
maps through untouched, and the only full description lives in Kafka's Java sources. The
keys, types, defaults and ranges here follow ``TopicConfig`` and ``LogConfig`` of Kafka
4.4.0; ``tests/integration/model/test_topic_configs_match_broker.py`` holds the catalogue
against a live 4.4 broker (same key set, same defaults, same accept/reject boundaries), so
a Kafka upgrade that changes any of them fails a test instead of drifting silently.

Human forms are accepted where Kafka wants milliseconds or bytes: ``retention.ms: 7d``,
``segment.bytes: 512MiB``. Kafka-internal keys (``internal.segment.bytes``) are left out on
purpose: a broker does not report them and a spec has no business setting them.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Literal

__all__ = [
    "TOPIC_CONFIGS",
    "TopicConfigKey",
    "check_topic_config",
    "check_topic_configs",
    "format_bytes",
    "format_duration_ms",
    "parse_bytes",
    "parse_duration_ms",
]

Kind = Literal["int", "long", "double", "boolean", "string", "list", "class"]

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

# ------------------------------------------------------------------ durations and sizes

_DURATION_UNITS_MS: dict[str, int] = {
    "ms": 1,
    "s": 1000,
    "m": 60 * 1000,
    "h": 60 * 60 * 1000,
    "d": 24 * 60 * 60 * 1000,
    "w": 7 * 24 * 60 * 60 * 1000,
}
_PLAIN_INT = re.compile(r"[+-]?\d+", re.ASCII)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.ASCII)
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+", re.ASCII)
_DURATION_HELP = (
    'write milliseconds (604800000) or a number with a unit ms, s, m, h, d, w ("7d", "12h", '
    '"1h30m", "500ms")'
)

_BYTE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]+)", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)
_JAVA_CLASS = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*", re.ASCII)
_REPLICA = re.compile(r"\d+:\d+", re.ASCII)
_BYTES_HELP = (
    "write bytes (1073741824) or a number with a unit: KiB, MiB, GiB, TiB (powers of 1024) "
    'or KB, MB, GB, TB (powers of 1000), e.g. "512MiB"'
)


def _show(value: object) -> str:
    """A value as it would read in the spec: strings quoted, YAML booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def parse_duration_ms(value: object) -> int:
    """Milliseconds from an int or a human duration ("7d", "12h", "1h30m", "500ms", "-1").

    Plain integers (ints or integer strings) are milliseconds and keep their sign, because
    Kafka gives -1 and -2 special meanings; durations with a unit must be positive and must
    come to a whole number of milliseconds. Range checks belong to the key's validator.
    """
    try:
        return _duration_ms(value)
    except ValueError as exc:
        raise ValueError(f"{exc}; {_DURATION_HELP}") from None


def _duration_ms(value: object) -> int:
    """``parse_duration_ms`` with only the reason in its error, for validators to extend."""
    if isinstance(value, bool) or not isinstance(value, int | str | timedelta):
        raise ValueError(f"{_show(value)} is not a duration")
    if isinstance(value, int):
        return value
    if isinstance(value, timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        return _whole(Fraction(micros, 1000), value, "milliseconds")
    text = value.strip()
    if _PLAIN_INT.fullmatch(text):
        return int(text)
    if text.startswith("-") and _DURATION.fullmatch(text[1:].strip()):
        raise ValueError(
            f"negative duration {_show(value)} (only the plain sentinels -1 and -2 may be negative)"
        )
    if not _DURATION.fullmatch(text):
        raise ValueError(f"invalid duration {_show(value)}")
    parts = _DURATION_PART.findall(text)
    total = sum((Fraction(n) * _DURATION_UNITS_MS[u] for n, u in parts), Fraction(0))
    return _whole(total, value, "milliseconds")


def _whole(total: Fraction, value: object, unit: str) -> int:
    if total.denominator != 1:
        raise ValueError(f"{_show(value)} is not a whole number of {unit}")
    return int(total)


def parse_bytes(value: object) -> int:
    """Bytes from an int or a human size ("1GiB", "512MiB", "10KiB", "1GB" decimal, "-1").

    Binary (KiB, MiB...) and decimal (KB, MB...) units are both accepted because both are
    written in practice, and they differ by 7% at GiB: "1GB" is 10^9 bytes, never 2^30.
    Units are case-insensitive; a bare K/M/G is refused as ambiguous.
    """
    try:
        return _size_bytes(value)
    except ValueError as exc:
        raise ValueError(f"{exc}; {_BYTES_HELP}") from None


def _size_bytes(value: object) -> int:
    """``parse_bytes`` with only the reason in its error, for validators to extend."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{_show(value)} is not a size")
    if isinstance(value, int):
        return value
    text = value.strip()
    if _PLAIN_INT.fullmatch(text):
        return int(text)
    match = _SIZE.fullmatch(text)
    if match is None or match.group(2).lower() not in _BYTE_UNITS:
        raise ValueError(f"invalid size {_show(value)}")
    total = Fraction(match.group(1)) * _BYTE_UNITS[match.group(2).lower()]
    return _whole(total, value, "bytes")


def format_duration_ms(ms: int) -> str | int:
    """The spec's way to write ``ms``: the largest unit that holds it whole ("14d", "5s",
    "90m", "250ms"), so that ``parse_duration_ms`` gives ``ms`` back.

    Weeks are not used: retention reads as days ("14d"), as people write it. Zero and the
    negative sentinels (-1: no limit) stay plain integers, the only form they have.
    """
    if ms <= 0:
        return ms
    for unit in ("d", "h", "m", "s"):
        if ms % _DURATION_UNITS_MS[unit] == 0:
            return f"{ms // _DURATION_UNITS_MS[unit]}{unit}"
    return f"{ms}ms"


def format_bytes(size: int) -> str | int:
    """The spec's way to write ``size`` bytes: the largest binary unit that holds it whole
    ("5MiB", "1GiB"), else plain bytes, so that ``parse_bytes`` gives ``size`` back."""
    for unit in ("tib", "gib", "mib", "kib"):
        if size > 0 and size % _BYTE_UNITS[unit] == 0:
            return f"{size // _BYTE_UNITS[unit]}{unit[0].upper()}iB"
    return size


def _java_double(number: float) -> str:
    """``Double.toString`` of Java, which is how a broker reports a DOUBLE config back.

    The digits are the shortest that round-trip (Python's repr, and Java's since JDK 19);
    the layout is Java's: plain decimal with at least one fractional digit inside
    [1e-3, 1e7), computerised scientific notation ("1.0E-4") outside it.
    """
    if number == 0:
        return "-0.0" if math.copysign(1.0, number) < 0 else "0.0"
    sign = "-" if number < 0 else ""
    digits_tuple, exponent = Decimal(repr(abs(number))).normalize().as_tuple()[1:]
    digits = "".join(map(str, digits_tuple))
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # position of the decimal point within digits
    if 1e-3 <= abs(number) < 1e7:
        if point <= 0:
            whole, frac = "0", "0" * -point + digits
        elif point >= len(digits):
            whole, frac = digits + "0" * (point - len(digits)), "0"
        else:
            whole, frac = digits[:point], digits[point:]
        return f"{sign}{whole}.{frac}"
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{sign}{mantissa}E{point - 1}"


# ------------------------------------------------------------------------------ the keys


class _Invalid(ValueError):
    """A value a key refuses: the message says what is wrong, the hint what to write."""

    def __init__(self, message: str, hint: str, *, with_advice: bool = True) -> None:
        super().__init__(message)
        self.hint = hint
        self.with_advice = with_advice


@dataclass(frozen=True)
class TopicConfigKey:
    """One topic-level config key: its type and broker default as Kafka 4.4 reports them.

    Beyond the four catalogue fields, the optional ones describe the constraint Kafka
    enforces, so messages can state the allowed range instead of just "invalid".
    """

    name: str
    kind: Kind
    default: str | None
    doc: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    #: values outside [minimum, maximum] Kafka still accepts (gzip's -1 = codec default)
    also_allowed: tuple[int, ...] = ()
    #: the allowed strings of an enum ("string") or of each element of a "list"
    choices: tuple[str, ...] = ()
    #: "ms" / "bytes": human durations / sizes are accepted and converted
    unit: Literal["ms", "bytes"] | None = None
    #: what the special values mean, quoted in range messages ("-1 means no time limit")
    special: str | None = None
    #: key-specific advice added to the hint when a value is refused
    advice: str | None = None

    # ----------------------------------------------------------------- public
    def validate(self, value: object) -> str | None:
        """None if Kafka 4.4 would accept ``value`` for this key, else what is wrong."""
        try:
            self._parse(value)
        except _Invalid as exc:
            return str(exc)
        return None

    def normalise(self, value: object) -> str:
        """The string a broker stores and reports back for ``value`` (ValueError if invalid).

        Desired state (from YAML) and actual state (from ``describe_configs``) compare as
        equal strings only if both sides are rendered the same way: True -> "true",
        "7d" -> "604800000", ["compact", "delete"] -> "compact,delete", 1 -> "1.0" for a
        double (Java's ``Double.toString``).
        """
        parsed = self._parse(value)
        if isinstance(parsed, bool):
            return "true" if parsed else "false"
        if isinstance(parsed, float):
            return _java_double(parsed)
        if isinstance(parsed, list):
            return ",".join(parsed)
        return str(parsed)

    def hint_for(self, value: object) -> str | None:
        """What to write instead of a refused ``value`` (None if the value is valid)."""
        try:
            self._parse(value)
        except _Invalid as exc:
            if self.advice and exc.with_advice:
                return f"{exc.hint}; {self.advice}"
            return exc.hint
        return None

    # ---------------------------------------------------------------- parsing
    def _parse(self, value: object) -> int | float | bool | str | list[str]:
        if value is None:
            shown = f'"{self.default}"' if self.default is not None else "none"
            raise _Invalid(
                f"{self.name} has no value",
                f"give one, or leave the key out to get the default ({shown})",
            )
        if self.kind in ("int", "long"):
            return self._parse_integer(value)
        if self.kind == "double":
            return self._parse_double(value)
        if self.kind == "boolean":
            return self._parse_boolean(value)
        if self.kind == "list":
            return self._parse_list(value)
        if self.kind == "class":
            return self._parse_class(value)
        return self._parse_string(value)

    def _parse_integer(self, value: object) -> int:
        try:
            if self.unit == "ms":
                number = _duration_ms(value)
            elif self.unit == "bytes":
                number = _size_bytes(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                number = value
            elif isinstance(value, str) and _PLAIN_INT.fullmatch(value.strip()):
                number = int(value.strip())
            else:
                raise ValueError(f"{_show(value)} is not a whole number")
        except ValueError as exc:
            how = {"ms": _DURATION_HELP, "bytes": _BYTES_HELP}.get(self.unit or "")
            raise _Invalid(
                f"{self.name}: {exc}; expected {self._range_text()}", how or "write a whole number"
            ) from None
        if number in self.also_allowed:
            return number
        if self.minimum is not None and number < self.minimum:
            nearest: int | float | None = self.minimum
        elif self.maximum is not None and number > self.maximum:
            nearest = self.maximum
        else:
            nearest = None
        if nearest is not None:
            raise _Invalid(
                f"{self.name} must be {self._range_text()}, got {number}",
                f"the nearest allowed value is {self._show_bound(nearest)}",
            )
        low, high, bits = (INT_MIN, INT_MAX, 32) if self.kind == "int" else (LONG_MIN, LONG_MAX, 64)
        if not low <= number <= high:
            raise _Invalid(
                f"{self.name} must fit in a signed {bits}-bit integer, got {number}",
                f"Kafka stores it as a Java {self.kind}: {low} to {high}",
                with_advice=False,
            )
        return number

    def _show_bound(self, bound: int | float) -> str:
        if self.kind == "double":
            return _java_double(bound)
        if self.unit == "ms":
            return f"{bound} ms"
        if self.unit == "bytes":
            human = _human_bytes(int(bound))
            return f"{bound} {'byte' if bound == 1 else 'bytes'}" + (f" ({human})" if human else "")
        return str(bound)

    def _range_text(self) -> str:
        """The allowed values in words: "at least 1048576 bytes (1 MiB)", "between 0.0 and 1.0"."""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            text = f"between {self._show_bound(low)} and {self._show_bound(high)}"
        elif low is not None:
            text = f"at least {self._show_bound(low)}"
        elif high is not None:
            text = f"at most {self._show_bound(high)}"
        else:
            text = "any whole number" + (f" of {self.unit}" if self.unit else "")
        if self.also_allowed:
            text += ", or " + " or ".join(str(v) for v in self.also_allowed)
        if self.special:
            text += f" ({self.special})"
        return text

    def _parse_double(self, value: object) -> float:
        how = "write a decimal number such as 0.5"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _Invalid(f"{self.name} must be a number, got {_show(value)}", how)
        if isinstance(value, str):
            if not _DECIMAL.fullmatch(value.strip()):
                raise _Invalid(f"{self.name} must be a number, got {_show(value)}", how)
            number = float(value.strip())
        else:
            number = float(value)
        if not math.isfinite(number):
            raise _Invalid(f"{self.name} must be a finite number, got {_show(value)}", how)
        if self.minimum is not None and number < self.minimum:
            nearest: float = self.minimum
        elif self.maximum is not None and number > self.maximum:
            nearest = self.maximum
        else:
            return number
        raise _Invalid(
            f"{self.name} must be {self._range_text()}, got {_show(value)}",
            f"the nearest allowed value is {self._show_bound(nearest)}",
        )

    def _parse_boolean(self, value: object) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _Invalid(
            f"{self.name} must be true or false, got {_show(value)}",
            "write true or false (a YAML boolean, or the string)",
        )

    def _parse_string(self, value: object) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"{self.name} must be a string, got {_show(value)}", self._choose(""))
        text = value.strip()
        if self.choices and text not in self.choices:
            raise _Invalid(
                f"{self.name} must be one of {_choices(self.choices)}, got {_show(value)}",
                self._choose(text),
            )
        return text

    def _choose(self, wrong: str) -> str:
        """Hint for a value outside ``choices``: the likely intended one, else the choices."""
        guess = _closest(wrong, self.choices) if wrong else None
        if guess is not None:
            return f'did you mean "{guess}"? (values are case-sensitive)'
        return f"write one of {_choices(self.choices)}"

    def _parse_class(self, value: object) -> str:
        if not isinstance(value, str) or not _JAVA_CLASS.fullmatch(value.strip()):
            raise _Invalid(
                f"{self.name} must be a fully qualified Java class name, got {_show(value)}",
                "write the class name as Java spells it, e.g. org.example.MyPolicy",
            )
        return value.strip()

    def _parse_list(self, value: object) -> list[str]:
        if isinstance(value, str):
            text = value.strip()
            items = [item.strip() for item in text.split(",")] if text else []
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            items = [str(v).strip() for v in value]
        else:
            raise _Invalid(
                f"{self.name} must be a list of strings or a comma-separated string, "
                f"got {_show(value)}",
                'write a YAML list, or one string with commas: "compact,delete"',
            )
        if any(not item for item in items):
            raise _Invalid(
                f"{self.name} has an empty element in {_show(value)}",
                "remove the stray comma or empty entry",
            )
        if self.choices:  # an enum list: cleanup.policy
            # A 4.4 broker accepts a repeated policy and keeps its first occurrence only
            # ("delete,compact,delete" is reported as "delete,compact"); do the same, so
            # the normalised value is the one describe_configs returns. (Replica lists
            # keep their repeats, as the broker does.)
            items = list(dict.fromkeys(items))
            for item in items:
                if item not in self.choices:
                    raise _Invalid(
                        f"{self.name} elements must be among {_choices(self.choices)}, "
                        f"got {_show(item)}",
                        self._choose(item),
                    )
            return items
        # a replica list: "*" alone, or partition:broker pairs of non-negative integers
        if items == ["*"] or all(_REPLICA.fullmatch(item) for item in items):
            return items
        raise _Invalid(
            f'{self.name} must be "*" (every replica) or a list of partition:broker pairs '
            f'such as "0:1,1:2", got {_show(value)}',
            "partition and broker are non-negative integers, e.g. 0:1 for partition 0 on broker 1",
        )


def _choices(choices: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in choices)


def _human_bytes(number: int) -> str | None:
    """The binary-unit form ("1 MiB" for 1048576); None when no such unit divides it."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if number and number % size == 0:
            return f"{number // size} {unit}"
    return None


def _closest(word: str, options: tuple[str, ...] | list[str]) -> str | None:
    """The option ``word`` most likely meant: same text ignoring case and separators first."""
    folded = {re.sub(r"[._\-\s]", "", o.lower()): o for o in options}
    exact = folded.get(re.sub(r"[._\-\s]", "", word.lower()))
    if exact is not None:
        return exact
    matches = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None


#: (key, error, hint), as ``check_topic_configs`` reports each problem.
Problem = tuple[str, str, str | None]

_NO_LIMIT = "9223372036854775807"  # Long.MAX_VALUE: Kafka's "never" for time and counts

# One entry per key, in the order of the name; kept as a table (fmt: off) so each key's
# constraint reads on a line or two. Defaults are the strings a 4.4 broker reports.
# fmt: off
_KEYS: list[TopicConfigKey] = [
    TopicConfigKey(
        "cleanup.policy", "list", "delete",
        "delete old segments, compact to the latest value per key, both, or neither (empty)",
        choices=("compact", "delete"),
        advice='an empty list ("") keeps every segment forever (Kafka 4.1+)'),
    TopicConfigKey(
        "compression.gzip.level", "int", "-1",
        "gzip level the broker recompresses with when compression.type is gzip",
        minimum=1, maximum=9, also_allowed=(-1,), special="-1 means gzip's own default"),
    TopicConfigKey(
        "compression.lz4.level", "int", "9",
        "lz4 level the broker recompresses with when compression.type is lz4",
        minimum=1, maximum=17),
    TopicConfigKey(
        "compression.type", "string", "producer",
        "codec stored on disk; producer keeps whatever the producer sent",
        choices=("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
        advice='"none" is the producer\'s word; the topic-level equivalent is "uncompressed"'),
    TopicConfigKey(
        "compression.zstd.level", "int", "3",
        "zstd level the broker recompresses with when compression.type is zstd",
        minimum=-131072, maximum=22, special="negative levels trade ratio for speed"),
    TopicConfigKey(
        "delete.retention.ms", "long", "86400000",
        "how long tombstones stay readable in a compacted topic",
        minimum=0, unit="ms"),
    TopicConfigKey(
        "errors.deadletterqueue.group.enable", "boolean", "false",
        "allow share groups to write undeliverable records to this topic as a DLQ"),
    TopicConfigKey(
        "file.delete.delay.ms", "long", "60000",
        "grace period before a deleted segment file is removed from disk",
        minimum=0, unit="ms"),
    TopicConfigKey(
        "flush.messages", "long", _NO_LIMIT,
        "force an fsync after this many messages (default: leave it to the OS)",
        minimum=1),
    TopicConfigKey(
        "flush.ms", "long", _NO_LIMIT,
        "force an fsync after this long (default: leave it to the OS)",
        minimum=0, unit="ms"),
    TopicConfigKey(
        "follower.replication.throttled.replicas", "list", "",
        "replicas whose follower-side replication is throttled during a reassignment",
        advice="normally set by kafka-reassign-partitions, not by hand"),
    TopicConfigKey(
        "index.interval.bytes", "int", "4096",
        "bytes between offset index entries; smaller means finer seeks, bigger index",
        minimum=0, unit="bytes"),
    TopicConfigKey(
        "leader.replication.throttled.replicas", "list", "",
        "replicas whose leader-side replication is throttled during a reassignment",
        advice="normally set by kafka-reassign-partitions, not by hand"),
    TopicConfigKey(
        "local.retention.bytes", "long", "-2",
        "with tiered storage, bytes kept on local disk per partition",
        minimum=-2, unit="bytes", special="-2 means use retention.bytes, -1 means no size limit"),
    TopicConfigKey(
        "local.retention.ms", "long", "-2",
        "with tiered storage, how long segments are kept on local disk",
        minimum=-2, unit="ms", special="-2 means use retention.ms, -1 means no time limit"),
    TopicConfigKey(
        "max.compaction.lag.ms", "long", _NO_LIMIT,
        "longest a record may stay uncompacted before its segment must be cleaned",
        minimum=1, unit="ms"),
    TopicConfigKey(
        "max.decompressed.message.bytes", "int", "2147483639",
        "largest single record, decompressed, the broker will accept",
        minimum=1, maximum=2147483639, unit="bytes"),
    TopicConfigKey(
        "max.message.bytes", "int", "1048588",
        "largest record batch (compressed, on the wire) the topic accepts",
        minimum=0, unit="bytes",
        advice="consumers' fetch sizes and replica.fetch.max.bytes must allow it too"),
    TopicConfigKey(
        "message.timestamp.after.max.ms", "long", "3600000",
        "how far in the future a CreateTime timestamp may be before the batch is refused",
        minimum=0, unit="ms"),
    TopicConfigKey(
        "message.timestamp.before.max.ms", "long", _NO_LIMIT,
        "how far in the past a CreateTime timestamp may be before the batch is refused",
        minimum=0, unit="ms"),
    TopicConfigKey(
        "message.timestamp.type", "string", "CreateTime",
        "whether record timestamps are the producer's or the broker's append time",
        choices=("CreateTime", "LogAppendTime")),
    TopicConfigKey(
        "min.cleanable.dirty.ratio", "double", "0.5",
        "share of uncompacted log that makes a partition eligible for compaction",
        minimum=0.0, maximum=1.0),
    TopicConfigKey(
        "min.compaction.lag.ms", "long", "0",
        "shortest time a record stays uncompacted",
        minimum=0, unit="ms"),
    TopicConfigKey(
        "min.insync.replicas", "int", "1",
        "in-sync replicas an acks=all write needs before it succeeds",
        minimum=1, advice="with replication factor 3, 2 tolerates one broker down"),
    TopicConfigKey(
        "preallocate", "boolean", "false",
        "preallocate segment files on disk when they are created"),
    TopicConfigKey(
        "remote.copy.lag.bytes", "long", "-1",
        "with tiered storage, local bytes after a segment before it may be uploaded",
        minimum=-1, unit="bytes",
        special="0 uploads as soon as a segment closes, -1 derives it from local retention"),
    TopicConfigKey(
        "remote.copy.lag.ms", "long", "0",
        "with tiered storage, age a closed segment must reach before it may be uploaded",
        minimum=-1, unit="ms",
        special="0 uploads as soon as a segment closes, -1 derives it from local retention"),
    TopicConfigKey(
        "remote.log.copy.disable", "boolean", "false",
        "with tiered storage, stop uploading while keeping what is already remote"),
    TopicConfigKey(
        "remote.log.delete.on.disable", "boolean", "false",
        "confirm that turning tiered storage off deletes the remote data"),
    TopicConfigKey(
        "remote.storage.enable", "boolean", "false",
        "tier this topic's closed segments to remote storage",
        advice="the brokers must also run with remote.log.storage.system.enable=true"),
    TopicConfigKey(
        "retention.bytes", "long", "-1",
        "size per partition beyond which the oldest segments are deleted",
        unit="bytes", special="any negative value means no size limit"),
    TopicConfigKey(
        "retention.ms", "long", "604800000",
        "age beyond which segments are deleted",
        minimum=-1, unit="ms", special="-1 means no time limit"),
    TopicConfigKey(
        "segment.bytes", "int", "1073741824",
        "size at which the active segment is rolled",
        minimum=1048576, unit="bytes", advice="Kafka 4.0 raised the minimum to 1 MiB"),
    TopicConfigKey(
        "segment.index.bytes", "int", "10485760",
        "size preallocated for each segment's offset and time index",
        minimum=4, unit="bytes"),
    TopicConfigKey(
        "segment.jitter.ms", "long", "0",
        "random reduction of segment.ms so partitions do not all roll at once",
        minimum=0, unit="ms"),
    TopicConfigKey(
        "segment.ms", "long", "604800000",
        "age at which the active segment is rolled even if not full",
        minimum=1, unit="ms"),
    TopicConfigKey(
        "unclean.leader.election.enable", "boolean", "false",
        "let an out-of-sync replica become leader, accepting data loss for availability"),
]
# fmt: on

#: Every topic-level config key of Kafka 4.4, by name (sorted).
TOPIC_CONFIGS: dict[str, TopicConfigKey] = {key.name: key for key in _KEYS}

#: Keys Kafka 4.x brokers reject as unknown, with what to do instead.
_REMOVED: dict[str, str] = {
    "message.format.version": ("removed in Kafka 4.0 (every topic uses record format v2); drop it"),
    "message.timestamp.difference.max.ms": (
        'removed in Kafka 4.0; use "message.timestamp.before.max.ms" and '
        '"message.timestamp.after.max.ms"'
    ),
    "message.downconversion.enable": (
        "Kafka 4 brokers no longer down-convert records and refuse this key; drop it"
    ),
    "internal.segment.bytes": 'an internal Kafka test setting; use "segment.bytes"',
}

#: Broker-wide settings people write by mistake where the topic-level key is meant.
_BROKER_SYNONYMS: dict[str, str] = {
    "log.cleanup.policy": "cleanup.policy",
    "log.cleaner.delete.retention.ms": "delete.retention.ms",
    "log.segment.delete.delay.ms": "file.delete.delay.ms",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "log.index.interval.bytes": "index.interval.bytes",
    "log.local.retention.bytes": "local.retention.bytes",
    "log.local.retention.ms": "local.retention.ms",
    "log.cleaner.max.compaction.lag.ms": "max.compaction.lag.ms",
    "message.max.bytes": "max.message.bytes",
    "log.message.timestamp.after.max.ms": "message.timestamp.after.max.ms",
    "log.message.timestamp.before.max.ms": "message.timestamp.before.max.ms",
    "log.message.timestamp.type": "message.timestamp.type",
    "log.cleaner.min.cleanable.ratio": "min.cleanable.dirty.ratio",
    "log.cleaner.min.compaction.lag.ms": "min.compaction.lag.ms",
    "log.preallocate": "preallocate",
    "log.remote.copy.lag.bytes": "remote.copy.lag.bytes",
    "log.remote.copy.lag.ms": "remote.copy.lag.ms",
    "log.retention.bytes": "retention.bytes",
    "log.retention.ms": "retention.ms",
    "log.retention.minutes": "retention.ms",
    "log.retention.hours": "retention.ms",
    "log.segment.bytes": "segment.bytes",
    "log.index.size.max.bytes": "segment.index.bytes",
    "log.roll.jitter.ms": "segment.jitter.ms",
    "log.roll.jitter.hours": "segment.jitter.ms",
    "log.roll.ms": "segment.ms",
    "log.roll.hours": "segment.ms",
}


def check_topic_config(name: str, value: object) -> tuple[str | None, str | None]:
    """(error, hint) for one ``name: value`` of a topic spec; (None, None) when valid.

    The hint is what a user most likely meant (a near key name, a near enum value) or
    how to write the value, so the spec error can be fixed without reading Kafka's docs.
    """
    key = TOPIC_CONFIGS.get(name)
    if key is None:
        error = f'unknown topic config "{name}"'
        if name in _REMOVED:
            return error, _REMOVED[name]
        if name in _BROKER_SYNONYMS:
            topic_key = _BROKER_SYNONYMS[name]
            return error, f'that is the broker-wide default; the topic config is "{topic_key}"'
        guess = _closest(name, list(TOPIC_CONFIGS))
        return error, (f'did you mean "{guess}"?' if guess is not None else None)
    message = key.validate(value)
    if message is None:
        return None, None
    return message, key.hint_for(value)


def check_topic_configs(configs: Mapping[str, object]) -> list[Problem]:
    """(key, error, hint) for every problem in a topic's config map, per key and across keys.

    Across keys, this checks the rules Kafka 4.4's ``LogConfig`` enforces between values
    (the compaction lags, and the retention rules of tiered storage), which no single-key
    check can see. A key the map leaves out counts as its Kafka default; a cluster that
    overrides that default broker-wide may decide differently, which only it can know.
    """
    problems: list[Problem] = []
    values: dict[str, object] = {}
    for name, value in configs.items():
        error, hint = check_topic_config(name, value)
        if error is not None:
            problems.append((name, error, hint))
        else:
            values[name] = TOPIC_CONFIGS[name]._parse(value)
    for name, key in TOPIC_CONFIGS.items():
        if name not in configs:
            values[name] = key._parse(key.default)
    invalid = {name for name, _, _ in problems}
    if invalid.isdisjoint({"min.compaction.lag.ms", "max.compaction.lag.ms"}):
        low, high = values["min.compaction.lag.ms"], values["max.compaction.lag.ms"]
        assert isinstance(low, int) and isinstance(high, int)
        if low > high:
            error = f"min.compaction.lag.ms ({low}) must not exceed max.compaction.lag.ms ({high})"
            problems.append(("min.compaction.lag.ms", error, "lower one or raise the other"))
    if "remote.storage.enable" not in invalid and values["remote.storage.enable"] is True:
        problems.extend(_remote_storage_problems(values, invalid))
    return problems


def _remote_storage_problems(values: dict[str, object], invalid: set[str]) -> list[Problem]:
    """The rules Kafka adds once a topic has remote.storage.enable=true."""
    problems: list[Problem] = []
    policy = values["cleanup.policy"]
    if "cleanup.policy" not in invalid and policy not in ([], ["delete"]):
        assert isinstance(policy, list)
        shown = ",".join(policy)
        problems.append(
            (
                "cleanup.policy",
                f'remote storage needs cleanup.policy "delete" or empty, got "{shown}"',
                "tiered storage cannot hold compacted topics",
            )
        )
    for what in ("bytes", "ms"):
        total, local = f"retention.{what}", f"local.retention.{what}"
        lag = f"remote.copy.lag.{what}"
        if not invalid.isdisjoint({total, local, lag}):
            continue
        total_v, local_v, lag_v = values[total], values[local], values[lag]
        assert isinstance(total_v, int) and isinstance(local_v, int) and isinstance(lag_v, int)
        if total_v >= 0 and local_v == -1:
            error = f"{local} must not be -1 (no limit) while {total} is {total_v}"
            problems.append((local, error, f"use -2 to follow {total}, or a value up to it"))
        elif total_v >= 0 and local_v > total_v:
            error = f"{local} ({local_v}) must not exceed {total} ({total_v})"
            problems.append((local, error, "local disk holds the newest part of the retained log"))
        effective = total_v if local_v == -2 else local_v
        if lag_v > 0 and effective >= 0 and lag_v > effective:
            error = f"{lag} ({lag_v}) must not exceed the effective {local} ({effective})"
            problems.append((lag, error, "a segment would be deleted before its upload"))
        if values["remote.log.copy.disable"] is True and local_v not in (-2, total_v):
            error = (
                f"with remote.log.copy.disable=true, {local} must be -2 or equal {total} "
                f"({total_v})"
            )
            problems.append((local, error, "nothing more will be uploaded"))
    return problems
