"""Data contracts: the metadata and rule set of a schema version, with Confluent's semantics.

Confluent Schema Registry keeps with every version a ``metadata`` object (``tags``: field
path -> tags, ``properties``: string -> string, ``sensitive``: names) and a ``ruleSet``
(``migrationRules``, ``domainRules``, ``encodingRules``, ``enableAt``). A subject's config
may add ``defaultMetadata``/``defaultRuleSet`` and ``overrideMetadata``/``overrideRuleSet``.
A registration's contract is ``merge(merge(default, given or the latest version's),
override)``: maps merge key by key (the later wins), sensitive names by union, rules by
name (a later rule replaces an earlier one of the same name, new ones are appended).

The schema id identifies the schema text, its references *and* its contract, so the same
text with other metadata or rules is another id and another version, and the same text with
the same contract is the same id and version again.

Everything here is pure: values are plain JSON dicts, normalised the way Confluent writes
them (sorted maps and sets, empty parts dropped, a rule's ``kind``/``mode``/``disabled``
defaults filled in), so two equal contracts are equal dicts and have equal :func:`key`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streamplane.errors import RegistryError

#: The property Confluent keeps equal to the version number once a contract carries it.
CONFLUENT_VERSION = "confluent:version"
#: Comma-separated top-level field names a schema may not (re)introduce (``validateFields``).
RESERVED = "confluent:reserved"

RULE_KINDS = ("CONDITION", "TRANSFORM")
MIGRATION_MODES = ("UPGRADE", "DOWNGRADE", "UPDOWN")
DOMAIN_MODES = ("WRITE", "READ", "WRITEREAD")
ENABLE_AT = ("ALL", "CLIENT", "GATEWAY", "SERVER", "NONE")
#: The rule lists of a rule set, in the order Confluent writes them, with the modes each allows.
RULE_LISTS = {
    "migrationRules": MIGRATION_MODES,
    "domainRules": DOMAIN_MODES,
    "encodingRules": DOMAIN_MODES,
}
_RULE_NAME = re.compile(r"[^\W\d][\w-]*")  # a letter or _, then letters, digits, _ or -
_RULE_NAME_MAX = 256
_RULE_TEXT_FIELDS = ("name", "doc", "type", "expr", "onSuccess", "onFailure")

Metadata = dict[str, Any]
RuleSet = dict[str, Any]


@dataclass(frozen=True)
class Contract:
    """The metadata and rule set of one schema version (either may be absent)."""

    metadata: Metadata | None = None
    rule_set: RuleSet | None = None

    @property
    def key(self) -> str:
        """What the schema id is keyed on besides the schema: "" when there is no contract.

        Absent and empty differ (``None`` vs ``{}``), as they do in Confluent's schema hash.
        """
        if self.metadata is None and self.rule_set is None:
            return ""
        return json.dumps([self.metadata, self.rule_set], sort_keys=True, separators=(",", ":"))


def invalid(where: str, problem: str) -> RegistryError:
    """A request whose metadata or rule set has the wrong shape (422, like a bad body)."""
    return RegistryError(422, 422, f"Unprocessable entity: {where} {problem}")


def invalid_rule_set(problem: str) -> RegistryError:
    return RegistryError(422, 42210, f"Invalid rule set: {problem}")


# ------------------------------------------------------------------------ normalising
def normalize_metadata(value: Any, where: str = "metadata") -> Metadata | None:
    """``value`` as Confluent stores it; raises RegistryError (422) on a wrong shape.

    Property values that are JSON numbers or booleans become strings, as Confluent's JSON
    reader turns them into strings (``{"major_version": 1}`` is ``"1"``).
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(where, "must be an object with tags, properties and sensitive")
    out: Metadata = {}
    tags = value.get("tags")
    if tags is not None:
        if not isinstance(tags, dict):
            raise invalid(f"{where}.tags", "must map field paths to lists of tags")
        normalised = {p: _names(names, f"{where}.tags[{p!r}]") for p, names in tags.items()}
        if normalised:
            out["tags"] = dict(sorted(normalised.items()))
    properties = value.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise invalid(f"{where}.properties", "must map names to string values")
        texts = {k: _scalar_text(v, f"{where}.properties[{k!r}]") for k, v in properties.items()}
        if texts:
            out["properties"] = dict(sorted(texts.items()))
    sensitive = value.get("sensitive")
    if sensitive is not None:
        names = _names(sensitive, f"{where}.sensitive")
        if names:
            out["sensitive"] = names
    return out


