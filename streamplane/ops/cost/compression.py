"""Compression measured on a topic's own records: the ratio and the CPU each codec costs.

Records are compressed as a producer batch is (values and keys of a batch concatenated,
one compression call per batch), with cramjam's codecs: gzip, snappy, lz4 (frame) and
zstd, the four Kafka offers. Framing differs slightly from Kafka's own (xerial snappy),
which moves the ratio by a few bytes per batch, not by a percent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cramjam

CODECS = ("gzip", "snappy", "lz4", "zstd")


@dataclass(frozen=True)
class CodecFigure:
    codec: str
    #: compressed bytes / raw bytes (lower is better)
    ratio: float
    #: raw MB compressed per second of one core
    compress_mb_s: float


def measure(batches: list[bytes], *, repeat: int = 3) -> list[CodecFigure]:
    """Each codec on ``batches`` (each a batch of records' bytes); best of ``repeat`` for
    the speed, so a scheduler hiccup does not become a figure."""
    raw = sum(len(b) for b in batches)
    if raw == 0:
        return []
    figures = []
    for codec in CODECS:
        module = getattr(cramjam, codec)
        best = float("inf")
        size = 0
        for _ in range(repeat):
            started = time.perf_counter()
            size = sum(len(module.compress(batch)) for batch in batches)
            best = min(best, time.perf_counter() - started)
        figures.append(CodecFigure(codec, size / raw, raw / 1e6 / max(best, 1e-9)))
    return figures
