"""MirrorMaker 2's own records, decoded: offset syncs, checkpoints and heartbeats.

MM2 writes them with Kafka's internal ``Struct`` encoding (int16-length strings,
big-endian integers), not with a serializer a Python client has, so they are read here
field by field, the way ``OffsetSync``, ``Checkpoint`` and ``Heartbeat`` in
connect-mirror(-client) lay them out. Reading the topics directly lets ``replicate
status`` and ``failover`` work without a JVM and without MM2's RemoteClusterUtils.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def int64(self) -> int:
        return self._take(">q")

    def string(self) -> str:
        size = self.int16()
        if size < 0:
            return ""
        text = self.data[self.pos : self.pos + size].decode()
        self.pos += size
        return text


@dataclass(frozen=True)
class OffsetSync:
    """On the source (``mm2-offset-syncs.<target>.internal``): ``upstream`` of ``topic``
    was written to the copy at ``downstream``."""

    topic: str
    partition: int
    upstream: int
    downstream: int


@dataclass(frozen=True)
class Checkpoint:
    """On the target (``<source>.checkpoints.internal``): ``group``'s committed offset on
    the source (``upstream``) and its translation into the copy (``downstream``)."""

    group: str
    topic: str
    partition: int
    upstream: int
    downstream: int
    timestamp_ms: int


@dataclass(frozen=True)
class Heartbeat:
    source: str
    target: str
    timestamp_ms: int


def offset_sync(key: bytes, value: bytes) -> OffsetSync:
    k, v = _Reader(key), _Reader(value)
    topic, partition = k.string(), k.int32()
    return OffsetSync(topic, partition, v.int64(), v.int64())


def checkpoint(key: bytes, value: bytes, timestamp_ms: int) -> Checkpoint:
    k, v = _Reader(key), _Reader(value)
    group, topic, partition = k.string(), k.string(), k.int32()
    v.int16()  # the value's version header
    return Checkpoint(group, topic, partition, v.int64(), v.int64(), timestamp_ms)


def heartbeat(key: bytes, value: bytes) -> Heartbeat:
    k, v = _Reader(key), _Reader(value)
    source, target = k.string(), k.string()
    v.int16()
    return Heartbeat(source, target, v.int64())
