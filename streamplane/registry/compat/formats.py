"""The schema formats the registry serves, behind one interface.

The registry service only needs four things of a format: parse text (with its references)
into something with a canonical form, check compatibility, render a stored schema in a
requested output format, and the error its parser raises. Keeping that table here means the
service has no per-format branches, and adding a format is one entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from streamplane.registry.compat import avro, json_schema, protobuf


class Parsed(Protocol):
    """What every format's parse result offers: a canonical form."""

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
    #: The form the registry dedups on: two registrations get one id (and a re-registration
    #: is a no-op) exactly when these are equal.
    identity: Callable[[Any], str] = lambda parsed: str(parsed.canonical)


def _avro_identity(parsed: avro.ParsedAvro) -> str:
    """The whole schema as compact JSON with sorted keys, not the Parsing Canonical Form.

    The Parsing Canonical Form drops defaults, aliases and docs: two schemas differing only
    in a field's default would share an id, and a client asking for that id would get the
    other schema's text. Confluent likewise dedups on the full schema string.
    """
    return json.dumps(parsed.raw, sort_keys=True, separators=(",", ":"))


def _as_registered(_: Any, text: str, __: str | None) -> str:
    return text


def _protobuf_render(parsed: protobuf.ParsedProtobuf, _: str, fmt: str | None) -> str:
    """Always .proto text by default, even when a client registered a serialized descriptor
    (the Python serializer does): Confluent's registry answers the same way."""
    return protobuf.render_protobuf(parsed, fmt)


FORMATS: dict[str, SchemaFormat] = {
    "AVRO": SchemaFormat(
        "AVRO",
        avro.parse_avro,
        avro.check_compatibility,
        _as_registered,
        avro.AvroSchemaError,
        _avro_identity,
    ),
    "PROTOBUF": SchemaFormat(
        "PROTOBUF",
        protobuf.parse_protobuf,
        protobuf.check_compatibility,
        _protobuf_render,
        protobuf.ProtobufSchemaError,
    ),
    "JSON": SchemaFormat(
        "JSON",
        json_schema.parse_json_schema,
        json_schema.check_compatibility,
        _as_registered,
        json_schema.JsonSchemaError,
    ),
}
