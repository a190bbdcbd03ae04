"""Tenants cannot touch each other, whichever way their applications authenticate.

Three tenants, each with an application per way in (SCRAM on the SASL listener, a client
certificate on the mTLS listener, OAuth client credentials on the SASL listener), applied
with the real ``apply`` to a real cluster. Every application runs every operation against
its own tenant's resources and another tenant's, with the client configuration ``apply``
wrote for it, at the brokers and at the schema registry (read and write its topic's
subject, with the same identity): what the spec grants works, everything else is refused,
and every refusal is found in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from streamplane.kafka import ConnectionSettings
from streamplane.lineage.flows import declared_flows, lineage, refused_flows
from streamplane.local import LocalCluster, RegistryProcess
from streamplane.local._audit_service import AuditShipperProcess
from streamplane.model import Spec, load_spec
from streamplane.reconcile import client_config_path, connect
from streamplane.security.audit import AuditFilter, read_trail
from tests.integration.reconcile.conftest import apply_spec
from tests.integration.security._audit import wait_caught_up
from tests.integration.security._isolation import (
    MECHANISMS,
    OPERATIONS,
    TENANTS,
    app_name,
    probe,
    resource_of,
    topic_of,
    write_spec,
)


@dataclass(frozen=True)
class Estate:
    cluster: LocalCluster
    spec: Spec
    registry: RegistryProcess

    def settings(self, tenant: str, mechanism: str) -> ConnectionSettings:
        principal = self.spec.applications[app_name(tenant, mechanism)].principal
        return ConnectionSettings.from_properties_file(
            client_config_path(self.cluster.dir.root, principal)
        )


@pytest.fixture(scope="module")
def estate(cluster1: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    spec = load_spec(write_spec(tmp_path_factory.mktemp("isolation") / "spec"))
    registry = RegistryProcess(cluster1.dir, port_offset=cluster1.require_state().port_offset)
    registry.start()  # before apply: it publishes the spec's access policy there
    try:
        target = connect(spec, data_dir=cluster1.dir.root)
        apply_spec(spec, target)
        yield Estate(cluster1, spec, registry)
    finally:
        registry.stop()


#: Refusals the matrix provoked: (mechanism, principal, operation, resource).
REFUSED: list[tuple[str, str, str, str]] = []


def test_apply_writes_each_application_its_own_client_config(estate: Estate) -> None:
    for tenant in TENANTS:
        for mechanism in MECHANISMS:
            path = client_config_path(estate.cluster.dir.root, app_name(tenant, mechanism))
            assert path.stat().st_mode & 0o777 == 0o600
            settings = ConnectionSettings.from_properties_file(path)
            if mechanism == "mtls":
                assert settings.security_protocol == "SSL" and settings.ssl_certificate
            elif mechanism == "oauth":
                assert settings.oauth and settings.oauth_client_id == app_name(tenant, mechanism)
            else:
                assert settings.username == app_name(tenant, mechanism) and settings.password


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_each_tenant_reaches_its_own_resources_and_none_of_the_others(
    estate: Estate, mechanism: str
) -> None:
    wrong: list[str] = []
    for position, tenant in enumerate(TENANTS):
        other = TENANTS[(position + 1) % len(TENANTS)]
        settings = estate.settings(tenant, mechanism)
        for operation, granted in OPERATIONS.items():
            own = probe(operation, settings, tenant, mechanism, estate.registry.url)
            if own.allowed != granted:
                wrong.append(f"{app_name(tenant, mechanism)} {operation} own: {own.detail}")
            foreign = probe(operation, settings, other, mechanism, estate.registry.url)
            if foreign.allowed:
                wrong.append(f"{app_name(tenant, mechanism)} {operation} on {other}'s: allowed")
            principal = f"User:{app_name(tenant, mechanism)}"
            REFUSED.append(
                (mechanism, principal, operation, resource_of(operation, other, mechanism))
            )
            if not granted:
                REFUSED.append(
                    (mechanism, principal, operation, resource_of(operation, tenant, mechanism))
                )
    assert not wrong, "\n".join(wrong)


@pytest.fixture(scope="module")
def shipper(estate: Estate) -> Iterator[AuditShipperProcess]:
    process = AuditShipperProcess(estate.cluster.dir)
    process.start()
    yield process
    process.stop()


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_every_refusal_is_in_the_audit_trail(
    estate: Estate, shipper: AuditShipperProcess, mechanism: str
) -> None:
    """Shipped by the real shipper, found by the query `audit query --denied` runs."""
    cases = [c for c in REFUSED if c[0] == mechanism]
    assert cases, "the matrix runs first"
    wait_caught_up(estate.cluster, shipper)
    settings = estate.cluster.admin_settings()
    missing = []
    for _, principal, operation, resource in cases:
        found = [
            r
            for r in read_trail(settings, AuditFilter(principal=principal, denied=True))
            if (r.resource_name or "").startswith(resource)
        ]
        if not found:
            missing.append(f"{principal} {operation} {resource}")
    assert not missing, "not in the audit trail:\n" + "\n".join(missing)


def test_lineage_shows_the_refused_attempts_from_the_audit_trail(
    estate: Estate, shipper: AuditShipperProcess
) -> None:
    """Every application tried to read and write another tenant's topic and was refused
    its metadata first: lineage lists those attempts, and none of the declared flows."""
    wait_caught_up(estate.cluster, shipper)
    records = read_trail(estate.cluster.admin_settings(), AuditFilter(denied=True))
    rows = lineage(declared_flows(estate.spec), {}, refused_flows(estate.spec, records))
    attempts = {(r.flow.application, r.flow.direction, r.flow.topic) for r in rows if r.refused}

    for position, tenant in enumerate(TENANTS):
        other = TENANTS[(position + 1) % len(TENANTS)]
        for mechanism in MECHANISMS:
            app = app_name(tenant, mechanism)
            assert (app, "reaches", topic_of(other)) in attempts, (app, sorted(attempts))
    assert all(r.status == "REFUSED attempt" for r in rows if r.refused)
