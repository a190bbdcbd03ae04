"""Checks that need the whole spec: references, uniqueness, names, topic configs."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from streamplane.errors import SpecIssue
from streamplane.kafka._profiles import violations
from streamplane.model._dead_letters import (
    DeadLetterOwner,
    dlq_topic,
    longest_parking_name,
    parking_topics,
)
from streamplane.model._masking import check_masked_twins, twin_topic
from streamplane.model._replication import check_replication
from streamplane.model._schema_contract import check_contracts, read_schema
from streamplane.model._slo import check_slos
from streamplane.model._spec import ApplicationEntry, Spec, TopicEntry, full_topic_name
from streamplane.model._topic_configs import check_topic_configs
from streamplane.model._types import PRIVATE_TOPIC_RE, PUBLIC_EVENT_RE, Topic, Visibility
from streamplane.model._yaml import Path_

_SHORTCUTS = {
    "retention": "retention.ms",
    "cleanup_policy": "cleanup.policy",
    "compression": "compression.type",
}

#: Kafka's own limit on topic name length, and its legal characters.
MAX_TOPIC_NAME = 249
_LEGAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def validate(spec: Spec) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    src = spec.source
    platform = spec.platform

    def dupes(items: list[tuple[str, Path_]], what: str) -> None:
        seen: dict[str, Path_] = {}
        for name, path in items:
            if name in seen:
                first = src.locate(seen[name])
                issues.append(
                    src.issue(
                        path,
                        f'duplicate {what} "{name}"',
                        f"first defined at {first.file}:{first.line}",
                    )
                )
            else:
                seen[name] = path

    cluster_names = {c.name for c in platform.clusters}
    dupes([(c.name, ("clusters", i, "name")) for i, c in enumerate(platform.clusters)], "cluster")
    dupes([(t.name, ("tenants", i, "name")) for i, t in enumerate(platform.tenants)], "tenant")
    issues.extend(_check_local_clusters(spec))
    issues.extend(check_replication(spec))
    issues.extend(check_slos(spec))

    topics: list[tuple[str, Path_]] = []
    apps: list[tuple[str, Path_]] = []
    principals: list[tuple[str, Path_]] = []
    namespaces: dict[str, list[str]] = defaultdict(list)
    for ti, tenant in enumerate(platform.tenants):
        tpath: Path_ = ("tenants", ti)
        namespaces[tenant.namespace].append(tenant.name)
        for ci, cluster in enumerate(tenant.clusters):
            if cluster not in cluster_names:
                issues.append(
                    src.issue(
                        (*tpath, "clusters", ci),
                        f'unknown cluster "{cluster}"',
                        _known("clusters", cluster_names),
                    )
                )
        if not tenant.namespace or not set(tenant.namespace) <= _LEGAL:
            issues.append(
                src.issue(
                    (*tpath, "prefix"),
                    f'invalid prefix "{tenant.namespace}"',
                    "use letters, digits, '.', '_' or '-', e.g. \"payments.\"",
                )
            )
        dupes(
            [(d.name, (*tpath, "domains", i, "name")) for i, d in enumerate(tenant.domains)],
            f"domain in tenant {tenant.name}",
        )
        for di, domain in enumerate(tenant.domains):
            dpath: Path_ = (*tpath, "domains", di)
            for pi, topic in enumerate(domain.topics):
                ppath: Path_ = (*dpath, "topics", pi)
                full = full_topic_name(tenant, domain, topic)
                topics.append((full, (*ppath, "name")))
                if topic.full_name is not None:
                    issues.extend(_check_kafka_topic_name(spec, full, (*ppath, "full_name")))
                else:
                    issues.extend(
                        _check_topic_name(spec, topic.name, topic.visibility, full, ppath)
                    )
                issues.extend(_check_topic_placement(spec, tenant.clusters, topic, ppath))
                for field, key in _SHORTCUTS.items():
                    if getattr(topic, field) is not None and key in topic.configs:
                        issues.append(
                            src.issue(
                                (*ppath, "configs", key),
                                f"{key} is set twice: by `{field}` and in `configs`",
                                f"keep one; `{field}` is the short form of {key}",
                                key=True,
                            )
                        )
                for key, error, hint in check_topic_configs(topic.kafka_configs()):
                    where = (*ppath, "configs", key) if key in topic.configs else ppath
                    issues.append(src.issue(where, error, hint, key=key in topic.configs))
            for ai, app in enumerate(domain.applications):
                apath: Path_ = (*dpath, "applications", ai)
                apps.append((app.name, (*apath, "name")))
                principals.append((app.principal or app.name, (*apath, "name")))
    dupes(topics, "topic")
    dupes(apps, "application")
    dupes(principals, "principal")
    for namespace, owners in namespaces.items():
        if len(owners) > 1:
            issues.append(
                src.issue(
                    ("tenants",),
                    f'tenants {", ".join(owners)} share the prefix "{namespace}"',
                    "each tenant needs a namespace of its own",
                )
            )
    for name in spec.applications:
        issues.extend(_check_application(spec, name))
    issues.extend(_check_dead_letters(spec))
    issues.extend(_check_lake_sinks(spec))
    issues.extend(_check_lake_catalogs(spec))
    issues.extend(check_contracts(spec))
    issues.extend(check_masked_twins(spec))
    for qi, quota in enumerate(platform.quotas):
        if quota.user is not None and quota.user not in {
            a.principal for a in spec.applications.values()
        }:
            issues.append(
                src.issue(
                    ("quotas", qi, "user"),
                    f'quota for unknown principal "{quota.user}"',
                    "quotas name the principal of an application in the spec",
                )
            )
    for ei, exc in enumerate(platform.acl_exceptions):
        if exc.cluster is not None and exc.cluster not in cluster_names:
            issues.append(
                src.issue(
                    ("acl_exceptions", ei, "cluster"),
                    f'unknown cluster "{exc.cluster}"',
                    _known("clusters", cluster_names),
                )
            )
    return issues


def _check_topic_placement(
    spec: Spec, clusters: list[str], topic: Topic, path: Path_
) -> list[SpecIssue]:
    """Things Kafka or the registry would refuse later: say so now, at the line that causes it."""
    issues = []
    known = {c.name: c for c in spec.platform.clusters}
    rf = topic.replication_factor
    for name in clusters:
        cluster = known.get(name)
        if cluster is not None and rf is not None and rf > cluster.brokers:
            issues.append(
                spec.source.issue(
                    (*path, "replication_factor"),
                    f"replication factor {rf} is more than cluster {name}'s {cluster.brokers} "
                    "broker(s)",
                    f"use at most {cluster.brokers}, or set `brokers:` on the cluster",
                )
            )
    for field in ("key_schema", "value_schema"):
        ref = getattr(topic, field)
        if ref is not None and not (spec.root / ref.file).is_file():
            issues.append(
                spec.source.issue(
                    (*path, field),
                    f"schema file {ref.file} not found under {spec.root}",
                    "schema paths are relative to the spec root",
                )
            )
        elif ref is not None and ref.format == "UNKNOWN":
            issues.append(
                spec.source.issue(
                    (*path, field),
                    f"cannot tell the format of schema file {ref.file}",
                    "use .avsc (Avro), .proto (Protobuf) or .json (JSON Schema)",
                )
            )
    return issues


def _check_topic_name(
    spec: Spec, name: str, visibility: Visibility, full: str, path: Path_
) -> list[SpecIssue]:
    src = spec.source
    issues = []
    if visibility is Visibility.PUBLIC and not PUBLIC_EVENT_RE.match(name):
        issues.append(
            src.issue(
                (*path, "name"),
                f'public event "{full}" is not versioned',
                "public integration events are named <tenant>.<domain>.<event>.v<N>, "
                f'e.g. "{name.split(".")[0]}.v1"',
            )
        )
    elif visibility is Visibility.PRIVATE and not PRIVATE_TOPIC_RE.match(name):
        issues.append(
            src.issue(
                (*path, "name"),
                f'topic name "{name}" breaks the naming convention',
                "private topic names are lower-case words joined by '-', e.g. "
                '"card-authorizations"; versioned names are for public events',
            )
        )
    if len(full) > MAX_TOPIC_NAME:
        issues.append(
            src.issue(
                (*path, "name"),
                f'topic name "{full}" is longer than Kafka allows',
                f"at most {MAX_TOPIC_NAME} characters",
            )
        )
    return issues


def _check_kafka_topic_name(spec: Spec, full: str, path: Path_) -> list[SpecIssue]:
    """Kafka's own rules only, for a legacy topic pinned by ``full_name``.

    Such a topic predates the convention (``streamplane import`` writes them): renaming
    a live topic means migrating every producer and consumer, so the spec adopts the
    name as it is. Kafka's limits still hold, or the topic could not exist at all. The
    tenant's namespace is not checked against the name either, for the same reason; the
    tenant's own prefix stays valid and unique (the namespace checks above are unchanged).
    """
    src = spec.source
    issues = []
    if full in ("", ".", "..") or not set(full) <= _LEGAL:
        issues.append(
            src.issue(
                path,
                f'"{full}" is not a legal Kafka topic name',
                "use letters, digits, '.', '_' or '-' (and not just '.' or '..')",
            )
        )
    if len(full) > MAX_TOPIC_NAME:
        issues.append(
            src.issue(
                path,
                f'topic name "{full}" is longer than Kafka allows',
                f"at most {MAX_TOPIC_NAME} characters",
            )
        )
    return issues


def _check_application(spec: Spec, name: str) -> list[SpecIssue]:
    entry = spec.applications[name]
    src = spec.source
    issues = []
    tenant, domain, app = entry.tenant, entry.domain, entry.app
    for verb in ("produces", "consumes"):
        for i, topic in enumerate(getattr(app, verb)):
            path: Path_ = (*entry.path, verb, i)
            target = spec.topics.get(topic)
            if target is None:
                issues.append(
                    src.issue(
                        path,
                        f'application "{name}" {verb} unknown topic "{topic}"',
                        _closest(topic, spec.topics),
                    )
                )
                continue
            same_domain = target.tenant.name == tenant.name and target.domain.name == domain.name
            if verb == "produces" and not same_domain:
                issues.append(
                    src.issue(
                        path,
                        f'application "{name}" of {tenant.name}.{domain.name} '
                        f'cannot produce to "{topic}", owned by '
                        f"{target.tenant.name}.{target.domain.name}",
                        "only applications of the owning domain write a topic; "
                        "publish your own event instead",
                    )
                )
            if (
                verb == "consumes"
                and not same_domain
                and target.topic.visibility is not Visibility.PUBLIC
            ):
                issues.append(
                    src.issue(
                        path,
                        f'application "{name}" of {tenant.name}.{domain.name} '
                        f'cannot consume private topic "{topic}" of '
                        f"{target.tenant.name}.{target.domain.name}",
                        "other domains may consume only public events "
                        "(visibility: public, named <event>.v<N>)",
                    )
                )
    if not entry.consumer_group.startswith(tenant.namespace):
        issues.append(
            src.issue(
                (*entry.path, "consumer_group"),
                f'consumer group "{entry.consumer_group}" is outside tenant '
                f'namespace "{tenant.namespace}"',
                f'name it "{tenant.namespace}{app.name}" (or leave it out)',
            )
        )
    if app.profile is not None:
        for role in ("producer", "consumer"):
            overrides = getattr(app.profile, role)
            for problem in violations(app.profile.name, role, overrides):
                key = problem.split("=", 1)[0]
                issues.append(
                    src.issue(
                        (*entry.path, "profile", role, key),
                        f'application "{name}": {problem.split(": ", 1)[0]}',
                        problem.split(": ", 1)[1],
                    )
                )
    for ci, client_id in enumerate(app.client_ids):
        if not client_id.startswith(tenant.namespace):
            issues.append(
                src.issue(
                    (*entry.path, "client_ids", ci),
                    f'client id "{client_id}" is outside tenant namespace "{tenant.namespace}"',
                    f'prefix it: "{tenant.namespace}{client_id}"',
                )
            )
    return issues


def lake_source(entry: TopicEntry) -> str:
    """The topic a lake sink reads: the masked twin when the topic has one, so masked
    fields stay masked in the table (anyone who may query the lake may read the twin);
    else the topic itself."""
    if entry.topic.masked_twin is not None:
        return twin_topic(entry)
    return entry.full_name


_PARTITION_RE = re.compile(
    r"^\s*(?:(?P<t>year|month|day|hour|identity)\(\s*(?P<c1>\w+)\s*\)"
    r"|(?P<n>bucket|truncate)\(\s*(?P<w>\d+)\s*,\s*(?P<c2>\w+)\s*\)"
    r"|(?P<c3>\w+))\s*$"
)


def lake_partition(text: str) -> tuple[str, int | None, str]:
    """``"day(placed_at)"`` -> ("day", None, "placed_at"); ``"bucket(16, id)"`` ->
    ("bucket", 16, "id"); a bare column is ("identity", None, column)."""
    match = _PARTITION_RE.match(text)
    if match is None:
        raise ValueError(
            f"partition {text!r} is not a transform of a column: use year|month|day|hour"
            "(col), bucket(N, col), truncate(W, col) or a bare column (identity)"
        )
    if match["t"]:
        return match["t"], None, match["c1"]
    if match["n"]:
        width = int(match["w"])
        if width < 1:
            raise ValueError(f"partition {text!r}: {match['n']} needs a width of at least 1")
        return match["n"], width, match["c2"]
    return "identity", None, match["c3"]


def lake_table(entry: TopicEntry) -> str:
    """The Iceberg table a topic's lake sink writes: ``lake.table``, else
    ``<tenant>.<domain>_<topic>`` with every - and . as _."""
    lake = entry.topic.lake
    if lake is not None and lake.table:
        return lake.table
    namespace = entry.tenant.name.replace("-", "_")
    name = f"{entry.domain.name}_{entry.topic.name}".replace("-", "_").replace(".", "_")
    return f"{namespace}.{name}"


def _check_lake_sinks(spec: Spec) -> list[SpecIssue]:
    issues: list[SpecIssue] = []
    tables: dict[str, Path_] = {}
    for entry in spec.topics.values():
        if entry.topic.lake is None:
            continue
        path: Path_ = (*entry.path, "lake")
        schema = entry.topic.value_schema
        if schema is None:
            issues.append(
                spec.source.issue(
                    path,
                    f"the lake sink of {entry.full_name} maps the value schema to the table's "
                    "columns, and the topic has no value_schema",
                    "give it `value_schema: schemas/<name>.avsc` (or .proto, or .json)",
                )
            )
        issues.extend(_check_lake_settings(spec, entry, path))
        table = lake_table(entry)
        if table in tables:
            first = spec.source.locate(tables[table])
            issues.append(
                spec.source.issue(
                    path,
                    f"a second topic writes lake table {table}",
                    f"first at {first.file}:{first.line}; set `lake: {{table: ...}}` apart",
                )
            )
        tables.setdefault(table, path)
    return issues


def _check_lake_settings(spec: Spec, entry: TopicEntry, path: Path_) -> list[SpecIssue]:
    """The partition transforms name fields of the value, the catalog exists."""
    lake = entry.topic.lake
    assert lake is not None
    issues = []
    ref = entry.topic.value_schema
    text = read_schema(spec, ref) if ref is not None else None
    try:
        document = json.loads(text) if text is not None else None
    except ValueError:
        document = None
    fields: set[Any] | None = None
    if isinstance(document, dict) and ref is not None and ref.file.endswith(".avsc"):
        fields = {f.get("name") for f in document.get("fields", [])}
    elif isinstance(document, dict) and isinstance(document.get("properties"), dict):
        fields = set(document["properties"])
    for index, item in enumerate(lake.partition_by):
        where: Path_ = (*path, "partition_by", index)
        try:
            _, _, column = lake_partition(item)
        except ValueError as exc:
            issues.append(spec.source.issue(where, str(exc), "fix the transform"))
            continue
        if fields is not None and column not in fields:
            issues.append(
                spec.source.issue(
                    where,
                    f"partition {item!r} names {column}, which is not a field of "
                    f"{entry.full_name}'s value schema",
                    f"partition by one of: {', '.join(sorted(str(f) for f in fields))}",
                )
            )
    names = {c.name for c in spec.platform.lake_catalogs}
    if lake.catalog is not None and lake.catalog not in names:
        issues.append(
            spec.source.issue(
                (*path, "catalog"),
                f"no lake catalog {lake.catalog}",
                "declare it under `lake_catalogs:` on the platform, or leave `catalog:` out "
                "for the local one" + (f"; declared: {', '.join(sorted(names))}" if names else ""),
            )
        )
    return issues


def _check_lake_catalogs(spec: Spec) -> list[SpecIssue]:
    """Each catalog once, with what its type needs; no table name on a domain's lake."""
    issues = []
    for t, tenant in enumerate(spec.platform.tenants):
        for d, domain in enumerate(tenant.domains):
            if domain.lake is not None and domain.lake.table is not None:
                issues.append(
                    spec.source.issue(
                        ("tenants", t, "domains", d, "lake", "table"),
                        f"domain {tenant.name}.{domain.name}'s lake names a table, and each of "
                        "its topics needs one of its own",
                        "drop `table:` here (each topic gets <tenant>.<domain>_<topic>) or set "
                        "it on the topic's own `lake:`",
                    )
                )
    seen: set[str] = set()
    for index, catalog in enumerate(spec.platform.lake_catalogs):
        path: Path_ = ("lake_catalogs", index)
        if catalog.name in seen:
            issues.append(spec.source.issue(path, f"lake catalog {catalog.name} twice", "keep one"))
        seen.add(catalog.name)
        if catalog.type == "rest" and not catalog.uri:
            issues.append(
                spec.source.issue(
                    path, f"REST catalog {catalog.name} has no uri", "give `uri: https://...`"
                )
            )
        if (catalog.s3_access_key_id is None) != (catalog.s3_secret_access_key is None):
            issues.append(
                spec.source.issue(
                    path,
                    f"lake catalog {catalog.name} has only one of the S3 key id and secret",
                    "give both `s3_access_key_id` and `s3_secret_access_key`, or neither "
                    "(the default AWS credential chain)",
                )
            )
    return issues


