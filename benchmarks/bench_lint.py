"""Lint of a 10,000-topic spec (target: <= 5 s).

Baseline, same run: parsing the same YAML files with PyYAML alone (no positions,
no validation, no rules), i.e. the floor any YAML-based tool pays.

Run: .venv/bin/python benchmarks/bench_lint.py [--topics-per-domain 100]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import yaml
from _estate import write_estate
from _harness import median, report

from streamplane import policy
from streamplane.model import load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics-per-domain", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sp-bench-lint-"))
    try:
        topics, _ = write_estate(
            root, tenants=50, domains=2, topics=args.topics_per_domain, apps=10
        )
        ours, base = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            findings = policy.lint(load_spec(root))
            ours.append(time.perf_counter() - started)
            assert not policy.has_errors(findings), findings[:3]
            started = time.perf_counter()
            for path in sorted(root.rglob("*.yaml")):
                yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
            base.append(time.perf_counter() - started)
        report(
            [
                (
                    f"lint {topics:,} topics, median of {args.runs} (s)",
                    f"{median(ours):.2f}",
                    f"{median(base):.2f}",
                ),
                ("ratio to bare YAML parsing", f"{median(ours) / median(base):.1f}x", "1.0x"),
            ],
            title="streamplane lint (baseline: PyYAML + libyaml loading the same files)",
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
