"""A topic schema's effective data contract, and the checks that locate its mistakes.

``schema_contract(spec, entry, role)`` is what is registered with the schema: the spec's
tags, properties and rules in Confluent's ``metadata`` / ``ruleSet`` shape, plus

* the default ENCRYPT rule (``encrypt-pii``) on the value schema of a ``classification:
  pii`` topic, which encrypts every field tagged ``PII``, unless the spec already gives
  an ENCRYPT rule for that tag;
* the KEK and KMS of the tenant (else of the spec) in the params of every ENCRYPT rule
  that does not name its own, so the spec names a KEK once.

``check_contracts(spec)`` reports what would register a contract that cannot work: an
unknown rule type, kind or mode, an ENCRYPT rule without a KEK, a CEL or JSONata
expression that does not parse, a tag on a field path the schema does not have.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka.schema_registry.wildcard_matcher import wildcard_match

from streamplane.errors import SpecIssue
from streamplane.model._contracts import (
    DEFAULT_ENCRYPT_RULE,
    DEK_ALGORITHM,
    DEK_EXPIRY_DAYS,
    DOMAIN_MODES,
    ENCRYPTING,
    FIELD_ENCRYPTING,
    KEK_NAME,
    KMS_KEY_ID,
    KMS_TYPE,
    MIGRATION_MODES,
    PII_TAG,
    RULE_ACTIONS,
    RULE_KINDS,
    RULE_TYPES,
    SUBJECT_FIELD,
    ContractRule,
)
from streamplane.model._spec import Spec, TopicEntry
from streamplane.model._types import Classification, Encryption, SchemaRef, Tenant
from streamplane.model._yaml import Path_

Role = Literal["key", "value"]


@dataclass(frozen=True)
class Contract:
    """A schema's contract as the registry stores it: Confluent's ``metadata`` and ``ruleSet``.

    Either is None when the spec declares nothing for it, so a schema without a contract
    registers exactly as before.
    """

    metadata: dict[str, Any] | None = None
    rule_set: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        return self.metadata is None and self.rule_set is None

    def rules(self) -> list[dict[str, Any]]:
        """Every rule, domain rules first."""
        rule_set = self.rule_set or {}
        return [*rule_set.get("domainRules", []), *rule_set.get("migrationRules", [])]

    def tagged(self) -> dict[str, list[str]]:
        """Field path (wildcards allowed) -> tags, as the metadata gives them."""
        return dict((self.metadata or {}).get("tags", {}))


def encryption_for(spec: Spec, tenant: Tenant) -> Encryption | None:
    """The KEK a tenant's ENCRYPT rules use: the tenant's own, else the spec's."""
    return tenant.encryption or spec.platform.encryption


def kek_params(encryption: Encryption) -> dict[str, str]:
    """The params Confluent's FieldEncryptionExecutor reads, from the spec's settings."""
    params = {
        KEK_NAME: encryption.kek,
        KMS_TYPE: encryption.kms_type,
        KMS_KEY_ID: encryption.kms_key_id,
    }
    if encryption.dek_algorithm is not None:
        params[DEK_ALGORITHM] = encryption.dek_algorithm
    if encryption.dek_expiry_days is not None:
        params[DEK_EXPIRY_DAYS] = str(encryption.dek_expiry_days)
    return params


def default_encrypt_rule(encryption: Encryption) -> dict[str, Any]:
    """The ENCRYPT rule of a pii topic: PII fields encrypted on write, decrypted on read.

    ``onFailure: ERROR,NONE``: a producer that cannot encrypt fails instead of writing plain
    text; a consumer without access to the KEK gets the ciphertext, never the plain value.
    """
    return ContractRule(
        name=DEFAULT_ENCRYPT_RULE,
        doc="Encrypts every field tagged PII (classification: pii).",
        kind="TRANSFORM",
        mode="WRITEREAD",
        type="ENCRYPT",
        tags=[PII_TAG],
        onFailure="ERROR,NONE",
    ).to_confluent(params=kek_params(encryption))


def schema_ref(entry: TopicEntry, role: Role) -> SchemaRef | None:
    ref: SchemaRef | None = getattr(entry.topic, f"{role}_schema")
    return ref


