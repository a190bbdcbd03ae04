"""Plan and apply against a live cluster: connect, read, diff, execute in batches.

Kafka resources come first; the schemas of the spec's topics go to the cluster's schema
registry after them (``_schemas.py``), so a registry problem never leaves topics or ACLs
half-applied. The KEKs the spec declares go to the registry's DEK registry just before the
schemas (``_keks.py``): the schemas' ENCRYPT rules name them.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from streamplane.errors import PlanError
from streamplane.kafka import ConnectionSettings, alter_client_quotas, require_reachable
from streamplane.kafka._admin import AclTuple, ClusterAdmin, scram_iterations
from streamplane.local import DataDir, RegistryProcess, require_local_cluster
from streamplane.model import Cluster, Spec, replicated_copies
from streamplane.ops.rebalance.replication import change_replication
from streamplane.reconcile._actual import read_activity, read_actual
from streamplane.reconcile._desired import desired_state
from streamplane.reconcile._guardrails import write_guardrail_rules
from streamplane.reconcile._identities import (
    IdentityReport,
    cut_off_principals,
    provision_identities,
)
from streamplane.reconcile._keks import (
    DesiredKek,
    apply_kek_actions,
    desired_keks,
    kek_changes,
    observe_keks_now,
    observed_kek_names,
    observed_keks,
    read_keks,
    rule_keks,
)
from streamplane.reconcile._plan import (
    Action,
    DeletionPolicy,
    Kept,
    Plan,
    acl_from_payload,
    is_platform_topic,
    make_plan,
    observed_digests,
    quota_entity,
)
from streamplane.reconcile._registry_access import access_changes, apply_access
from streamplane.reconcile._registry_client import RegistryEndpoint
from streamplane.reconcile._renames import find_moves, plan_renames, read_drain_evidence
from streamplane.reconcile._replication import replication_principals
from streamplane.reconcile._resources import AclEntry, ActualState, DesiredState
from streamplane.reconcile._schemas import (
    ABSENT,
    SCHEMA_KINDS,
    DesiredSchema,
    apply_schema_actions,
    desired_schemas,
    observe_now,
    observed_subject_keys,
    observed_subjects,
    read_subjects,
    schema_changes,
    verify_schema_actions,
)
from streamplane.reconcile._secrets import SecretStore
from streamplane.reconcile._spec_notes import record_spec_notes
from streamplane.reconcile._tenants import (
    TENANTS_TOPIC,
    FormerTenant,
    former_tenant_of,
    former_tenants,
    owned_subjects,
    plan_former_tenants,
    read_tenant_records,
    record_tenants,
)
from streamplane.security.audit import Change, record_changes

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Target:
    """A cluster of the spec, resolved to credentials we can connect with."""

    cluster: str
    settings: ConnectionSettings
    secrets: SecretStore
    #: The cluster's schema registry; None when the spec names none (see registry_endpoint).
    registry: RegistryEndpoint | None = None
    #: The local cluster's data directory (None for a remote cluster): where applications'
    #: certificates, OAuth clients and client configs are made.
    data_dir: Path | None = None


def _cluster_entry(spec: Spec, cluster: str | None) -> Cluster:
    try:
        return spec.cluster(cluster)
    except KeyError as exc:
        names = ", ".join(c.name for c in spec.platform.clusters) or "none"
        raise PlanError(f"no cluster {exc.args[0]!r} in the spec (clusters: {names})") from None


def connect(
    spec: Spec,
    *,
    cluster: str | None = None,
    data_dir: Path = Path(".streamplane"),
    reach: bool = True,
) -> Target:
    """The spec's cluster, resolved to credentials; with ``reach``, proven to answer.

    The reachability check is bounded (a local cluster's pid files first, then a probe of a
    few seconds), so a command against a stopped or unreachable cluster fails at once with
    one line saying which cluster and what to do (a ClusterUnreachableError).
    """
    entry = _cluster_entry(spec, cluster)
    if entry.local:
        data_dir = spec.local_data_dir(entry, data_dir)
        props = data_dir / "admin.properties"
        if not props.exists():
            raise PlanError(
                f"cluster {entry.name} is the local cluster, but {props} does not exist; "
                "start it with `streamplane up` (or pass --data-dir)"
            )
        settings = ConnectionSettings.from_properties_file(props)
        if reach:
            require_local_cluster(data_dir, settings, cluster=f"cluster {entry.name}")
        return Target(
            entry.name,
            settings,
            SecretStore(spec, local_secrets_dir=data_dir / "secrets"),
            _endpoint(spec, entry, data_dir, settings.username, settings.password),
            data_dir=data_dir,
        )
    assert entry.auth is not None and entry.bootstrap_servers is not None
    store = SecretStore(spec, local_secrets_dir=None)
    password = store.resolve(entry.auth.password, what=f"cluster {entry.name}")
    settings = ConnectionSettings(
        bootstrap_servers=entry.bootstrap_servers,
        security_protocol=entry.auth.security_protocol,
        sasl_mechanism=entry.auth.mechanism,
        username=entry.auth.username,
        password=password,
    )
    if reach:
        index = spec.platform.clusters.index(entry)
        servers = spec.source.locate(("clusters", index, "bootstrap_servers"))
        auth = spec.source.locate(("clusters", index, "auth"))
        require_reachable(
            settings,
            cluster=f"cluster {entry.name}",
            fix=f"check its bootstrap_servers ({servers.file}:{servers.line}) and the network "
            "to them",
            credentials=f"auth of cluster {entry.name}, {auth.file}:{auth.line}",
        )
    registry = _endpoint(spec, entry, data_dir, entry.auth.username, password)
    return Target(entry.name, settings, store, registry)


def registry_endpoint(
    spec: Spec,
    *,
    cluster: str | None = None,
    data_dir: Path = Path(".streamplane"),
    url: str | None = None,
) -> RegistryEndpoint | None:
    """The cluster's schema registry, without connecting to Kafka (``streamplane check``).

    ``url`` overrides the spec. Credentials are the cluster's admin principal, as for
    Kafka: the local cluster's from its data directory when it has one.
    """
    entry = _cluster_entry(spec, cluster)
    username = password = None
    if entry.local:
        data_dir = spec.local_data_dir(entry, data_dir)
        props = data_dir / "admin.properties"
        if props.exists():
            settings = ConnectionSettings.from_properties_file(props)
            username, password = settings.username, settings.password
    else:
        assert entry.auth is not None
        username = entry.auth.username
        password = SecretStore(spec, local_secrets_dir=None).resolve(
            entry.auth.password, what=f"cluster {entry.name}"
        )
    return _endpoint(spec, entry, data_dir, username, password, url=url)


def _endpoint(
    spec: Spec,
    entry: Cluster,
    data_dir: Path,
    username: str | None,
    password: str | None,
    *,
    url: str | None = None,
) -> RegistryEndpoint | None:
    """Explicit URL, else the cluster's ``schema_registry``, else the local one's registry."""
    if url is not None:
        how = "check the --registry URL"
    elif entry.schema_registry is not None:
        url = entry.schema_registry
        pos = spec.source.locate(
            ("clusters", spec.platform.clusters.index(entry), "schema_registry")
        )
        how = f"check `schema_registry` of cluster {entry.name} ({pos.file}:{pos.line})"
    elif entry.local:
        # The port `streamplane up` gave it: 8081 + the cluster's port offset.
        state = DataDir(data_dir).read_state()
        process = RegistryProcess(DataDir(data_dir), port_offset=state.port_offset if state else 0)
        url = process.url
        flag = "" if data_dir == Path(".streamplane") else f" --data-dir {data_dir}"
        how = (
            f"start it with `streamplane up{flag}`, which runs the registry beside the local "
            "cluster (also when the cluster is already up)"
        )
    else:
        return None
    return RegistryEndpoint(url, username, password, how_to_fix=how)


def require_registry(spec: Spec, target: Target, schemas: list[DesiredSchema]) -> RegistryEndpoint:
    """The target's registry, or an error naming the cluster entry that lacks one."""
    if target.registry is not None:
        return target.registry
    entry = _cluster_entry(spec, target.cluster)
    pos = spec.source.locate(("clusters", spec.platform.clusters.index(entry)))
    first = schemas[0]
    raise PlanError(
        f"{pos.file}:{pos.line}: cluster {entry.name} has no `schema_registry`, but "
        f"{len(schemas)} schema(s) of its topics must be registered (the first: "
        f"{first.file} at {first.where}); add `schema_registry: https://<registry host>` "
        "to the cluster"
    )


