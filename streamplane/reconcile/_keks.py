"""The spec's key-encryption keys, reconciled into the registry's DEK registry.

The spec names a KEK once (``encryption`` at the top level, or on a tenant); every ENCRYPT
rule of the spec carries its name and KMS in its params. Confluent's serializers look the
KEK up in the DEK registry before they make a data key, and create it only when the
producer's principal may: a tenant's principal may not create a platform KEK
(``estate-pii``), so without this step the first producer of a pii topic would fail. The
platform creates them, with the admin principal, before the schemas whose rules name them.

    desired_keks(spec, cluster)         -> [DesiredKek]               the spec's side
    read_keks(client)                   -> KekReading                 the registry's side (I/O)
    kek_changes(desired, reading, ...)  -> actions, refusals, kept    the diff (pure)
    apply_kek_actions(...)              create, undelete, update

What the DEK registry cannot change is refused, not planned: a KEK's ``kmsType`` and
``kmsKeyId`` are fixed once created (``PUT /keks/{name}`` takes ``kmsProps``, ``doc`` and
``shared`` only), since the data keys it already wraps could not be unwrapped any more. The
way forward is a new KEK name. And a KEK is never deleted, not even with
``--allow-delete``: records written under its data keys would become unreadable for good.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from streamplane.errors import PlanError, StreamplaneError
from streamplane.model import Contract, Encryption, Spec
from streamplane.model._contracts import KEK_NAME
from streamplane.reconcile._plan import Action, Change, Kept, Refusal

KIND: Literal["kek"] = "kek"
#: Observed-digest value of a KEK the registry does not hold.
ABSENT = "-"
_OBSERVED = f"{KIND}:"
#: How the doc of a KEK the spec declares begins: a KEK whose doc begins so and that the
#: spec no longer names was dropped from the spec (and is kept, never deleted).
DOC_PREFIX = "Platform spec: "


class KekClient(Protocol):
    """The DEK registry calls reconciling makes (``HttpRegistryClient`` has them)."""

    url: str

    def kek_names(self) -> list[str] | None: ...

    def kek(self, name: str) -> dict[str, Any] | None: ...

    def create_kek(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def update_kek(self, name: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def undelete_kek(self, name: str) -> None: ...


# --------------------------------------------------------------------------- the spec side
@dataclass(frozen=True)
class DesiredKek:
    """A KEK the spec declares, as Confluent's DEK registry stores it."""

    name: str
    kms_type: str
    kms_key_id: str
    #: The tenant that declares it; None when the spec's top-level ``encryption`` does.
    tenant: str | None
    #: ``file:line`` of each ``encryption`` block naming it, for messages.
    where: tuple[str, ...]
    #: Says who declares it; the registry's doc is kept equal to it.
    doc: str
    #: None: the spec sets none, so the registry's are left as they are (created empty).
    kms_props: dict[str, str] | None = None
    #: None: the spec does not say, so the registry's flag is left alone (created false).
    shared: bool | None = None

    def create_body(self) -> dict[str, Any]:
        """Confluent's ``CreateKekRequest``."""
        return {
            "name": self.name,
            "kmsType": self.kms_type,
            "kmsKeyId": self.kms_key_id,
            "kmsProps": dict(self.kms_props or {}),
            "doc": self.doc,
            "shared": bool(self.shared),
        }


def desired_keks(spec: Spec, cluster: str) -> list[DesiredKek]:
    """The KEKs of ``cluster``'s registry: the spec's own, and those of its tenants there.

    Two blocks may name the same KEK (a tenant repeating the spec's) only with the same KMS
    key: a KEK wraps with exactly one key.
    """
    declared: list[tuple[Encryption, str | None, str]] = []
    if spec.platform.encryption is not None:
        declared.append((spec.platform.encryption, None, _where(spec, ("encryption",))))
    for index, tenant in enumerate(spec.platform.tenants):
        if tenant.encryption is not None and cluster in tenant.clusters:
            where = _where(spec, ("tenants", index, "encryption"))
            declared.append((tenant.encryption, tenant.name, where))
    by_name: dict[str, list[tuple[Encryption, str | None, str]]] = {}
    for entry in declared:
        by_name.setdefault(entry[0].kek, []).append(entry)
    out = []
    for name, entries in sorted(by_name.items()):
        first, *others = entries
        for other in others:
            if (other[0].kms_type, other[0].kms_key_id) != (first[0].kms_type, first[0].kms_key_id):
                raise PlanError(
                    f"{first[2]} and {other[2]} both name KEK {name}, with different KMS keys "
                    f"({_key(first[0])} and {_key(other[0])}); a KEK wraps with one key: give "
                    "the same kms_type and kms_key_id, or another kek name to one of them"
                )
        tenants = [tenant for _, tenant, _ in entries]
        owner = tenants[0] if len(tenants) == 1 else None
        out.append(
            DesiredKek(
                name=name,
                kms_type=first[0].kms_type,
                kms_key_id=first[0].kms_key_id,
                tenant=owner,
                where=tuple(where for _, _, where in entries),
                doc=_doc(tenants),
            )
        )
    return out


