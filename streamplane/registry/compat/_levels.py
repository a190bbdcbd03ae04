"""Confluent's compatibility levels, shared by every schema format.

A level only decides *which* (reader, writer) pairs must work: BACKWARD means the new schema
reads data written with the latest, FORWARD the latest reads data written with the new one,
FULL both, and the transitive levels check every existing schema instead of only the
latest. Whether one schema can read another is the format's own business, so each format
passes its ``can_read`` in.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import TypeVar

from streamplane.model._types import CompatibilityLevel

#: Confluent's compatibility levels, as the spec model defines them.
LEVELS: tuple[str, ...] = typing.get_args(CompatibilityLevel)

S = TypeVar("S")


def check_levels(
    new: S, existing: Sequence[S], level: str, can_read: Callable[[S, S], list[str]]
) -> list[str]:
    """Why ``new`` may not follow ``existing`` (oldest first) under ``level``; [] if it may.

    ``can_read(reader, writer)`` returns the problems of reading ``writer``'s data with
    ``reader``. Messages name the direction and the existing schema's 1-based position.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}; expected one of {LEVELS}")
    if level == "NONE" or not existing:
        return []
    base = level.removesuffix("_TRANSITIVE")
    count = len(existing)
    positions = range(count, 0, -1) if level.endswith("_TRANSITIVE") else [count]
    errors: list[str] = []
    for position in positions:  # newest first: the likeliest culprit leads
        old = existing[position - 1]
        label = f"#{position} of {count}" + (" (latest)" if position == count else "")
        if base in ("BACKWARD", "FULL"):
            errors.extend(
                f"BACKWARD: the new schema cannot read data written with existing schema "
                f"{label}: {message}"
                for message in can_read(new, old)
            )
        if base in ("FORWARD", "FULL"):
            errors.extend(
                f"FORWARD: existing schema {label} cannot read data written with the new "
                f"schema: {message}"
                for message in can_read(old, new)
            )
    return errors
