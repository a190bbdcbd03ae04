"""The platform spec as pydantic models: one source of truth for the whole estate.

Every model forbids unknown keys, so a typo is an error with a location rather
than a silently ignored setting. Cross-references (a tenant's clusters, an
application's topics) are checked in ``_validate.py`` once the whole spec is known.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from streamplane.model._contracts import ContractRules, Text
from streamplane.model._topic_configs import parse_bytes, parse_duration_ms

NAME_RE = r"^[a-z][a-z0-9-]{0,39}$"


class Classification(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    PII = "pii"


class Visibility(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"


def _duration(value: object) -> int:
    return parse_duration_ms(value)


def _bytes(value: object) -> int:
    return parse_bytes(value)


DurationMs = Annotated[int, BeforeValidator(_duration)]
ByteSize = Annotated[int, BeforeValidator(_bytes)]
Name = Annotated[str, Field(pattern=NAME_RE)]
#: A metadata property value: Confluent's properties are strings ("1", not 1).
ContractText = Text


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Model):
    """Where a secret comes from: never the spec itself."""

    env: str | None = Field(None, description="Environment variable holding the secret.")
    file: str | None = Field(None, description="File holding the secret (relative to the spec).")

    @model_validator(mode="after")
    def _exactly_one(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of `env` or `file`")
        return self


class ClusterAuth(_Model):
    security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL"] = "SASL_SSL"
    mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    username: str
    password: Secret


class Cluster(_Model):
    name: Name
    local: bool = Field(False, description="A cluster `streamplane up` runs on this machine.")
    region: str | None = Field(
        None, description="The region the cluster stands for, e.g. eu-west (shown by status)."
    )
    port_offset: int | None = Field(
        None,
        ge=0,
        le=40000,
        description="A local cluster's shift of every port (a second region: 10000); "
        "required and distinct when the spec has several local clusters.",
    )
    data_dir: str | None = Field(
        None,
        description="A local cluster's folder under the --data-dir root (default: the "
        "root itself for the only local cluster, else the cluster's name).",
    )
    bootstrap_servers: str | None = None
    auth: ClusterAuth | None = None
    schema_registry: str | None = Field(
        None,
        description="URL of the schema registry holding this cluster's subjects, e.g. "
        "https://registry.example.com:8081, reached with the cluster's `auth` credentials "
        "(HTTP basic). Default for the local cluster: the registry `streamplane up` runs.",
    )
    environment: Literal["dev", "test", "staging", "prod"] = "dev"
    racks: list[str] = []
    brokers: int = Field(1, ge=1, description="Broker count, for partition-limit checks.")
    data_classes: list[Classification] = Field(
        default_factory=lambda: [
            Classification.PUBLIC,
            Classification.INTERNAL,
            Classification.CONFIDENTIAL,
        ],
        description="Classifications this cluster may hold (only some may hold PII).",
    )
    tiered_storage: bool = False
    max_partitions_per_broker: int = Field(4000, ge=1)

    @field_validator("schema_registry")
    @classmethod
    def _registry_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(
                "must be an http:// or https:// URL, e.g. https://registry.example.com:8081"
            )
        return value.rstrip("/") if value is not None else None

    @model_validator(mode="after")
    def _reachable(self) -> Cluster:
        if not self.local and (self.bootstrap_servers is None or self.auth is None):
            raise ValueError("a cluster that is not `local: true` needs bootstrap_servers and auth")
        return self


class Quota(_Model):
    producer_byte_rate: ByteSize | None = Field(None, description="Bytes/s per broker.")
    consumer_byte_rate: ByteSize | None = None
    request_percentage: float | None = Field(None, gt=0)
    controller_mutation_rate: float | None = Field(None, gt=0)

    def values(self) -> dict[str, float]:
        return {
            k: float(v) for k, v in self.model_dump().items() if v is not None and k in _QUOTA_KEYS
        }


_QUOTA_KEYS = (
    "producer_byte_rate",
    "consumer_byte_rate",
    "request_percentage",
    "controller_mutation_rate",
)


#: Confluent's compatibility levels (the registry enforces them; the spec names them).
CompatibilityLevel = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]


class SchemaRef(_Model):
    """A key or value schema: its file, the subject's settings, and its data contract.

    ``tags``, ``properties``, ``sensitive`` and ``rules`` are registered with the schema
    as Confluent's ``metadata`` and ``ruleSet`` (see ``_contracts.py``); a change to any of
    them is a new version of the subject.
    """

    file: str
    compatibility: CompatibilityLevel | None = None
    compatibility_group: str | None = Field(
        None,
        description="The subject's compatibilityGroup: a metadata property (usually "
        "application.major.version) whose new value starts a new line of versions that is "
        "not checked against the old one.",
    )
    tags: dict[str, list[str]] = Field(
        {},
        description='Field tags by field path, e.g. {"**.email": [PII]} (Confluent wildcards '
        'over full names such as "io.example.Customer.email"); tags written in the schema '
        '("confluent:tags") count too.',
    )
    properties: dict[str, ContractText] = Field(
        {},
        description="Metadata properties, e.g. {owner: kyc-team, application.major.version: "
        '"1"}; clients pin to the latest version of their application.major.version.',
    )
    sensitive: list[str] = Field([], description="Names of properties holding sensitive values.")
    rules: ContractRules | None = Field(
        None, description="Domain and migration rules in Confluent's shape."
    )

    @property
    def format(self) -> str:
        suffix = self.file.rsplit(".", 1)[-1].lower()
        return {"avsc": "AVRO", "proto": "PROTOBUF", "json": "JSON"}.get(suffix, "UNKNOWN")


class Encryption(_Model):
    """The KEK that ENCRYPT rules wrap their data keys with, and the KMS that holds it.

    Set once at the top level of the spec; a tenant may name its own (its key, so its data
    can be shredded on its own). Credentials never live here: the AWS KMS is reached with
    the standard AWS credential chain, the local KMS with the secret named by ``secret``.
    """

    kek: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="KEK name in the registry."
    )
    kms_type: Literal["local-kms", "aws-kms"]
    kms_key_id: str = Field(
        min_length=1,
        description="The KMS key: an AWS key ARN (arn:aws:kms:<region>:<account>:key/<id>), "
        "or any name for the local KMS.",
    )
    dek_algorithm: Literal["AES256_GCM", "AES128_GCM", "AES256_SIV"] | None = None
    dek_expiry_days: int | None = Field(
        None, ge=1, description="Rotate data keys after this many days."
    )
    secret: Secret | None = Field(
        None,
        description="local-kms only: where its master secret comes from ({env: ...} or "
        "{file: ...}); default: the LOCAL_SECRET environment variable, then the local "
        "cluster's data directory.",
    )

    @model_validator(mode="after")
    def _kms(self) -> Encryption:
        if self.kms_type == "aws-kms" and not re.fullmatch(
            r"arn:aws[\w-]*:kms:[\w-]+:\d*:(key|alias)/\S+", self.kms_key_id
        ):
            raise ValueError(
                "an aws-kms kms_key_id is a key or alias ARN, e.g. "
                "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            )
        if self.secret is not None and self.kms_type != "local-kms":
            raise ValueError(
                "`secret` is for local-kms; the AWS KMS is reached with the AWS credential "
                "chain (environment, profile or role)"
            )
        return self


def _schema_ref(value: object) -> object:
    return {"file": value} if isinstance(value, str) else value


SchemaField = Annotated[SchemaRef | None, BeforeValidator(_schema_ref)]


MaskKind = Literal["redact", "hash", "last4", "tokenize"]
#: What each mask writes in the twin, for the docs and the CLI.
MASKS: dict[str, str] = {
    "redact": "the value replaced by [redacted]",
    "hash": "HMAC-SHA256 of the value with a secret salt (joins still work; not reversible)",
    "last4": "all but the last four digits starred, e.g. ************1234",
    "tokenize": "a random token; the value kept in the raw owners' vault topic",
}


class MaskedTwin(_Model):
    """A standard-read copy of a topic with its tagged fields masked, kept by a job.

    ``apply`` creates the twin (a public event of the same domain, with the raw topic's
    schema), the masking job's dead-letter topic and, with ``tokenize``, the vault; the
    job (``streamplane mask run``, started by ``up --spec``) connects as the derived
    application ``<topic>-masker`` that reads the raw topic and writes the twin in one
    transaction per batch. Other tenants consume the twin; the raw topic stays private.
    """

    name: str | None = Field(
        None, description="The twin's local name (default: <topic>-masked.v1), a public event."
    )
    masks: dict[str, MaskKind] = Field(
        min_length=1,
        description="Field tag -> redact, hash, last4 or tokenize, e.g. {PII: hash, CARD: last4}.",
    )
    classification: Classification = Field(
        Classification.INTERNAL, description="The twin's classification."
    )
    salt: Secret | None = Field(
        None,
        description="The HMAC salt of hash and tokenize (env or file); default on the local "
        "cluster: <data dir>/secrets/masking-salt, made on first use.",
    )


class LakeSink(_Model):
    """The topic streamed into an Apache Iceberg table, exactly once (``streamplane lake``)."""

    table: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
        description="namespace.table; default: <tenant>.<domain>_<topic> with - as _.",
    )
    max_rows: int = Field(10_000, ge=1, description="Commit when a batch holds this many rows.")
    commit_interval: DurationMs = Field(
        5_000, description="... or when its first row is this old (the table's freshness)."
    )
    maintenance_interval: DurationMs = Field(
        600_000,
        ge=1_000,
        description="How often the sink compacts small files and expires old snapshots.",
    )
    snapshot_retention: DurationMs = Field(
        3_600_000,
        ge=0,
        description="Snapshots older than this are expired (time travel reaches this far back).",
    )
    partition_by: list[str] = Field(
        [],
        description='Iceberg partition transforms of top-level value fields: "day(placed_at)" '
        '(also year, month, hour), "bucket(16, id)", "truncate(4, name)", "country" '
        "(identity).",
    )
    catalog: str | None = Field(
        None,
        description="A catalog of the platform's lake_catalogs; default: the local SQLite "
        "catalog beside the cluster's data.",
    )


class LakeCatalog(_Model):
    """Where lake tables live: pyiceberg's SQL catalog (SQLite or any SQLAlchemy URI) or an
    Iceberg REST catalog, with files on local disk or S3-compatible storage."""

    name: Name
    type: Literal["sql", "rest"] = "sql"
    uri: str | None = Field(
        None,
        description="sql: a SQLAlchemy URI (default: SQLite beside the cluster's data); "
        "rest: the catalog's base URL.",
    )
    warehouse: str | None = Field(
        None, description="Where data files go: a path, file:// or s3://bucket/prefix URL."
    )
    s3_endpoint: str | None = Field(
        None, description="An S3-compatible endpoint (MinIO, Ceph, moto); default: AWS."
    )
    s3_region: str | None = None
    s3_access_key_id: Secret | None = None
    s3_secret_access_key: Secret | None = None
    token: Secret | None = Field(None, description="rest: the catalog's bearer token.")


class Topic(_Model):
    name: str = Field(description="Local name; the full name is <tenant prefix><domain>.<name>.")
    full_name: str | None = Field(
        None,
        description="Exact Kafka name of a legacy topic; naming convention not applied.",
    )
    partitions: int = Field(3, ge=1, le=10000)
    replication_factor: int | None = Field(None, ge=1, description="Default: the cluster default.")
    configs: dict[str, Any] = {}
    retention: DurationMs | None = Field(None, description="Sets retention.ms; e.g. 7d, -1.")
    cleanup_policy: Literal["delete", "compact", "compact,delete"] | None = None
    compression: Literal["zstd", "lz4", "snappy", "gzip", "producer", "uncompressed"] | None = None
    tiered: bool | None = Field(
        None,
        description="Tiered storage (KIP-405): closed segments are copied to the cluster's "
        "remote store and read back from it; sets remote.storage.enable. The cluster needs "
        "tiered_storage: true.",
    )
    local_retention: DurationMs | None = Field(
        None,
        description="With tiered: how long segments also stay on broker disks (sets "
        "local.retention.ms; e.g. 1d). Kafka's default keeps them for the whole retention.",
    )
    classification: Classification | None = None
    owner: str | None = None
    key_schema: SchemaField = None
    value_schema: SchemaField = None
    visibility: Visibility = Visibility.PRIVATE
    core: bool = Field(False, description="A core pipeline topic: stricter policy.")
    protected: bool = Field(False, description="Never deleted by apply.")
    lake: LakeSink | None = Field(
        None, description="Stream the topic into an Iceberg table (needs an Avro value_schema)."
    )
    masked_twin: MaskedTwin | None = Field(
        None, description="A masked, standard-read twin kept by a supervised masking job."
    )

    def kafka_configs(self) -> dict[str, object]:
        """The topic-level configs this entry asks for, shortcuts folded in."""
        merged: dict[str, object] = dict(self.configs)
        if self.retention is not None:
            merged["retention.ms"] = self.retention
        if self.cleanup_policy is not None:
            merged["cleanup.policy"] = self.cleanup_policy
        if self.compression is not None:
            merged["compression.type"] = self.compression
        if self.tiered is not None:
            merged["remote.storage.enable"] = "true" if self.tiered else "false"
        if self.local_retention is not None:
            merged["local.retention.ms"] = self.local_retention
        return merged


class ClientProfile(_Model):
    """A client profile tightened for one application: the profile's settings, then these."""

    name: Literal["zero_loss", "low_latency", "throughput"] = Field(
        description="The profile whose guarantee the application declares."
    )
    producer: dict[str, Any] = Field({}, description="librdkafka producer settings on top.")
    consumer: dict[str, Any] = Field({}, description="librdkafka consumer settings on top.")


