"""What a ``masked_twin`` declaration implies: the twin, the vault and the masking job.

A topic's ``masked_twin`` becomes ordinary spec entries, derived once when the spec is
indexed, so every reconciler treats them like declared ones without knowing about masking:
``apply`` creates the topics, the principal and least-privilege ACLs, lineage and AsyncAPI
show them, the policy rules judge them.

* the twin: ``<topic>-masked.v1`` (or the declared name), a public event of the same
  domain with the raw topic's partitions, retention and schema (masked values are strings,
  so the raw schema still describes them; its encryption rules are left behind);
* the masker: application ``<topic>-masker`` of the same domain, transactional, reading
  the raw topic and writing the twin (and the vault), with a dead-letter topic for records
  it must not pass on (a tagged field missing or malformed);
* the vault, with ``tokenize``: ``<topic>-vault``, a compacted pii topic of the raw
  owners mapping tokens to values, encrypted like the raw topic (per data subject when
  the raw topic is, so ``gdpr forget`` reaches the vault too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamplane.errors import SpecIssue
from streamplane.model._contracts import SUBJECT_FIELD, ContractRule, ContractRules
from streamplane.model._schema_contract import field_tags, read_schema
from streamplane.model._spec import ApplicationEntry, Spec, TopicEntry, full_topic_name
from streamplane.model._types import (
    Application,
    Classification,
    ClientProfile,
    DeadLetters,
    SchemaRef,
    Topic,
    Visibility,
)

#: The vault's value schema, shipped with the package.
VAULT_SCHEMA = Path(__file__).with_name("schemas") / "vault-entry.avsc"
MASKER_SUFFIX = "-masker"


def _stem(topic: Topic) -> str:
    return topic.name.replace(".", "-")


def masker_name(topic: Topic) -> str:
    return f"{_stem(topic)}{MASKER_SUFFIX}"


def twin_name(topic: Topic) -> str:
    twin = topic.masked_twin
    assert twin is not None
    return twin.name or f"{_stem(topic)}-masked.v1"


def vault_name(topic: Topic) -> str:
    return f"{_stem(topic)}-vault"


def twin_topic(entry: TopicEntry) -> str:
    """The Kafka name of a raw topic's twin."""
    return f"{entry.tenant.namespace}{entry.domain.name}.{twin_name(entry.topic)}"


def vault_topic(entry: TopicEntry) -> str:
    """The Kafka name of a raw topic's vault (it exists when a mask is ``tokenize``)."""
    return f"{entry.tenant.namespace}{entry.domain.name}.{vault_name(entry.topic)}"


def subject_rule(ref: SchemaRef | None) -> ContractRule | None:
    """The raw schema's ENCRYPT_PER_SUBJECT rule, if it has an enabled one."""
    rules = ref.rules.domain if ref is not None and ref.rules is not None else []
    return next((r for r in rules if r.type == "ENCRYPT_PER_SUBJECT" and not r.disabled), None)


def _twin(topic: Topic) -> Topic:
    twin = topic.masked_twin
    assert twin is not None
    raw = topic.value_schema
    schema = (
        None if raw is None else SchemaRef(file=raw.file, tags=raw.tags, properties=raw.properties)
    )
    return Topic(
        name=twin_name(topic),
        partitions=topic.partitions,
        replication_factor=topic.replication_factor,
        retention=topic.retention,
        cleanup_policy=topic.cleanup_policy,
        compression=topic.compression,
        classification=twin.classification,
        owner=topic.owner,
        key_schema=topic.key_schema,
        value_schema=schema,
        visibility=Visibility.PUBLIC,
    )


def _vault(topic: Topic) -> Topic:
    rule = subject_rule(topic.value_schema)
    rules = None
    if rule is not None:
        # The vault's values are keyed to the same data subjects, so forgetting one
        # destroys its tokens' values too.
        params = {k: v for k, v in rule.params.items() if k != SUBJECT_FIELD}
        rules = ContractRules(
            domain=[rule.model_copy(update={"params": {**params, SUBJECT_FIELD: "subject"}})]
        )
    return Topic(
        name=vault_name(topic),
        partitions=1,
        replication_factor=topic.replication_factor,
        cleanup_policy="compact",
        classification=Classification.PII,
        owner=topic.owner,
        value_schema=SchemaRef(file=str(VAULT_SCHEMA), rules=rules),
    )


