"""What commands say when they finish: each claim true for that command, said once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from streamplane.cli._render import render_plan
from streamplane.cli.gitops import drift_verdict
from streamplane.reconcile import Action, Kept, Plan

INVALID = "clusters:\n  - name: local\n    local: true\n    brokers: zero\n"


def _streamplane(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamplane", *args],
        capture_output=True, text=True, env=dict(os.environ), cwd=cwd, timeout=60,
    )  # fmt: skip


def test_only_apply_says_an_invalid_spec_applied_nothing(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(INVALID)
    linted = _streamplane("lint", str(tmp_path), cwd=tmp_path)
    assert linted.returncode == 1
    assert "the spec has 1 error:" in linted.stderr and "applied" not in linted.stderr
    assert "platform.yaml:4:14: brokers" in linted.stderr
    applied = _streamplane("apply", str(tmp_path), "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert applied.returncode == 1
    assert "the spec has 1 error; nothing was applied:" in applied.stderr


def _printed(plan: Plan) -> str:
    console = Console(record=True, width=200)
    render_plan(plan, console, summary=False)
    console.print(drift_verdict(plan))
    return console.export_text()


def test_drift_ends_with_one_verdict() -> None:
    clean = _printed(Plan(cluster="local"))
    assert clean.strip() == "No drift. Cluster local matches the spec."
    drifted = Plan(
        cluster="local",
        actions=[Action("update", "config", "t", "pay")],
        kept=[Kept("topic", "x", None, "outside every tenant namespace (unmanaged)")],
    )
    text = _printed(drifted)
    assert "No changes" not in text and "Plan for cluster" not in text
    assert text.strip().endswith(
        "Drift on cluster local: 1 change(s) apply would make, 1 not in the spec."
    )
