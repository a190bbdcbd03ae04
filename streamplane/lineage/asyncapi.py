"""AsyncAPI 3.0 documents from the spec: one per tenant domain, what its teams publish.

A domain's document is its event catalogue as other teams read it: a channel per topic
(address, partitions, retention and cleanup policy in the Kafka binding; owner,
classification, visibility and the fields tagged PII as ``x-streamplane-*`` extensions), a
message per topic carrying the schema file the registry holds (Avro, JSON Schema or
Protobuf, each under its AsyncAPI schema format; topic names are valid component keys as
they are), and an operation per application and
topic it sends or receives. Channels of other domains that its applications read are
included too, marked ``external`` with the domain that owns them, because an AsyncAPI
operation may only point at a channel of its own document.

Everything comes from the spec and its schema files (principle 1: one model); nothing
here talks to a cluster, so ``export asyncapi`` runs in CI on a pull request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from streamplane.local import node_address
from streamplane.model import PII_TAG, ApplicationEntry, Spec, TopicEntry
from streamplane.model._schema_contract import field_tags, read_schema, schema_ref
from streamplane.model._types import Visibility

ASYNCAPI_VERSION = "3.0.0"
#: The Kafka bindings version the channels and servers use.
KAFKA_BINDING = "0.5.0"
#: The schema formats AsyncAPI names for each registry schema type.
SCHEMA_FORMATS = {
    "AVRO": "application/vnd.apache.avro+json;version=1.9.0",
    "JSON": "application/schema+json;version=draft-07",
    "PROTOBUF": "application/vnd.google.protobuf;version=3",
}
#: How each schema type's records are framed on the wire (Confluent's format).
CONTENT_TYPES = {
    "AVRO": "application/vnd.apache.avro+binary",
    "JSON": "application/json",
    "PROTOBUF": "application/x-protobuf",
}
#: Where the local cluster's first node takes clients.
LOCAL_BOOTSTRAP = node_address(1).bootstrap


@dataclass(frozen=True)
class AsyncApiDocument:
    """One domain's document and the name of the file it is written to."""

    tenant: str
    domain: str
    document: dict[str, Any]

    @property
    def file_name(self) -> str:
        return f"{self.tenant}.{self.domain}.asyncapi.json"


def asyncapi_documents(spec: Spec) -> list[AsyncApiDocument]:
    """Every domain's document, in spec order."""
    out = []
    topics_of: dict[tuple[str, str], list[TopicEntry]] = {}
    for entry in spec.topics.values():
        topics_of.setdefault((entry.tenant.name, entry.domain.name), []).append(entry)
    apps_of: dict[tuple[str, str], list[ApplicationEntry]] = {}
    for app in spec.applications.values():
        apps_of.setdefault((app.tenant.name, app.domain.name), []).append(app)
    for tenant in spec.platform.tenants:
        for domain in tenant.domains:
            own = topics_of.get((tenant.name, domain.name), [])
            apps = apps_of.get((tenant.name, domain.name), [])
            own_names = {e.full_name for e in own}
            read_elsewhere = sorted(
                {
                    topic
                    for app in apps
                    for topic in [*app.app.consumes, *app.app.produces]
                    if topic in spec.topics and topic not in own_names
                }
            )
            channels: dict[str, Any] = {}
            messages: dict[str, Any] = {}
            for entry in [*own, *(spec.topics[name] for name in read_elsewhere)]:
                key = entry.full_name
                channels[key] = _channel(entry, external=key not in own_names)
                messages[key] = _message(spec, entry)
            operations: dict[str, Any] = {}
            for app in apps:
                for action, topics in (("send", app.app.produces), ("receive", app.app.consumes)):
                    for topic in topics:
                        if topic not in spec.topics:
                            continue  # a topic of another spec: lint reports it
                        key = topic
                        operations[f"{app.app.name}.{action}.{key}"] = {
                            "action": action,
                            "channel": {"$ref": f"#/channels/{key}"},
                            "summary": f"{app.app.name} {action}s {topic}",
                            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
                            "x-streamplane-application": app.app.name,
                        }
            owner = domain.owner or tenant.owners[0]
            document: dict[str, Any] = {
                "asyncapi": ASYNCAPI_VERSION,
                "info": {
                    "title": f"{tenant.name}.{domain.name} events",
                    "version": _version(channels, messages),
                    "description": (
                        f"The topics of domain {domain.name} of tenant {tenant.name}, as the "
                        "platform spec declares them. Public topics are the domain's contract "
                        "with other teams; private ones are its own."
                    ),
                    "contact": {"name": owner, "email": owner} if "@" in owner else {"name": owner},
                    "tags": [{"name": f"tenant:{tenant.name}"}, {"name": f"domain:{domain.name}"}],
                },
                "defaultContentType": CONTENT_TYPES["AVRO"],
                "servers": _servers(spec, tenant.clusters),
                "channels": channels,
                "operations": operations,
                "components": {
                    "messages": messages,
                    "securitySchemes": {
                        "scram": {
                            "type": "scramSha512",
                            "description": "SASL/SCRAM-SHA-512 with the application's principal",
                        },
                        "mtls": {
                            "type": "X509",
                            "description": "a client certificate from the platform's CA",
                        },
                    },
                },
            }
            out.append(AsyncApiDocument(tenant.name, domain.name, document))
    return out


