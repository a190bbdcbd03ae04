"""Tables never cut a name short: they fold to fit a terminal and run full width in a pipe."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from streamplane.cli._app import app
from streamplane.cli._tables import new_table, print_table
from tests.unit.client.specs import write_spec

LONG = "TOPIC:risk.fraud.features.enriched-with-device-and-merchant-history.v1"
GRANT = "tenants[0].domains[0].applications[2].consumes[0] (risk.fraud.features-enricher)"


def _table_text(console: Console) -> str:
    table = new_table("access", ["permission", "resource", "granted by"], right=())
    table.add_row("ALLOW", LONG, GRANT)
    print_table(console, table)
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def test_piped_table_is_as_wide_as_its_longest_row() -> None:
    text = _table_text(Console(file=io.StringIO(), width=80))
    row = next(line for line in text.splitlines() if "ALLOW" in line)
    assert LONG in row and GRANT in row  # one line each, whole
    assert len(row) > 80 and "…" not in text


def test_terminal_table_folds_long_names_to_fit_and_keeps_every_character() -> None:
    console = Console(file=io.StringIO(), width=50, force_terminal=True, color_system=None)
    text = _table_text(console)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 50 and "…" not in text
    # Read the resource column back down the rows: the whole name, folded, not cut.
    cells = [line.split("│")[2].strip() for line in lines if line.startswith("│")]
    assert "".join(cells).startswith(LONG)


def test_access_shows_whole_resource_names_when_piped(tmp_path: Path) -> None:
    prefix = "risk.fraud.features-enriched-with-a-long-namespace."
    spec = write_spec(tmp_path / "spec", prefix=prefix)
    result = CliRunner().invoke(app, ["access", "checkout", str(spec.root)])
    assert result.exit_code == 0, result.output
    for topic in ("placed", "notes", "events", "raw"):
        assert f"TOPIC:{prefix}orders.{topic}" in result.stdout
    assert "…" not in result.stdout


def test_access_help_documents_json() -> None:
    result = CliRunner().invoke(app, ["access", "--help"])
    assert "--json" in result.stdout and "not_in_spec" in result.stdout