def _client_profile(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


ProfileField = Annotated[ClientProfile | None, BeforeValidator(_client_profile)]


class DeadLetters(_Model):
    """Where an application's consumer parks records it cannot process (see the client SDK).

    Each topic the application consumes gets, in the application's own namespace,
    ``<prefix><domain>.<app>.<topic>.dlq`` and, per retry delay,
    ``<prefix><domain>.<app>.<topic>.retry.<n>``: ``apply`` creates them with the topic's
    partitions, replication and durability settings and grants the application, and
    nobody else, what it needs on them (``streamplane.model._dead_letters``).
    """

    retries: list[DurationMs] = Field(
        [],
        description="One retry topic per delay before the dead-letter topic, e.g. [5s, 1m]; "
        "empty: straight to <prefix><domain>.<app>.<topic>.dlq.",
        max_length=10,
    )
    retention: DurationMs = Field(
        14 * 86400 * 1000, description="retention.ms of the retry and dead-letter topics."
    )

    @field_validator("retries")
    @classmethod
    def _positive(cls, delays: list[int]) -> list[int]:
        if any(d <= 0 for d in delays):
            raise ValueError("retry delays must be positive, e.g. [5s, 1m]")
        return delays


class Application(_Model):
    name: Name
    principal: str | None = Field(None, description="SCRAM user name; default: the app name.")
    password: Secret | None = None
    client_ids: list[str] = []
    consumer_group: str | None = Field(None, description="Default: <tenant prefix><app name>.")
    produces: list[str] = Field([], description="Full topic names this application writes.")
    consumes: list[str] = Field([], description="Full topic names this application reads.")
    transactional: bool = False
    rack: str | None = Field(
        None,
        description="The rack (availability zone) the application runs in, named as the "
        "brokers' broker.rack: its consumers fetch from a replica there (KIP-392) instead of "
        "the leader, saving cross-zone traffic. STREAMPLANE_CLIENT_RACK overrides it for one "
        "instance (instances of one application often run in several zones).",
    )
    quotas: Quota | None = None
    profile: ProfileField = Field(
        None,
        description="Client profile (zero_loss, low_latency, throughput), by name or as "
        "{name, producer, consumer} with settings that may tighten but never break it.",
    )
    credentials: Literal["managed", "external"] = Field(
        "managed",
        description="external: the principal's SCRAM credential is managed outside Streamplane.",
    )
    auth: Literal["scram", "mtls", "oauth"] = Field(
        "scram",
        description="How it proves who it is: scram (SCRAM-SHA-512 password), mtls (a client "
        "certificate whose CN is the principal) or oauth (OAuth 2 client credentials; the "
        "token's sub is the principal). On the local cluster apply issues the certificate or "
        "registers the client and writes <data dir>/clients/<principal>.properties.",
    )
    dead_letters: DeadLetters | None = Field(
        None,
        description="Retry and dead-letter topics of its own for the topics this application "
        "consumes, created by apply; {} for <prefix><domain>.<app>.<topic>.dlq alone.",
    )


class Domain(_Model):
    name: Name
    owner: str | None = None
    topics: list[Topic] = []
    applications: list[Application] = []
    lake: LakeSink | None = Field(
        None,
        description="A lake sink for every topic of the domain with a value schema (a "
        "topic's own `lake:` wins); each topic gets its own table.",
    )


class Slo(_Model):
    """One service-level objective: the share of good events over a rolling window.

    The SLI says what counts as good. On the platform the canary measures availability
    (acknowledged produce requests), ``produce_latency`` and ``e2e_latency`` (under
    ``threshold``) and ``durability`` (acknowledged records the canary read back); the
    monitor's lag samples measure ``freshness`` (groups within ``max_lag`` records). On a
    tenant the SDK's own metrics of its applications measure availability and
    produce_latency, and the lag samples of their groups measure freshness.
    """

    name: Name
    sli: Literal["availability", "produce_latency", "e2e_latency", "durability", "freshness"]
    objective: float = Field(
        gt=0, le=100, description="Percent of good events, e.g. 99.9 (100: no bad event)."
    )
    window: DurationMs = Field(
        30 * 86400 * 1000,
        description="The rolling window of the error budget, e.g. 30d; the alert windows "
        "scale with it (the SRE workbook's 1h/5m, 6h/30m and 3d/6h are those of 30d).",
    )
    threshold: DurationMs | None = Field(
        None, description="produce_latency and e2e_latency: the bound of a good event, e.g. 50ms."
    )
    max_lag: int | None = Field(
        None, ge=0, description="freshness: the most records a group may be behind."
    )
    applications: list[str] = Field(
        [],
        description="Tenant SLOs: the applications measured (default: all of the tenant's).",
    )
    description: str | None = None


class Alerting(_Model):
    """Where burn-rate alerts go besides the log and the audit trail."""

    webhook: str | None = Field(
        None,
        description="URL each alert (firing and resolved) is POSTed to as JSON, in the "
        "shape of Alertmanager's webhook.",
    )
    audit: bool = Field(True, description="Record each alert in _streamplane_audit.")

    @field_validator("webhook")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:9000/hook")
        return value


class Tenant(_Model):
    name: Name
    prefix: str | None = Field(None, description="Namespace of topics, groups, transactional ids.")
    owners: list[str] = Field(min_length=1)
    clusters: list[str] = Field(min_length=1)
    quotas: Quota | None = Field(None, description="Default quotas of each application.")
    encryption: Encryption | None = Field(
        None, description="The KEK of this tenant's ENCRYPT rules (default: the spec's)."
    )
    domains: list[Domain] = []
    slos: list[Slo] = Field(
        [], description="The tenant's SLOs, measured on its applications' own traffic."
    )

    @property
    def namespace(self) -> str:
        return self.prefix if self.prefix is not None else f"{self.name}."


class AclException(_Model):
    """A hand-written ACL: allowed only as an explicit, justified exception."""

    principal: str = Field(pattern=r"^User:.+")
    resource_type: Literal["topic", "group", "cluster", "transactional_id"]
    resource_name: str
    pattern: Literal["literal", "prefixed"] = "literal"
    operation: Literal[
        "read",
        "write",
        "create",
        "delete",
        "alter",
        "describe",
        "cluster_action",
        "describe_configs",
        "alter_configs",
        "idempotent_write",
        "all",
    ]
    permission: Literal["allow", "deny"] = "allow"
    host: str = "*"
    reason: str = Field(min_length=10, description="Why this cannot be derived from the model.")
    cluster: str | None = None


class QuotaEntry(Quota):
    user: str | None = None
    client_id: str | None = None

    @model_validator(mode="after")
    def _entity(self) -> QuotaEntry:
        if self.user is None and self.client_id is None:
            raise ValueError("a quota needs a `user`, a `client_id`, or both")
        return self


class RuleSetting(_Model):
    severity: Literal["error", "warning", "info", "off"] | None = None
    exemptions: list[Exemption] = []


class Exemption(_Model):
    resource: str = Field(description="Glob over the resource name, e.g. payments.card.*")
    reason: str = Field(min_length=10)


class PolicySettings(_Model):
    rules: dict[str, RuleSetting] = {}
    custom: list[str] = Field([], description="Extra rules as 'module:function'.")
    core_compression: str = "zstd"
    max_retention_without_tiered: DurationMs = Field(30 * 86400 * 1000)
    guardrails: bool = Field(
        False,
        description="Have the brokers refuse topics that break the spec's naming, "
        "replication and retention rules, whoever creates them (Kafka's own CLI included). "
        "Off by default so that adopting an existing cluster changes nothing until asked.",
    )


class DeletionSettings(_Model):
    grace_period: DurationMs = Field(7 * 86400 * 1000, description="No traffic for this long.")
    protected: list[str] = Field([], description="Globs of topic names never deleted.")


class TopicSelection(_Model):
    """Which of the source cluster's spec topics a flow copies: all the given filters hold.

    Only topics the spec declares on the source are ever selected (MM2's own default,
    ``topics=.*``, copies whatever exists); a topic without a classification never
    matches a ``classifications`` filter.
    """

    names: list[str] = Field(
        default_factory=lambda: ["*"], description="Full topic names or globs (fnmatch)."
    )
    classifications: list[Classification] | None = Field(
        None, description="Only topics of these classifications, e.g. [public, internal]."
    )
    visibility: list[Visibility] | None = Field(
        None, description="Only topics of this visibility, e.g. [public]: public events."
    )


class ReplicationFlow(_Model):
    """One MirrorMaker 2 flow (source -> target), run as a process of its own."""

    source: Name
    target: Name
    topics: TopicSelection = Field(default_factory=lambda: TopicSelection())
    groups: list[str] = Field(
        default_factory=list,
        description="Consumer groups (names or globs) whose offsets MM2 checkpoints on the "
        "target, so `streamplane failover` can move them.",
    )
    naming: Literal["prefix", "identity"] = Field(
        "prefix",
        description="prefix: the copy of T is <source>.T (MM2's DefaultReplicationPolicy, "
        "loop-free); identity: the copy keeps its name (only where the flows have no cycle).",
    )
    sync_configs: bool = Field(True, description="Copy the topics' configs to the copies.")
    tasks: int = Field(1, ge=1, le=64, description="MM2 tasks.max.")
    interval: DurationMs = Field(
        5000,
        description="Checkpoint, offset-sync and heartbeat interval (MM2's default: 60 s).",
    )


class Replication(_Model):
    flows: list[ReplicationFlow] = []


class Platform(_Model):
    clusters: list[Cluster] = []
    tenants: list[Tenant] = []
    acl_exceptions: list[AclException] = []
    quotas: list[QuotaEntry] = []
    policy: PolicySettings = PolicySettings()
    deletion: DeletionSettings = DeletionSettings()
    encryption: Encryption | None = Field(
        None,
        description="The KEK and KMS of ENCRYPT rules, e.g. the default rule of every "
        "classification: pii topic; a tenant may set its own.",
    )
    replication: Replication = Field(
        default_factory=lambda: Replication(),
        description="MirrorMaker 2 flows between the spec's clusters.",
    )
    slos: list[Slo] = Field(
        [], description="Platform SLOs, measured by the canary and the lag monitor."
    )
    alerting: Alerting = Field(default_factory=lambda: Alerting())
    lake_catalogs: list[LakeCatalog] = Field(
        [], description="Iceberg catalogs topics' `lake:` may name (`catalog:`)."
    )


RuleSetting.model_rebuild()

PUBLIC_EVENT_RE = re.compile(r"^[a-z][a-z0-9-]*\.v[1-9][0-9]*$")
PRIVATE_TOPIC_RE = re.compile(r"^[a-z][a-z0-9-]*$")
