"""Desired vs actual -> Plan[Action] -> apply; drift. One model, reconciled into Kafka."""

from __future__ import annotations

from streamplane.reconcile._desired import application_acls, desired_state
from streamplane.reconcile._engine import (
    Planned,
    Target,
    apply_plan,
    compute_plan,
    connect,
    provision,
    registry_endpoint,
    stale_changes,
    sync_tenant_records,
)
from streamplane.reconcile._identities import (
    IdentityReport,
    application_settings,
    client_config_path,
)
from streamplane.reconcile._import import Imported, import_estate, import_spec
from streamplane.reconcile._import_write import write_spec
from streamplane.reconcile._keks import DesiredKek, desired_keks
from streamplane.reconcile._plan import Action, Change, Kept, Plan, Refusal, Rename
from streamplane.reconcile._registry_client import (
    HttpRegistryClient,
    RegisteredVersion,
    RegistryClient,
    RegistryEndpoint,
)
from streamplane.reconcile._resources import AclEntry, ActualState, DesiredState
from streamplane.reconcile._schemas import (
    DesiredSchema,
    SubjectReading,
    check_schemas,
    desired_schemas,
    read_subjects,
    schema_changes,
    subject_name,
)
from streamplane.reconcile._spec_notes import read_spec_notes, record_spec_notes

__all__ = [
    "AclEntry",
    "Action",
    "ActualState",
    "Change",
    "DesiredKek",
    "DesiredSchema",
    "DesiredState",
    "HttpRegistryClient",
    "IdentityReport",
    "Imported",
    "Kept",
    "Plan",
    "Planned",
    "Refusal",
    "RegisteredVersion",
    "RegistryClient",
    "RegistryEndpoint",
    "Rename",
    "SubjectReading",
    "Target",
    "application_acls",
    "application_settings",
    "apply_plan",
    "check_schemas",
    "client_config_path",
    "compute_plan",
    "connect",
    "desired_keks",
    "desired_schemas",
    "desired_state",
    "import_estate",
    "import_spec",
    "provision",
    "read_spec_notes",
    "read_subjects",
    "record_spec_notes",
    "registry_endpoint",
    "schema_changes",
    "stale_changes",
    "subject_name",
    "sync_tenant_records",
    "write_spec",
]