def add_masked_twins(spec: Spec) -> None:
    """Add the entries every ``masked_twin`` implies (see the module doc) to ``spec``."""
    for entry in list(spec.topics.values()):
        twin = entry.topic.masked_twin
        if twin is None:
            continue
        path = (*entry.path, "masked_twin")
        derived = [_twin(entry.topic)]
        if "tokenize" in twin.masks.values():
            derived.append(_vault(entry.topic))
        for topic in derived:
            name = full_topic_name(entry.tenant, entry.domain, topic)
            spec.topics.setdefault(name, TopicEntry(name, entry.tenant, entry.domain, topic, path))
        produces = [full_topic_name(entry.tenant, entry.domain, t) for t in derived]
        app = Application(
            name=masker_name(entry.topic),
            consumes=[entry.full_name],
            produces=produces,
            transactional=True,
            profile=ClientProfile(name="zero_loss"),
            dead_letters=DeadLetters(),
        )
        spec.applications.setdefault(
            app.name, ApplicationEntry(entry.tenant, entry.domain, app, path)
        )


def masked_twin_of(spec: Spec, name: str) -> TopicEntry | None:
    """The raw topic entry whose twin, vault or masker ``name`` is (or which ``name`` is)."""
    for entry in spec.topics.values():
        topic = entry.topic
        if topic.masked_twin is None:
            continue
        names = {entry.full_name, twin_topic(entry), masker_name(topic)}
        if name in names:
            return entry
    return None


def masked_fields(spec: Spec, entry: TopicEntry) -> dict[str, str]:
    """Top-level field -> mask, for the raw topic's tagged fields (the first mask listed
    in ``masks`` whose tag the field carries wins)."""
    twin = entry.topic.masked_twin
    tags = field_tags(spec, entry, "value") or {}
    found: dict[str, str] = {}
    for path, carried in tags.items():
        for tag, mask in twin.masks.items() if twin else ():
            if tag in carried:
                found.setdefault(path.rsplit(".", 1)[-1], mask)
    return found


def _field_types(spec: Spec, entry: TopicEntry) -> dict[str, Any]:
    ref = entry.topic.value_schema
    text = read_schema(spec, ref) if ref is not None else None
    try:
        document = json.loads(text) if text else None
    except ValueError:
        return {}
    fields = document.get("fields", []) if isinstance(document, dict) else []
    return {str(f.get("name")): f.get("type") for f in fields if isinstance(f, dict)}


def _is_text(avro_type: Any) -> bool:
    if avro_type == "string":
        return True
    if isinstance(avro_type, list):
        return "string" in avro_type and all(t in ("null", "string") for t in avro_type)
    return isinstance(avro_type, dict) and avro_type.get("type") == "string"


def check_masked_twins(spec: Spec) -> Iterator[SpecIssue]:
    """A twin masks what its raw topic's Avro schema tags, top-level string fields only."""
    src = spec.source
    for entry in spec.topics.values():
        twin = entry.topic.masked_twin
        if twin is None or entry.path[-1] == "masked_twin":
            continue
        where = (*entry.path, "masked_twin")
        ref = entry.topic.value_schema
        if ref is None or ref.format != "AVRO":
            yield src.issue(
                where,
                "a masked twin needs an Avro value schema on its topic, to find the tagged fields",
                "give the topic value_schema: schemas/<name>.avsc with the fields tagged",
            )
            continue
        fields = masked_fields(spec, entry)
        carried = set().union(*(field_tags(spec, entry, "value") or {}).values())
        for tag in twin.masks:
            if tag not in carried:
                yield src.issue(
                    (*where, "masks", tag),
                    f"no field of {ref.file} carries tag {tag}, so the mask applies to nothing",
                    f'tag the field: "confluent:tags": ["{tag}"], or `tags: {{"**.<field>": '
                    f"[{tag}]}}` under value_schema",
                    key=True,
                )
        types = _field_types(spec, entry)
        for name, mask in sorted(fields.items()):
            if name not in types:
                yield src.issue(
                    (*where, "masks"),
                    f"field {name} is tagged for masking but is not a top-level field of "
                    f"{ref.file}; masked twins mask top-level fields",
                    "move the tag to a top-level field",
                )
            elif not _is_text(types[name]):
                yield src.issue(
                    (*where, "masks"),
                    f"field {name} ({mask}) is {json.dumps(types[name])}; masked values are text, "
                    "so masked fields must be strings",
                    'make it "string" (or ["null", "string"]), or leave it untagged',
                )
