"""The guardrails' rules file, generated from the spec: what the brokers will enforce."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamplane.model import load_spec
from streamplane.reconcile._guardrails import guardrail_rules, write_guardrail_rules
from tests.unit.reconcile.fake_registry import EXAMPLE


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {k: v for k, v in pairs}


def test_the_example_allows_each_tenants_namespace_and_holds_dev_rules() -> None:
    spec = load_spec(EXAMPLE)
    rules = _props(guardrail_rules(spec, spec.cluster("local")))
    assert rules["naming.prefixes"] == "analytics.,payments.,risk."
    assert rules["replication.min"] == "1" and rules["min.insync.replicas.min"] == "1"
    assert rules["retention.max.ms"] == str(30 * 86_400_000)
    assert rules["retention.tiered.allowed"] == "false"


def test_a_prod_cluster_requires_three_replicas_and_two_in_sync(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    shutil.copytree(EXAMPLE, root)
    platform = root / "platform.yaml"
    platform.write_text(platform.read_text().replace("environment: dev", "environment: prod"))
    spec = load_spec(root)
    rules = _props(guardrail_rules(spec, spec.cluster("local")))
    assert (rules["replication.min"], rules["min.insync.replicas.min"]) == ("3", "2")


def test_the_file_is_rewritten_only_on_change_and_removed_when_switched_off(
    tmp_path: Path,
) -> None:
    root = tmp_path / "spec"
    shutil.copytree(EXAMPLE, root)
    spec = load_spec(root)
    target = tmp_path / "guardrails.properties"
    assert write_guardrail_rules(spec, spec.cluster("local"), target) is True
    assert write_guardrail_rules(spec, spec.cluster("local"), target) is False
    platform = root / "platform.yaml"
    platform.write_text(platform.read_text().replace("guardrails: true", "guardrails: false"))
    off = load_spec(root)
    assert write_guardrail_rules(off, off.cluster("local"), target) is True
    assert not target.exists()


def test_the_command_prints_the_rules_and_names_an_unknown_cluster() -> None:
    from typer.testing import CliRunner

    from streamplane.cli import app

    shown = CliRunner().invoke(app, ["guardrails", str(EXAMPLE)])
    assert shown.exit_code == 0 and "naming.prefixes=analytics.,payments.,risk." in shown.output
    unknown = CliRunner().invoke(app, ["guardrails", str(EXAMPLE), "--cluster", "nope"])
    # main() prints the error in one line; the app itself raises it.
    assert "no cluster 'nope' (its clusters: local)" in str(unknown.exception)
