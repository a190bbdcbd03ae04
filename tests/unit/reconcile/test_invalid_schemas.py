"""Every invalid or unreadable schema file of a spec is reported at once, each with its file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from streamplane.errors import PlanError, RegistryError
from streamplane.model import load_spec
from streamplane.reconcile import desired_schemas, read_subjects
from tests.unit.reconcile.fake_registry import EXAMPLE, FakeRegistry


class ParsingRegistry(FakeRegistry):
    """Answers a lookup of text that is not JSON as the registry does: 422, code 42201."""

    def lookup(self, subject: str, schema_type: str, text: str) -> int | None:
        try:
            json.loads(text)
        except ValueError:
            raise RegistryError(422, 42201, f"Invalid schema for {subject}") from None
        return super().lookup(subject, schema_type, text)


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "platform"
    shutil.copytree(EXAMPLE, dest)
    return dest


def test_all_invalid_schema_files_are_named_not_only_the_first(spec_dir: Path) -> None:
    broken = ["schemas/card-authorized-v1.avsc", "schemas/ledger-entry.avsc"]
    for name in broken:
        (spec_dir / name).write_text('{"type": "record", ')
    spec = load_spec(spec_dir)
    with pytest.raises(PlanError) as info:
        read_subjects(ParsingRegistry(), desired_schemas(spec, "local"))
    message = str(info.value)
    assert message.startswith("2 schema file(s) of the spec are not valid schemas:")
    for name in broken:
        assert f": {name} is not a valid AVRO schema: Invalid schema for" in message
    assert "tenants/payments.yaml:" in message  # where the spec names each file


def test_all_unreadable_schema_files_are_named(spec_dir: Path) -> None:
    # A missing file is refused when the spec loads; one that is not UTF-8 when it is read.
    for name in ("schemas/card-authorized-v1.avsc", "schemas/ledger-entry.avsc"):
        (spec_dir / name).write_bytes(b'{"type": "record", "doc": "\xff\xfe"}')
    spec = load_spec(spec_dir)
    with pytest.raises(PlanError, match=r"^2 schema file\(s\) cannot be read") as info:
        desired_schemas(spec, "local")
    assert str(info.value).count("codec can't decode byte 0xff") == 2