def _check_dead_letters(spec: Spec) -> list[SpecIssue]:
    """Parking topics need something to park, names Kafka accepts, and one owner each."""
    src = spec.source
    issues = []
    parked_by: dict[str, str] = {}
    for name, entry in spec.applications.items():
        settings = entry.app.dead_letters
        if settings is None:
            continue
        path: Path_ = (*entry.path, "dead_letters")
        if not entry.app.consumes:
            issues.append(
                src.issue(
                    path,
                    f'application "{name}" has dead_letters but consumes no topic',
                    "dead letters hold records a consumer could not process; "
                    "list the topics under `consumes`, or remove `dead_letters`",
                )
            )
            continue
        owner = DeadLetterOwner.of(entry)
        for i, topic in enumerate(entry.app.consumes):
            longest = longest_parking_name(owner, topic, len(settings.retries))
            if len(longest) > MAX_TOPIC_NAME:
                issues.append(
                    _parking_name_too_long(spec, entry, (*entry.path, "consumes", i), topic)
                )
        for parked in parking_topics(spec, entry).values():
            other = parked_by.setdefault(parked.name, name)
            if other != name:
                issues.append(
                    src.issue(
                        path,
                        f'applications "{other}" and "{name}" would both park records in '
                        f'"{parked.name}": each would read the other\'s failures',
                        "their tenant prefixes, domains and topic names happen to spell "
                        "the same name; rename one of the applications",
                    )
                )
    return issues


