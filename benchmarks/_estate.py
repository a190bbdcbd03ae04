"""Generate large, valid platform specs for the GitOps benchmarks."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_estate(
    root: Path, *, tenants: int, domains: int, topics: int, apps: int
) -> tuple[int, int]:
    """Write a spec of tenants x domains x topics; each app produces one topic and consumes two.

    Returns (topic count, derived ACL count). Every application derives 8 ACLs:
    WRITE+DESCRIBE on its topic, READ+DESCRIBE on two topics, READ on its group and
    IDEMPOTENT_WRITE on the cluster.
    """
    (root / "tenants").mkdir(parents=True, exist_ok=True)
    (root / "platform.yaml").write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "name": "local",
                        "local": True,
                        "brokers": 1,
                        "max_partitions_per_broker": 100_000,
                    }
                ]
            }
        )
    )
    acls = 0
    for t in range(tenants):
        tenant = f"tenant{t:03d}"
        doc_domains = []
        for d in range(domains):
            names = [f"topic-{i:05d}" for i in range(topics)]
            full = [f"{tenant}.domain{d}.{n}" for n in names]
            applications = []
            for a in range(apps):
                applications.append(
                    {
                        "name": f"{tenant}-d{d}-app{a:03d}",
                        "produces": [full[a % topics]],
                        "consumes": [full[(a + 1) % topics], full[(a + 2) % topics]],
                    }
                )
                acls += 8
            doc_domains.append(
                {
                    "name": f"domain{d}",
                    "owner": "team@example.com",
                    "topics": [
                        {
                            "name": n,
                            "partitions": 1,
                            "classification": "internal",
                            "owner": "team@example.com",
                            "value_schema": "schemas/v.avsc",
                            "configs": {"retention.ms": 86400000 * (1 + i % 7)},
                        }
                        for i, n in enumerate(names)
                    ],
                    "applications": applications,
                }
            )
        spec = {
            "tenants": [
                {
                    "name": tenant,
                    "owners": ["o@example.com"],
                    "clusters": ["local"],
                    "domains": doc_domains,
                }
            ]
        }
        (root / "tenants" / f"{tenant}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (root / "schemas").mkdir(exist_ok=True)
    (root / "schemas" / "v.avsc").write_text('{"type": "string"}\n')
    return tenants * domains * topics, acls