@dataclass
class Planned:
    plan: Plan
    desired: DesiredState
    actual: ActualState


def compute_plan(spec: Spec, target: Target, *, allow_delete: bool = False) -> Planned:
    desired = desired_state(spec, target.cluster)
    cut_off = cut_off_principals(spec, target.cluster, target.data_dir) if target.data_dir else {}
    for principal in cut_off:
        # Neither granted nor counted as the spec's: its ACLs and credential go.
        desired.principals.pop(principal, None)
    desired.acls = {
        acl: why
        for acl, why in desired.acls.items()
        if acl.principal.removeprefix("User:") not in cut_off
    }
    actual = read_actual(target.settings)
    records = read_tenant_records(target.settings) if TENANTS_TOPIC in actual.topics else {}
    former = former_tenants(spec, target.cluster, records)
    tenant_of = {}
    copies = replicated_copies(spec, target.cluster)
    for name in set(actual.topics) - set(desired.topics):
        tenant = spec.tenant_of_topic(name)
        if is_platform_topic(name) or name in copies:
            continue
        if tenant is not None:
            tenant_of[name] = tenant.name
        elif (was := former_tenant_of(name, former)) is not None:
            tenant_of[name] = was.name  # planned for deletion like a topic the spec dropped
    activity = read_activity(target.settings, sorted(tenant_of)) if allow_delete else {}
    deletion = DeletionPolicy(
        allow=allow_delete,
        grace_period_ms=spec.platform.deletion.grace_period,
        protected=tuple(spec.platform.deletion.protected)
        + tuple(t.full_name for t in spec.topics.values() if t.topic.protected),
        cut_off=tuple(sorted(cut_off.items())),
    )
    plan = make_plan(
        desired,
        actual,
        deletion=deletion,
        activity=activity,
        credentials=_credential_status(spec, target, actual),
        tenant_of=tenant_of,
    )
    # Old-style parking topics migrate: kept until drained, whatever the generic rules say.
    moves = find_moves(spec, desired, actual)
    if moves:
        evidence = read_drain_evidence(target.settings, [m.old.name for m in moves])
        plan_renames(plan, moves, evidence, deletion, spec_root=str(spec.root))
    schemas = desired_schemas(spec, target.cluster)
    keks = desired_keks(spec, target.cluster)
    endpoint = _planned_registry(spec, target, schemas, keks)
    subjects: list[str] | None = None
    if endpoint is None and former and target.registry is not None:
        subjects = _former_subjects(plan, target.registry, former)
    if endpoint is not None:
        with endpoint.client() as client:
            kek_reading = read_keks(client)
            readings = read_subjects(client, schemas)
            access = access_changes(client, spec, target.cluster)
            subjects = client.subjects()
        kek_actions, kek_refusals, kek_kept = kek_changes(
            keks,
            kek_reading,
            named_by_rules=rule_keks(s.contract for s in schemas),
            tenant_of=lambda name: _tenant_by_prefix(spec, name),
        )
        actions, refusals = schema_changes(readings)
        plan.actions.extend(kek_actions + actions + access)
        plan.actions.sort(key=Action.sort_key)
        plan.refusals.extend(kek_refusals + refusals)
        plan.kept.extend(kek_kept)
        plan.observed.update(observed_subjects(readings))
        plan.observed.update(observed_keks(keks, kek_reading))
    plan_former_tenants(
        plan,
        former,
        subjects=subjects,
        owned_subjects=owned_subjects(spec),
        topics_on_cluster=set(actual.topics),
        allow_delete=allow_delete,
        tenant_of=lambda subject: _tenant_by_prefix(spec, subject),
    )
    return Planned(plan, desired, actual)


