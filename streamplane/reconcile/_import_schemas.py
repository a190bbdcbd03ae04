"""The registry's subjects read back as the spec's ``key_schema`` / ``value_schema``.

``apply`` registers each topic schema under Confluent's TopicNameStrategy
(``<topic>-key``, ``<topic>-value``) with its compatibility level, compatibilityGroup and
data contract (``_schemas.py``, ``model/_schema_contract.py``). Import undoes that, so
``plan`` on the imported spec finds every subject unchanged:

* the latest version's text becomes a file beside the spec, ``schemas/<subject>.avsc``
  (``.proto``, ``.json`` by schema type), JSON pretty-printed for review (the registry
  compares parsed schemas, so the layout is no change);
* a subject-level compatibility becomes ``compatibility``; a compatibilityGroup that the
  schema's properties carry becomes ``compatibility_group``;
* metadata becomes ``tags`` / ``properties`` / ``sensitive``, the rule set ``rules``;
* what the spec adds by itself is taken out again, so it is not declared twice: the default
  ``encrypt-pii`` rule (it makes the topic ``classification: pii``) and the KEK params
  of ENCRYPT rules, when the KEK is the one an ``encryption`` block names.

Which ``encryption`` blocks there were is read from the DEK registry: a KEK apply created
says in its doc whose it is (``_keks._doc``). A KEK without such a doc is left alone: the
rules keep naming it in their params, which the spec allows.

What the spec cannot express is listed, never guessed: schema references, encoding rules,
rule fields the model does not know, subjects of no imported topic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from streamplane.model import (
    DEFAULT_ENCRYPT_RULE,
    ENCRYPTING,
    FIELD_ENCRYPTING,
    PII_TAG,
    Contract,
    ContractRule,
    Encryption,
)
from streamplane.model._contracts import DEK_ALGORITHM, DEK_EXPIRY_DAYS, KEK_NAME
from streamplane.model._schema_contract import avro_fields, default_encrypt_rule, kek_params
from streamplane.model._types import SchemaRef
from streamplane.reconcile._contracts import same_contract
from streamplane.reconcile._keks import DOC_PREFIX, RegisteredKek
from streamplane.reconcile._registry_client import HttpRegistryClient, RegisteredVersion

#: File suffix of each schema type, as ``SchemaRef.format`` reads it back.
SUFFIXES = {"AVRO": "avsc", "PROTOBUF": "proto", "JSON": "json"}
#: Where schema files go, relative to the imported spec's root.
SCHEMA_DIR = "schemas"
_ROLES = ("key", "value")
_EVERY_TENANT = "every tenant without an encryption of its own"
_TENANT = re.compile(r"tenant ([a-z][a-z0-9-]*)")
_RULE_KEYS = set(ContractRule.model_fields)


@dataclass(frozen=True)
class RegistryContents:
    """What import needs of a registry: each subject's latest version and settings, the KEKs."""

    url: str
    latest: dict[str, RegisteredVersion] = field(default_factory=dict)
    #: subject -> its own compatibility level (subjects following the global one are absent)
    levels: dict[str, str] = field(default_factory=dict)
    #: subject -> its compatibilityGroup
    groups: dict[str, str] = field(default_factory=dict)
    keks: dict[str, RegisteredKek] = field(default_factory=dict)


def read_registry(client: HttpRegistryClient, *, workers: int = 8) -> RegistryContents:
    """Every live subject's latest version, level and group, and every KEK (a few calls each)."""
    subjects = [s for s in client.subjects() if not s.startswith("_")]

    def read(subject: str) -> tuple[str, RegisteredVersion | None, str | None, str | None]:
        return (
            subject,
            client.version(subject, "latest"),
            client.subject_level(subject),
            client.compatibility_group(subject),
        )

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(subjects)))) as pool:
        answers = list(pool.map(read, subjects))
    contents = RegistryContents(client.url)
    for subject, latest, level, group in answers:
        if latest is None:
            continue  # deleted meanwhile
        contents.latest[subject] = latest
        if level is not None:
            contents.levels[subject] = level
        if group is not None:
            contents.groups[subject] = group
    for name in client.kek_names() or []:
        body = client.kek(name)
        if body is not None:
            contents.keks[name] = RegisteredKek.from_body(body)
    return contents


