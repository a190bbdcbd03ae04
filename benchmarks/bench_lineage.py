"""Lineage build time on a 10,000-topic estate, from the spec alone.

Builds what `lineage catalog --offline`, `gdpr report --offline`, `export mermaid`,
`export asyncapi` and `lineage where-flows` compute: the catalog (every topic's schema
walked for its fields and tags), the personal-data map, the declared flows and their
picture, the AsyncAPI documents, and one field followed through the estate. Baseline,
same run: loading the spec itself (YAML with positions, validation), which every spec
command pays first; the figure is the lineage work on top of it.

Run: .venv/bin/python benchmarks/bench_lineage.py [--topics-per-domain 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _estate import write_estate
from _harness import median, report

from streamplane.lineage import asyncapi_documents
from streamplane.lineage.catalog import catalog, personal_data
from streamplane.lineage.flows import declared_flows, lineage, mermaid
from streamplane.lineage.paths import where_flows
from streamplane.model import Spec, load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics-per-domain", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-bench-lineage-"))
    try:
        topics, _ = write_estate(
            root, tenants=50, domains=2, topics=args.topics_per_domain, apps=10
        )
        loads, builds, parts = [], [], {}
        for _ in range(args.runs):
            started = time.perf_counter()
            spec = load_spec(root)
            loads.append(time.perf_counter() - started)
            steps: dict[str, Callable[[Spec], object]] = {
                "catalog + data map": lambda s: personal_data(catalog(s)),
                "declared flows + Mermaid": lambda s: mermaid(lineage(declared_flows(s), {})),
                "AsyncAPI documents": asyncapi_documents,
                "where-flows of one field": lambda s: where_flows(s, "id"),
            }
            total = 0.0
            for name, step in steps.items():
                began = time.perf_counter()
                step(spec)
                spent = time.perf_counter() - began
                parts.setdefault(name, []).append(spent)
                total += spent
            builds.append(total)
        assert len(catalog(spec)) == topics
        rows = [
            (f"lineage build, {topics:,} topics, median of {args.runs} (s)",
             f"{median(builds):.2f}", f"{median(loads):.2f}"),
            ("ratio to loading the spec", f"{median(builds) / median(loads):.2f}x", "1.00x"),
        ]  # fmt: skip
        rows += [(f"  {name} (s)", f"{median(v):.2f}", "") for name, v in parts.items()]
        report(rows, title="lineage from the spec (baseline: load_spec of the same estate)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
