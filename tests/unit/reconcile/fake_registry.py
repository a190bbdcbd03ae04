"""A schema registry client in memory, with Confluent's semantics and verdicts given by tests.

The planner and the check report are under test, not the registry: the real one is
exercised over HTTP in tests/integration/reconcile/test_schemas.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from streamplane.model import load_spec
from streamplane.reconcile import DesiredSchema, RegisteredVersion, desired_schemas

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "platform"
AUTHORIZED = "payments.card.authorized.v1-value"  # public, FULL_TRANSITIVE in the spec
ENTRIES = "payments.ledger.entries-value"  # private, no level in the spec
MISSING_DEFAULT = (
    "BACKWARD: the new schema cannot read data written with existing schema #1 of 1 (latest): "
    "/fields/currency: reader field has no default and is missing from the writer"
)

#: (new text, existing texts oldest first, level) -> problems
Verdict = Callable[[str, list[str], str], list[str]]


def needs_currency_default(new: str, existing: list[str], level: str) -> list[str]:
    """A stand-in verdict: a `currency` field without a default breaks BACKWARD and FULL."""
    field = next((f for f in json.loads(new)["fields"] if f["name"] == "currency"), None)
    if level == "NONE" or field is None or "default" in field:
        return []
    return [MISSING_DEFAULT]


class FakeRegistry:
    """Confluent's semantics, in memory, with the verdict given by the test."""

    url = "http://registry.test:8081"

    def __init__(self, verdict: Verdict = needs_currency_default, global_level: str = "BACKWARD"):
        self.verdict = verdict
        self.global_ = global_level
        self.versions: dict[str, list[tuple[int, str, str]]] = {}  # subject -> (id, type, text)
        self.levels: dict[str, str] = {}
        self.writes: list[tuple[str, str]] = []
        self._ids: dict[str, int] = {}

    def holding(self, subject: str, *texts: str, level: str | None = None) -> FakeRegistry:
        for text in texts:
            self.register(subject, "AVRO", text)
        if level is not None:
            self.levels[subject] = level
        self.writes.clear()
        return self

    @staticmethod
    def _same(a: str, b: str) -> bool:
        return json.loads(a) == json.loads(b)  # the registry compares canonical forms

    def global_level(self) -> str:
        return self.global_

    def subject_level(self, subject: str) -> str | None:
        return self.levels.get(subject)

    def version(self, subject: str, version: int | Literal["latest"]) -> RegisteredVersion | None:
        history = self.versions.get(subject, [])
        if not history:
            return None
        number = len(history) if version == "latest" else int(version)
        schema_id, schema_type, text = history[number - 1]
        return RegisteredVersion(subject, number, schema_id, schema_type, text)

    def version_numbers(self, subject: str) -> list[int]:
        return list(range(1, len(self.versions.get(subject, [])) + 1))

    def lookup(self, subject: str, schema_type: str, text: str) -> int | None:
        for number, (_, _, held) in enumerate(self.versions.get(subject, []), start=1):
            if self._same(held, text):
                return number
        return None

    def check(self, subject: str, schema_type: str, text: str) -> list[str]:
        level = self.levels.get(subject, self.global_)
        history = [t for _, _, t in self.versions.get(subject, [])]
        compared = history if level.endswith("_TRANSITIVE") else history[-1:]
        return self.verdict(text, compared, level.removesuffix("_TRANSITIVE"))

    def set_level(self, subject: str, level: str | None) -> None:
        self.writes.append(("config", subject))
        if level is None:
            self.levels.pop(subject, None)
        else:
            self.levels[subject] = level

    def register(
        self,
        subject: str,
        schema_type: str,
        text: str,
        references: tuple[dict[str, Any], ...] = (),
    ) -> int:
        self.writes.append(("register", subject))
        schema_id = self._ids.setdefault(
            json.dumps(json.loads(text), sort_keys=True), len(self._ids) + 1
        )
        if self.lookup(subject, schema_type, text) is None:
            self.versions.setdefault(subject, []).append((schema_id, schema_type, text))
        return schema_id


def spec_schemas(spec_dir: Path = EXAMPLE) -> dict[str, DesiredSchema]:
    return {s.subject: s for s in desired_schemas(load_spec(spec_dir), "local")}


def registered(fake: FakeRegistry) -> FakeRegistry:
    """The registry after the example spec was applied."""
    for schema in spec_schemas().values():
        fake.holding(schema.subject, schema.text, level=schema.compatibility)
    return fake


def with_field(text: str, field: dict[str, Any]) -> str:
    schema = json.loads(text)
    schema["fields"].append(field)
    return json.dumps(schema)


def edit(spec_dir: Path, subject: str, field: dict[str, Any]) -> None:
    """Add ``field`` to the schema file of ``subject`` in a copy of a spec."""
    path = spec_dir / spec_schemas(spec_dir)[subject].file
    path.write_text(with_field(path.read_text(), field))
