"""Who may write and read which subjects: the spec's tenants, pushed to the registry.

The registry enforces tenant prefixes and public-event visibility from an access policy it
stores in ``_schemas`` (``streamplane.registry.policy_from_spec``). Apply keeps that policy
equal to the spec, as one plan action, so a new application can register its schemas the
moment apply has created its credentials. Only Streamplane's registry has the policy
endpoints; against another registry (Confluent's) this step plans nothing.
"""

from __future__ import annotations

from typing import Any

from streamplane.model import Spec
from streamplane.reconcile._plan import Action, Change, Op
from streamplane.reconcile._registry_client import HttpRegistryClient
from streamplane.registry import policy_from_spec

RESOURCE = "registry access policy"


def access_changes(client: HttpRegistryClient, spec: Spec, cluster: str) -> list[Action]:
    """The one action that makes the registry's policy the spec's, or none."""
    if not client.has_access_policies():
        return []
    desired = policy_from_spec(spec, cluster=cluster).model_dump(mode="json")
    actual = client.access_policy()
    if actual == desired:
        return []
    changes = tuple(
        Change(key, _summary(actual.get(key)) if actual else None, _summary(desired[key]))
        for key in sorted(desired)
        if actual is None or actual.get(key) != desired[key]
    )
    op: Op = "create" if actual is None else "update"
    return [Action(op, "registry-access", RESOURCE, changes=changes, payload=desired)]


def apply_access(action: Action, client: HttpRegistryClient) -> None:
    client.set_access_policy(action.payload)


def _summary(value: Any) -> str:
    count = len(value) if isinstance(value, dict | list) else 0
    return f"{count} entr{'y' if count == 1 else 'ies'}"
