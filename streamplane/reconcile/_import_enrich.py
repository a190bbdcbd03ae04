"""The imported spec completed: schemas, inferred classifications, the spec's notes, units.

``_import.py`` turns Kafka's resources into tenants, topics and applications; this module
finishes the document the way a person would have written it:

* each topic's ``key_schema`` / ``value_schema`` from the registry (``_import_schemas.py``),
  and ``classification: pii`` where the registry shows the default encrypt-pii rule (or,
  without encryption, a field tagged PII); the cluster's ``data_classes`` include ``pii``
  when a topic is pii;
* what ``apply`` recorded in the spec's notes (``_spec_notes.py``): owners,
  classifications, core and protected topics, tenants' default quotas, applications'
  profiles, client ids and retry delays, the cluster's environment and racks, the
  deletion and policy settings; only for resources the cluster has;
* a transactional application without notes gets ``profile: zero_loss``, the only profile
  that keeps its exactly-once promise (lint requires it);
* durations and sizes in the units the spec accepts (``retention: 14d``, ``5MiB``), topic
  configs through the spec's shortcuts (``retention``, ``cleanup_policy``,
  ``compression``), and no ``replication_factor`` where the topic has the cluster default.

Nothing here changes what the spec derives for Kafka: ``plan`` stays empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, get_args

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ResourceType

from streamplane.kafka import ConnectionSettings
from streamplane.kafka._admin import ClusterAdmin
from streamplane.model import Classification, Topic
from streamplane.model._topic_configs import TOPIC_CONFIGS, format_bytes, format_duration_ms
from streamplane.model._types import Cluster, DeletionSettings, PolicySettings
from streamplane.reconcile._import_schemas import (
    ImportedSchemas,
    RegistryContents,
    import_schemas,
    read_registry,
)
from streamplane.reconcile._registry_client import RegistryEndpoint
from streamplane.reconcile._spec_notes import Notes, read_spec_notes


def _choices(field: str) -> set[str]:
    """The values of a ``Literal[...] | None`` field of Topic."""
    return {str(v) for v in get_args(get_args(Topic.model_fields[field].annotation)[0])}


_COMPRESSIONS = _choices("compression")
_CLEANUP = _choices("cleanup_policy")
_BYTE_QUOTAS = ("producer_byte_rate", "consumer_byte_rate")
_TOPIC_ORDER = (
    "name", "full_name", "partitions", "replication_factor", "visibility", "classification",
    "owner", "core", "protected", "retention", "cleanup_policy", "compression", "configs",
    "key_schema", "value_schema", "lake",
)  # fmt: skip
_APP_ORDER = (
    "name", "principal", "credentials", "auth", "client_ids", "consumer_group", "produces",
    "consumes", "transactional", "rack", "profile", "dead_letters", "quotas",
)  # fmt: skip


@dataclass(frozen=True)
class ImportSources:
    """What import reads besides Kafka's resources (each None when it was not read)."""

    registry: RegistryContents | None = None
    notes: Notes | None = None
    #: Brokers the cluster has now.
    brokers: int | None = None
    #: The brokers' default.replication.factor: topics that have it do not name one.
    default_replication_factor: int | None = None


def read_import_sources(
    settings: ConnectionSettings,
    *,
    registry: RegistryEndpoint | None,
    cluster_name: str | None = None,
) -> ImportSources:
    """Read the registry (when given), the spec's notes and the broker facts."""
    contents = None
    if registry is not None:
        with registry.client() as client:
            contents = read_registry(client)
    admin = ClusterAdmin(settings)
    brokers: list[int] = []
    default_rf = None
    try:
        brokers = sorted(admin.client.list_topics(timeout=admin.timeout_s).brokers)
        if brokers:
            resource = ConfigResource(ResourceType.BROKER, str(brokers[0]))
            futures = admin.client.describe_configs([resource], request_timeout=admin.timeout_s)
            entry = futures[resource].result().get("default.replication.factor")
            if entry is not None and entry.value is not None and entry.value.isdigit():
                default_rf = int(entry.value)
    except KafkaException:
        pass  # facts for a tidier spec only: without them every topic names its RF
    return ImportSources(
        registry=contents,
        notes=read_spec_notes(settings, cluster_name),
        brokers=len(brokers) or None,
        default_replication_factor=default_rf,
    )


@dataclass
class Completed:
    """What completing a document found beside it."""

    #: Schema files, by path relative to the spec root.
    files: dict[str, str]
    #: What the registry holds that the spec cannot (one line each, saying why).
    left_out: list[str]