def _version(channels: dict[str, Any], messages: dict[str, Any]) -> str:
    """A version that changes whenever the contract does: a digest of channels and messages."""
    digest = hashlib.sha256(json.dumps([channels, messages], sort_keys=True).encode()).hexdigest()
    return f"0.0.0+{digest[:12]}"


def _servers(spec: Spec, clusters: list[str]) -> dict[str, Any]:
    servers = {}
    for cluster in spec.platform.clusters:
        if cluster.name not in clusters:
            continue
        bootstrap = cluster.bootstrap_servers or (LOCAL_BOOTSTRAP if cluster.local else None)
        if bootstrap is None:
            continue
        first = bootstrap.split(",")[0].strip()
        secure = cluster.auth is not None and cluster.auth.security_protocol == "SASL_SSL"
        servers[cluster.name] = {
            "host": first,
            "protocol": "kafka-secure" if secure else "kafka",
            "description": f"cluster {cluster.name} ({cluster.environment})",
            "security": [{"$ref": "#/components/securitySchemes/scram"}],
            "tags": [{"name": f"environment:{cluster.environment}"}],
        }
    return servers


def _channel(entry: TopicEntry, *, external: bool) -> dict[str, Any]:
    topic = entry.topic
    key = entry.full_name
    config: dict[str, Any] = {}
    if topic.retention is not None:
        config["retention.ms"] = topic.retention
    if topic.cleanup_policy is not None:
        config["cleanup.policy"] = topic.cleanup_policy.split(",")
    kafka: dict[str, Any] = {
        "topic": entry.full_name,
        "partitions": topic.partitions,
        "bindingVersion": KAFKA_BINDING,
    }
    if topic.replication_factor is not None:
        kafka["replicas"] = topic.replication_factor
    if config:
        kafka["topicConfiguration"] = config
    visibility = topic.visibility.value
    tags = [{"name": visibility}]
    if topic.classification is not None:
        tags.append({"name": f"classification:{topic.classification.value}"})
    if external:
        tags.append({"name": "external"})
    channel: dict[str, Any] = {
        "address": entry.full_name,
        "title": entry.full_name,
        "description": _channel_text(entry, external=external),
        "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        "tags": tags,
        "bindings": {"kafka": kafka},
        "x-streamplane-owner": topic.owner or entry.domain.owner or entry.tenant.owners[0],
        "x-streamplane-visibility": visibility,
    }
    if topic.classification is not None:
        channel["x-streamplane-classification"] = topic.classification.value
    if external:
        channel["x-streamplane-owned-by"] = f"{entry.tenant.name}.{entry.domain.name}"
    return channel


def _channel_text(entry: TopicEntry, *, external: bool) -> str:
    if external:
        return (
            f"Owned by domain {entry.domain.name} of tenant {entry.tenant.name}; listed here "
            "because this domain's applications use it."
        )
    if entry.topic.visibility is Visibility.PUBLIC:
        return "A public event: other tenants' applications may read it."
    return "A private topic: only this tenant's applications may use it."


def _message(spec: Spec, entry: TopicEntry) -> dict[str, Any]:
    key = entry.full_name
    message: dict[str, Any] = {"name": key, "title": f"A record of {entry.full_name}"}
    value = schema_ref(entry, "value")
    if value is not None:
        payload = _schema(spec, entry, "value")
        if payload is not None:
            message["payload"] = payload
            message["contentType"] = CONTENT_TYPES.get(value.format, "application/octet-stream")
        message["x-streamplane-subject"] = f"{entry.full_name}-value"
        pii = sorted(
            name
            for name, tags in (field_tags(spec, entry, "value") or {}).items()
            if PII_TAG in tags
        )
        if pii:
            message["x-streamplane-pii-fields"] = pii
    key_schema = _schema(spec, entry, "key")
    if key_schema is not None:
        message["bindings"] = {"kafka": {"key": key_schema, "bindingVersion": KAFKA_BINDING}}
    return message


def _schema(spec: Spec, entry: TopicEntry, role: str) -> dict[str, Any] | None:
    """The schema file as an AsyncAPI multi-format schema, or None without one."""
    ref = schema_ref(entry, role)  # type: ignore[arg-type]
    if ref is None or ref.format not in SCHEMA_FORMATS:
        return None
    text = read_schema(spec, ref)
    if text is None:
        return None
    schema: Any = text if ref.format == "PROTOBUF" else json.loads(text)
    return {"schemaFormat": SCHEMA_FORMATS[ref.format], "schema": schema}
