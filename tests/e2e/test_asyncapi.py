"""`streamplane export asyncapi` writes documents the official AsyncAPI parser accepts."""

from __future__ import annotations

import json
from pathlib import Path

from streamplane.model import load_spec
from tests.e2e.asyncapi_parser import parse
from tests.integration.cli_process import run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "platform"


def test_the_example_estates_documents_parse_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi"
    outcome = run_cli("export", "asyncapi", str(EXAMPLE), "--out", str(out), cwd=tmp_path)
    assert outcome.code == 0, outcome.text

    files = sorted(out.glob("*.asyncapi.json"))
    spec = load_spec(EXAMPLE)
    assert len(files) == sum(len(t.domains) for t in spec.platform.tenants)
    code, reports = parse(*files)
    assert code == 0, reports
    assert all(report["errors"] == [] for report in reports)
    # The parser saw what the spec declares: every topic a channel of its domain's document.
    assert sum(r["channels"] for r in reports) >= len(spec.topics)
    assert all(r["operations"] > 0 for r in reports)


def test_the_parser_check_reports_a_broken_document(tmp_path: Path) -> None:
    """The check above can fail: a dangling channel reference is an error to the parser."""
    out = tmp_path / "asyncapi"
    assert run_cli("export", "asyncapi", str(EXAMPLE), "--out", str(out), cwd=tmp_path).code == 0
    good = out / "payments.card.asyncapi.json"
    document = json.loads(good.read_text())
    next(iter(document["operations"].values()))["channel"] = {"$ref": "#/channels/nowhere"}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))

    code, reports = parse(good, broken)

    assert code == 1
    assert reports[0]["errors"] == []
    assert any("#/channels/nowhere" in error for error in reports[1]["errors"])


def test_an_unwritable_out_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    outcome = run_cli("export", "asyncapi", str(EXAMPLE), "--out", str(blocker), cwd=tmp_path)
    assert outcome.code == 1
    assert "cannot write the AsyncAPI documents" in outcome.text and "--out" in outcome.text