def complete(document: dict[str, Any], sources: ImportSources) -> Completed:
    """Complete ``document`` in place (see the module docstring)."""
    notes = sources.notes or {}
    topics = dict(_topics(document))
    schemas = (
        import_schemas(sources.registry, {n: t for n, (t, _) in topics.items()})
        if sources.registry is not None
        else ImportedSchemas()
    )
    pii = False
    for full, (tenant, doc) in topics.items():
        encrypts = tenant in schemas.tenant_encryption or schemas.encryption is not None
        pii |= _complete_topic(doc, full, notes.get("topics", {}).get(full), schemas, encrypts)
        _reorder(doc, _TOPIC_ORDER)
        if sources.default_replication_factor is not None and (
            doc.get("replication_factor") == sources.default_replication_factor
        ):
            del doc["replication_factor"]
    for tenant in document["tenants"]:
        _complete_tenant(tenant, notes, schemas)
    _complete_cluster(document["clusters"][0], notes.get("cluster"), sources, pii=pii)
    for quota in document.get("quotas", []):
        _units_of_quota(quota)
    top: dict[str, Any] = {"clusters": document.pop("clusters")}
    if schemas.encryption is not None:
        top["encryption"] = schemas.encryption
    if "policy" in notes:
        policy = PolicySettings.model_validate(notes["policy"])
        dumped = policy.model_dump(mode="json", exclude_defaults=True)
        if "max_retention_without_tiered" in dumped:
            dumped["max_retention_without_tiered"] = format_duration_ms(
                policy.max_retention_without_tiered
            )
        if dumped:
            top["policy"] = dumped
    if "deletion" in notes:
        deletion = DeletionSettings.model_validate(notes["deletion"])
        dumped = deletion.model_dump(mode="json", exclude_defaults=True)
        if "grace_period" in dumped:
            dumped["grace_period"] = format_duration_ms(deletion.grace_period)
        if dumped:
            top["deletion"] = dumped
    rest = dict(document)
    document.clear()
    document.update(top)
    document.update(rest)
    return Completed(schemas.files, schemas.left_out)


def _topics(document: dict[str, Any]) -> Iterator[tuple[str, tuple[str, dict[str, Any]]]]:
    """(full name, (tenant, topic document)) of every imported topic."""
    for tenant in document["tenants"]:
        for domain in tenant["domains"]:
            for topic in domain.get("topics", []):
                full = (
                    topic.get("full_name") or f"{tenant['name']}.{domain['name']}.{topic['name']}"
                )
                yield full, (tenant["name"], topic)


def _complete_topic(
    doc: dict[str, Any],
    full: str,
    noted: dict[str, Any] | None,
    schemas: ImportedSchemas,
    encrypts: bool,
) -> bool:
    """Schemas, notes, shortcuts; True when the topic is pii."""
    configs: dict[str, Any] = doc.pop("configs", {})
    if "retention.ms" in configs:
        doc["retention"] = format_duration_ms(int(configs.pop("retention.ms")))
    if configs.get("cleanup.policy") in _CLEANUP:
        doc["cleanup_policy"] = configs.pop("cleanup.policy")
    if configs.get("compression.type") in _COMPRESSIONS:
        doc["compression"] = configs.pop("compression.type")
    for key, value in list(configs.items()):
        unit = TOPIC_CONFIGS[key].unit if key in TOPIC_CONFIGS else None
        if unit is not None and str(value).lstrip("-").isdigit():
            configs[key] = (format_duration_ms if unit == "ms" else format_bytes)(int(value))
    if configs:
        doc["configs"] = configs
    for role in ("key", "value"):
        ref = schemas.refs.get((full, role))
        if ref is not None:
            doc[f"{role}_schema"] = ref
    classification = (noted or {}).get("classification")
    # The registry's evidence wins: the default encrypt-pii rule is there only for pii. A
    # field tagged PII says so too, where no notes say otherwise and declaring pii adds no
    # rule (no encryption is declared, or the schema's own rule encrypts the PII fields).
    adds_no_rule = not encrypts or full in schemas.pii_encrypted
    if full in schemas.pii or (noted is None and full in schemas.pii_tagged and adds_no_rule):
        classification = Classification.PII.value
    if classification is not None:
        doc["classification"] = classification
    for key in ("owner", "core", "protected"):
        value = (noted or {}).get(key)
        if value:
            doc[key] = value
    lake = (noted or {}).get("lake")
    if lake is not None:
        commit = lake.get("commit_interval")
        doc["lake"] = {
            **lake,
            **({"commit_interval": format_duration_ms(commit)} if commit else {}),
        }
    return classification == Classification.PII.value


