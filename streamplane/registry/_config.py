"""Global and per-subject config (``/config``), stored as Confluent's CONFIG record values.

A config holds the compatibility level and, since data contracts, ``compatibilityGroup``,
``normalize``, ``validateFields`` and the default and override metadata and rule sets. A
PUT changes only the fields it names (an explicit ``null`` removes one), as Confluent's
does. Records written before these fields existed hold only ``compatibilityLevel`` and read
the same as before.

What applies to a subject follows Confluent: with no config of its own, the global one;
with one, its own fields, falling back to the global config for ``compatibilityGroup``,
``normalize`` and ``validateFields`` (defaults and overrides are never mixed between the
two). One difference: a subject config without a level takes the global level, where
Confluent takes its server default (BACKWARD) whatever the global level is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamplane.errors import RegistryError
from streamplane.registry._contracts import (
    ContractConfig,
    normalize_metadata,
    normalize_rule_set,
    validate_rule_set,
)
from streamplane.registry.compat._levels import LEVELS

log = logging.getLogger(__name__)

DEFAULT_LEVEL = "BACKWARD"
_METADATA_FIELDS = ("defaultMetadata", "overrideMetadata")
_RULE_SET_FIELDS = ("defaultRuleSet", "overrideRuleSet")
_FLAG_FIELDS = ("normalize", "validateFields")
#: The fields a CONFIG record value may hold, in the order they are written.
FIELDS = (
    "compatibilityLevel",
    "compatibilityGroup",
    *_FLAG_FIELDS,
    *_METADATA_FIELDS,
    *_RULE_SET_FIELDS,
)

ConfigValue = dict[str, Any]


def invalid_level() -> RegistryError:
    return RegistryError(
        422,
        42203,
        "Invalid compatibility level. Valid values are none, backward, forward, full, "
        "backward_transitive, forward_transitive, and full_transitive",
    )


@dataclass(frozen=True)
class SubjectSettings:
    """What governs registrations under one subject (Confluent's "config in scope")."""

    level: str = DEFAULT_LEVEL
    #: A metadata property: only versions with the same value are checked for compatibility.
    group: str | None = None
    normalize: bool = False
    validate_fields: bool = False
    contracts: ContractConfig = field(default_factory=ContractConfig)


def from_record(value: Mapping[str, Any] | None) -> ConfigValue | None:
    """The config a CONFIG record holds (None for a tombstone).

    Lenient: the record was validated when written (here or by Confluent); a part that no
    longer reads is dropped with a warning rather than stopping the replay.
    """
    if value is None:
        return None
    stored: ConfigValue = {}
    for name in FIELDS:
        part = value.get(name)
        if part is None:
            continue
        try:
            stored[name] = _checked(name, part)
        except RegistryError as exc:
            log.warning("ignoring config field %s of a stored record: %s", name, exc.message)
    return stored


def updated(old: ConfigValue | None, changes: Mapping[str, Any]) -> ConfigValue:
    """``old`` with ``changes`` applied: a field given a value is set, given None removed.

    Raises RegistryError: 42203 for an unknown level, 42210 for an invalid rule set, 422
    for a field of the wrong shape.
    """
    result = dict(old or {})
    for name in FIELDS:
        if name not in changes:
            continue
        if changes[name] is None:
            result.pop(name, None)
        else:
            result[name] = _checked(name, changes[name])
    return {name: result[name] for name in FIELDS if name in result}


def _checked(name: str, value: Any) -> Any:
    if name == "compatibilityLevel":
        level = value.upper() if isinstance(value, str) else value
        if level not in LEVELS:
            raise invalid_level()
        return level
    if name == "compatibilityGroup":
        if not isinstance(value, str):
            raise RegistryError(
                422, 422, "Unprocessable entity: compatibilityGroup must be a string"
            )
        return value
    if name in _FLAG_FIELDS:
        if not isinstance(value, bool):
            raise RegistryError(422, 422, f"Unprocessable entity: {name} must be true or false")
        return value
    if name in _METADATA_FIELDS:
        return normalize_metadata(value, name)
    rule_set = normalize_rule_set(value, name)
    validate_rule_set(rule_set)
    return rule_set


def settings(
    global_value: ConfigValue | None, subject_value: ConfigValue | None
) -> SubjectSettings:
    """The settings in force for a subject with these global and subject configs."""
    top = global_value or {}
    own = subject_value if subject_value is not None else top

    def flag(name: str) -> bool:
        return bool(own.get(name, top.get(name, False)))

    return SubjectSettings(
        level=own.get("compatibilityLevel") or top.get("compatibilityLevel") or DEFAULT_LEVEL,
        group=own.get("compatibilityGroup", top.get("compatibilityGroup")),
        normalize=flag("normalize"),
        validate_fields=flag("validateFields"),
        contracts=ContractConfig(
            own.get("defaultMetadata"),
            own.get("overrideMetadata"),
            own.get("defaultRuleSet"),
            own.get("overrideRuleSet"),
        ),
    )


def in_scope(global_value: ConfigValue | None, subject_value: ConfigValue | None) -> ConfigValue:
    """The config a subject works under, as one value (``GET /config/{s}?defaultToGlobal``)."""
    if subject_value is None:
        return with_level(global_value, DEFAULT_LEVEL)
    merged = dict(subject_value)
    for name in ("compatibilityGroup", *_FLAG_FIELDS):
        if name not in merged and global_value and name in global_value:
            merged[name] = global_value[name]
    fallback = (global_value or {}).get("compatibilityLevel", DEFAULT_LEVEL)
    return with_level({n: merged[n] for n in FIELDS if n in merged}, fallback)


def with_level(value: ConfigValue | None, level: str) -> ConfigValue:
    """``value`` with ``compatibilityLevel`` filled in where it has none (Confluent's GET)."""
    result = dict(value or {})
    result.setdefault("compatibilityLevel", level)
    return {name: result[name] for name in FIELDS if name in result}


def as_update_answer(value: ConfigValue) -> ConfigValue:
    """A stored config as a PUT answers it: Confluent names the level ``compatibility`` there."""
    return {("compatibility" if k == "compatibilityLevel" else k): v for k, v in value.items()}
