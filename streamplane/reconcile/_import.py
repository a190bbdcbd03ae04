"""Import a live cluster as a spec, so a team can adopt Streamplane on an existing estate.

The promise is that ``streamplane plan`` on the imported spec is empty: adopting the
tool must not change a running cluster. So the importer writes down what *is*, in the
model's terms where the cluster already follows them, and as explicit, reviewable
escapes where it does not:

* Topics named ``<tenant>.<domain>.<name>`` (private) or ``<tenant>.<domain>.<event>.vN``
  (public) land in that tenant and domain. Any other name is a legacy topic: it keeps its
  exact Kafka name (``full_name``) in the tenant ``legacy``, domain ``imported``, because
  renaming a live topic means migrating every client.
* A principal whose ACLs are exactly what :func:`application_acls` would derive for one
  valid application becomes that application. Every other principal keeps its ACLs as
  ``acl_exceptions``, to be reviewed and folded into applications by hand.
* ``<tenant>.<domain>.<app>.<topic>.dlq`` and ``<tenant>.<domain>.<app>.<topic>.retry.<n>``
  for an existing topic, written by a principal that consumes it, make that application's
  ``dead_letters`` when it is the application they name (retry delays are the
  consumers' business: they come from the notes apply records, else they are written as
  1m, to be corrected). Such a topic stays declared in the spec unless it has exactly the
  derived shape (the origin's partitions, replication and durability settings, its retention).
* Kafka never returns a password, so every imported application has
  ``credentials: external``: the reconciler neither creates nor rotates its secret.
* Principals that own a SCRAM credential or a user quota but did not fit an application
  get an *access-only* application (no topics, so no derived ACLs) in the legacy tenant.
  It claims the credential and the quota, which the spec otherwise could not hold
  (platform quotas must name an application principal), so they are neither reported as
  unmanaged nor removed by ``apply --allow-delete``.
* The registry's subjects become the topics' ``key_schema`` / ``value_schema`` files, and
  what apply recorded in the spec's notes (owners, classifications, profiles, retry
  delays...) is laid over the result; durations and sizes are written in units
  (``_import_enrich.py``, ``_import_schemas.py``, ``_spec_notes.py``).

What the model cannot express at all (non-``User:`` principals, ACLs on other resource
types, quotas of the platform's own principals, unknown config keys, schema references)
is left out and listed in :attr:`Imported.left_out`, so the CLI can say so.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from streamplane.kafka import QuotaEntity
from streamplane.model import AclException, Application, ApplicationEntry, Domain, Quota, Tenant
from streamplane.model._dead_letters import (
    DeadLetterOwner,
    conventional_parking_of,
    parking_configs,
    parking_names,
)
from streamplane.model._topic_configs import TOPIC_CONFIGS, check_topic_config
from streamplane.model._types import NAME_RE, PRIVATE_TOPIC_RE, PUBLIC_EVENT_RE
from streamplane.reconcile._desired import application_acls
from streamplane.reconcile._import_enrich import ImportSources, complete
from streamplane.reconcile._import_write import write_spec as write_spec
from streamplane.reconcile._plan import PLATFORM_PRINCIPALS, PLATFORM_USERS, is_platform_topic
from streamplane.reconcile._resources import AclEntry, ActualState

#: Tenant of the topics whose names do not follow the convention (renamed if taken).
LEGACY_TENANT = "legacy"
#: Domain of legacy topics, and of applications whose topics do not pick a domain.
IMPORTED_DOMAIN = "imported"
EXCEPTION_REASON = "imported from the live cluster; review and fold into an application"
#: Kafka knows no owners; tenants need one, so the import says plainly that it is missing.
UNASSIGNED_OWNER = "unassigned (imported): name the owning team"
#: Kafka's default data classes for a cluster: no topic is classified, so none holds PII.
DATA_CLASSES = ("public", "internal", "confidential")

_NAME = re.compile(NAME_RE)
#: Retry delays are the consumers' business; the import writes this and says so.
IMPORTED_RETRY_DELAY = "1m"
_NAME_MAX = 40
_TOPIC_NAME_MAX = 249
_PLATFORM_USERS = PLATFORM_USERS | {p.removeprefix("User:") for p in PLATFORM_PRINCIPALS}


@dataclass(frozen=True)
class Imported:
    """An imported spec document, and what of the cluster it could not hold."""

    document: dict[str, Any]
    #: One line per thing left out, saying what and why (a plan will still show these).
    left_out: tuple[str, ...] = ()
    #: Files the document names (the registry's schemas), by path relative to the spec root.
    files: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Counts for the CLI: tenants, topics, applications, exceptions, quotas."""
        domains = [d for t in self.document["tenants"] for d in t["domains"]]
        apps = [a for d in domains for a in d.get("applications", [])]
        return {
            "tenants": len(self.document["tenants"]),
            "topics": sum(len(d.get("topics", [])) for d in domains),
            "applications": len(apps),
            "exceptions": len(self.document["acl_exceptions"]),
            "quotas": len(self.document["quotas"]) + sum(1 for a in apps if "quotas" in a),
        }


