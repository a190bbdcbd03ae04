"""How a subject's data contract changes from the registry's latest version to the spec's.

The contract (Confluent's ``metadata`` and ``ruleSet``) is part of a version: the same
schema with other rules or metadata is a new version. This module compares contracts in
a canonical form (the registry may omit empty values or order tags differently), and
turns a change into what ``plan`` and ``check`` show and judge:

    contract_changes(before, after)  -> [Change]   rules: +encrypt-pii, properties.owner: a → b
    contract_notes(before, after)    -> [str]      a new CONDITION rule, a new major version
    contract_refusals(...)           -> [str]      encryption of PII removed: refused
"""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry.wildcard_matcher import wildcard_match

from streamplane.model import (
    ENCRYPTING,
    FIELD_ENCRYPTING,
    MAJOR_VERSION,
    PII_TAG,
    Contract,
    avro_fields,
)
from streamplane.reconcile._plan import Change

_RULE_LISTS = ("domainRules", "migrationRules", "encodingRules")
_NONE = "none"


# ------------------------------------------------------------------------ canonical form
def canonical(contract: Contract | None) -> dict[str, Any]:
    """The contract with empty values dropped and unordered lists sorted, for comparing."""
    if contract is None:
        return {}
    out: dict[str, Any] = {}
    metadata = contract.metadata or {}
    tags = {k: sorted(set(v)) for k, v in (metadata.get("tags") or {}).items() if v}
    if tags:
        out["tags"] = dict(sorted(tags.items()))
    properties = {k: str(v) for k, v in (metadata.get("properties") or {}).items()}
    if properties:
        out["properties"] = dict(sorted(properties.items()))
    sensitive = sorted(set(metadata.get("sensitive") or []))
    if sensitive:
        out["sensitive"] = sensitive
    rule_set = contract.rule_set or {}
    for key in _RULE_LISTS:
        rules = [_canonical_rule(r) for r in rule_set.get(key) or []]
        if rules:
            out[key] = rules  # order kept: rules run in order
    if rule_set.get("enableAt"):
        out["enableAt"] = rule_set["enableAt"]
    return out


def _canonical_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rule.items() if v not in (None, False, [], {}, "")}
    if "tags" in out:
        out["tags"] = sorted(set(out["tags"]))
    if "params" in out:
        out["params"] = {k: str(v) for k, v in sorted(out["params"].items())}
    return out


def same_contract(a: Contract | None, b: Contract | None) -> bool:
    return canonical(a) == canonical(b)


def _rules(contract: Contract | None) -> dict[str, dict[str, Any]]:
    """name -> canonical rule, over every rule list."""
    form = canonical(contract)
    return {r.get("name", f"#{i}"): r for i, r in enumerate(_all_rules(form))}


def _all_rules(form: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for key in _RULE_LISTS for rule in form.get(key, [])]


def _describe(rule: dict[str, Any]) -> str:
    return f"{rule.get('name')} ({rule.get('type')} {rule.get('kind', '').lower()})".strip()


# ---------------------------------------------------------------------------- the diff
def contract_changes(before: Contract | None, after: Contract) -> list[Change]:
    """What the plan shows: one line for the rules, one per property, tag path and list.

    ``before`` None: a new subject, every part of the contract is shown as created.
    """
    old, new = canonical(before), canonical(after)
    changes: list[Change] = []
    old_rules, new_rules = _rules(before), _rules(after)
    if before is None:
        if new_rules:
            changes.append(
                Change("rules", None, ", ".join(_describe(r) for r in new_rules.values()))
            )
    elif old_rules != new_rules:
        tokens = [f"+{n}" for n in new_rules if n not in old_rules]
        tokens += [f"-{n}" for n in old_rules if n not in new_rules]
        tokens += [f"~{n}" for n in new_rules if n in old_rules and new_rules[n] != old_rules[n]]
        if not tokens:  # same rules, other order
            tokens = ["order: " + ", ".join(new_rules)]
        changes.append(Change("rules", ", ".join(old_rules) or _NONE, ", ".join(tokens)))
    for part in ("properties", "tags"):
        was, now = old.get(part, {}), new.get(part, {})
        for key in sorted(set(was) | set(now)):
            if was.get(key) == now.get(key):
                continue
            changes.append(
                Change(
                    f"{part}.{key}",
                    None if before is None else _shown(was.get(key)),
                    _shown(now.get(key)),
                )
            )
    if old.get("sensitive") != new.get("sensitive"):
        changes.append(
            Change(
                "sensitive",
                None if before is None else _shown(old.get("sensitive")),
                _shown(new.get("sensitive")),
            )
        )
    return changes


def _shown(value: Any) -> str:
    if value is None:
        return _NONE
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or _NONE
    return str(value)


