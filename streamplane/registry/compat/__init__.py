"""Schema compatibility for the registry: parse, canonicalise and resolve schemas.

Kept apart from the registry service so the rules can be tested (and reasoned about) on
schema text alone, without Kafka or HTTP in the way.
"""

from __future__ import annotations

from streamplane.registry.compat._levels import LEVELS
from streamplane.registry.compat.avro import (
    AvroSchemaError,
    ParsedAvro,
    can_read,
    check_compatibility,
    parse_avro,
)

__all__ = [
    "LEVELS",
    "AvroSchemaError",
    "ParsedAvro",
    "can_read",
    "check_compatibility",
    "parse_avro",
]
