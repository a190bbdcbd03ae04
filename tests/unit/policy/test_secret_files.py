"""`lint` reports a password file the spec names but nobody wrote, at its spec line."""

from __future__ import annotations

from pathlib import Path

from streamplane.model import load_spec
from streamplane.policy import lint

SPEC = """\
clusters:
  - name: prod
    bootstrap_servers: kafka.example.com:9092
    auth:
      username: admin
      password: {file: secrets/admin}
tenants:
  - name: pay
    owners: [pay@example.com]
    clusters: [prod]
    domains:
      - name: card
        applications:
          - name: writer
            password:
              file: secrets/writer
          - name: reader
            password: {env: READER_PASSWORD}
"""


def test_a_missing_or_empty_password_file_is_an_error_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(SPEC)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "writer").write_text("\n")
    findings = [f for f in lint(load_spec(tmp_path)) if f.rule == "secret-files"]
    spec_file = str(tmp_path / "platform.yaml")
    assert [(f.resource, f.file, f.line, f.column) for f in findings] == [
        ("cluster prod", spec_file, 6, 24),
        ("writer", spec_file, 16, 21),
    ]
    admin, writer = findings
    assert admin.message == (
        f"password file secrets/admin ({tmp_path / 'secrets' / 'admin'}) does not exist"
    )
    assert writer.message.endswith("is empty")
    assert str(admin.severity) == "error"


def test_written_password_files_pass(tmp_path: Path) -> None:
    (tmp_path / "platform.yaml").write_text(SPEC)
    (tmp_path / "secrets").mkdir()
    for name in ("admin", "writer"):
        (tmp_path / "secrets" / name).write_text("s3cret\n")
    assert [f for f in lint(load_spec(tmp_path)) if f.rule == "secret-files"] == []