def import_spec(
    actual: ActualState,
    *,
    cluster_name: str = "local",
    local: bool = True,
    sources: ImportSources | None = None,
) -> dict[str, Any]:
    """The spec document (plain data, ready for YAML) describing ``actual`` as it is.

    With ``local=False`` the cluster entry has no connection details: Kafka cannot tell
    how other clients reach it, and its credentials belong in a secret source, so add
    ``bootstrap_servers`` and ``auth`` before loading the spec.
    """
    return import_estate(actual, cluster_name=cluster_name, local=local, sources=sources).document


def import_estate(
    actual: ActualState,
    *,
    cluster_name: str = "local",
    local: bool = True,
    sources: ImportSources | None = None,
) -> Imported:
    """:func:`import_spec`, plus the schema files and the list of what the spec cannot hold.

    ``sources``: the registry's contents, the spec's notes and the cluster's facts
    (``read_import_sources``), completing the document (``_import_enrich.py``).
    """
    imported = _Importer(actual, cluster_name).run(local=local)
    completed = complete(imported.document, sources or ImportSources())
    return Imported(
        imported.document, imported.left_out + tuple(completed.left_out), completed.files
    )


@dataclass(frozen=True)
class _TopicHome:
    tenant: str
    domain: str
    public: bool


@dataclass(frozen=True)
class _Draft:
    """An application inferred from one principal's ACLs, before its name is settled."""

    user: str
    tenant: str
    domain: str
    produces: tuple[str, ...]
    consumes: tuple[str, ...]
    group: str | None
    #: The name its transactional-id ACLs pin (<namespace><name>), if it is transactional.
    txn_name: str | None
    #: Retry topics per consumed topic when it parks failed records (``dead_letters``).
    retries: int | None = None


@dataclass
class _DomainDoc:
    topics: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)