def _parking_name_too_long(
    spec: Spec, entry: ApplicationEntry, path: Path_, topic: str
) -> SpecIssue:
    """Kafka refuses names over 249 characters: say which parts of the name can give way."""
    owner = DeadLetterOwner.of(entry)
    retries = len(entry.app.dead_letters.retries) if entry.app.dead_letters else 0
    longest = longest_parking_name(owner, topic, retries)
    excess = len(longest) - MAX_TOPIC_NAME
    parts = [
        f'the application name "{entry.app.name}" ({len(entry.app.name)})',
        f'the domain name "{entry.domain.name}" ({len(entry.domain.name)})',
        f'the tenant prefix "{entry.tenant.namespace}" ({len(entry.tenant.namespace)})',
    ]
    fits = retries > 0 and len(dlq_topic(owner, topic)) <= MAX_TOPIC_NAME
    fewer = " (or give up retries: with `dead_letters: {}` the .dlq name fits)" if fits else ""
    # Each of the three can shrink to one character at best.
    spare = len(entry.app.name) + len(entry.domain.name) + len(entry.tenant.namespace) - 3
    fix = (
        f"shorten {', '.join(parts[:-1])} or {parts[-1]} by {excess} character"
        f"{'s' if excess != 1 else ''} in total{fewer}"
        if excess <= spare
        else f"no shorter application, domain or prefix name is enough: {topic} "
        f"({len(topic)} characters) leaves no room; consume it from an application without "
        "`dead_letters`, or publish it under a shorter name"
    )
    return spec.source.issue(
        path,
        f'application "{entry.app.name}": its parking topic "{longest}" would be '
        f"{len(longest)} characters, more than Kafka's {MAX_TOPIC_NAME}",
        "parking topics are <tenant prefix><domain>.<application>.<consumed topic>.retry.<n>"
        f"/.dlq; {fix}",
    )