def schema_contract(spec: Spec, entry: TopicEntry, role: Role) -> Contract:
    """What is registered with the topic's ``role`` schema besides its text."""
    ref = schema_ref(entry, role)
    if ref is None:
        return Contract()
    metadata: dict[str, Any] = {}
    if ref.tags:
        metadata["tags"] = {path: sorted(set(tags)) for path, tags in sorted(ref.tags.items())}
    if ref.properties:
        metadata["properties"] = dict(sorted(ref.properties.items()))
    if ref.sensitive:
        metadata["sensitive"] = sorted(set(ref.sensitive))
    encryption = encryption_for(spec, entry.tenant)
    domain = [_filled(rule, encryption) for rule in (ref.rules.domain if ref.rules else [])]
    migration = [_filled(rule, encryption) for rule in (ref.rules.migration if ref.rules else [])]
    # The spec's own ENCRYPT rule for PII replaces the default, even a disabled one (which
    # the pii-encryption policy rule then reports instead of being silently overridden).
    if (
        needs_default_encryption(entry, role)
        and encryption is not None
        and not any(_encrypts(rule, PII_TAG, disabled=True) for rule in domain)
        and not any(rule.get("name") == DEFAULT_ENCRYPT_RULE for rule in domain)
    ):
        domain.append(default_encrypt_rule(encryption))
    rule_set: dict[str, Any] = {}
    if domain:
        rule_set["domainRules"] = domain
    if migration:
        rule_set["migrationRules"] = migration
    return Contract(metadata or None, rule_set or None)


def needs_default_encryption(entry: TopicEntry, role: Role) -> bool:
    """The value schema of a pii topic encrypts its PII fields."""
    return role == "value" and entry.topic.classification is Classification.PII


def _filled(rule: ContractRule, encryption: Encryption | None) -> dict[str, Any]:
    if rule.type in ENCRYPTING and KEK_NAME not in rule.params and encryption is not None:
        return rule.to_confluent(params=kek_params(encryption))
    return rule.to_confluent()


def _encrypts(rule: dict[str, Any], tag: str, *, disabled: bool = False) -> bool:
    """An ENCRYPT rule applying to fields tagged ``tag`` (no tags: every field); enabled,
    unless ``disabled`` counts disabled ones too."""
    if rule.get("type") not in FIELD_ENCRYPTING or (rule.get("disabled") and not disabled):
        return False
    tags = rule.get("tags") or []
    return not tags or tag in tags


# ------------------------------------------------------------------------ schema fields
def read_schema(spec: Spec, ref: SchemaRef) -> str | None:
    """The schema file's text, or None when it cannot be read (reported elsewhere)."""
    try:
        return (spec.root / ref.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def avro_fields(document: Any) -> dict[str, set[str]] | None:
    """Every field of an Avro schema by full name (``ns.Record.field``), with its inline tags.

    The full names are those Confluent's serializers match rule tags and metadata tag paths
    against. None when the document is not an Avro schema this can walk.
    """
    fields: dict[str, set[str]] = {}
    seen: set[str] = set()

    def walk(node: Any, namespace: str) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch, namespace)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "array":
            walk(node.get("items"), namespace)
        elif kind == "map":
            walk(node.get("values"), namespace)
        elif kind == "record" and isinstance(node.get("name"), str):
            name = node["name"]
            space = node.get("namespace", namespace) if "." not in name else name.rsplit(".", 1)[0]
            full = name if "." in name or not space else f"{space}.{name}"
            if full in seen:
                return
            seen.add(full)
            for field in node.get("fields") or []:
                if not isinstance(field, dict) or not isinstance(field.get("name"), str):
                    continue
                tags = field.get("confluent:tags") or []
                fields[f"{full}.{field['name']}"] = {str(t) for t in tags}
                walk(field.get("type"), space or "")
        elif isinstance(kind, dict | list):
            walk(kind, namespace)

    if not isinstance(document, dict | list):
        return None
    walk(document, "")
    return fields if fields else None


def field_tags(spec: Spec, entry: TopicEntry, role: Role) -> dict[str, set[str]] | None:
    """Each field's tags, inline and from the spec's ``tags``; None if fields are unknown.

    Only Avro schemas are walked; for JSON Schema and Protobuf the field names are not
    enumerated here and tag paths are not checked.
    """
    ref = schema_ref(entry, role)
    if ref is None or ref.format != "AVRO":
        return None
    text = read_schema(spec, ref)
    try:
        fields = avro_fields(json.loads(text)) if text is not None else None
    except ValueError:
        return None
    if fields is None:
        return None
    for pattern, tags in ref.tags.items():
        for name in fields:
            if wildcard_match(name, pattern):
                fields[name] |= set(tags)
    return fields


