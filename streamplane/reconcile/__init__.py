"""Desired vs actual -> Plan[Action] -> apply; drift. One model, reconciled into Kafka."""

from __future__ import annotations

from streamplane.reconcile._desired import application_acls, desired_state
from streamplane.reconcile._engine import (
    Planned,
    Target,
    apply_plan,
    compute_plan,
    connect,
    stale_changes,
)
from streamplane.reconcile._import import Imported, import_estate, import_spec, write_spec
from streamplane.reconcile._plan import Action, Change, Kept, Plan, Refusal
from streamplane.reconcile._resources import AclEntry, ActualState, DesiredState

__all__ = [
    "AclEntry",
    "Action",
    "ActualState",
    "Change",
    "DesiredState",
    "Imported",
    "Kept",
    "Plan",
    "Planned",
    "Refusal",
    "Target",
    "application_acls",
    "apply_plan",
    "compute_plan",
    "connect",
    "desired_state",
    "import_estate",
    "import_spec",
    "stale_changes",
    "write_spec",
]