@dataclass
class ImportedSchemas:
    """The registry's side of an imported spec."""

    #: (topic, "key" | "value") -> the SchemaRef as the spec writes it (a path, or a mapping)
    refs: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: path relative to the spec root -> file text
    files: dict[str, str] = field(default_factory=dict)
    #: Topics whose value schema carries the default encrypt-pii rule: ``classification: pii``.
    pii: set[str] = field(default_factory=set)
    #: Topics whose schemas tag a field PII (no encryption needed for that to be pii).
    pii_tagged: set[str] = field(default_factory=set)
    #: Topics whose value schema has a rule of its own encrypting the PII fields (e.g.
    #: ENCRYPT_PER_SUBJECT): declaring them pii adds no default rule.
    pii_encrypted: set[str] = field(default_factory=set)
    #: The top-level ``encryption`` block, and tenants' own, as spec documents.
    encryption: dict[str, Any] | None = None
    tenant_encryption: dict[str, dict[str, Any]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def import_schemas(contents: RegistryContents, topics: Mapping[str, str]) -> ImportedSchemas:
    """``topics``: full name -> tenant of every imported topic."""
    out = ImportedSchemas()
    _import_encryption(contents, out)
    for subject in sorted(contents.latest):
        version = contents.latest[subject]
        topic, role = _topic_and_role(subject)
        if topic is None or topic not in topics:
            out.left_out.append(
                f"subject {subject} ({contents.url}): no topic of the cluster has it under the "
                "TopicNameStrategy (<topic>-key, <topic>-value) the spec registers by"
            )
            continue
        tenant = topics[topic]
        encryption = out.tenant_encryption.get(tenant, out.encryption)
        ref = _schema_ref(subject, version, contents, topic, role, encryption, out)
        if ref is not None:
            out.refs[(topic, role)] = ref
    return out


def _topic_and_role(subject: str) -> tuple[str | None, str]:
    for role in _ROLES:
        if subject.endswith(f"-{role}"):
            return subject.removesuffix(f"-{role}"), role
    return None, ""


def _schema_ref(
    subject: str,
    version: RegisteredVersion,
    contents: RegistryContents,
    topic: str,
    role: str,
    encryption: dict[str, Any] | None,
    out: ImportedSchemas,
) -> Any | None:
    where = f"subject {subject} version {version.version}"
    suffix = SUFFIXES.get(version.schema_type)
    if suffix is None:
        out.left_out.append(f"{where}: schema type {version.schema_type} has no schema file form")
        return None
    if version.references:
        names = ", ".join(str(r.get("subject")) for r in version.references)
        out.left_out.append(
            f"{where}: it references {names}, and a spec schema is one self-contained file; "
            "inline the referenced types to declare it"
        )
        return None
    metadata = version.metadata or {}
    rule_set = version.rule_set or {}
    if rule_set.get("encodingRules"):
        out.left_out.append(f"{where}: encoding rules, which the spec does not declare")
        return None
    enc = Encryption.model_validate(encryption) if encryption is not None else None
    rules: dict[str, list[dict[str, Any]]] = {}
    for section, key in (("domain", "domainRules"), ("migration", "migrationRules")):
        kept = []
        for rule in rule_set.get(key) or []:
            if section == "domain" and role == "value" and _is_default_rule(rule, enc):
                out.pii.add(topic)
                continue
            if rule.get("name") == DEFAULT_ENCRYPT_RULE and role == "value":
                out.pii.add(topic)  # its own KEK: kept as written, still a pii topic
            if (
                role == "value"
                and rule.get("type") in FIELD_ENCRYPTING
                and not rule.get("disabled")
                and (not rule.get("tags") or PII_TAG in rule.get("tags", []))
            ):
                out.pii_encrypted.add(topic)
            unknown = set(rule) - _RULE_KEYS
            if unknown:
                out.left_out.append(
                    f"{where}: rule {rule.get('name')} has {', '.join(sorted(unknown))}, "
                    "which the spec's rules do not hold"
                )
                return None
            kept.append(_without_kek(rule, enc))
        if kept:
            rules[section] = kept
    ref: dict[str, Any] = {"file": f"{SCHEMA_DIR}/{subject}.{suffix}"}
    if subject in contents.levels:
        ref["compatibility"] = contents.levels[subject]
    properties = {str(k): str(v) for k, v in (metadata.get("properties") or {}).items()}
    group = contents.groups.get(subject)
    if group is not None and group in properties:
        ref["compatibility_group"] = group
    if metadata.get("tags"):
        ref["tags"] = {str(k): list(v) for k, v in sorted(metadata["tags"].items())}
    if properties:
        ref["properties"] = dict(sorted(properties.items()))
    if metadata.get("sensitive"):
        ref["sensitive"] = sorted(metadata["sensitive"])
    if rules:
        ref["rules"] = rules
    try:
        SchemaRef.model_validate(ref)  # rule fields were checked above; values are checked here
    except ValidationError as exc:
        out.left_out.append(f"{where}: the spec cannot hold its contract ({_first(exc)})")
        return None
    if _tags_pii(version, metadata):
        out.pii_tagged.add(topic)
    out.files[ref["file"]] = _file_text(version)
    return ref["file"] if len(ref) == 1 else ref


def _is_default_rule(rule: dict[str, Any], encryption: Encryption | None) -> bool:
    """The rule the spec adds to a pii topic's value schema by itself (same in every field)."""
    if encryption is None or rule.get("name") != DEFAULT_ENCRYPT_RULE:
        return False
    default = default_encrypt_rule(encryption)
    return same_contract(
        Contract(None, {"domainRules": [rule]}), Contract(None, {"domainRules": [default]})
    )


def _without_kek(rule: dict[str, Any], encryption: Encryption | None) -> dict[str, Any]:
    """The rule as the spec writes it: the KEK params of ``encryption`` dropped (the spec
    fills them in again), the rest in Confluent's shape."""
    body = {k: v for k, v in rule.items() if v not in (None, [], {})}
    params = {str(k): str(v) for k, v in (body.get("params") or {}).items()}
    if encryption is not None and rule.get("type") in ENCRYPTING:
        filled = kek_params(encryption)
        if all(params.get(k) == v for k, v in filled.items()):
            params = {k: v for k, v in params.items() if k not in filled}
    if params:
        body["params"] = params
    else:
        body.pop("params", None)
    if body.get("disabled") is False:
        body.pop("disabled")
    return body


def _import_encryption(contents: RegistryContents, out: ImportedSchemas) -> None:
    """``encryption`` blocks from the KEKs whose doc says which block declared them."""
    for name, kek in sorted(contents.keks.items()):
        doc = kek.doc or ""
        if kek.deleted or not doc.startswith(DOC_PREFIX):
            continue
        block: dict[str, Any] = {
            "kek": name,
            "kms_type": kek.kms_type,
            "kms_key_id": kek.kms_key_id,
        }
        block.update(_dek_settings(contents, name))
        try:
            Encryption.model_validate(block)
        except ValidationError as exc:
            out.left_out.append(f"KEK {name}: the spec cannot declare it ({_first(exc)})")
            continue
        if _EVERY_TENANT in doc:
            out.encryption = block
        for tenant in _TENANT.findall(doc.removeprefix(DOC_PREFIX).replace(_EVERY_TENANT, "")):
            out.tenant_encryption[tenant] = block


def _dek_settings(contents: RegistryContents, kek: str) -> dict[str, Any]:
    """dek_algorithm / dek_expiry_days, as the ENCRYPT rules naming ``kek`` carry them."""
    for version in contents.latest.values():
        for rule in Contract(version.metadata, version.rule_set).rules():
            params = rule.get("params") or {}
            if params.get(KEK_NAME) != kek:
                continue
            found: dict[str, Any] = {}
            if DEK_ALGORITHM in params:
                found["dek_algorithm"] = str(params[DEK_ALGORITHM])
            if DEK_EXPIRY_DAYS in params and str(params[DEK_EXPIRY_DAYS]).isdigit():
                found["dek_expiry_days"] = int(params[DEK_EXPIRY_DAYS])
            return found
    return {}


def _tags_pii(version: RegisteredVersion, metadata: Mapping[str, Any]) -> bool:
    """Whether a field carries the PII tag: in the metadata, or inline in the schema."""
    if any(PII_TAG in tags for tags in (metadata.get("tags") or {}).values()):
        return True
    if version.schema_type == "AVRO":
        try:
            fields = avro_fields(json.loads(version.text))
        except ValueError:
            fields = None
        if fields is not None:
            return any(PII_TAG in tags for tags in fields.values())
    return re.search(rf"tags\W[^\]]*\"{PII_TAG}\"", version.text) is not None


def _file_text(version: RegisteredVersion) -> str:
    """The schema as a file: JSON schemas indented for review, Protobuf as registered."""
    if version.schema_type in ("AVRO", "JSON"):
        try:
            return json.dumps(json.loads(version.text), indent=2, ensure_ascii=False) + "\n"
        except ValueError:
            pass
    return version.text if version.text.endswith("\n") else version.text + "\n"


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