class _Importer:
    def __init__(self, actual: ActualState, cluster: str) -> None:
        self.actual = actual
        self.cluster = cluster
        self.tenants: dict[str, dict[str, _DomainDoc]] = defaultdict(dict)
        self.homes: dict[str, _TopicHome] = {}
        self.left_out: list[str] = []
        self.apps_by_user: dict[str, dict[str, Any]] = {}
        self.exceptions: list[dict[str, Any]] = []
        self.quotas: list[dict[str, Any]] = []
        self.legacy = LEGACY_TENANT
        #: topic -> (the topic whose records it parks, "dlq" or "retry"), for topics whose
        #: name and origin make them look like an application's dead letters
        self.parking: dict[str, tuple[str, str]] = {}
        #: principal -> the owner of its parking topics, for applications with dead_letters
        self.parking_owners: dict[str, DeadLetterOwner] = {}
        self._legacy_names: set[str] = set()

    def run(self, *, local: bool) -> Imported:
        acls = self._acls_by_principal()
        self.legacy = self._legacy_tenant_name(acls)
        self.parking = {
            name: found
            for name in self.actual.topics
            if (found := _parking_of(name, self.actual.topics)) is not None
        }
        self._import_topics([n for n in sorted(self.actual.topics) if n not in self.parking])
        self._import_applications(acls)
        # Parking topics no application's dead_letters derive exactly stay declared topics.
        claimed = self._claimed_parking()
        self._import_topics([n for n in sorted(self.parking) if n not in claimed])
        self._import_quotas()
        cluster: dict[str, Any] = {"name": self.cluster, "local": local}
        cluster["data_classes"] = list(DATA_CLASSES)
        document = {
            "clusters": [cluster],
            "tenants": [self._tenant_doc(name) for name in sorted(self.tenants)],
            "acl_exceptions": self.exceptions,
            "quotas": self.quotas,
        }
        return Imported(document, tuple(self.left_out))

    # ------------------------------------------------------------------ topics
    def _legacy_tenant_name(self, acls: dict[str, set[AclEntry]]) -> str:
        """``legacy``, unless a conventional tenant (from a topic, group or transactional id)
        already uses that namespace: sharing it would mix legacy topics into that tenant."""
        taken = {
            name.split(".", 1)[0]
            for name in self.actual.topics
            if _split_conventional(name) is not None
        }
        taken |= {
            acl.resource_name.split(".", 1)[0]
            for entries in acls.values()
            for acl in entries
            if acl.resource_type in ("GROUP", "TRANSACTIONAL_ID")
        }
        return _unique(LEGACY_TENANT, taken, limit=_NAME_MAX)

    def _import_topics(self, names: list[str]) -> None:
        legacy: list[str] = []
        for name in names:
            if is_platform_topic(name):
                continue
            parts = _split_conventional(name)
            if parts is None:
                legacy.append(name)
                continue
            tenant, domain, local, public = parts
            self._add_topic(name, tenant, domain, local, public=public, full_name=None)
        used = self._legacy_names
        for name in legacy:
            local = _unique(_slug(name, "topic"), used, limit=_TOPIC_NAME_MAX)
            used.add(local)
            self._add_topic(name, self.legacy, IMPORTED_DOMAIN, local, public=False, full_name=name)

    def _add_topic(
        self,
        name: str,
        tenant: str,
        domain: str,
        local: str,
        *,
        public: bool,
        full_name: str | None,
    ) -> None:
        state = self.actual.topics[name]
        doc: dict[str, Any] = {"name": local}
        if full_name is not None:
            doc["full_name"] = full_name
        doc["partitions"] = state.partitions
        if state.replication_factor:
            doc["replication_factor"] = state.replication_factor
        if public:
            doc["visibility"] = "public"
        configs = {}
        for key, value in sorted(state.configs.items()):
            error, _ = check_topic_config(key, value)
            if error is None:
                configs[key] = value
            else:
                self.left_out.append(f"topic {name}: config {key}={value!r} ({error})")
        if configs:
            doc["configs"] = configs
        self._domain(tenant, domain).topics.append(doc)
        self.homes[name] = _TopicHome(tenant, domain, public)

    def _domain(self, tenant: str, domain: str) -> _DomainDoc:
        return self.tenants[tenant].setdefault(domain, _DomainDoc())

    # ------------------------------------------------------------ applications
    def _acls_by_principal(self) -> dict[str, set[AclEntry]]:
        grouped: dict[str, set[AclEntry]] = defaultdict(set)
        for acl in self.actual.acls:
            if acl.principal not in PLATFORM_PRINCIPALS:
                grouped[acl.principal].add(acl)
        return grouped

    def _import_applications(self, acls: dict[str, set[AclEntry]]) -> None:
        drafts = {p: self._infer(p, entries) for p, entries in sorted(acls.items())}
        quota_users = {e.user for e in self.actual.quotas if e.user is not None}
        # Never name an application after another principal: a name is also the default
        # principal, and principals must be unique.
        users = {p.removeprefix("User:") for p in acls} | self.actual.scram_users | quota_users
        names: set[str] = set()
        # Transactional applications first: their name is pinned by the transactional id.
        ordered = sorted(
            drafts.items(), key=lambda kv: (kv[1] is None or kv[1].txn_name is None, kv[0])
        )
        for principal, draft in ordered:
            app = None if draft is None else self._fit(draft, acls[principal], names, users)
            if app is None:
                for acl in sorted(acls[principal]):
                    self._add_exception(acl)
        claimed = (self.actual.scram_users | quota_users) - _PLATFORM_USERS - set(self.apps_by_user)
        for user in sorted(claimed):
            # Access-only: owns the credential (and quota), grants nothing; its ACLs, if any,
            # are the exceptions above.
            name = _unique(_slug(user, "app"), names | (users - {user}), limit=_NAME_MAX)
            names.add(name)
            access: dict[str, Any] = {"name": name}
            if name != user:
                access["principal"] = user
            access["credentials"] = "external"
            self._domain(self.legacy, IMPORTED_DOMAIN).applications.append(access)
            self.apps_by_user[user] = access

    def _fit(
        self, draft: _Draft, acls: set[AclEntry], names: set[str], users: set[str]
    ) -> dict[str, Any] | None:
        """Place ``draft`` as an application if the reconciler would grant exactly ``acls``."""
        app = self._name_application(draft, names, users - {draft.user})
        if app is None:
            return None
        if not self._derives_exactly(draft, app, acls):
            names.discard(app["name"])
            return None
        self._domain(draft.tenant, draft.domain).applications.append(app)
        self.apps_by_user[draft.user] = app
        self.parking_owners[draft.user] = _owner(draft, app["name"])
        return app

    def _infer(self, principal: str, acls: set[AclEntry]) -> _Draft | None:
        """The one application these ACLs could be derived from, if any.

        Only the shape is inferred here; :meth:`_derives_exactly` then checks that the
        reconciler would grant exactly these ACLs, no more and no fewer.
        """
        user = principal.removeprefix("User:")
        if not principal.startswith("User:") or not user or "*" in user:
            return None
        topics: dict[str, set[str]] = {"WRITE": set(), "READ": set(), "DESCRIBE": set()}
        groups: set[str] = set()
        txns: set[str] = set()
        parked: set[str] = set()
        for acl in acls:
            if acl.permission != "ALLOW" or acl.host != "*":
                return None
            shape = (acl.resource_type, acl.pattern_type, acl.operation)
            if shape[:2] == ("TOPIC", "LITERAL") and acl.resource_name in self.parking:
                parked.add(acl.resource_name)  # _derives_exactly checks the operations
            elif shape[:2] == ("TOPIC", "LITERAL") and acl.operation in topics:
                topics[acl.operation].add(acl.resource_name)
            elif shape == ("GROUP", "LITERAL", "READ"):
                groups.add(acl.resource_name)
            elif shape == ("TRANSACTIONAL_ID", "PREFIXED", acl.operation) and acl.operation in (
                "WRITE",
                "DESCRIBE",
            ):
                txns.add(acl.resource_name)
            elif shape != ("CLUSTER", "LITERAL", "IDEMPOTENT_WRITE"):
                return None
        if len(groups) > 1 or len(txns) > 1:
            return None
        if any(t not in self.homes for names in topics.values() for t in names):
            return None
        produces, consumes = sorted(topics["WRITE"]), sorted(topics["READ"])
        retries = None
        if parked:
            # dead_letters: the highest retry number its parking topics show; whether they
            # are exactly what that derives is for _derives_exactly to say.
            if any(self.parking[name][0] not in consumes for name in parked):
                return None
            retries = max(
                (int(n.rsplit(".", 1)[1]) for n in parked if self.parking[n][1] == "retry"),
                default=0,
            )
        # Only the owning domain writes a topic, and only it reads a private one.
        owners = {(self.homes[t].tenant, self.homes[t].domain) for t in produces} | {
            (self.homes[t].tenant, self.homes[t].domain)
            for t in consumes
            if not self.homes[t].public
        }
        group, txn = next(iter(groups), None), next(iter(txns), None)
        if len(owners) > 1:
            return None
        if owners:
            tenant, domain = owners.pop()
        else:
            # Reads public events only: its tenant is the namespace of its group / txn id.
            anchor = group or txn
            tenant = (anchor or "").split(".", 1)[0]
            if anchor is None or "." not in anchor or not _NAME.match(tenant):
                return None
            known = self.tenants.get(tenant, {})
            domain = next(iter(known)) if len(known) == 1 else IMPORTED_DOMAIN
        namespace = f"{tenant}."
        if group is not None and not group.startswith(namespace):
            return None
        txn_name = None
        if txn is not None:
            txn_name = txn.removeprefix(namespace)
            if not txn.startswith(namespace) or not _NAME.match(txn_name):
                return None
        return _Draft(
            user, tenant, domain, tuple(produces), tuple(consumes), group, txn_name, retries
        )

    def _name_application(
        self, draft: _Draft, names: set[str], others: set[str]
    ) -> dict[str, Any] | None:
        """The application entry, under a unique name (None: its pinned name is taken)."""
        if draft.txn_name is not None:
            if draft.txn_name in names or draft.txn_name in others:
                return None
            name = draft.txn_name
        else:
            base = draft.user if _NAME.match(draft.user) else _slug(draft.user, "app")
            name = _unique(base, names | others, limit=_NAME_MAX)
        names.add(name)
        app: dict[str, Any] = {"name": name}
        if name != draft.user:
            app["principal"] = draft.user
        app["credentials"] = "external"
        if draft.group is not None and draft.group != f"{draft.tenant}.{name}":
            app["consumer_group"] = draft.group
        if draft.produces:
            app["produces"] = list(draft.produces)
        if draft.consumes:
            app["consumes"] = list(draft.consumes)
        if draft.txn_name is not None:
            app["transactional"] = True
        if draft.retries is not None:
            retention = self._parking_retention(draft, _owner(draft, name))
            # The cluster does not know how long the consumers wait before each retry.
            dead_letters: dict[str, Any] = {"retries": [IMPORTED_RETRY_DELAY] * draft.retries}
            if retention is not None:
                dead_letters["retention"] = retention
            app["dead_letters"] = dead_letters
        return app

    def _parking_retention(self, draft: _Draft, owner: DeadLetterOwner) -> int | None:
        """retention.ms of the draft's first dead-letter topic, if it has one set."""
        for name, _, _ in parking_names(owner, draft.consumes, draft.retries or 0):
            state = self.actual.topics.get(name)
            if state is not None and "retention.ms" in state.configs:
                return int(state.configs["retention.ms"])
        return None

    def _claimed_parking(self) -> set[str]:
        """Parking topics an imported application derives exactly as they are on the cluster
        (its origin's partitions, replication and durability settings, and its retention);
        any other stays a declared topic, which wins over the derived settings."""
        claimed: set[str] = set()
        for user, app in self.apps_by_user.items():
            settings = app.get("dead_letters")
            if settings is None:
                continue
            retention = settings.get("retention")
            owner = self.parking_owners[user]
            consumes = app.get("consumes", [])
            for name, _, origin in parking_names(owner, consumes, len(settings["retries"])):
                parked, source = self.actual.topics.get(name), self.actual.topics[origin]
                if parked is None or retention is None:
                    continue
                derived = parking_configs(source.configs, retention)
                if (
                    parked.partitions == source.partitions
                    and parked.replication_factor == source.replication_factor
                    and _normalised(parked.configs) == _normalised(derived)
                ):
                    claimed.add(name)
        return claimed

    def _derives_exactly(self, draft: _Draft, app: dict[str, Any], acls: set[AclEntry]) -> bool:
        """Would the reconciler grant exactly ``acls`` for ``app``? (Else: exceptions.)"""
        entry = ApplicationEntry(
            tenant=Tenant(name=draft.tenant, owners=[UNASSIGNED_OWNER], clusters=[self.cluster]),
            domain=Domain(name=draft.domain),
            app=Application.model_validate(app),
            path=(),
        )
        owner = DeadLetterOwner.of(entry)
        parked = (
            parking_names(owner, draft.consumes, draft.retries) if draft.retries is not None else []
        )
        return {acl for acl, _ in application_acls(entry, parked)} == acls

    def _add_exception(self, acl: AclEntry) -> None:
        doc: dict[str, Any] = {
            "principal": acl.principal,
            "resource_type": acl.resource_type.lower(),
            "resource_name": acl.resource_name,
        }
        if acl.pattern_type != "LITERAL":
            doc["pattern"] = acl.pattern_type.lower()
        doc["operation"] = acl.operation.lower()
        if acl.permission != "ALLOW":
            doc["permission"] = acl.permission.lower()
        if acl.host != "*":
            doc["host"] = acl.host
        doc["reason"] = EXCEPTION_REASON
        try:
            AclException.model_validate(doc)
        except ValidationError:
            self.left_out.append(f"ACL {acl.describe()} (the spec cannot express it)")
            return
        self.exceptions.append(doc)

    # ------------------------------------------------------------------ quotas
    def _import_quotas(self) -> None:
        for entity, values in sorted(self.actual.quotas.items()):
            if entity.user in _PLATFORM_USERS:
                self.left_out.append(
                    f"quota {entity.describe()} (of a platform principal, which the spec "
                    "does not manage)"
                )
                continue
            doc = self._quota_doc(entity, values)
            if not doc:
                continue
            app = self.apps_by_user.get(entity.user or "")
            if app is not None and entity.client_id is None:
                app["quotas"] = doc
            else:
                target: dict[str, Any] = {}
                if entity.user is not None:
                    target["user"] = entity.user
                if entity.client_id is not None:
                    target["client_id"] = entity.client_id
                self.quotas.append({**target, **doc})

    def _quota_doc(self, entity: QuotaEntity, values: dict[str, float]) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for key, value in sorted(values.items()):
            number: int | float = int(value) if float(value).is_integer() else value
            try:
                Quota.model_validate({key: number})
            except ValidationError:
                self.left_out.append(
                    f"quota {entity.describe()}: {key}={value:g} (the spec cannot express it)"
                )
                continue
            doc[key] = number
        return doc

    # --------------------------------------------------------------- document
    def _tenant_doc(self, name: str) -> dict[str, Any]:
        domains = []
        for domain_name in sorted(self.tenants[name]):
            domain = self.tenants[name][domain_name]
            doc: dict[str, Any] = {"name": domain_name}
            if domain.topics:
                doc["topics"] = sorted(domain.topics, key=lambda t: str(t["name"]))
            if domain.applications:
                doc["applications"] = sorted(domain.applications, key=lambda a: str(a["name"]))
            domains.append(doc)
        return {
            "name": name,
            "owners": [UNASSIGNED_OWNER],
            "clusters": [self.cluster],
            "domains": domains,
        }