def has_tagged_field(spec: Spec, entry: TopicEntry, role: Role, tag: str) -> bool:
    """Whether any field of the schema carries ``tag`` (inline or from the spec)."""
    fields = field_tags(spec, entry, role)
    if fields is not None:
        return any(tag in tags for tags in fields.values())
    ref = schema_ref(entry, role)
    if ref is None:
        return False
    if any(tag in tags for tags in ref.tags.values()):
        return True
    # JSON Schema ("confluent:tags": [...]) and Protobuf ((confluent.field_meta).tags): a
    # textual look is enough to tell whether the tag is used at all.
    text = read_schema(spec, ref) or ""
    return re.search(rf"tags\W[^\]]*\"{re.escape(tag)}\"", text) is not None


# ---------------------------------------------------------------------------- checks
def check_contracts(spec: Spec) -> list[SpecIssue]:
    """Located problems of every topic schema's contract (see the module docstring)."""
    issues: list[SpecIssue] = []
    for entry in spec.topics.values():
        roles: tuple[Role, ...] = ("key", "value")
        for role in roles:
            ref = schema_ref(entry, role)
            if ref is not None:
                path: Path_ = (*entry.path, f"{role}_schema")
                issues.extend(_check_ref(spec, entry, role, ref, path))
    return issues


def _check_ref(
    spec: Spec, entry: TopicEntry, role: Role, ref: SchemaRef, path: Path_
) -> Iterator[SpecIssue]:
    src = spec.source
    fields = field_tags(spec, entry, role)
    if fields is not None:
        for pattern, tags in ref.tags.items():
            if not tags:
                yield src.issue((*path, "tags", pattern), f'tag path "{pattern}" has no tags')
            if not any(wildcard_match(name, pattern) for name in fields):
                close = difflib.get_close_matches(pattern, list(fields), n=1)
                yield src.issue(
                    (*path, "tags", pattern),
                    f'tag path "{pattern}" matches no field of {ref.file}',
                    (f'did you mean "{close[0]}"? ' if close else "")
                    + "paths are full field names (namespace.Record.field), "
                    f'"**.field" for any depth; fields: {", ".join(sorted(fields)[:6])}',
                    key=True,
                )
    if ref.compatibility_group is not None and ref.compatibility_group not in ref.properties:
        yield src.issue(
            (*path, "compatibility_group"),
            f'compatibility_group is "{ref.compatibility_group}", but the schema\'s properties '
            "do not set it",
            f'add properties: {{{ref.compatibility_group}: "1"}}; versions are grouped by '
            "its value",
        )
    if ref.rules is None:
        return
    names: dict[str, Path_] = {}
    encryption = encryption_for(spec, entry.tenant)
    for section, modes in (("domain", DOMAIN_MODES), ("migration", MIGRATION_MODES)):
        for index, rule in enumerate(getattr(ref.rules, section)):
            where: Path_ = (*path, "rules", section, index)
            if rule.name in names:
                yield src.issue(
                    (*where, "name"),
                    f'duplicate rule name "{rule.name}"',
                    "rule names are unique within a schema's rules",
                )
            names.setdefault(rule.name, where)
            yield from _check_rule(spec, rule, where, section, modes, encryption, fields, entry)


