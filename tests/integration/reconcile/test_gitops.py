"""plan / apply / drift on a live cluster: idempotence, refusals, saved plans, deletion, quotas."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streamplane.errors import PlanError
from streamplane.local import LocalCluster, open_cluster
from streamplane.model import load_spec
from streamplane.reconcile import Plan, compute_plan, connect, stale_changes
from tests.conftest import TEST_ROOT
from tests.integration.conftest import PORT_SHIFT
from tests.integration.reconcile.conftest import EXAMPLE, Estate, apply_spec, unguarded

SCRATCH_OFFSET = 20160 + PORT_SHIFT


@pytest.fixture(scope="module")
def scratch() -> Iterator[LocalCluster]:
    """A cluster where each test applies a small spec of its own tenant."""
    cluster = open_cluster(TEST_ROOT / "gitops-scratch")
    cluster.up(nodes=1, port_offset=SCRATCH_OFFSET)
    try:
        yield cluster
    finally:
        cluster.down(timeout_s=20)


def tenant_spec(root: Path, tenant: str, body: str, *, extra: str = "") -> Path:
    """Write a one-tenant spec targeting the local cluster; ``body`` is the domain list."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "spec.yaml").write_text(
        textwrap.dedent(f"""\
        clusters:
          - name: local
            local: true
        tenants:
          - name: {tenant}
            owners: [team@example.com]
            clusters: [local]
            domains:
        """)
        + textwrap.indent(textwrap.dedent(body), "      ")
        + textwrap.dedent(extra)
    )
    return root


def _sp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", *args], capture_output=True, text=True, timeout=300,
        cwd=cwd, env=dict(os.environ),
    )  # fmt: skip


def _tenant() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_plan_after_apply_is_empty_and_apply_twice_changes_nothing(estate: Estate) -> None:
    planned = compute_plan(estate.spec, estate.target)
    assert planned.plan.actions == [] and planned.plan.refusals == []
    data = ["--data-dir", str(estate.cluster.dir.root)]
    out = _sp("plan", str(EXAMPLE), *data, "--json", "--detailed-exitcode")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["actions"] == []
    again = _sp("apply", str(EXAMPLE), *data, "--auto-approve")
    assert again.returncode == 0 and "No changes" in again.stdout


def test_drift_reports_a_topic_created_by_hand_and_exits_3(estate: Estate) -> None:
    admin = AdminClient(estate.cluster.admin_settings().librdkafka())
    rogue, stray = f"payments.card.rogue-{uuid.uuid4().hex[:6]}", f"handmade-{uuid.uuid4().hex[:6]}"
    with unguarded(estate.cluster):  # the example spec's guardrails would refuse the stray
        for name in (rogue, stray):
            admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    try:
        out = _sp("drift", str(EXAMPLE), "--data-dir", str(estate.cluster.dir.root), "--json")
        assert out.returncode == 3, out.stderr
        report = json.loads(out.stdout)
        unmanaged = {k["resource"]: k for k in report["unmanaged"]}
        assert unmanaged[rogue]["tenant"] == "payments"
        assert unmanaged[stray]["tenant"] is None
        assert not any(r.startswith("_") for r in unmanaged), "platform topics are never drift"
        assert not any("User:admin" in r for r in unmanaged)
    finally:
        for future in admin.delete_topics([rogue, stray]).values():
            future.result(30)
    clean = _sp("drift", str(EXAMPLE), "--data-dir", str(estate.cluster.dir.root))
    assert clean.returncode == 0, clean.stdout