def _parking_of(name: str, topics: Mapping[str, object]) -> tuple[str, str] | None:
    """(origin, "dlq" | "retry") when ``name`` is ``<tenant>.<domain>.<app>.<origin>.dlq``
    or ``....retry.<n>`` of a topic that exists (whether that application parks there is
    for the ACLs to say). Old-style ``<origin>.dlq`` topics are ordinary topics here."""
    found = conventional_parking_of(name, topics)
    return None if found is None else (found[2], found[1])


def _owner(draft: _Draft, name: str) -> DeadLetterOwner:
    """Whose parking topics an imported application's are (imported tenants use
    ``<tenant>.`` as their prefix)."""
    return DeadLetterOwner(f"{draft.tenant}.", draft.domain, name)


def _normalised(configs: Mapping[str, object]) -> dict[str, object]:
    return {
        key: TOPIC_CONFIGS[key].normalise(value) if key in TOPIC_CONFIGS else value
        for key, value in configs.items()
    }


def _split_conventional(name: str) -> tuple[str, str, str, bool] | None:
    """(tenant, domain, local name, public?) of a name that follows the convention."""
    parts = name.split(".", 2)
    if len(parts) != 3 or not (_NAME.match(parts[0]) and _NAME.match(parts[1])):
        return None
    tenant, domain, rest = parts
    if PUBLIC_EVENT_RE.match(rest):
        return tenant, domain, rest, True
    if PRIVATE_TOPIC_RE.match(rest):
        return tenant, domain, rest, False
    return None


def _slug(text: str, fallback: str) -> str:
    """A name the model accepts, close to ``text``: lower case, runs of others to '-'."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"{fallback}-{slug}".rstrip("-")
    return slug


def _unique(base: str, taken: set[str], *, limit: int) -> str:
    """``base`` (cut to ``limit``), or with the first free ``-N`` suffix."""
    name = base[:limit].rstrip("-")
    number = 2
    while name in taken:
        suffix = f"-{number}"
        name = base[: limit - len(suffix)].rstrip("-") + suffix
        number += 1
    return name