def _check_rule(
    spec: Spec,
    rule: ContractRule,
    where: Path_,
    section: str,
    modes: tuple[str, ...],
    encryption: Encryption | None,
    fields: dict[str, set[str]] | None,
    entry: TopicEntry,
) -> Iterator[SpecIssue]:
    src = spec.source
    label = f'rule "{rule.name}"'
    if rule.type not in RULE_TYPES:
        close = difflib.get_close_matches(rule.type.upper(), list(RULE_TYPES), n=1)
        yield src.issue(
            (*where, "type"),
            f'{label}: unknown rule type "{rule.type}"',
            (f'did you mean "{close[0]}"? ' if close else "")
            + f"known types: {', '.join(RULE_TYPES)}",
        )
    if rule.kind not in RULE_KINDS:
        yield src.issue(
            (*where, "kind"),
            f'{label}: unknown rule kind "{rule.kind}"',
            "CONDITION refuses records that fail the rule; TRANSFORM changes them",
        )
    if rule.mode not in modes:
        other = "migration" if section == "domain" else "domain"
        known = DOMAIN_MODES + MIGRATION_MODES
        yield src.issue(
            (*where, "mode"),
            f'{label}: {"mode" if rule.mode in known else "unknown mode"} "{rule.mode}"'
            + (f" is a {other} rule mode" if rule.mode in known else ""),
            f"{section} rules take {', '.join(modes)}"
            + (f"; move the rule under `{other}`" if rule.mode in known else ""),
        )
    for key in ("onSuccess", "onFailure"):
        value = getattr(rule, key)
        if value is None:
            continue
        parts = [p.strip() for p in value.split(",")]
        paired = rule.mode in ("WRITEREAD", "UPDOWN")
        if len(parts) > (2 if paired else 1) or any(p not in RULE_ACTIONS for p in parts):
            yield src.issue(
                (*where, key),
                f'{label}: {key} "{value}" is not an action',
                f"use one of {', '.join(RULE_ACTIONS)}"
                + ("; WRITEREAD and UPDOWN rules may give two, e.g. ERROR,NONE" if paired else ""),
            )
    if rule.type in ENCRYPTING:
        if rule.kind != "TRANSFORM":
            yield src.issue((*where, "kind"), f"{label}: an {rule.type} rule is a TRANSFORM")
        if KEK_NAME not in rule.params and encryption is None:
            yield src.issue(
                where,
                f"{label}: an {rule.type} rule needs a KEK, and none is set",
                "set `encryption: {kek: <name>, kms_type: local-kms, kms_key_id: <key>}` at "
                f"the top level of the spec (or on tenant {entry.tenant.name}), or give the "
                f"rule params: {{{KEK_NAME}: <name>}}",
            )
    elif rule.type in ("CEL", "CEL_FIELD", "JSONATA"):
        if not rule.expr:
            yield src.issue(where, f"{label}: a {rule.type} rule needs an `expr`")
        else:
            problem = expression_problem(rule.type, rule.expr)
            if problem is not None:
                yield src.issue(
                    (*where, "expr"),
                    f"{label}: the {rule.type} expression does not parse: {problem}",
                    "CEL_FIELD and CEL take `guard ; expression`; see the rule type's "
                    "documentation for its syntax",
                )
    if rule.type == "ENCRYPT_PER_SUBJECT":
        yield from _check_subject_field(src, rule, where, label, fields)
    if rule.type in (*FIELD_ENCRYPTING, "CEL_FIELD") and fields is not None:
        carried = set().union(*fields.values())
        for tag in rule.tags:
            if tag not in carried:
                yield src.issue(
                    (*where, "tags"),
                    f"{label}: no field carries tag {tag}, so the rule applies to nothing",
                    f'tag the fields: "confluent:tags": ["{tag}"] on the field in the schema, '
                    f'or `tags: {{"**.<field>": [{tag}]}}` under the schema in the spec',
                )


def _check_subject_field(
    src: Any, rule: ContractRule, where: Path_, label: str, fields: dict[str, set[str]] | None
) -> Iterator[SpecIssue]:
    """A per-subject rule names a plain field holding the data subject's id."""
    name = rule.params.get(SUBJECT_FIELD)
    if not name:
        yield src.issue(
            (*where, "params"),
            f"{label}: an ENCRYPT_PER_SUBJECT rule needs {SUBJECT_FIELD}, the field holding "
            "the data subject's id",
            f"add params: {{{SUBJECT_FIELD}: customer_id}} (a field of the record that "
            "identifies the person the record is about)",
        )
        return
    if fields is None:
        return
    matches = [path for path in fields if path.rsplit(".", 1)[-1] == name]
    if not matches:
        yield src.issue(
            (*where, "params", SUBJECT_FIELD),
            f"{label}: {SUBJECT_FIELD} names {name}, which is not a field of the schema",
            f"fields: {', '.join(sorted(p.rsplit('.', 1)[-1] for p in fields)[:8])}",
        )
    elif any(set(rule.tags) & fields[path] for path in matches):
        yield src.issue(
            (*where, "params", SUBJECT_FIELD),
            f"{label}: the subject field {name} carries a tag the rule encrypts, so a reader "
            "could not tell whose key opens the record",
            "keep the subject field untagged (or tagged for a different rule, e.g. a hash)",
        )


def expression_problem(rule_type: str, expr: str) -> str | None:
    """Why a CEL or JSONata expression does not parse (None when it does).

    Parsing only, as cheap as the executors' own first step; evaluation needs a record.
    """
    if rule_type in ("CEL", "CEL_FIELD"):
        import celpy

        environment = celpy.Environment()
        for part in expr.split(";", 1) if ";" in expr else [expr]:
            if not part.strip() and ";" in expr:
                continue
            try:
                environment.compile(part)
            except Exception as exc:  # noqa: BLE001 - celpy raises several error types
                return " ".join(str(exc).split()) or type(exc).__name__
        return None
    if rule_type == "JSONATA":
        import jsonata

        try:
            jsonata.Jsonata(expr)
        except Exception as exc:  # noqa: BLE001 - jsonata-python raises JException and others
            return " ".join(str(exc).split()) or type(exc).__name__
    return None
