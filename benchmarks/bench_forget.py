"""`gdpr forget` on a 10,000-topic estate: how long destroying one person's keys takes.

A 1-node cluster and the registry; one KEK holding a per-subject DEK for each of 10,000
topics (``t<i>-value|c<i mod 1000>``: 1,000 customers), plus the forgotten customer's DEK
in ``--subject-topics`` of them. The figure is ``forget`` end to end (find the subject's
DEKs under every KEK, delete each soft then permanently, report the topics and their
copies among the cluster's 10,000 names). Baseline, same run and registry: one read of
the whole DEK registry (list KEKs, list each one's DEKs), the least any forget must do.

Run: .venv/bin/python benchmarks/bench_forget.py [--topics 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from _harness import PORT_OFFSET, median, report, scratch_cluster

from streamplane.client.subject_encryption import dek_name
from streamplane.lineage.forget import forget, subject_keys
from streamplane.local import RegistryProcess
from streamplane.reconcile._registry_client import RegistryEndpoint

KEK = "bench-kek"


def fill(url: str, auth: tuple[str, str], names: list[str]) -> None:
    """Create the DEKs (client-wrapped: random bytes stand in for the wrapped key)."""
    with httpx.Client(base_url=url, auth=auth, timeout=60) as http:
        http.post(
            "/dek-registry/v1/keks",
            json={"name": KEK, "kmsType": "local-kms", "kmsKeyId": "bench"},
        ).raise_for_status()

    def create(chunk: list[str]) -> None:
        with httpx.Client(base_url=url, auth=auth, timeout=60) as http:
            for name in chunk:
                material = base64.b64encode(os.urandom(48)).decode()
                http.post(
                    f"/dek-registry/v1/keks/{KEK}/deks",
                    json={"subject": name, "algorithm": "AES256_GCM",
                          "encryptedKeyMaterial": material},
                ).raise_for_status()  # fmt: skip

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, [names[i::4] for i in range(4)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=10_000)
    parser.add_argument("--subject-topics", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    topics = [f"t{i}" for i in range(args.topics)]
    with scratch_cluster("forget", nodes=1) as cluster:
        service = RegistryProcess(cluster.dir, port_offset=PORT_OFFSET)
        service.start()
        try:
            admin = cluster.admin_settings()
            auth = (str(admin.username), str(admin.password))
            began = time.perf_counter()
            names = [dek_name(f"{t}-value", f"c{i % 1000}") for i, t in enumerate(topics)]
            people = [f"person-{run}" for run in range(args.runs)]
            names += [
                dek_name(f"{topics[j * 7]}-value", person)
                for person in people
                for j in range(args.subject_topics)
            ]
            fill(service.url, auth, names)
            filled = time.perf_counter() - began
            endpoint = RegistryEndpoint(service.url, *auth)
            took, listed, found = [], [], 0
            with endpoint.client() as client:
                for person in people:
                    began = time.perf_counter()
                    subject_keys(client, "nobody")
                    listed.append(time.perf_counter() - began)
                    done = forget(client, person, cluster_topics=topics)
                    took.append(done.seconds)
                    found = len(done.topics)
        finally:
            service.stop()
    rows = [
        (f"gdpr forget, {found} topics of {args.topics:,} (s)", f"{median(took):.3f}",
         f"{median(listed):.3f}"),
        ("ratio to one read of the DEK registry", f"{median(took) / median(listed):.2f}", "1.00"),
        (f"setup: {len(names):,} DEKs created (s)", f"{filled:.1f}", "-"),
    ]  # fmt: skip
    report(
        rows,
        title=f"crypto-shredding (baseline: listing the {len(names):,} DEKs once)",
    )


if __name__ == "__main__":
    main()