def _former_subjects(
    plan: Plan, registry: RegistryEndpoint, former: list[FormerTenant]
) -> list[str] | None:
    """The registry's subjects, to list the former tenants'; None (and a note in the plan)
    when the registry is not running: a plan with no schema of its own does not need it."""
    try:
        with registry.client() as client:
            return client.subjects()
    except PlanError:
        for tenant in former:
            plan.kept.append(
                Kept(
                    "subject",
                    f"{tenant.namespace}*",
                    tenant.name,
                    f"not listed: the schema registry at {registry.url} is not reachable "
                    f"({registry.how_to_fix})",
                )
            )
        return None


def sync_tenant_records(spec: Spec, target: Target) -> None:
    """Record the spec's tenants on the cluster and forget former ones with nothing left.

    Apply does this last; ``apply`` of an empty plan too, so an estate applied before the
    records existed gets them without a change to make.
    """
    subjects: list[str] | None = []
    if target.registry is not None:
        try:
            with target.registry.client() as client:
                subjects = client.subjects()
        except PlanError:
            subjects = None  # registry not running: keep former tenants' records for now
    record_tenants(
        spec,
        target.cluster,
        target.settings,
        topics=ClusterAdmin(target.settings).topic_names(),
        subjects=subjects,
    )


def _planned_registry(
    spec: Spec, target: Target, schemas: list[DesiredSchema], keks: list[DesiredKek]
) -> RegistryEndpoint | None:
    """The registry a plan reads: needed for schemas; for KEKs only, when the cluster has one
    (a cluster without a registry registers no schema, so no rule there names a KEK)."""
    if schemas:
        return require_registry(spec, target, schemas)
    return target.registry if keks else None


