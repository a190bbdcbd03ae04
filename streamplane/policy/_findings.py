"""What ``lint`` reports: one located finding per broken rule and resource."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How much a finding matters; only errors make ``streamplane lint`` fail."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One rule broken by one resource, located in the spec so an editor can jump to it.

    ``message`` states what is wrong with the actual values and ``hint`` what to change,
    so a finding can be fixed without reading the rule's source.
    """

    rule: str
    severity: Severity
    resource: str
    message: str
    hint: str
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        head = f"{self.file}:{self.line}:{self.column}: {self.severity} [{self.rule}] "
        text = f"{head}{self.resource}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


def has_errors(findings: Iterable[Finding]) -> bool:
    """True if any finding is an error: warnings and infos never block a change."""
    return any(f.severity is Severity.ERROR for f in findings)