def _where(spec: Spec, path: tuple[str | int, ...]) -> str:
    pos = spec.source.locate(path)
    return f"{pos.file}:{pos.line}"


def _key(encryption: Encryption) -> str:
    return f"{encryption.kms_type} key {encryption.kms_key_id}"


def _doc(tenants: list[str | None]) -> str:
    scopes = [
        "every tenant without an encryption of its own" if t is None else f"tenant {t}"
        for t in tenants
    ]
    return f"{DOC_PREFIX}the KEK of the ENCRYPT rules of {' and '.join(scopes)}"


def rule_keks(contracts: Iterable[Contract]) -> set[str]:
    """The KEK names the ENCRYPT rules of these contracts give in their params."""
    return {
        str(rule["params"][KEK_NAME])
        for contract in contracts
        for rule in contract.rules()
        if KEK_NAME in (rule.get("params") or {})
    }


# ------------------------------------------------------------------------ the registry side
@dataclass(frozen=True)
class RegisteredKek:
    """A KEK as the DEK registry returns it."""

    name: str
    kms_type: str
    kms_key_id: str
    kms_props: dict[str, str] = field(default_factory=dict)
    doc: str | None = None
    shared: bool = False
    deleted: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> RegisteredKek:
        return cls(
            name=str(body["name"]),
            kms_type=str(body["kmsType"]),
            kms_key_id=str(body["kmsKeyId"]),
            kms_props={str(k): str(v) for k, v in (body.get("kmsProps") or {}).items()},
            doc=body.get("doc"),
            shared=bool(body.get("shared", False)),
            deleted=bool(body.get("deleted", False)),
        )

    @property
    def digest(self) -> str:
        """What a saved plan relied on (the timestamp left out: an unchanged KEK keeps it)."""
        value = (
            self.kms_type, self.kms_key_id, sorted(self.kms_props.items()), self.doc,
            self.shared, self.deleted,
        )  # fmt: skip
        return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class KekReading:
    """Every KEK of the registry, soft-deleted ones too."""

    keks: dict[str, RegisteredKek] = field(default_factory=dict)
    #: False: the registry does not serve the DEK registry API at all.
    available: bool = True
    url: str = ""


def read_keks(client: KekClient) -> KekReading:
    names = client.kek_names()
    if names is None:
        return KekReading(available=False, url=client.url)
    keks = {}
    for name in names:
        body = client.kek(name)
        if body is not None:  # None: permanently deleted meanwhile
            keks[name] = RegisteredKek.from_body(body)
    return KekReading(keks, url=client.url)