def _tenant_by_prefix(spec: Spec, name: str) -> str | None:
    """The tenant whose namespace a KEK name starts with (the registry's tenant rule)."""
    owners = [t for t in spec.platform.tenants if name.startswith(t.namespace)]
    return max(owners, key=lambda t: len(t.namespace)).name if owners else None


def _credential_status(spec: Spec, target: Target, actual: ActualState) -> dict[str, str]:
    """principal -> create | rotate | ok, from the secret's fingerprint (no logins needed)."""
    status: dict[str, str] = {}
    for app in spec.applications_on(target.cluster):
        if app.app.auth != "scram":
            # A certificate or OAuth client instead: a password left from before must go.
            if app.principal in actual.scram_users:
                status[app.principal] = "drop"
            continue
        if app.app.credentials == "external":
            # Managed elsewhere (e.g. adopted by `streamplane import`: Kafka never gives a
            # password back): neither created nor rotated, whatever the secret store holds.
            continue
        password = target.secrets.password(app, create=False)
        if password is not None:
            status[app.principal] = _scram_status(actual, app.principal, password)
    for principal in replication_principals(spec, target.cluster):
        password = target.secrets.platform_password(principal, create=False)
        if password is not None:
            status[principal] = _scram_status(actual, principal, password)
    return status


def _scram_status(actual: ActualState, principal: str, password: str) -> str:
    if principal not in actual.scram_users:
        return "create"
    if password == "" or actual.scram_iterations.get(principal) != scram_iterations(
        principal, password
    ):
        return "rotate"
    return "ok"


def stale_changes(plan: Plan, target: Target) -> list[str]:
    """What moved on the cluster since ``plan`` was computed (empty: still valid)."""
    now = observed_digests(read_actual(target.settings))
    subjects = observed_subject_keys(plan.observed)
    keks = observed_kek_names(plan.observed)
    if subjects or keks:
        if target.registry is None:
            raise PlanError(
                f"the plan registers schemas or KEKs, but cluster {target.cluster} has no "
                "`schema_registry` in the spec any more; plan again"
            )
        with target.registry.client() as client:
            now.update(observe_now(client, subjects))
            now.update(observe_keks_now(client, keks))
    moved = []
    for key in sorted(set(now) | set(plan.observed)):
        before, after = plan.observed.get(key), now.get(key)
        # A subject the plan saw absent is recorded as ABSENT, so "appeared" is detected.
        before, after = (None if v == ABSENT else v for v in (before, after))
        if before == after:
            continue
        what = "appeared" if before is None else "disappeared" if after is None else "changed"
        if what == "changed" and key.split(":", 1)[0] in SCHEMA_KINDS:
            what = f"changed ({before} → {after})"
        moved.append(f"{key} {what}")
    return moved


def apply_plan(
    plan: Plan, spec: Spec, target: Target, *, progress: Progress | None = None
) -> IdentityReport | None:
    """Execute a plan in dependency order, one batched call per step; schemas last.

    Every step is idempotent (existing topics, ACLs and credentials are upserts or
    ignored), so an apply killed midway converges when planned and applied again.
    """
    if plan.cluster != target.cluster:
        raise PlanError(f"the plan is for cluster {plan.cluster}, not {target.cluster}")
    schema_actions = [a for a in plan.actions if a.kind in SCHEMA_KINDS]
    kek_actions = [a for a in plan.actions if a.kind == "kek"]
    schemas: list[DesiredSchema] = []
    if schema_actions:
        # Before any Kafka change: the files are the planned ones and the registry answers.
        schemas = desired_schemas(spec, target.cluster)
        verify_schema_actions(schema_actions, schemas)
    if schema_actions or kek_actions:
        with _applied_registry(spec, target, schemas).client() as client:
            client.global_level()
    admin = ClusterAdmin(target.settings)
    guardrails: list[Change] = []
    if target.data_dir is not None:
        # Before the topics: a new tenant's namespace must be allowed when they are made.
        rules = DataDir(target.data_dir).guardrails_rules
        if write_guardrail_rules(spec, _cluster_entry(spec, target.cluster), rules):
            state = "written" if rules.exists() else "removed (policy.guardrails is off)"
            guardrails.append(
                Change("update", "guardrails", str(rules), None, f"broker guardrails {state}")
            )
    by: dict[tuple[str, str], list[Action]] = defaultdict(list)
    for action in plan.actions:
        by[(action.op, action.kind)].append(action)
    total = len(plan.actions)
    done = 0

    def step(name: str, count: int) -> None:
        nonlocal done
        done += count
        if progress is not None and count:
            progress(name, done, total)

    creates = by.get(("create", "topic"), [])
    admin.create_topics(
        [
            (
                a.resource,
                a.payload["partitions"],
                a.payload["replication_factor"],
                a.payload["configs"],
            )
            for a in creates
        ]
    )
    step("create topics", len(creates))
    parts = by.get(("update", "partitions"), [])
    admin.add_partitions({a.resource: a.payload["total"] for a in parts})
    step("add partitions", len(parts))
    configs = by.get(("update", "config"), [])
    admin.alter_topic_configs(
        {a.resource: {**a.payload["set"], **dict.fromkeys(a.payload["delete"])} for a in configs}
    )
    step("alter configs", len(configs))
    replication = by.get(("update", "replication"), [])
    if replication:
        local = target.data_dir
        change_replication(
            target.settings,
            {a.resource: a.payload["replication_factor"] for a in replication},
            local / "rebalance" if local is not None else Path(".streamplane-rebalance"),
            connection=local / "admin.properties" if local is not None else None,
        )
    step("replication factors", len(replication))
    creds = by.get(("create", "credential"), []) + by.get(("update", "credential"), [])
    apps = {a.principal: a for a in spec.applications_on(target.cluster)}
    passwords = {}
    for action in creds:
        secret = (
            target.secrets.password(apps[action.resource], create=True)
            if action.resource in apps
            else target.secrets.platform_password(action.resource, create=True)
        )
        if secret:
            passwords[action.resource] = secret
    admin.upsert_scram(passwords)
    step("credentials", len(creds))
    acls = by.get(("create", "acl"), [])
    admin.create_acls([AclTuple(**vars(acl_from_payload(a.payload))) for a in acls])
    step("create ACLs", len(acls))
    quotas = (
        by.get(("create", "quota"), [])
        + by.get(("update", "quota"), [])
        + by.get(("delete", "quota"), [])
    )
    alter_client_quotas(
        target.settings, {quota_entity(a.payload): a.payload["values"] for a in quotas}
    )
    step("quotas", len(quotas))
    gone_acls = by.get(("delete", "acl"), [])
    admin.delete_acls([AclTuple(**vars(acl_from_payload(a.payload))) for a in gone_acls])
    step("delete ACLs", len(gone_acls))
    gone_users = by.get(("delete", "credential"), [])
    admin.delete_scram([a.resource for a in gone_users])
    step("delete credentials", len(gone_users))
    gone_topics = by.get(("delete", "topic"), [])
    admin.delete_topics([a.resource for a in gone_topics])
    step("delete topics", len(gone_topics))
    _await_visible(plan, target)
    gone_subjects = by.get(("delete", "subject"), [])
    if gone_subjects:
        if target.registry is None:
            raise PlanError(
                f"the plan deletes subjects, but cluster {target.cluster} has no "
                "`schema_registry` in the spec any more; plan again"
            )
        with target.registry.client() as client:
            for action in gone_subjects:
                client.delete_subject(action.resource)
        step("delete subjects", len(gone_subjects))
    access = [a for a in plan.actions if a.kind == "registry-access"]
    if schema_actions or access or kek_actions:
        with _applied_registry(spec, target, schemas).client() as client:
            # The policy first: the spec's applications may then register their own schemas.
            for action in access:
                apply_access(action, client)
            step("registry access policy", len(access))
            # The KEKs before the schemas whose ENCRYPT rules name them: a producer may
            # serialize with a schema the moment it is registered.
            apply_kek_actions(kek_actions, client, step=step)
            if schema_actions:
                apply_schema_actions(schema_actions, schemas, client, step=step)
    # Last: which tenants this cluster holds now, for the plans after this one.
    sync_tenant_records(spec, target)
    record_spec_notes(spec, target.cluster, target.settings)  # what `import` reads back
    identities = provision(spec, target)
    record_changes(
        target.settings,
        [Change(a.op, a.kind, a.resource, a.tenant, a.reason) for a in plan.actions]
        + (identities.changes() if identities is not None else [])
        + guardrails,
        principal=target.settings.username,
    )
    return identities