def test_config_changes_show_before_and_after_without_default_noise(
    scratch: LocalCluster, tmp_path: Path
) -> None:
    tenant = _tenant()
    domain = """\
    - name: d
      topics:
        - name: events
          partitions: 2
          retention: 7d          # the broker default: no override, no change shown
          configs: {max.message.bytes: 2097152}
    """
    spec_dir = tenant_spec(tmp_path / "s", tenant, domain)
    spec = load_spec(spec_dir)
    target = connect(spec, data_dir=scratch.dir.root)
    first = compute_plan(spec, target).plan
    create = next(a for a in first.actions if a.kind == "topic")
    assert {c.key for c in create.changes} >= {"partitions", "max.message.bytes"}
    apply_spec(spec, target)
    assert compute_plan(spec, target).plan.actions == []

    spec_file = spec_dir / "spec.yaml"
    spec_file.write_text(
        spec_file.read_text()
        .replace("2097152", "4194304")
        .replace("partitions: 2", "partitions: 4")
    )
    changed = compute_plan(load_spec(spec_dir), target).plan
    by_kind = {a.kind: a for a in changed.actions}
    assert [(c.key, c.before, c.after) for c in by_kind["config"].changes] == [
        ("max.message.bytes", "2097152", "4194304")
    ]
    assert [(c.before, c.after) for c in by_kind["partitions"].changes] == [("2", "4")]
    assert set(by_kind) == {"config", "partitions"}


def test_partition_decrease_and_rf_change_are_refused_with_the_safe_alternative(
    scratch: LocalCluster, tmp_path: Path
) -> None:
    tenant = _tenant()
    spec_dir = tenant_spec(
        tmp_path / "s", tenant, "- name: d\n  topics:\n    - name: events\n      partitions: 4\n"
    )
    spec = load_spec(spec_dir)
    target = connect(spec, data_dir=scratch.dir.root)
    apply_spec(spec, target)
    spec_file = spec_dir / "spec.yaml"
    text = re.sub(
        r"(?m)^(\s*)partitions: 4$",
        r"\1partitions: 2\n\1replication_factor: 3",
        spec_file.read_text(),
    )
    # Say the cluster has 3 brokers, or the spec itself would be refused before any plan.
    text = text.replace("    local: true\n", "    local: true\n    brokers: 3\n", 1)
    spec_file.write_text(text)
    out = _sp("plan", str(spec_dir), "--data-dir", str(scratch.dir.root))
    assert out.returncode == 1
    assert "Kafka cannot remove partitions" in out.stdout and "new versioned topic" in out.stdout
    assert "reassignment" in out.stdout
    refused = _sp("apply", str(spec_dir), "--data-dir", str(scratch.dir.root), "--auto-approve")
    assert refused.returncode == 1 and "Nothing was applied" in refused.stderr


