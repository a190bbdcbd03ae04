"""A tenant removed from the spec: its topics and subjects are found, listed, and deleted
under --allow-delete; subjects no spec entry owns show as drift."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from streamplane.kafka._admin import ClusterAdmin
from streamplane.local import LocalCluster, RegistryProcess
from streamplane.model import load_spec
from streamplane.reconcile import compute_plan, connect
from streamplane.reconcile._tenants import read_tenant_records
from tests.integration.conftest import PORT_SHIFT
from tests.integration.reconcile.conftest import apply_spec, platform

FORMER_OFFSET = 20140 + PORT_SHIFT

TENANT = """\
  - name: {name}
    owners: [{name}@example.com]
    clusters: [local]
    domains:
      - name: d
        topics:
          - {{name: events, value_schema: event.avsc}}
          - {{name: raw}}
"""
CLUSTER = "clusters:\n  - {name: local, local: true}\ntenants:\n"
EVENT = '{"type": "record", "name": "Event", "fields": [{"name": "id", "type": "string"}]}'


@dataclass
class Platform:
    cluster: LocalCluster
    registry: RegistryProcess

    def http(self) -> httpx.Client:
        auth = ("admin", self.cluster.credentials().admin_password)
        return httpx.Client(base_url=self.registry.url, auth=auth, timeout=30)


@pytest.fixture(scope="module")
def former() -> Iterator[Platform]:
    with platform("former-tenants", port_offset=FORMER_OFFSET) as (cluster, registry):
        yield Platform(cluster, registry)


def _spec(root: Path, *tenants: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "event.avsc").write_text(EVENT)
    (root / "spec.yaml").write_text(CLUSTER + "".join(TENANT.format(name=t) for t in tenants))
    return root


def _sp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", *args],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip


def test_a_removed_tenants_topics_and_subjects_go_under_allow_delete(
    former: Platform, tmp_path: Path
) -> None:
    data = ["--data-dir", str(former.cluster.dir.root)]
    both = load_spec(_spec(tmp_path / "both", "keep", "gone"))
    target = connect(both, data_dir=former.cluster.dir.root)
    apply_spec(both, target)
    assert read_tenant_records(target.settings) == {"keep.": "keep", "gone.": "gone"}

    spec_dir = _spec(tmp_path / "one", "keep")
    one = load_spec(spec_dir)
    kept = {(k.kind, k.resource): k.why for k in compute_plan(one, target).plan.kept}
    removed = "tenant gone was removed from the spec"
    assert kept[("topic", "gone.d.events")] == f"{removed}; pass --allow-delete to delete"
    assert kept[("topic", "gone.d.raw")] == f"{removed}; pass --allow-delete to delete"
    assert kept[("subject", "gone.d.events-value")] == (
        f"{removed}; --allow-delete deletes it with its topic"
    )

    planned = compute_plan(one, target, allow_delete=True).plan
    deletes = {(a.kind, a.resource) for a in planned.actions if a.op == "delete"}
    assert {
        ("topic", "gone.d.events"),
        ("topic", "gone.d.raw"),
        ("subject", "gone.d.events-value"),
    } <= deletes
    applied = _sp("apply", str(spec_dir), *data, "--auto-approve", "--allow-delete")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    topics = ClusterAdmin(target.settings).topic_names()
    assert not [t for t in topics if t.startswith("gone.")] and "keep.d.events" in topics
    with former.http() as http:
        assert http.get("/subjects").json() == ["keep.d.events-value"]
    # Nothing of it is left, so its record is gone too: the next plans know it no more.
    assert read_tenant_records(target.settings) == {"keep.": "keep"}
    after = compute_plan(one, target, allow_delete=True).plan
    assert not [k for k in after.kept if k.resource.startswith("gone.")]
    assert not [a for a in after.actions if a.op == "delete"]


def test_drift_lists_subjects_no_spec_entry_owns(former: Platform, tmp_path: Path) -> None:
    spec_dir = _spec(tmp_path / "spec", "solo")
    spec = load_spec(spec_dir)
    apply_spec(spec, connect(spec, data_dir=former.cluster.dir.root))
    stray = "solo.d.raw-value"  # the topic is the spec's, the subject is not
    with former.http() as http:
        made = http.post(f"/subjects/{stray}/versions", json={"schema": EVENT})
        assert made.status_code == 200, made.text
    try:
        drift = _sp("drift", str(spec_dir), "--data-dir", str(former.cluster.dir.root), "--json")
        assert drift.returncode == 3, drift.stdout + drift.stderr
        unmanaged = {(k["kind"], k["resource"]): k for k in json.loads(drift.stdout)["unmanaged"]}
        orphan = unmanaged[("subject", stray)]
        assert (
            orphan["tenant"] == "solo" and orphan["why"] == "no topic of the spec has this subject"
        )
        assert ("subject", "solo.d.events-value") not in unmanaged
    finally:
        with former.http() as http:
            http.delete(f"/subjects/{stray}")