def _known(what: str, names: set[str]) -> str:
    return f"known {what}: {', '.join(sorted(names))}" if names else f"no {what} are defined"


def _closest(name: str, names: object) -> str:
    import difflib

    match = difflib.get_close_matches(name, list(names), n=1)  # type: ignore[call-overload]
    return f'did you mean "{match[0]}"?' if match else "topics are referenced by their full name"


def _check_local_clusters(spec: Spec) -> list[SpecIssue]:
    """Several local clusters run side by side: each needs ports and a folder of its own."""
    src = spec.source
    local = [(i, c) for i, c in enumerate(spec.platform.clusters) if c.local]
    issues: list[SpecIssue] = []
    for i, cluster in enumerate(spec.platform.clusters):
        if not cluster.local:
            for field in ("port_offset", "data_dir"):
                if getattr(cluster, field) is not None:
                    issues.append(
                        src.issue(
                            ("clusters", i, field),
                            f"`{field}` is for a local cluster, and {cluster.name} is not "
                            "`local: true`",
                            "remove it",
                            key=True,
                        )
                    )
    if len(local) < 2:
        return issues
    offsets: dict[int, str] = {}
    folders: dict[str, str] = {}
    for n, (i, cluster) in enumerate(local):
        if cluster.port_offset is None:
            issues.append(
                src.issue(
                    ("clusters", i),
                    f"local cluster {cluster.name} has no port_offset, and the spec has "
                    f"{len(local)} local clusters",
                    f"give each its own, e.g. `port_offset: {n * 10000}`",
                )
            )
        elif cluster.port_offset in offsets:
            issues.append(
                src.issue(
                    ("clusters", i, "port_offset"),
                    f"local clusters {offsets[cluster.port_offset]} and {cluster.name} share "
                    f"port_offset {cluster.port_offset}",
                    "give each its own (10000 apart)",
                )
            )
        else:
            offsets[cluster.port_offset] = cluster.name
        folder = spec.local_folder(cluster)
        if folder in folders:
            issues.append(
                src.issue(
                    ("clusters", i, "data_dir"),
                    f"local clusters {folders[folder]} and {cluster.name} share the data "
                    f'folder "{folder}"',
                    "give each its own `data_dir`",
                )
            )
        folders[folder] = cluster.name
    return issues
