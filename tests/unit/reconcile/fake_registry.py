"""A schema registry client in memory, with Confluent's semantics and verdicts given by tests.

The planner and the check report are under test, not the registry: the real one is
exercised over HTTP in tests/integration/reconcile/test_schemas.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from streamplane.model import Contract, load_spec
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
        # subject -> (id, type, text, contract), oldest first
        self.versions: dict[str, list[tuple[int, str, str, Contract]]] = {}
        self.levels: dict[str, str] = {}
        self.groups: dict[str, str] = {}
        #: The contract sent with each compatibility check, for tests of groups.
        self.checked: list[Contract | None] = []
        self.writes: list[tuple[str, str]] = []
        self._ids: dict[str, int] = {}

    def holding(
        self,
        subject: str,
        *texts: str,
        level: str | None = None,
        contract: Contract | None = None,
        group: str | None = None,
    ) -> FakeRegistry:
        for text in texts:
            self.register(subject, "AVRO", text, contract=contract)
        if level is not None:
            self.levels[subject] = level
        if group is not None:
            self.groups[subject] = group
        self.writes.clear()
        return self

    @staticmethod
    def _same(a: str, b: str) -> bool:
        return json.loads(a) == json.loads(b)  # the registry compares canonical forms

    def global_level(self) -> str:
        return self.global_

    def subject_level(self, subject: str) -> str | None:
        return self.levels.get(subject)

    def compatibility_group(self, subject: str) -> str | None:
        return self.groups.get(subject)

    def version(self, subject: str, version: int | Literal["latest"]) -> RegisteredVersion | None:
        history = self.versions.get(subject, [])
        if not history:
            return None
        number = len(history) if version == "latest" else int(version)
        schema_id, schema_type, text, contract = history[number - 1]
        return RegisteredVersion(
            subject, number, schema_id, schema_type, text,
            metadata=contract.metadata, rule_set=contract.rule_set,
        )  # fmt: skip

    def version_numbers(self, subject: str) -> list[int]:
        return list(range(1, len(self.versions.get(subject, [])) + 1))

    def lookup(self, subject: str, schema_type: str, text: str) -> int | None:
        for number, (_, _, held, _) in enumerate(self.versions.get(subject, []), start=1):
            if self._same(held, text):
                return number
        return None

    def check(
        self, subject: str, schema_type: str, text: str, contract: Contract | None = None
    ) -> list[str]:
        self.checked.append(contract)
        level = self.levels.get(subject, self.global_)
        held = self.versions.get(subject, [])
        group = self.groups.get(subject)
        if group is not None:  # only the versions of the schema's own group value
            value = ((contract or Contract()).metadata or {}).get("properties", {}).get(group)
            held = [
                v for v in held if (v[3].metadata or {}).get("properties", {}).get(group) == value
            ]
        history = [t for _, _, t, _ in held]
        if not history:
            return []  # nothing to be compatible with (a new group)
        compared = history if level.endswith("_TRANSITIVE") else history[-1:]
        return self.verdict(text, compared, level.removesuffix("_TRANSITIVE"))

    def set_level(self, subject: str, level: str | None) -> None:
        self.writes.append(("config", subject))
        if level is None:
            self.levels.pop(subject, None)
        else:
            self.levels[subject] = level

    def set_group(self, subject: str, group: str) -> None:
        self.writes.append(("config", subject))
        self.groups[subject] = group

    def register(
        self,
        subject: str,
        schema_type: str,
        text: str,
        references: tuple[dict[str, Any], ...] = (),
        contract: Contract | None = None,
    ) -> int:
        """Confluent's semantics: the same text with another contract is a new version (an
        absent metadata or ruleSet is inherited from the latest version)."""
        self.writes.append(("register", subject))
        history = self.versions.setdefault(subject, [])
        latest = history[-1][3] if history else Contract()
        contract = contract or Contract()
        contract = Contract(
            latest.metadata if contract.metadata is None else contract.metadata or None,
            latest.rule_set if contract.rule_set is None else contract.rule_set or None,
        )
        key = json.dumps([json.loads(text), contract.metadata, contract.rule_set], sort_keys=True)
        schema_id = self._ids.setdefault(key, len(self._ids) + 1)
        if not any(i == schema_id for i, _, _, _ in history):
            history.append((schema_id, schema_type, text, contract))
        return schema_id


def spec_schemas(spec_dir: Path = EXAMPLE) -> dict[str, DesiredSchema]:
    return {s.subject: s for s in desired_schemas(load_spec(spec_dir), "local")}


def registered(fake: FakeRegistry) -> FakeRegistry:
    """The registry after the example spec was applied."""
    for schema in spec_schemas().values():
        fake.holding(
            schema.subject, schema.text, level=schema.compatibility, contract=schema.contract
        )
    return fake


def with_field(text: str, field: dict[str, Any]) -> str:
    schema = json.loads(text)
    schema["fields"].append(field)
    return json.dumps(schema)


def edit(spec_dir: Path, subject: str, field: dict[str, Any]) -> None:
    """Add ``field`` to the schema file of ``subject`` in a copy of a spec."""
    path = spec_dir / spec_schemas(spec_dir)[subject].file
    path.write_text(with_field(path.read_text(), field))
