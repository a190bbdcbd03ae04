"""librdkafka settings for SDK clients: a profile, the application's overrides, the SDK's own.

Profiles and their guarantee rules live in :mod:`streamplane.kafka` (``client_config``);
this module only resolves *which* profile and overrides an application uses (explicitly
or from the spec) and adds what the SDK itself must control.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streamplane.client._errors import ClientError
from streamplane.kafka import ConnectionSettings, client_config

if TYPE_CHECKING:
    from streamplane.model import Spec

#: The profile of an application that declares none: the one that loses nothing.
DEFAULT_PROFILE = "zero_loss"

#: Set by the SDK; an override would silently switch off failure reporting, metrics or
#: commit-after-processing, so it is refused rather than merged.
_RESERVED = frozenset(
    {
        "on_delivery",
        "delivery.report.only.error",
        "error_cb",
        "stats_cb",
        "on_commit",
        "throttle_cb",
        "group.id",
        "group.instance.id",
    }
)


#: The rack (zone) this instance runs in, over the spec's ``rack`` of its application.
RACK_ENV = "STREAMPLANE_CLIENT_RACK"


def client_rack(declared: str | None) -> dict[str, str]:
    """``client.rack`` for a consumer: where this instance runs, so the brokers'
    RackAwareReplicaSelector serves its fetches from a replica in the same rack."""
    rack = os.environ.get(RACK_ENV) or declared
    return {"client.rack": rack} if rack else {}


@dataclass(frozen=True)
class ApplicationClients:
    """What the spec says an application's clients are: profile, overrides, ids, topics."""

    app_id: str
    profile: str
    producer_overrides: dict[str, Any] = field(default_factory=dict)
    consumer_overrides: dict[str, Any] = field(default_factory=dict)
    client_id: str | None = None
    group_id: str | None = None
    produces: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()


def application_clients(spec: Spec, name: str) -> ApplicationClients:
    """The client settings of application ``name`` of the spec."""
    entry = spec.applications.get(name)
    if entry is None:
        known = ", ".join(sorted(spec.applications)) or "none"
        raise ClientError(f"the spec has no application {name!r} (applications: {known})")
    app = entry.app
    declared = app.profile
    return ApplicationClients(
        app_id=app.name,
        profile=declared.name if declared is not None else DEFAULT_PROFILE,
        producer_overrides=dict(declared.producer) if declared is not None else {},
        consumer_overrides={
            **client_rack(app.rack),
            **(dict(declared.consumer) if declared is not None else {}),
        },
        client_id=app.client_ids[0] if app.client_ids else None,
        group_id=entry.consumer_group,
        produces=tuple(app.produces),
        consumes=tuple(app.consumes),
    )


def _refuse_reserved(overrides: Mapping[str, Any], owner: str) -> None:
    reserved = sorted(set(overrides) & _RESERVED)
    if reserved:
        raise ClientError(
            f"{owner} sets {', '.join(reserved)}, which the Streamplane client controls "
            "(delivery reports, metrics, commits, group identity); use the client's own "
            "parameters (on_delivery_error=, telemetry=, group_id=, instance_id=) instead"
        )


def producer_config(
    *,
    profile: str,
    connection: ConnectionSettings,
    app_id: str,
    client_id: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Producer settings; ProfileError if an override breaks the profile's guarantee."""
    owner = f"application {app_id}"
    _refuse_reserved(overrides or {}, owner)
    config = client_config(
        profile, "producer", overrides=overrides, connection=connection.librdkafka(), owner=owner
    )
    config.setdefault("client.id", client_id or app_id)
    return config


def consumer_config(
    *,
    profile: str,
    connection: ConnectionSettings,
    app_id: str,
    group_id: str,
    client_id: str | None = None,
    instance_id: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Consumer settings; ProfileError if an override breaks commit-after-processing."""
    owner = f"application {app_id}"
    _refuse_reserved(overrides or {}, owner)
    config = client_config(
        profile, "consumer", overrides=overrides, connection=connection.librdkafka(), owner=owner
    )
    config["group.id"] = group_id
    config.setdefault("client.id", client_id or app_id)
    if instance_id is not None:
        # Static membership: a restart within session.timeout.ms keeps its partitions
        # without a rebalance.
        config["group.instance.id"] = instance_id
    return config