def test_saved_plan_is_refused_when_the_cluster_moved(
    scratch: LocalCluster, tmp_path: Path
) -> None:
    tenant = _tenant()
    spec_dir = tenant_spec(tmp_path / "s", tenant, "- name: d\n  topics:\n    - name: events\n")
    saved = tmp_path / "plan.json"
    data = ["--data-dir", str(scratch.dir.root)]
    assert _sp("plan", str(spec_dir), *data, "--out", str(saved)).returncode == 0
    # Someone creates a topic meanwhile: the saved plan no longer describes the cluster.
    intruder = f"{tenant}.d.intruder"
    admin = AdminClient(scratch.admin_settings().librdkafka())
    admin.create_topics([NewTopic(intruder, 1, 1)])[intruder].result(30)
    refused = _sp("apply", str(saved), *data, "--auto-approve")
    assert refused.returncode == 1
    assert (
        f"topic:{intruder} appeared" in refused.stderr and "nothing was applied" in refused.stderr
    )
    assert f"{tenant}.d.events" not in admin.list_topics(timeout=10).topics
    # A fresh plan applies, and the saved file of an unchanged cluster applies as is.
    assert _sp("plan", str(spec_dir), *data, "--out", str(saved)).returncode == 0
    plan = Plan.from_json(json.loads(saved.read_text()))
    target = connect(load_spec(spec_dir), data_dir=scratch.dir.root)
    assert stale_changes(plan, target) == []
    applied = _sp("apply", str(saved), *data, "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert f"{tenant}.d.events" in admin.list_topics(timeout=10).topics


def test_deletion_needs_the_flag_the_grace_period_and_no_protection(
    scratch: LocalCluster, tmp_path: Path
) -> None:
    tenant = _tenant()
    topics = "- name: d\n  topics:\n" + "".join(
        f"    - name: {name}\n" for name in ("keep", "old", "busy", "vault")
    )
    deletion = f"deletion:\n  grace_period: 3s\n  protected: ['{tenant}.d.vault']\n"
    spec_dir = tenant_spec(tmp_path / "s", tenant, topics, extra=deletion)
    spec = load_spec(spec_dir)
    target = connect(spec, data_dir=scratch.dir.root)
    apply_spec(spec, target)
    producer = Producer(scratch.admin_settings().librdkafka())
    producer.produce(f"{tenant}.d.old", b"x")
    producer.flush(10)
    time.sleep(4)  # "old" is now idle for longer than the grace period
    producer.produce(f"{tenant}.d.busy", b"x")
    producer.flush(10)
    spec_file = spec_dir / "spec.yaml"
    spec_file.write_text(re.sub(r"(?m)^\s*- name: (old|busy|vault)\n", "", spec_file.read_text()))
    shrunk = load_spec(spec_dir)

    without_flag = compute_plan(shrunk, target).plan
    assert not [a for a in without_flag.actions if a.op == "delete"]
    assert {k.resource for k in without_flag.kept} >= {f"{tenant}.d.old", f"{tenant}.d.busy"}

    with_flag = compute_plan(shrunk, target, allow_delete=True).plan
    # Tenants other tests applied to this shared cluster are former tenants of this spec:
    # their topics are deletion candidates too. This test judges its own tenant's.
    deletes = {
        a.resource: a
        for a in with_flag.actions
        if a.op == "delete" and a.kind == "topic" and a.tenant == tenant
    }
    assert set(deletes) == {f"{tenant}.d.old"}
    assert (
        "last write" in deletes[f"{tenant}.d.old"].reason
        and "ago" in deletes[f"{tenant}.d.old"].reason
    )
    kept = {k.resource: k.why for k in with_flag.kept}
    assert "grace period" in kept[f"{tenant}.d.busy"]
    assert "protected" in kept[f"{tenant}.d.vault"]
    # "busy" must stay busy while the CLI starts and plans, however long a loaded machine
    # takes for that: a write every half second, well inside the 3 s grace period.
    stop = threading.Event()

    def keep_busy() -> None:
        while not stop.wait(0.5):
            producer.produce(f"{tenant}.d.busy", b"x")
            producer.flush(10)

    writer = threading.Thread(target=keep_busy, daemon=True)
    writer.start()
    try:
        out = _sp(
            "apply",
            str(spec_dir),
            "--data-dir",
            str(scratch.dir.root),
            "--auto-approve",
            "--allow-delete",
        )
    finally:
        stop.set()
        writer.join(15)
    assert out.returncode == 0, out.stderr
    remaining = AdminClient(scratch.admin_settings().librdkafka()).list_topics(timeout=10).topics
    assert f"{tenant}.d.old" not in remaining
    assert {f"{tenant}.d.busy", f"{tenant}.d.vault", f"{tenant}.d.keep"} <= set(remaining)


def test_apply_killed_midway_converges_when_rerun(scratch: LocalCluster, tmp_path: Path) -> None:
    tenant = _tenant()
    topics = "".join(f"    - name: t{i:04d}\n      partitions: 1\n" for i in range(600))
    apps = "  applications:\n" + "".join(
        f"    - name: {tenant}-app{i}\n      produces: [{tenant}.d.t{i:04d}]\n" for i in range(40)
    )
    spec_dir = tenant_spec(tmp_path / "s", tenant, "- name: d\n  topics:\n" + topics + apps)
    cmd = [sys.executable, "-m", "streamplane", "apply", str(spec_dir), "--data-dir",
           str(scratch.dir.root), "--auto-approve"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    admin = AdminClient(scratch.admin_settings().librdkafka())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(t.startswith(f"{tenant}.d.") for t in admin.list_topics(timeout=10).topics):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    spec = load_spec(spec_dir)
    target = connect(spec, data_dir=scratch.dir.root)
    midway = compute_plan(spec, target).plan
    assert midway.actions, "the kill came too late to interrupt anything"
    rerun = _sp("apply", str(spec_dir), "--data-dir", str(scratch.dir.root), "--auto-approve")
    assert rerun.returncode == 0, rerun.stderr
    assert compute_plan(spec, target).plan.actions == []


def test_plan_for_an_unknown_cluster_is_a_clear_error(
    scratch: LocalCluster, tmp_path: Path
) -> None:
    spec = load_spec(tenant_spec(tmp_path / "s", _tenant(), "- name: d\n"))
    with pytest.raises(PlanError, match=r"no cluster 'prod' in the spec \(clusters: local\)"):
        connect(spec, cluster="prod", data_dir=scratch.dir.root)


def test_producer_quota_throttles_to_within_25_percent(
    scratch: LocalCluster, tmp_path: Path
) -> None:
    tenant = _tenant()
    quota = 512 * 1024
    domain = f"""\
    - name: d
      topics:
        - name: q
          partitions: 1
      applications:
        - name: {tenant}-fast
          produces: [{tenant}.d.q]
          quotas: {{producer_byte_rate: {quota}}}
    """
    spec = load_spec(tenant_spec(tmp_path / "s", tenant, domain))
    target = connect(spec, data_dir=scratch.dir.root)
    apply_spec(spec, target)
    password = (scratch.dir.root / "secrets" / f"{tenant}-fast").read_text().strip()
    settings = scratch.admin_settings().with_credentials(f"{tenant}-fast", password)
    # A small client buffer keeps the initial burst (which the broker then pays back by
    # throttling harder) small, so the steady rate shows within a short test.
    producer = Producer(
        settings.librdkafka(**{"linger.ms": 5, "acks": "1", "queue.buffering.max.kbytes": 256})
    )
    acked: list[tuple[float, int]] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is None:
            acked.append((time.monotonic(), len(msg.value())))  # type: ignore[attr-defined]

    payload = os.urandom(1024)
    started = time.monotonic()
    while time.monotonic() - started < 14:
        try:
            producer.produce(f"{tenant}.d.q", payload, on_delivery=on_delivery)
        except BufferError:
            producer.poll(0.05)
        producer.poll(0)
    producer.flush(30)
    # Skip the first seconds: the broker lets a burst through, then throttles it back.
    window = [(t, n) for t, n in acked if started + 2 <= t <= started + 14]
    rate = sum(n for _, n in window) / 12
    print(f"quota 512 KiB/s, measured {rate / 1024:.0f} KiB/s")
    assert 0.75 * quota <= rate <= 1.25 * quota, (
        f"measured {rate / 1024:.0f} KiB/s for a 512 KiB/s quota"
    )


def test_credentials_come_from_the_named_source_and_rotate_when_it_changes(
    scratch: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = _tenant()
    env = f"PW_{tenant.upper()}"
    domain = f"""\
    - name: d
      topics:
        - name: t
      applications:
        - name: {tenant}-app
          password: {{env: {env}}}
          produces: [{tenant}.d.t]
    """
    spec = load_spec(tenant_spec(tmp_path / "s", tenant, domain))
    target = connect(spec, data_dir=scratch.dir.root)
    monkeypatch.setenv(env, "first-secret-value")
    apply_spec(spec, target)
    assert compute_plan(spec, target).plan.actions == []
    monkeypatch.setenv(env, "second-secret-value")
    rotation = compute_plan(spec, target).plan.actions
    assert [(a.op, a.kind, a.resource) for a in rotation] == [
        ("update", "credential", f"{tenant}-app")
    ]
    assert "second-secret-value" not in json.dumps(compute_plan(spec, target).plan.to_json())
    apply_spec(spec, target)
    settings = scratch.admin_settings()
    ok = AdminClient(settings.with_credentials(f"{tenant}-app", "second-secret-value").librdkafka())
    assert f"{tenant}.d.t" in ok.list_topics(timeout=10).topics
    stale = AdminClient(
        settings.with_credentials(f"{tenant}-app", "first-secret-value").librdkafka(log_level=0)
    )
    with pytest.raises(KafkaException):
        stale.list_topics(timeout=5)
    monkeypatch.delenv(env)
    with pytest.raises(PlanError, match=f"environment variable {env} is not set"):
        compute_plan(spec, target)