def provision(spec: Spec, target: Target) -> IdentityReport | None:
    """On the local cluster, make applications' identities and client configs (after the
    ACLs and credentials they need are applied); None for a remote cluster."""
    if target.data_dir is None:
        return None
    cut_off = cut_off_principals(spec, target.cluster, target.data_dir)
    return provision_identities(spec, target.cluster, target.data_dir, target.secrets, cut_off)


def _applied_registry(spec: Spec, target: Target, schemas: list[DesiredSchema]) -> RegistryEndpoint:
    if target.registry is None and not schemas:
        raise PlanError(
            f"the plan changes the registry (KEKs or its access policy), but cluster "
            f"{target.cluster} has no `schema_registry` in the spec any more; plan again"
        )
    return require_registry(spec, target, schemas)


def _await_visible(plan: Plan, target: Target, *, timeout_s: float = 30.0) -> None:
    """Read-your-writes: return only once the cluster's metadata shows what was applied.

    Admin writes are acknowledged when the controller commits them; brokers serve
    them from their metadata cache a moment later. Without this wait a plan made
    right after apply could still show the credentials or ACLs as missing.
    """
    created_topics = {a.resource for a in plan.actions if a.kind == "topic" and a.op == "create"}
    deleted_topics = {a.resource for a in plan.actions if a.kind == "topic" and a.op == "delete"}
    users = {a.resource for a in plan.actions if a.kind == "credential" and a.op != "delete"}
    acls = {
        acl_from_payload(a.payload) for a in plan.actions if a.kind == "acl" and a.op == "create"
    }
    admin = ClusterAdmin(target.settings)
    deadline = time.monotonic() + timeout_s
    while True:
        # Only what apply wrote is read back: no config or quota reads on each pass.
        topics = admin.topic_names() if created_topics or deleted_topics else set()
        missing = len(created_topics - topics) + len(deleted_topics & topics)
        if users:
            missing += len(users - set(admin.scram_users()))
        if acls:
            missing += len(acls - {AclEntry(**vars(a)) for a in admin.describe_acls()})
        if missing == 0:
            return
        if time.monotonic() > deadline:
            raise PlanError(
                f"applied, but {missing} change(s) are still not visible after {timeout_s:.0f}s; "
                "plan again to see the cluster's view"
            )
        time.sleep(0.2)