def contract_notes(before: Contract | None, after: Contract) -> list[str]:
    """What a reviewer should know about a contract change that is allowed."""
    notes = []
    old_rules, new_rules = _rules(before), _rules(after)
    migrations = {r.get("name") for r in canonical(after).get("migrationRules", [])}
    for name, rule in new_rules.items():
        if name in old_rules or rule.get("disabled"):
            continue
        if rule.get("kind") == "CONDITION":
            where = "consumers'" if rule.get("mode") == "READ" else "producers'"
            notes.append(
                f"new CONDITION rule {name} ({rule.get('type')}, {rule.get('mode')}): from this "
                f"version on, {where} serializers refuse records for which "
                f"`{rule.get('expr')}` does not hold"
            )
        elif rule.get("type") in ENCRYPTING:
            what = ", ".join(rule.get("tags", [])) or "every field"
            notes.append(
                f"new ENCRYPT rule {name}: fields tagged {what} are encrypted from this version "
                "on (records already written stay as they were); consumers need access to "
                f"KEK {rule.get('params', {}).get('encrypt.kek.name', '?')} to read them"
            )
        elif name in migrations:
            notes.append(f"new migration rule {name} ({rule.get('type')}, {rule.get('mode')})")
    for name in old_rules:
        if name not in new_rules:
            notes.append(f"rule {name} is removed from this version on")
    was = major_version(before)
    now = major_version(after)
    if before is not None and was != now:
        notes.append(f"{MAJOR_VERSION} {was or _NONE} → {now or _NONE}: a new major version")
    return notes


def major_version(contract: Contract | None) -> str | None:
    return property_of(contract, MAJOR_VERSION)


def property_of(contract: Contract | None, key: str) -> str | None:
    value = canonical(contract).get("properties", {}).get(key)
    return None if value is None else str(value)


# ------------------------------------------------------------------------- refusals
def contract_refusals(
    *,
    before: Contract,
    before_text: str,
    after: Contract,
    after_text: str,
    schema_type: str,
    pii_topic: bool,
) -> list[str]:
    """Why the contract change may not be registered: it would stop encrypting PII.

    Refused when the latest version encrypts fields tagged PII (or, on a pii topic, any
    tag) and the spec's version would not: the rule is gone or disabled, or a field that
    was tagged no longer is. Records written from then on would hold the values in plain
    text, and no later change can encrypt them again.
    """
    problems = []
    old_rules = [r for r in _all_rules(canonical(before)) if not r.get("disabled")]
    new_rules = [r for r in _all_rules(canonical(after)) if not r.get("disabled")]
    if any(r.get("type") == "ENCRYPT_PAYLOAD" for r in old_rules) and not any(
        r.get("type") == "ENCRYPT_PAYLOAD" for r in new_rules
    ):
        problems.append("the latest version encrypts the whole payload; the spec's would not")
    for rule in old_rules:
        if rule.get("type") not in FIELD_ENCRYPTING:
            continue
        for tag in rule.get("tags") or ["*"]:
            if tag != PII_TAG and not pii_topic:
                continue
            if not any(_covers(r, tag) for r in new_rules):
                problems.append(
                    f"the latest version encrypts the fields tagged {tag} (rule "
                    f"{rule.get('name')}); the spec's version has no enabled ENCRYPT rule for "
                    f"{tag}, so they would be written in plain text"
                )
                continue
            if tag == "*" or schema_type != "AVRO":
                continue
            lost = _tagged(before_text, before, tag) - _tagged(after_text, after, tag)
            for name in sorted(lost):
                problems.append(
                    f"field {name} loses its {tag} tag, so the rule that encrypts it "
                    f"({rule.get('name')}) would no longer apply: it would be written in "
                    "plain text"
                )
    return list(dict.fromkeys(problems))


def _covers(rule: dict[str, Any], tag: str) -> bool:
    if rule.get("type") not in FIELD_ENCRYPTING:
        return False
    tags = rule.get("tags") or []
    return not tags or tag in tags or tag == "*"


def _tagged(text: str, contract: Contract, tag: str) -> set[str]:
    """Avro fields carrying ``tag``, inline or through the contract's metadata tags."""
    try:
        fields = avro_fields(json.loads(text)) or {}
    except ValueError:
        return set()
    patterns = [p for p, tags in canonical(contract).get("tags", {}).items() if tag in tags]
    return {
        name
        for name, inline in fields.items()
        if tag in inline or any(wildcard_match(name, p) for p in patterns)
    }


def refusal_alternative(*, pii_topic: bool) -> str:
    what = "this pii topic's" if pii_topic else "these"
    return (
        f"keep the ENCRYPT rule and the tags of {what} fields. To stop holding a field, "
        "remove the field itself (a compatible change when it has a default), or publish "
        "the new shape on a new topic; records already written stay encrypted either way"
    )
