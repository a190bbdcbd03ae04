"""The schema formats the registry serves, behind one interface.

The registry service only needs four things of a format: parse text (with its references)
into something with a canonical form, check compatibility, render a stored schema in a
requested output format, and the error its parser raises. Keeping that table here means the
service has no per-format branches, and adding a format is one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from streamplane.registry.compat import avro


class Parsed(Protocol):
    """What every format's parse result offers: the identity the registry dedups on."""

    @property
    def canonical(self) -> str: ...


@dataclass(frozen=True)
class SchemaFormat:
    name: str
    parse: Callable[..., Any]  # (text, *, references: dict[str, str]) -> Parsed
    check: Callable[[Any, list[Any], str], list[str]]
    #: (parsed, registered text, fmt) -> the text a GET returns for ``?format=fmt``.
    render: Callable[[Any, str, str | None], str]
    error: type[ValueError]


def _as_registered(_: Any, text: str, __: str | None) -> str:
    return text


FORMATS: dict[str, SchemaFormat] = {
    "AVRO": SchemaFormat(
        "AVRO", avro.parse_avro, avro.check_compatibility, _as_registered, avro.AvroSchemaError
    ),
}