# ------------------------------------------------------------------------------ the plan
def kek_changes(
    desired: list[DesiredKek],
    reading: KekReading,
    *,
    named_by_rules: set[str] | frozenset[str] = frozenset(),
    tenant_of: Callable[[str], str | None] = lambda _: None,
) -> tuple[list[Action], list[Refusal], list[Kept]]:
    """Create what is missing, undelete and update what differs; refuse a new KMS key.

    ``named_by_rules``: KEKs the spec's rules name in their own params (their producers
    create them), which are not reported as left over. ``tenant_of``: the tenant whose
    prefix a KEK name carries, for the ones left over.
    """
    actions: list[Action] = []
    refusals: list[Refusal] = []
    kept: list[Kept] = []
    if not reading.available:
        for kek in desired:
            refusals.append(
                Refusal(
                    kek.name, kek.tenant,
                    f"the schema registry at {reading.url} has no DEK registry "
                    "(/dek-registry/v1/keks answers 404), so KEK "
                    f"{kek.name} ({', '.join(kek.where)}) cannot be created, and every "
                    "producer of a topic whose ENCRYPT rule names it would fail",
                    "run Streamplane's registry (`streamplane registry serve`), or a Confluent "
                    "registry with its DEK registry (client-side field level encryption) on",
                    kind=KIND,
                )
            )  # fmt: skip
        return actions, refusals, kept
    for kek in desired:
        have = reading.keks.get(kek.name)
        if have is None:
            actions.append(_create(kek))
            continue
        if (have.kms_type, have.kms_key_id) != (kek.kms_type, kek.kms_key_id):
            refusals.append(_new_key_refusal(kek, have))
            continue
        update = _update(kek, have)
        if update is not None:
            actions.append(update)
    wanted = {kek.name for kek in desired}
    for name, have in sorted(reading.keks.items()):
        if have.deleted or name in wanted or name in named_by_rules:
            continue
        never = (
            "apply never deletes a KEK, not even with --allow-delete: the records whose data "
            "keys it wraps would become unreadable. Once no record needs it, delete it with "
            f"DELETE /dek-registry/v1/keks/{name} (soft), then ?permanent=true"
        )
        dropped = (have.doc or "").startswith(DOC_PREFIX)
        why = "the spec no longer names it" if dropped else "not declared in the spec"
        kept.append(Kept(KIND, name, tenant_of(name), f"{why}; {never}"))
    return actions, refusals, kept


def _create(kek: DesiredKek) -> Action:
    changes = [Change("kmsType", None, kek.kms_type), Change("kmsKeyId", None, kek.kms_key_id)]
    if kek.kms_props:
        changes.append(Change("kmsProps", None, _props(kek.kms_props)))
    if kek.shared:
        changes.append(Change("shared", None, "true"))
    changes.append(Change("doc", None, kek.doc))
    return Action(
        "create", KIND, kek.name, kek.tenant,
        changes=tuple(changes),
        reason=f"{kek.kms_type}, key id {kek.kms_key_id}; created before the schemas whose "
        "ENCRYPT rules name it, so their producers find it",
        payload=_payload(kek),
    )  # fmt: skip


def _update(kek: DesiredKek, have: RegisteredKek) -> Action | None:
    changes: list[Change] = []
    if have.deleted:
        changes.append(Change("deleted", "true", "false"))
    if kek.kms_props is not None and kek.kms_props != have.kms_props:
        changes.append(Change("kmsProps", _props(have.kms_props), _props(kek.kms_props)))
    if kek.doc != have.doc:
        changes.append(Change("doc", have.doc or "none", kek.doc))
    if kek.shared is not None and kek.shared != have.shared:
        changes.append(Change("shared", str(have.shared).lower(), str(kek.shared).lower()))
    if not changes:
        return None
    why = f"{kek.kms_type}, key id {kek.kms_key_id}"
    if have.deleted:
        why += "; soft-deleted in the registry, but the spec's ENCRYPT rules need it: undeleted"
    return Action(
        "update", KIND, kek.name, kek.tenant, changes=tuple(changes), reason=why,
        payload=_payload(kek),
    )  # fmt: skip


def _payload(kek: DesiredKek) -> dict[str, Any]:
    # The KEK as planned, all apply needs: a saved plan is applied without the spec's KEKs.
    # kmsProps and shared stay None when the spec leaves them to the registry.
    return {
        "name": kek.name,
        "kmsType": kek.kms_type,
        "kmsKeyId": kek.kms_key_id,
        "kmsProps": kek.kms_props,
        "doc": kek.doc,
        "shared": kek.shared,
    }


def _new_key_refusal(kek: DesiredKek, have: RegisteredKek) -> Refusal:
    state = " (soft-deleted)" if have.deleted else ""
    fields = [
        f"{label} {old} → {new}"
        for label, old, new in (
            ("kmsType", have.kms_type, kek.kms_type),
            ("kmsKeyId", have.kms_key_id, kek.kms_key_id),
        )
        if old != new
    ]
    return Refusal(
        kek.name, kek.tenant,
        f"KEK {kek.name}{state} exists with {have.kms_type} key {have.kms_key_id}, and the "
        f"spec ({', '.join(kek.where)}) asks for {kek.kms_type} key {kek.kms_key_id}; the DEK "
        "registry cannot change a KEK's kmsType or kmsKeyId: the data keys it already "
        "wraps could no longer be unwrapped",
        f"name a new KEK in the spec (e.g. kek: {kek.name}-2) with the new key: new records "
        f"are encrypted under it, and records written under {kek.name} stay readable, "
        f"since {kek.name} is kept; or set kms_type: {have.kms_type} and kms_key_id: "
        f"{have.kms_key_id} back",
        kind=KIND,
        details=tuple(fields),
    )  # fmt: skip


