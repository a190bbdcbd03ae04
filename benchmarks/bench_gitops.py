"""Plan and apply at scale against a real cluster.

Figures (issue: platform spec and GitOps):
- apply creating 1,000 topics with their ACLs: seconds and topics/s;
- plan against a cluster holding 10,000 single-partition topics and ~50,000 ACLs
  (target: <= 15 s), median of N.

Baselines, same run and same cluster, made the way the Terraform provider works:
one admin call per resource, in sequence (create a topic, create each ACL; read
each topic's configs, read each ACL back).

Run: .venv/bin/python benchmarks/bench_gitops.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _estate import write_estate
from _harness import PORT_OFFSET, median, report
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from streamplane.local import JvmOptions, open_cluster
from streamplane.model import load_spec
from streamplane.reconcile import apply_plan, compute_plan, connect


def plan_once(spec_dir: Path, data_dir: Path) -> tuple[float, int]:
    started = time.perf_counter()
    spec = load_spec(spec_dir)
    planned = compute_plan(spec, connect(spec, data_dir=data_dir))
    return time.perf_counter() - started, len(planned.plan.actions)


def apply_once(spec_dir: Path, data_dir: Path) -> tuple[float, int]:
    started = time.perf_counter()
    spec = load_spec(spec_dir)
    target = connect(spec, data_dir=data_dir)
    plan = compute_plan(spec, target).plan
    apply_plan(plan, spec, target)
    return time.perf_counter() - started, len(plan.actions)


def per_resource_create(admin: AdminClient, count: int) -> float:
    """Terraform-style: one CreateTopics and one CreateAcls call per resource, in sequence."""
    started = time.perf_counter()
    for i in range(count):
        name = f"baseline.create.t{i:05d}"
        admin.create_topics([NewTopic(name, 1, 1)], operation_timeout=30)[name].result()
        for op in (AclOperation.WRITE, AclOperation.DESCRIBE):
            binding = AclBinding(
                ResourceType.TOPIC,
                name,
                ResourcePatternType.LITERAL,
                f"User:baseline{i}",
                "*",
                op,
                AclPermissionType.ALLOW,
            )
            for future in admin.create_acls([binding]).values():
                future.result()
    return time.perf_counter() - started


def per_resource_read(admin: AdminClient, sample: int | None) -> tuple[float, int]:
    """Terraform-style refresh: read each topic's configs and each ACL, one call each."""
    topics = sorted(admin.list_topics(timeout=60).topics)
    anything = None
    acls = admin.describe_acls(
        AclBindingFilter(
            ResourceType.ANY,
            anything,
            ResourcePatternType.ANY,
            anything,
            anything,  # type: ignore[arg-type]
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
    ).result()
    resources = [("topic", t) for t in topics] + [("acl", a) for a in acls]
    if sample is not None:
        step = max(1, len(resources) // sample)
        chosen = resources[::step]
    else:
        chosen = resources
    started = time.perf_counter()
    for kind, item in chosen:
        if kind == "topic":
            for future in admin.describe_configs(
                [ConfigResource(ResourceType.TOPIC, item)]
            ).values():
                future.result()
        else:
            exact = AclBindingFilter(
                item.restype,
                item.name,
                item.resource_pattern_type,
                item.principal,
                item.host,
                item.operation,
                item.permission_type,
            )
            admin.describe_acls(exact).result()
    elapsed = time.perf_counter() - started
    # Extrapolated to every resource when sampled: the calls are uniform and sequential.
    return elapsed * len(resources) / len(chosen), len(resources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--baseline-sample",
        type=int,
        default=None,
        help="read only this many resources in the baseline and extrapolate",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-bench-gitops-"))
    cluster = open_cluster(root / "data", jvm=JvmOptions(heap_max_mb=2048, heap_initial_mb=512))
    try:
        cluster.up(nodes=1, port_offset=PORT_OFFSET)
        small, big = root / "small", root / "big"
        topics_small, acls_small = write_estate(small, tenants=5, domains=2, topics=100, apps=62)
        topics_big, acls_big = write_estate(big, tenants=50, domains=2, topics=100, apps=62)
        admin = AdminClient(cluster.admin_settings().librdkafka(log_level=0))

        apply_s, _ = apply_once(small, cluster.dir.root)
        base_create = per_resource_create(admin, 200)
        setup_s, _ = apply_once(big, cluster.dir.root)
        plans = [plan_once(big, cluster.dir.root) for _ in range(args.runs)]
        assert all(n == 0 for _, n in plans), plans
        base_read, resources = per_resource_read(admin, args.baseline_sample)
        plan_median = median([s for s, _ in plans])
        sampled = (
            ""
            if args.baseline_sample is None
            else f" (sampled {args.baseline_sample}, extrapolated)"
        )
        report(
            [
                (f"apply {topics_small:,} topics + {acls_small:,} ACLs (s)", f"{apply_s:.1f}", "-"),
                ("apply, topics/s", f"{topics_small / apply_s:,.0f}", f"{200 / base_create:,.0f}"),
                (
                    f"apply {topics_big - topics_small:,} more topics + ACLs, setup (s)",
                    f"{setup_s:.1f}",
                    "-",
                ),
                (
                    f"plan, {topics_big:,} topics + {acls_big:,} ACLs, median of {args.runs} (s)",
                    f"{plan_median:.1f}",
                    f"{base_read:.1f}{sampled}",
                ),
                (
                    "plan speed-up over per-resource reads",
                    f"{base_read / plan_median:.1f}x",
                    "1.0x",
                ),
            ],
            title=f"GitOps at scale ({resources:,} resources on a 1-node cluster; baseline: one "
            "admin call per resource, as the Terraform provider does)",
        )
    finally:
        cluster.down(timeout_s=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