def normalize_rule_set(value: Any, where: str = "ruleSet") -> RuleSet | None:
    """``value`` as Confluent stores it (rule defaults filled in, empty lists dropped).

    Raises RegistryError: 422 for a wrong shape, 42210 for an unknown kind, mode or
    ``enableAt``. The rules Confluent checks on top (names, types, modes per list) are
    :func:`validate_rule_set`'s.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(where, "must be an object with migrationRules, domainRules, encodingRules")
    out: RuleSet = {}
    for list_name in RULE_LISTS:
        rules = value.get(list_name)
        if rules is None:
            continue
        if not isinstance(rules, list):
            raise invalid(f"{where}.{list_name}", "must be a list of rules")
        normalised = [_rule(r, f"{where}.{list_name}[{i}]") for i, r in enumerate(rules)]
        if normalised:
            out[list_name] = normalised
    enable_at = value.get("enableAt")
    if enable_at is not None:
        if enable_at not in ENABLE_AT:
            raise invalid_rule_set(f"enableAt {enable_at!r} is not one of {', '.join(ENABLE_AT)}")
        out["enableAt"] = enable_at
    return out


def _rule(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(where, "must be a rule object")
    for name in _RULE_TEXT_FIELDS:
        if value.get(name) is not None and not isinstance(value[name], str):
            raise invalid(f"{where}.{name}", "must be a string")
    kind = value.get("kind") or "TRANSFORM"
    mode = value.get("mode") or "WRITEREAD"
    label = f"rule {value.get('name')!r}" if value.get("name") else where
    if kind not in RULE_KINDS:
        raise invalid_rule_set(f"{label} has kind {kind!r}; expected CONDITION or TRANSFORM")
    if mode not in MIGRATION_MODES + DOMAIN_MODES:
        raise invalid_rule_set(
            f"{label} has mode {mode!r}; expected one of "
            + ", ".join(MIGRATION_MODES + DOMAIN_MODES)
        )
    disabled = value.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise invalid(f"{where}.disabled", "must be true or false")
    params = value.get("params")
    if params is not None and not isinstance(params, dict):
        raise invalid(f"{where}.params", "must map names to string values")
    rule: dict[str, Any] = {}
    for name in ("name", "doc"):
        if value.get(name) is not None:
            rule[name] = value[name]
    rule["kind"], rule["mode"] = kind, mode
    if value.get("type") is not None:
        rule["type"] = value["type"]
    tags = _names(value.get("tags") or [], f"{where}.tags")
    if tags:
        rule["tags"] = tags
    texts = {k: _scalar_text(v, f"{where}.params[{k!r}]") for k, v in (params or {}).items()}
    if texts:
        rule["params"] = dict(sorted(texts.items()))
    for name in ("expr", "onSuccess", "onFailure"):
        if value.get(name) is not None:
            rule[name] = value[name]
    rule["disabled"] = bool(disabled)
    return rule


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(where, "must be a list of strings")
    return sorted(set(value))


def _scalar_text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise invalid(where, "must be a string")


# ------------------------------------------------------------------------ validating
def validate_rule_set(rule_set: RuleSet | None) -> None:
    """Confluent's checks of a rule set a request gives (42210 naming the broken rule)."""
    if rule_set is None:
        return
    seen: set[str] = set()
    for list_name, modes in RULE_LISTS.items():
        for rule in rule_set.get(list_name, ()):
            name = rule.get("name")
            if name is None:
                raise invalid_rule_set(f"a rule in {list_name} has no name")
            if name in seen:
                raise invalid_rule_set(f"Found rule with duplicate name '{name}'")
            seen.add(name)
            if not name:
                raise invalid_rule_set(f"a rule in {list_name} has an empty name")
            if len(name) > _RULE_NAME_MAX:
                raise invalid_rule_set(f"rule name {name[:40]!r}... is over {_RULE_NAME_MAX}")
            if not _RULE_NAME.fullmatch(name):
                raise invalid_rule_set(
                    f"Illegal character in rule name: {name} (a letter or _ first, then "
                    "letters, digits, _ or -)"
                )
            if not rule.get("type"):
                raise invalid_rule_set(f"rule '{name}' is missing its type (e.g. CEL, JSONATA)")
            if rule["mode"] not in modes:
                kind = list_name.removesuffix("Rules")
                raise invalid_rule_set(
                    f"rule '{name}': {kind} rules can only be {', '.join(modes)}, "
                    f"not {rule['mode']}"
                )
            for action in ("onSuccess", "onFailure"):
                both_ways = rule["mode"] in ("WRITEREAD", "UPDOWN")
                if not both_ways and "," in (rule.get(action) or ""):
                    raise invalid_rule_set(
                        f"rule '{name}': multiple {action} actions are only valid with "
                        "WRITEREAD and UPDOWN"
                    )


# ------------------------------------------------------------------------ merging
def merge_metadata(old: Metadata | None, new: Metadata | None) -> Metadata | None:
    """``new`` over ``old``: tags and properties key by key, sensitive names by union."""
    if old is None:
        return new
    if new is None:
        return old
    merged: Metadata = {}
    for part in ("tags", "properties"):
        both = {**old.get(part, {}), **new.get(part, {})}
        if both:
            merged[part] = dict(sorted(both.items()))
    sensitive = sorted(set(old.get("sensitive", ())) | set(new.get("sensitive", ())))
    if sensitive:
        merged["sensitive"] = sensitive
    return merged


