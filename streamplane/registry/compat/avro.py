"""Avro schemas for the registry: parse and validate, canonicalise, and check compatibility.

Resolution follows the "Schema Resolution" section of the Avro 1.11/1.12 specification;
the compatibility levels are Confluent Schema Registry's, so clients see the answers they
would get from Confluent.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

from fastavro.schema import SchemaParseException, UnknownType, parse_schema

from streamplane.registry.compat._avro_canonical import canonical_form
from streamplane.registry.compat._avro_nodes import Named, Node
from streamplane.registry.compat._avro_parse import (
    Builder,
    SchemaProblem,
    UnknownNameProblem,
    load_json,
)
from streamplane.registry.compat._avro_resolve import resolve
from streamplane.registry.compat._levels import check_levels

# fastavro raises these (and bare KeyError/TypeError on malformed input) for schemas it
# rejects; UnknownType is a ValueError.
_FASTAVRO_ERRORS = (SchemaParseException, ValueError, KeyError, TypeError, AttributeError)


class AvroSchemaError(ValueError):
    """The schema text is not a valid Avro schema; the message says what, and where."""


@dataclass(frozen=True)
class ParsedAvro:
    """A validated schema, with the identity the registry deduplicates on."""

    raw: dict[str, Any] | list[Any] | str
    #: Parsing Canonical Form: equal for schemas that read and write data identically.
    canonical: str
    #: Hex SHA-256 of ``canonical`` (the spec's recommended long fingerprint).
    fingerprint: str
    #: The resolved node graph, references included; rebuilt from ``raw`` if absent.
    _root: Node | None = field(default=None, repr=False, compare=False)


def parse_avro(text: str, *, references: dict[str, str] | None = None) -> ParsedAvro:
    """Parse and validate ``text``; ``references`` maps name -> schema text (Confluent schema
    references), whose named types the schema may then use by full name.

    References may use one another in any order. Raises AvroSchemaError.
    """
    names: dict[str, Named] = {}
    ordered = _define_references(references or {}, names)
    try:
        raw = load_json(text)
        root = Builder(names, external=False).build_root(raw)
    except SchemaProblem as exc:
        raise AvroSchemaError(f"invalid Avro schema: {exc}") from None
    except RecursionError:  # hostile input must be refused, not crash the registry
        raise AvroSchemaError("invalid Avro schema: nested too deeply") from None
    if not isinstance(raw, dict | list | str):  # Builder rejects every other JSON value
        raise AvroSchemaError("invalid Avro schema: not a JSON string, object or array")
    _fastavro_agrees(raw, ordered)
    canonical = canonical_form(root)
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    return ParsedAvro(raw=raw, canonical=canonical, fingerprint=fingerprint, _root=root)


def can_read(reader: ParsedAvro, writer: ParsedAvro) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; [] when it can.

    Each message starts with the path of the problem in the reader's schema, like
    ``/fields/amount: writer type long cannot be promoted to reader type int``.
    """
    return resolve(_root_of(writer), _root_of(reader))


def check_compatibility(new: ParsedAvro, existing: list[ParsedAvro], level: str) -> list[str]:
    """Why ``new`` may not follow ``existing`` (oldest first) under ``level``; [] if it may."""
    return check_levels(new, existing, level, can_read)


def _define_references(references: dict[str, str], names: dict[str, Named]) -> list[Any]:
    """Define every referenced type in ``names``; their JSON in a workable definition order.

    A reference may use a type another reference defines, and the mapping has no order, so
    each round defines whatever has its dependencies met until all are, or none can be.
    """
    pending: dict[str, Any] = {}
    for name, text in references.items():
        try:
            pending[name] = load_json(text)
        except SchemaProblem as exc:
            raise AvroSchemaError(f"invalid Avro schema reference {name!r}: {exc}") from None
    ordered: list[Any] = []
    while pending:
        defined_before = len(ordered)
        waiting: dict[str, UnknownNameProblem] = {}
        for name, raw in list(pending.items()):
            trial = dict(names)
            try:
                Builder(trial, external=True).build_root(raw)
            except UnknownNameProblem as exc:
                waiting[name] = exc
                continue
            except SchemaProblem as exc:
                raise AvroSchemaError(f"invalid Avro schema reference {name!r}: {exc}") from None
            names.update(trial)
            ordered.append(raw)
            del pending[name]
        if waiting and len(ordered) == defined_before:
            stuck, problem = next(iter(waiting.items()))
            raise AvroSchemaError(f"invalid Avro schema reference {stuck!r}: {problem}")
    return ordered


def _fastavro_agrees(raw: Any, references: list[Any]) -> None:
    """Second opinion from fastavro, which the registry's serdes use to read and write.

    Defaults are left out: they were checked against the spec's table already, and fastavro
    wrongly rejects some valid ones (an integer default for ``{"type": "double"}``).
    """
    named: dict[str, Any] = {}
    try:
        for schema in [*references, raw]:
            parse_schema(_without_defaults(schema), named)
    except _FASTAVRO_ERRORS as exc:
        detail = f"unknown type {exc}" if isinstance(exc, UnknownType) else str(exc)
        raise AvroSchemaError(f"invalid Avro schema: {detail}") from None


def _without_defaults(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_defaults(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    result = copy.copy(schema)
    if isinstance(schema.get("fields"), list):
        result["fields"] = [
            {k: _without_defaults(v) for k, v in f.items() if k != "default"}
            if isinstance(f, dict)
            else f
            for f in schema["fields"]
        ]
    for key in ("items", "values"):
        if key in schema:
            result[key] = _without_defaults(schema[key])
    return result


def _root_of(parsed: ParsedAvro) -> Node:
    if parsed._root is not None:
        return parsed._root
    try:
        return Builder({}, external=False).build_root(parsed.raw)
    except SchemaProblem as exc:
        raise AvroSchemaError(f"invalid Avro schema: {exc}") from None
