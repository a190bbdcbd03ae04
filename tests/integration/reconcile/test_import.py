"""`streamplane import` on a live cluster: the imported spec plans no change."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from streamplane.kafka import ConnectionSettings
from streamplane.model import load_spec
from streamplane.reconcile import compute_plan, connect
from streamplane.reconcile._actual import read_actual
from streamplane.reconcile._import import EXCEPTION_REASON
from streamplane.reconcile._plan import PLATFORM_PRINCIPALS, PLATFORM_USERS
from tests.integration.reconcile.conftest import Estate, unguarded

LEGACY = "Legacy_Orders"


def _sp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", *args], capture_output=True, text=True, timeout=300,
        env=dict(os.environ),
    )  # fmt: skip


def _await_settled(settings: ConnectionSettings, stranger: str, *, timeout_s: float = 30) -> None:
    """Until the hand-made topic and ACLs are visible and the topic set stops moving
    (topics other tests deleted may linger in metadata for a moment)."""
    deadline = time.monotonic() + timeout_s
    previous: set[str] = set()
    while time.monotonic() < deadline:
        actual = read_actual(settings)
        mine = [a for a in actual.acls if a.principal == stranger]
        if LEGACY in actual.topics and len(mine) == 2 and set(actual.topics) == previous:
            return
        previous = set(actual.topics)
        time.sleep(0.5)
    raise AssertionError("the hand-made topic and ACLs did not become visible")


def _is_platform(kind: str, resource: str) -> bool:
    platform_users = PLATFORM_USERS | {p.removeprefix("User:") for p in PLATFORM_PRINCIPALS}
    if kind == "credential":
        return resource in platform_users
    if kind == "quota":
        return resource.removeprefix("user=").split(",")[0] in platform_users
    return resource.split(" ")[0] in PLATFORM_PRINCIPALS


def test_import_of_the_estate_plans_no_change(estate: Estate, tmp_path: Path) -> None:
    root = estate.cluster.dir.root
    settings = estate.cluster.admin_settings()
    admin = AdminClient(settings.librdkafka())
    stranger = f"User:reporter-{uuid.uuid4().hex[:6]}"
    bindings = [
        AclBinding(ResourceType.TOPIC, LEGACY, ResourcePatternType.LITERAL, stranger, "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "reporting", ResourcePatternType.LITERAL, stranger, "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
    ]  # fmt: skip
    with unguarded(estate.cluster):  # a legacy topic predates the example spec's guardrails
        admin.create_topics([NewTopic(LEGACY, 2, 1, config={"retention.ms": "86400000"})])[
            LEGACY
        ].result(30)
    try:
        for future in admin.create_acls(bindings).values():
            future.result(30)
        _await_settled(settings, stranger)
        out = tmp_path / "imported"
        result = _sp("import", "--out", str(out), "--data-dir", str(root))
        assert result.returncode == 0, result.stderr
        assert "Imported cluster local" in result.stdout and "2 ACL exception(s)" in result.stdout

        spec = load_spec(out)
        planned = compute_plan(spec, connect(spec, data_dir=root))
        assert planned.plan.actions == [] and planned.plan.refusals == []
        strays = [k for k in planned.plan.kept if not _is_platform(k.kind, k.resource)]
        assert strays == [], "kept is only for the platform's own principals"

        assert set(spec.applications) == set(estate.spec.applications)
        # SCRAM secrets live outside the imported spec; certificates and OAuth clients keep
        # the mechanism the estate's spec gave them.
        assert {n: a.app.auth for n, a in spec.applications.items()} == {
            n: a.app.auth for n, a in estate.spec.applications.items()
        }
        assert all(
            a.app.credentials == "external"
            for a in spec.applications.values()
            if a.app.auth == "scram"
        )
        legacy = spec.topics[LEGACY]
        assert (legacy.tenant.name, legacy.topic.full_name) == ("legacy", LEGACY)
        # Written as `retention: 1d`, the spec's shortcut in units.
        assert (legacy.topic.retention, legacy.topic.configs) == (86_400_000, {})
        exceptions = spec.platform.acl_exceptions
        assert {(e.principal, e.resource_name, e.reason) for e in exceptions} == {
            (stranger, LEGACY, EXCEPTION_REASON),
            (stranger, "reporting", EXCEPTION_REASON),
        }
        clean = _sp("plan", str(out), "--data-dir", str(root), "--detailed-exitcode")
        assert clean.returncode == 0 and "No changes" in clean.stdout, clean.stdout + clean.stderr

        again = _sp("import", "--out", str(out), "--data-dir", str(root))
        assert again.returncode == 1 and "not empty" in again.stderr
        forced = _sp("import", "--out", str(out), "--data-dir", str(root), "--force")
        assert forced.returncode == 0, forced.stderr
    finally:
        filters = [AclBindingFilter(*_binding_fields(b)) for b in bindings]
        for future in admin.delete_acls(filters).values():
            future.result(30)
        admin.delete_topics([LEGACY])[LEGACY].result(30)
        deadline = time.monotonic() + 30
        while LEGACY in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
            time.sleep(0.2)  # the estate is shared: leave it as it was


def _binding_fields(binding: AclBinding) -> tuple[object, ...]:
    return (
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )
