"""`lint` and `audit zero-loss` agree on the example estate: one environment, one policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from streamplane.cli._app import app
from tests.integration.reconcile.conftest import EXAMPLE, Estate


def _run(*args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, json.loads(result.stdout)


def test_lint_and_audit_zero_loss_agree_on_the_one_node_example(estate: Estate) -> None:
    data_dir = str(estate.cluster.dir.root)
    lint_code, findings = _run("lint", str(EXAMPLE), "--json")
    audit_code, report = _run("audit", "zero-loss", str(EXAMPLE), "--data-dir", data_dir, "--json")
    assert (lint_code, findings) == (0, [])
    assert (audit_code, report["violations"]) == (0, [])
    # The audit did read the cluster: what lint passes for the dev cluster, it lists as exempt.
    assert report["brokers"] == [1] and report["exempted"]
    assert {e["rule"] for e in report["exempted"]} == {"replication"}
    assert {e["exempted_because"] for e in report["exempted"]} == {
        "cluster local is a dev environment; rule replication judges prod clusters only"
    }


def test_judged_as_prod_both_report_replication_of_the_same_topics(
    estate: Estate, spec_copy: Path
) -> None:
    platform = spec_copy / "platform.yaml"
    text = platform.read_text().replace("environment: dev", "environment: prod")
    start = text.index("policy:\n")
    platform.write_text(text[:start] + text[text.index("deletion:\n") :])
    data_dir = str(estate.cluster.dir.root)
    lint_code, findings = _run("lint", str(spec_copy), "--json")
    audit_code, report = _run(
        "audit", "zero-loss", str(spec_copy), "--data-dir", data_dir, "--json"
    )
    assert (lint_code, audit_code) == (1, 1)
    assert report["exempted"] == []
    linted = {f["resource"] for f in findings if f["rule"] == "replication"}
    audited_topics = {
        v["rule_resource"]
        for v in report["violations"]
        if v["rule"] == "replication" and v["resource"].startswith("topic ")
    } - {"__consumer_offsets", "__transaction_state"}
    # Every zero_loss topic the audit finds under-replicated, lint finds too (lint judges
    # every topic of the prod cluster; the audit those of zero_loss applications).
    assert audited_topics and audited_topics <= linted
