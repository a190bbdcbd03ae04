"""Data contracts in the SDK: confluent-kafka's rule executors and KMS drivers, passed through.

A topic whose schema declares a contract in the spec (tags, properties, rules; a pii
topic's default ENCRYPT rule) is written and read through confluent-kafka's own serdes
with its rule engine switched on, so fields are encrypted and CEL conditions enforced
without application code:

* the serdes resolve the *registered* version (``use.latest.version``, or
  ``use.latest.with.metadata`` pinned to the spec's ``application.major.version``), since
  confluent-kafka runs rules only against a registered version;
* each SDK client gets a ``RuleRegistry`` of its own with CelExecutor, CelFieldExecutor,
  FieldEncryptionExecutor, EncryptionExecutor and JsonataExecutor (a process-wide one
  would refuse two clients with different registry credentials), and the local and AWS
  KMS drivers are registered once per process;
* ``rule.config`` (KMS secrets and credentials) comes from :class:`DataContracts`: the
  environment or files, never the spec.

:func:`fast_path_allowed` says when the SDK's compiled Avro path may stand in for
confluent-kafka's serializer: only for a registered schema with no rules to run.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.rule_registry import RuleRegistry
from confluent_kafka.schema_registry.schema_registry_client import Metadata, RuleSet
from confluent_kafka.serialization import SerializationContext

from streamplane.client._errors import ClientError
from streamplane.model import ENCRYPTING

if TYPE_CHECKING:
    from streamplane.client._schemas import TopicSchema, TopicSchemas
    from streamplane.model import Encryption, Secret, Spec

#: Where the local KMS driver reads its secret when ``rule.config`` has none (Confluent's).
LOCAL_SECRET_ENV = "LOCAL_SECRET"
_RULE_LISTS = ("domain_rules", "migration_rules", "encoding_rules")

_drivers_lock = threading.Lock()
_drivers_registered = False


def register_kms_drivers() -> None:
    """Register confluent-kafka's local and AWS KMS drivers, once per process."""
    global _drivers_registered
    with _drivers_lock:
        if _drivers_registered:
            return
        from confluent_kafka.schema_registry.rules.encryption.awskms.aws_driver import (
            AwsKmsDriver,
        )
        from confluent_kafka.schema_registry.rules.encryption.localkms.local_driver import (
            LocalKmsDriver,
        )

        LocalKmsDriver.register()
        AwsKmsDriver.register()
        _drivers_registered = True


def rule_registry() -> RuleRegistry:
    """A registry of confluent-kafka's rule executors, for one SDK client's serdes."""
    from confluent_kafka.schema_registry.rules.cel.cel_executor import CelExecutor
    from confluent_kafka.schema_registry.rules.cel.cel_field_executor import CelFieldExecutor
    from confluent_kafka.schema_registry.rules.encryption.encrypt_executor import (
        EncryptionExecutor,
        FieldEncryptionExecutor,
    )
    from confluent_kafka.schema_registry.rules.jsonata.jsonata_executor import JsonataExecutor

    from streamplane.client.subject_encryption import SubjectEncryptionExecutor

    register_kms_drivers()
    # confluent-kafka's rule classes are not typed; each is constructed without arguments.
    kinds: tuple[Any, ...] = (
        CelExecutor,
        CelFieldExecutor,
        FieldEncryptionExecutor,
        EncryptionExecutor,
        JsonataExecutor,
        SubjectEncryptionExecutor,
    )
    make: Any = RuleRegistry
    registry: RuleRegistry = make()
    for kind in kinds:
        registry.register_executor(kind())
    return registry


def close_rule_registry(registry: RuleRegistry | None) -> None:
    """Release what the executors hold (the DEK registry clients)."""
    if registry is None:
        return
    executors: list[Any] = registry.get_executors()
    for executor in executors:
        # Closing must not hide the caller's own error.
        with contextlib.suppress(Exception):
            executor.close()


@dataclass(frozen=True)
class DataContracts:
    """How an SDK client runs the data-contract rules of its topics' schemas.

    ``rule_config`` is confluent-kafka's ``rule.config``, handed to every rule executor and
    KMS driver: ``secret`` for the local KMS; ``access.key.id``, ``secret.access.key``,
    ``profile`` or ``role.arn`` for the AWS KMS (which otherwise uses the standard AWS
    credential chain). :meth:`from_spec` fills it from the environment and the files the
    spec names, never from the spec itself.

    ``rules``: the executors to run, shared by the clients given the same object (one DEK
    cache for a process that consumes and produces); by default each client makes its own
    (:func:`rule_registry`) and closes it with itself.
    """

    rule_config: Mapping[str, str] = field(default_factory=dict)
    rules: RuleRegistry | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_spec(
        cls,
        spec: Spec,
        *,
        data_dir: Path | None = Path(".streamplane"),
        environ: Mapping[str, str] | None = None,
        rule_config: Mapping[str, str] | None = None,
    ) -> DataContracts:
        """The rule config a client of ``spec`` needs; ``rule_config`` entries win.

        The local KMS's secret: the spec's ``encryption.secret`` (an environment variable
        or a file), else ``LOCAL_SECRET``, else, for a spec with a local cluster, the file
        ``<data_dir>/secrets/local-kms``, created on first use like the local principals'
        passwords so the example estate works out of the box.
        """
        env = os.environ if environ is None else environ
        config = dict(rule_config or {})
        if "secret" in config:
            return cls(config)
        settings = _local_kms_settings(spec)
        if not settings:
            return cls(config)
        sources = {_resolve(spec, s.secret, env) for s in settings if s.secret is not None}
        if len(sources) > 1:
            raise ClientError(
                "the spec names different secrets for local-kms KEKs; confluent-kafka's local "
                "KMS takes one secret per process, so name the same one (or use aws-kms)"
            )
        if sources:
            config["secret"] = sources.pop()
        elif not env.get(LOCAL_SECRET_ENV) and data_dir is not None:
            local = any(c.local for c in spec.platform.clusters)
            if local and data_dir.is_dir():
                # Imported here: streamplane.security.kms loads boto3, which a client
                # without a local KEK should not pay for at import.
                from streamplane.security.kms import local_kms_secret

                config["secret"] = local_kms_secret(data_dir)
        return cls(config)