def merge_rule_sets(old: RuleSet | None, new: RuleSet | None) -> RuleSet | None:
    """``new`` over ``old``, list by list: old rules not named in ``new``, then ``new``'s."""
    if old is None:
        return new
    if new is None:
        return old
    merged: RuleSet = {}
    for list_name in RULE_LISTS:
        earlier, later = old.get(list_name, []), new.get(list_name, [])
        names = {rule.get("name") for rule in later}
        rules = [rule for rule in earlier if rule.get("name") not in names] + later
        if rules:
            merged[list_name] = rules
    enable_at = new.get("enableAt") or old.get("enableAt")
    if enable_at:
        merged["enableAt"] = enable_at
    return merged


@dataclass(frozen=True)
class ContractConfig:
    """The config parts that shape a registration's contract."""

    default_metadata: Metadata | None = None
    override_metadata: Metadata | None = None
    default_rule_set: RuleSet | None = None
    override_rule_set: RuleSet | None = None

    @property
    def shapes_contracts(self) -> bool:
        return any(
            part is not None
            for part in (
                self.default_metadata,
                self.override_metadata,
                self.default_rule_set,
                self.override_rule_set,
            )
        )


def resolve(
    config: ContractConfig,
    given: Contract,
    previous: Contract | None,
    *,
    new_version: int | None = None,
) -> Contract:
    """The contract a registration gets: defaults, then what it gives (or, where it gives
    nothing, what the subject's latest version has), then overrides.

    With ``new_version``, a ``confluent:version`` property the result carries is set to it.
    """
    metadata = given.metadata
    if metadata is None and previous is not None:
        metadata = previous.metadata
    rule_set = given.rule_set
    if rule_set is None and previous is not None:
        rule_set = previous.rule_set
    metadata = merge_metadata(merge_metadata(config.default_metadata, metadata),
                              config.override_metadata)  # fmt: skip
    rule_set = merge_rule_sets(merge_rule_sets(config.default_rule_set, rule_set),
                               config.override_rule_set)  # fmt: skip
    if new_version is not None and confluent_version(metadata) is not None:
        metadata = with_property(metadata, CONFLUENT_VERSION, str(new_version))
    return Contract(metadata, rule_set)


# ------------------------------------------------------------------------ comparing
def confluent_version(metadata: Metadata | None) -> str | None:
    return property_of(metadata, CONFLUENT_VERSION)


def property_of(metadata: Metadata | None, name: str) -> str | None:
    value = (metadata or {}).get("properties", {}).get(name)
    return value if isinstance(value, str) else None


def with_property(metadata: Metadata | None, name: str, value: str | None) -> Metadata:
    """A copy of ``metadata`` (``{}`` if None) with the property set, or removed if None."""
    result = dict(metadata or {})
    properties = dict(result.get("properties", {}))
    if value is None:
        properties.pop(name, None)
    else:
        properties[name] = value
    if properties:
        result["properties"] = dict(sorted(properties.items()))
    else:
        result.pop("properties", None)
    return result


def same_contract(given: Contract, stored: Contract, *, stored_version: int) -> bool:
    """Whether a lookup giving ``given`` finds a version holding ``stored``.

    Confluent's rule: equal, except that when only one side carries ``confluent:version``
    that property is ignored (and an absent metadata counts as an empty one); a
    ``confluent:version`` given must then name the stored version itself.
    """
    given_version = confluent_version(given.metadata)
    stored_version_text = confluent_version(stored.metadata)
    if given_version is None and stored_version_text is not None:
        return (given.metadata or {}) == with_property(
            stored.metadata, CONFLUENT_VERSION, None
        ) and given.rule_set == stored.rule_set
    if given_version is not None and stored_version_text is None:
        if given_version != str(stored_version):
            return False
        return (
            with_property(given.metadata, CONFLUENT_VERSION, None) == (stored.metadata or {})
            and given.rule_set == stored.rule_set
        )
    return given == stored


def has_properties(metadata: Metadata | None, wanted: Mapping[str, str]) -> bool:
    """Whether ``metadata`` exists and holds every wanted property with its value."""
    if metadata is None:
        return False
    properties = metadata.get("properties", {})
    return all(properties.get(key) == value for key, value in wanted.items())


def reserved_fields(metadata: Metadata | None) -> set[str]:
    """The field names listed in the ``confluent:reserved`` property."""
    listed = property_of(metadata, RESERVED) or ""
    return {name.strip() for name in listed.split(",") if name.strip()}


def reserved_field_problems(
    new: Metadata | None, previous: Metadata | None, top_level_fields: Iterable[str]
) -> list[str]:
    """Confluent's ``validateFields`` checks of reserved fields, in its words."""
    reserved = reserved_fields(new)
    problems = [
        f"The new schema has reserved field {name} removed from its metadata which is "
        "present in the old schema's metadata."
        for name in sorted(reserved_fields(previous) - reserved)
    ]
    fields = set(top_level_fields)
    problems += [
        f"The new schema has field that conflicts with the reserved field {name}."
        for name in sorted(reserved & fields)
    ]
    return problems