def _props(props: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(props.items())) or "none"


# ----------------------------------------------------------------- saved plans and apply
def observed_keks(desired: Iterable[DesiredKek], reading: KekReading) -> dict[str, str]:
    """Digests of the KEKs a saved plan relied on (those it creates or changes or keeps)."""
    if not reading.available:
        return {}
    out = {}
    for kek in desired:
        have = reading.keks.get(kek.name)
        out[f"{_OBSERVED}{kek.name}"] = ABSENT if have is None else have.digest
    return out


def observed_kek_names(observed: Mapping[str, str]) -> set[str]:
    return {key.removeprefix(_OBSERVED) for key in observed if key.startswith(_OBSERVED)}


def observe_keks_now(client: KekClient, names: Iterable[str]) -> dict[str, str]:
    """The same digests as ``observed_keks``, read again (is a saved plan still valid?)."""
    out = {}
    for name in sorted(names):
        body = client.kek(name)
        out[f"{_OBSERVED}{name}"] = ABSENT if body is None else RegisteredKek.from_body(body).digest
    return out


def apply_kek_actions(
    actions: list[Action], client: KekClient, *, step: Callable[[str, int], None]
) -> None:
    """Make each KEK as planned: create it, or undelete it and update what differs.

    Each KEK is read first and brought to the planned state from wherever it is, so
    applying again after a failure, or after someone created the KEK meanwhile with the
    same key, converges; a KEK found with another KMS key is an error, never overwritten.
    """
    done: list[str] = []
    for action in actions:
        try:
            done.extend(_apply_one(action.payload, client))
        except StreamplaneError as exc:
            remaining = actions[actions.index(action) :]
            raise PlanError(
                f"{_label(action)} failed: {exc}\nEvery Kafka change of the plan was applied; "
                f"of the KEKs these were:{_listing(done)}\nNot applied:"
                f"{_listing([_label(a) for a in remaining])}\nnor any schema registration "
                "(their ENCRYPT rules name these KEKs). Fix the cause and apply again: what "
                "was applied drops out of the new plan."
            ) from None
        step("KEKs", 1)


def _apply_one(want: Mapping[str, Any], client: KekClient) -> Iterable[str]:
    name = str(want["name"])
    body = client.kek(name)
    if body is None:
        created = RegisteredKek.from_body(
            client.create_kek(
                {
                    "name": name,
                    "kmsType": want["kmsType"],
                    "kmsKeyId": want["kmsKeyId"],
                    "kmsProps": dict(want.get("kmsProps") or {}),
                    "doc": want["doc"],
                    "shared": bool(want.get("shared")),
                }
            )
        )
        return [f"+ kek {name} ({created.kms_type}, key id {created.kms_key_id})"]
    have = RegisteredKek.from_body(body)
    if (have.kms_type, have.kms_key_id) != (want["kmsType"], want["kmsKeyId"]):
        raise PlanError(
            f"KEK {name} now exists with {have.kms_type} key {have.kms_key_id}, not the planned "
            f"{want['kmsType']} key {want['kmsKeyId']}; plan again"
        )
    applied = []
    if have.deleted:
        client.undelete_kek(name)
        applied.append(f"~ kek {name} undeleted")
    update: dict[str, Any] = {}
    if want.get("kmsProps") is not None and dict(want["kmsProps"]) != have.kms_props:
        update["kmsProps"] = dict(want["kmsProps"])
    if want["doc"] != have.doc:
        update["doc"] = want["doc"]
    if want.get("shared") is not None and bool(want["shared"]) != have.shared:
        update["shared"] = bool(want["shared"])
    if update:
        client.update_kek(name, update)
        applied.append(f"~ kek {name} {', '.join(sorted(update))}")
    return applied


def _label(action: Action) -> str:
    return f"{'+' if action.op == 'create' else '~'} {KIND} {action.resource}"


def _listing(items: list[str]) -> str:
    return " none" if not items else "".join(f"\n  {item}" for item in items)