def _local_kms_settings(spec: Spec) -> list[Encryption]:
    found = [spec.platform.encryption, *(t.encryption for t in spec.platform.tenants)]
    return [e for e in found if e is not None and e.kms_type == "local-kms"]


def _resolve(spec: Spec, source: Secret, env: Mapping[str, str]) -> str:
    if source.env is not None:
        value = env.get(source.env)
        if not value:
            raise ClientError(
                f"the spec's local-kms secret is the environment variable {source.env}, which "
                "is not set; export it (the KEK's master secret, the same for every client)"
            )
        return value
    path = spec.root / str(source.file)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ClientError(f"cannot read the local-kms secret {path}: {exc.strerror}") from None


def contracts_for(
    spec: Spec,
    schemas: Mapping[str, TopicSchemas],
    topics: Iterable[str],
    given: DataContracts | None,
    *,
    data_dir: Path | None = Path(".streamplane"),
) -> DataContracts | None:
    """An application's contract settings: those given, else the spec's when one of its
    topics encrypts (KMS settings are looked for only when something needs them; the local
    cluster's in ``data_dir``)."""
    if given is not None:
        return given
    for topic in topics:
        declared = schemas.get(topic)
        for schema in (declared.key, declared.value) if declared is not None else ():
            rules = (schema.rule_set or {}).get("domainRules", []) if schema else []
            if any(r.get("type") in ENCRYPTING for r in rules):
                return DataContracts.from_spec(spec, data_dir=data_dir)
    return None


# ------------------------------------------------------------------------ serde helpers
def contract_schema(
    text: str, schema_type: str, metadata: dict[str, Any] | None, rule_set: dict[str, Any] | None
) -> Schema:
    """The schema as the platform registers it: text, metadata and rule set."""
    return Schema(
        text,
        schema_type,
        [],
        Metadata.from_dict(metadata) if metadata else None,
        RuleSet.from_dict(rule_set) if rule_set else None,
    )


def has_rules(schema: Schema | None) -> bool:
    """Whether confluent-kafka's serdes would run any rule for this registered schema."""
    rule_set = getattr(schema, "rule_set", None)
    return rule_set is not None and any(getattr(rule_set, name) for name in _RULE_LISTS)


def fast_path_allowed(schema: Schema | None) -> bool:
    """Whether the compiled Avro path may stand in for confluent-kafka's serde.

    Correctness first: a schema with rules (an ENCRYPT transform, a CEL condition, a
    migration) needs the serde's rule engine on every record, and a schema with references
    needs its resolved named types; only a self-contained schema without rules is exactly
    "encode (or decode) the body with this schema".
    """
    if schema is None or (schema.schema_type or "AVRO") != "AVRO":
        return False
    # Any rule set, even one whose lists are empty: what the serde would run is decided by
    # confluent-kafka, so the shortcut is kept to schemas that plainly have none.
    return not schema.references and schema.rule_set is None


def rule_failure(exc: BaseException) -> tuple[bool, str] | None:
    """``(refused_by_a_condition, why)`` when ``exc`` comes from a rule, else None.

    confluent-kafka raises a bare ``SerializationError`` whose cause is the rule's error: a
    ``RuleConditionError`` when a CONDITION rule refused the record (the record breaks the
    contract), another ``RuleError`` when a rule could not run (no KEK, no KMS secret).
    """
    from confluent_kafka.schema_registry.serde import RuleConditionError, RuleError

    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(c, RuleConditionError) for c in chain):
        condition = next(c for c in chain if isinstance(c, RuleConditionError))
        return True, str(condition)
    if any(isinstance(c, RuleError) for c in chain):
        return False, "; ".join(str(c) for c in chain if str(c)) or type(chain[-1]).__name__
    return None


def copying(
    serialize: Callable[[Any, SerializationContext], bytes | None], schema: TopicSchema
) -> Callable[[Any, SerializationContext], bytes | None]:
    """The serializer, given a copy of the record when the schema's rules transform it.

    confluent-kafka's field transforms (ENCRYPT, CEL_FIELD) write their result into the
    record they are given: without a copy the application's own dict would hold the
    ciphertext after ``produce``.
    """
    rules = (schema.rule_set or {}).get("domainRules", [])
    if not any(
        r.get("kind") == "TRANSFORM" and r.get("mode") in ("WRITE", "WRITEREAD") for r in rules
    ):
        return serialize

    def serialize_copy(obj: Any, ctx: SerializationContext) -> bytes | None:
        return serialize(copy.deepcopy(obj), ctx)

    return serialize_copy


class ContractRules:
    """One client's rule executors, made when its first topic with a contract needs them."""

    def __init__(self, contracts: DataContracts | None) -> None:
        self._config = dict(contracts.rule_config) if contracts is not None else {}
        #: Given: shared with other clients, and closed by whoever made it.
        self._given = contracts.rules if contracts is not None else None
        self._registry: RuleRegistry | None = self._given

    def serde_kwargs(self) -> dict[str, Any]:
        if self._registry is None:
            self._registry = rule_registry()
        return {"rule_conf": dict(self._config), "rule_registry": self._registry}

    def close(self) -> None:
        if self._given is None:
            close_rule_registry(self._registry)
            self._registry = None
