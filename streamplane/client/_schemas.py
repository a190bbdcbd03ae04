"""Which schema each topic's keys and values must match, and how to reach the registry.

A topic's schema comes from the platform spec (``key_schema`` / ``value_schema``) or is
given explicitly. Protobuf is the odd one out: confluent-kafka's serdes work on generated
message classes rather than on ``.proto`` text. Producing infers the class from the
value; consuming parses into the application's generated class when it names one
(``protobuf_types``), and otherwise into a class built from the writer's schema in the
registry (``_protobuf``).

A schema with a data contract in the spec (tags, properties, rules) carries it here: the
SDK's serdes then write and read through the registered version with confluent-kafka's
rule engine (see ``_contracts``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from confluent_kafka.schema_registry import SchemaRegistryClient

from streamplane.client._errors import ClientError

if TYPE_CHECKING:
    from streamplane.kafka import ConnectionSettings
    from streamplane.model import Spec

SchemaFormat = Literal["AVRO", "PROTOBUF", "JSON"]
_FORMATS: tuple[SchemaFormat, ...] = ("AVRO", "PROTOBUF", "JSON")


@dataclass(frozen=True)
class TopicSchema:
    """The schema one side (key or value) of a topic must match.

    ``text`` is the Avro or JSON Schema document; without it, a consumer reads with the
    writer's schema from the registry. ``message_type`` is the generated Protobuf class;
    without it, a consumer builds the writer's message class from the registry.
    ``source`` says where the schema was declared, for error messages.

    ``metadata`` and ``rule_set`` are its data contract (Confluent's shapes). A schema with
    a contract is written and read with the subject's registered version, where the rules
    live: the latest one, or with ``latest_metadata`` the latest one with those metadata
    properties (e.g. ``{"application.major.version": "2"}``).
    """

    format: SchemaFormat
    text: str | None = None
    message_type: type[Any] | None = None
    source: str | None = None
    metadata: dict[str, Any] | None = field(default=None, compare=False)
    rule_set: dict[str, Any] | None = field(default=None, compare=False)
    latest_metadata: dict[str, str] | None = field(default=None, compare=False)

    @property
    def has_contract(self) -> bool:
        return bool(self.metadata or self.rule_set)

    def latest_conf(self) -> dict[str, Any]:
        """The serde settings that resolve the registered version a contract lives in."""
        if self.latest_metadata:
            return {"use.latest.with.metadata": dict(self.latest_metadata)}
        return {"use.latest.version": True}

    @classmethod
    def avro(cls, text: str | None = None, *, source: str | None = None) -> TopicSchema:
        return cls("AVRO", text=text, source=source)

    @classmethod
    def json(cls, text: str | None = None, *, source: str | None = None) -> TopicSchema:
        return cls("JSON", text=text, source=source)

    @classmethod
    def protobuf(
        cls, message_type: type[Any] | None = None, *, source: str | None = None
    ) -> TopicSchema:
        return cls("PROTOBUF", message_type=message_type, source=source)

    def describe(self) -> str:
        """E.g. ``an AVRO schema (schemas/order.avsc)``, for messages people read."""
        where = f" ({self.source})" if self.source else ""
        return f"an {self.format} schema{where}"


@dataclass(frozen=True)
class TopicSchemas:
    """The declared key and value schema of one topic; ``None`` means raw bytes."""

    key: TopicSchema | None = None
    value: TopicSchema | None = None


@dataclass(frozen=True)
class RegistrySettings:
    """Where the schema registry is and how to authenticate (HTTP basic), if at all.

    ``auto_register``: producers register a topic's schema on first use. Turn it off where
    schemas are registered only by the platform (``streamplane apply``); producing then
    needs the exact schema to be registered already.
    """

    url: str
    username: str | None = None
    password: str | None = None
    auto_register: bool = True
    #: OAuth client credentials instead of a password: the client fetches its own tokens
    #: from this token endpoint and sends them as ``Authorization: Bearer``.
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    #: A client certificate and its key (an mTLS application): the client signs short-lived
    #: assertions with the key (see ``streamplane.security.cert_assertion``).
    ssl_certificate: str | None = None
    ssl_key: str | None = None

    @classmethod
    def of(
        cls, url: str, connection: ConnectionSettings, *, auto_register: bool = True
    ) -> RegistrySettings:
        """The registry at ``url``, reached with the same identity as ``connection``."""
        if connection.oauth:
            return cls(
                url,
                auto_register=auto_register,
                oauth_token_url=connection.oauth_token_url,
                oauth_client_id=connection.oauth_client_id,
                oauth_client_secret=connection.oauth_client_secret,
            )
        if connection.username is None and connection.ssl_certificate and connection.ssl_key:
            return cls(
                url,
                auto_register=auto_register,
                ssl_certificate=connection.ssl_certificate,
                ssl_key=connection.ssl_key,
            )
        return cls(
            url,
            username=connection.username,
            password=connection.password,
            auto_register=auto_register,
        )

    def client_config(self) -> dict[str, Any]:
        """Config for confluent-kafka's ``SchemaRegistryClient``."""
        conf: dict[str, Any] = {"url": self.url}
        if self.ssl_certificate is not None and self.ssl_key is not None:
            # Imported here: the security package reaches the local cluster's modules.
            from streamplane.security.cert_assertion import AssertionSource

            source = AssertionSource(self.ssl_certificate, self.ssl_key)
            conf.update({
                "bearer.auth.credentials.source": "CUSTOM",
                "bearer.auth.custom.provider.function": source.bearer_fields,
                "bearer.auth.custom.provider.config": {},
            })  # fmt: skip
        elif self.oauth_token_url is not None:
            conf.update({
                "bearer.auth.credentials.source": "OAUTHBEARER",
                "bearer.auth.issuer.endpoint.url": self.oauth_token_url,
                "bearer.auth.client.id": self.oauth_client_id or "",
                "bearer.auth.client.secret": self.oauth_client_secret or "",
                "bearer.auth.scope": "",
                # Required by the client for Confluent Cloud; Streamplane's registry ignores it.
                "bearer.auth.logical.cluster": "streamplane",
            })  # fmt: skip
        elif self.username is not None and self.password is not None:
            conf["basic.auth.user.info"] = f"{self.username}:{self.password}"
        return conf

    def client(self) -> SchemaRegistryClient:
        return SchemaRegistryClient(self.client_config())


#: What an SDK client accepts as its registry: settings, a URL, or a ready client.
RegistryRef = RegistrySettings | SchemaRegistryClient | str


def registry_client(ref: RegistryRef | None) -> SchemaRegistryClient | None:
    """One ``SchemaRegistryClient`` (which caches ids and schemas) for a client's serdes."""
    if ref is None or isinstance(ref, SchemaRegistryClient):
        return ref
    if isinstance(ref, str):
        return RegistrySettings(ref).client()
    return ref.client()


def registry_from_spec(
    spec: Spec, connection: ConnectionSettings, *, cluster: str | None = None
) -> RegistrySettings | None:
    """The registry the spec names for its cluster, reached with the client's credentials."""
    try:
        entry = spec.cluster(cluster)
    except KeyError:
        return None
    url = getattr(entry, "schema_registry", None)
    if not isinstance(url, str):
        return None
    return RegistrySettings.of(url, connection)


def schemas_from_spec(
    spec: Spec,
    topics: Iterable[str] | None = None,
    *,
    protobuf_types: Mapping[str, type[Any]] | None = None,
) -> dict[str, TopicSchemas]:
    """The declared schemas of ``topics`` (default: every topic of the spec).

    ``protobuf_types`` maps a topic name to the generated message class of its values, to
    consume a Protobuf topic into that class rather than one built from the registry.
    """
    types = dict(protobuf_types or {})
    wanted = set(topics) if topics is not None else None
    found: dict[str, TopicSchemas] = {}
    for name, entry in spec.topics.items():
        if wanted is not None and name not in wanted:
            continue
        topic = entry.topic
        key = _declared(spec, topic.key_schema, message_type=None)
        value = _declared(spec, topic.value_schema, message_type=types.get(name))
        key = _with_contract(key, spec, entry, "key")
        value = _with_contract(value, spec, entry, "value")
        if key is not None or value is not None:
            found[name] = TopicSchemas(key=key, value=value)
    return found


def _with_contract(
    schema: TopicSchema | None, spec: Spec, entry: Any, role: Literal["key", "value"]
) -> TopicSchema | None:
    """The schema with the contract the platform registers for it (see schema_contract)."""
    from streamplane.model import MAJOR_VERSION, schema_contract

    if schema is None:
        return None
    contract = schema_contract(spec, entry, role)
    if contract.empty:
        return schema
    properties = (contract.metadata or {}).get("properties", {})
    major = properties.get(MAJOR_VERSION)
    return replace(
        schema,
        metadata=contract.metadata,
        rule_set=contract.rule_set,
        latest_metadata={MAJOR_VERSION: str(major)} if major is not None else None,
    )


def _declared(spec: Spec, ref: Any, *, message_type: type[Any] | None) -> TopicSchema | None:
    if ref is None:
        return None
    fmt = ref.format
    if fmt not in _FORMATS:
        raise ClientError(
            f"schema file {ref.file} has an unknown format; name it .avsc, .proto or .json"
        )
    path = spec.root / ref.file
    try:
        text = path.read_text()
    except OSError as exc:
        raise ClientError(f"cannot read schema {path}: {exc.strerror}") from None
    if fmt == "PROTOBUF":
        # The .proto text is not what the serdes need; the generated class is.
        return TopicSchema("PROTOBUF", message_type=message_type, source=ref.file)
    return TopicSchema(fmt, text=text, source=ref.file)