def _complete_tenant(tenant: dict[str, Any], notes: Notes, schemas: ImportedSchemas) -> None:
    noted = notes.get("tenants", {}).get(tenant["name"])
    apps = [a for d in tenant["domains"] for a in d.get("applications", [])]
    if noted is not None:
        tenant["owners"] = list(noted["owners"])
        defaults = {k: v for k, v in (noted.get("quotas") or {}).items() if v is not None}
        if defaults and _fold_quotas(apps, defaults):
            tenant["quotas"] = dict(defaults)
    if tenant["name"] in schemas.tenant_encryption:
        block = schemas.tenant_encryption[tenant["name"]]
        if block != schemas.encryption:
            tenant["encryption"] = block
    if "quotas" in tenant:
        _units_of_quota(tenant["quotas"])
    for domain in tenant["domains"]:
        owner = notes.get("domains", {}).get(f"{tenant['name']}/{domain['name']}", {}).get("owner")
        if owner:
            domain["owner"] = owner
            _reorder(domain, ("name", "owner", "topics", "applications"))
        for app in domain.get("applications", []):
            _complete_application(
                app, notes.get("applications", {}).get(app.get("principal", app["name"]))
            )
    order = ("name", "prefix", "owners", "clusters", "quotas", "encryption", "domains")
    _reorder(tenant, order)


def _fold_quotas(apps: list[dict[str, Any]], defaults: dict[str, Any]) -> bool:
    """Take the tenant's defaults out of its applications' quotas, if every application's
    quotas show them (else a default would reach an application that does not have it)."""
    if not all(set(defaults) <= set(app.get("quotas", {})) for app in apps):
        return False
    for app in apps:
        own = {k: v for k, v in app["quotas"].items() if defaults.get(k) != v}
        if own:
            app["quotas"] = own
        else:
            del app["quotas"]
    return True


def _complete_application(app: dict[str, Any], noted: dict[str, Any] | None) -> None:
    noted = noted or {}
    if noted.get("auth") in ("mtls", "oauth"):
        # A certificate or OAuth client: no SCRAM credential is expected, none is external.
        app["auth"] = noted["auth"]
        if app.get("credentials") == "external":
            del app["credentials"]
    if noted.get("client_ids"):
        app["client_ids"] = list(noted["client_ids"])
    if noted.get("rack"):
        app["rack"] = noted["rack"]
    profile = noted.get("profile")
    if profile is not None:
        extra = {k: v for k, v in profile.items() if k != "name" and v}
        app["profile"] = {"name": profile["name"], **extra} if extra else profile["name"]
    elif app.get("transactional") and "profile" not in noted:
        app["profile"] = "zero_loss"  # exactly-once needs zero_loss's guarantees
    dead_letters = app.get("dead_letters")
    if dead_letters is not None:
        delays = noted.get("retries")
        if delays is not None and len(delays) == len(dead_letters["retries"]):
            dead_letters["retries"] = list(delays)
        dead_letters["retries"] = [
            format_duration_ms(d) if isinstance(d, int) else d for d in dead_letters["retries"]
        ]
        if isinstance(dead_letters.get("retention"), int):
            dead_letters["retention"] = format_duration_ms(dead_letters["retention"])
    if "quotas" in app:
        _units_of_quota(app["quotas"])
    _reorder(app, _APP_ORDER)


def _complete_cluster(
    cluster: dict[str, Any], noted: dict[str, Any] | None, sources: ImportSources, *, pii: bool
) -> None:
    if sources.brokers is not None:
        cluster["brokers"] = sources.brokers
    defaults = Cluster(name="x", local=True)
    for key, value in (noted or {}).items():
        if key in Cluster.model_fields and value != getattr(defaults, key):
            cluster[key] = value
    classes = [str(c) for c in cluster.get("data_classes", [])]
    if pii and Classification.PII.value not in classes:
        classes.append(Classification.PII.value)
    cluster["data_classes"] = classes
    order = ("name", "local", "environment", "racks", "brokers", "data_classes")
    _reorder(cluster, order)


def _units_of_quota(quota: dict[str, Any]) -> None:
    for key in _BYTE_QUOTAS:
        if isinstance(quota.get(key), int):
            quota[key] = format_bytes(quota[key])


def _reorder(doc: dict[str, Any], order: tuple[str, ...]) -> None:
    """Keys in the order people write them (YAML keeps the document's order)."""
    items = sorted(doc.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    doc.clear()
    doc.update(items)
