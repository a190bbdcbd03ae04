r"""JSON Schemas for the registry: parse and validate, fingerprint, and check compatibility.

Parsing
    Drafts 4, 6, 7, 2019-09 and 2020-12, chosen by ``$schema``; without one a schema is
    draft-07, as in Confluent. The document is validated against its draft's meta-schema
    with the ``jsonschema`` library, the maintained Python implementation of the
    specification (so the registry stores nothing the Python serdes would refuse), and its
    ``$ref``s are resolved with ``referencing``, the library ``jsonschema`` resolves with.
    Schema references (Confluent's ``references``: name -> schema text) are registered under
    their names, so ``{"$ref": "address.json#/definitions/street"}`` works as in Confluent.
    Every ``$ref`` must resolve, unused definitions included, and a cycle of references that
    never descends into the data (``{"$ref": "#"}``) is refused, since no validator could
    finish with it. Patterns must compile; ECMA-only syntax (``\p{L}``, ``(?<name>)``) is
    accepted although Python's ``re`` lacks it.

Compatibility
    The rules are those of Confluent Schema Registry's JSON Schema checker under its default,
    strict policy, seen from the reader: a reader may constrain less than the writer did,
    never more. Compared keywords:

    * ``type`` (``integer`` is a narrowed ``number``), ``enum`` and ``const``;
    * ``minLength``, ``maxLength``, ``pattern`` and ``format``;
    * ``minimum``, ``maximum``, ``exclusiveMinimum``, ``exclusiveMaximum`` (both spellings),
      ``multipleOf``;
    * ``properties`` with the content model: a property added to an open model
      (``additionalProperties`` absent or true) is incompatible even when optional, because
      old data may hold anything under that name; added to a closed model it is compatible
      unless required without a ``default``; a partially open model (``additionalProperties``
      or ``patternProperties`` schemas) must cover what is added or removed;
    * ``required`` (adding is incompatible unless the property has a ``default``, Confluent's
      rule), ``additionalProperties``, ``patternProperties``, ``propertyNames``,
      ``minProperties``, ``maxProperties``, ``dependencies``, ``dependentRequired``,
      ``dependentSchemas``, ``unevaluatedProperties``;
    * ``items`` (schema or tuple), ``prefixItems``, ``additionalItems``, ``unevaluatedItems``,
      ``minItems``, ``maxItems``, ``uniqueItems``, ``contains``, ``minContains``,
      ``maxContains``;
    * ``allOf``, ``anyOf``, ``oneOf``, ``not`` and ``$ref`` (followed, cycles guarded).

    ``if``/``then``/``else``, ``contentEncoding``, ``contentMediaType``, ``contentSchema``,
    ``$dynamicRef`` and ``$recursiveRef`` are compared for equality: any change the reader
    makes to them is reported as incompatible, the safe side. Annotations (``title``,
    ``description``, ``default``, ``examples``, ``$comment``, ``readOnly``...) and keywords a
    draft does not define are ignored, as validators ignore them.

    Where this differs from Confluent, it is on the safe side or where Confluent does not
    follow the specification: ``format`` is compared (Confluent ignores it); a newly
    required name is incompatible even when it is not declared in ``properties`` (Confluent
    only looks at declared ones); ``additionalItems`` without a tuple ``items`` is ignored,
    as the specification says; ``unevaluatedProperties`` spares what in-place applicators
    declare; a repeated ``oneOf`` branch matches nothing. Like Confluent, ``oneOf`` is read
    as ``anyOf``: a value valid under two reader branches is not detected. Confluent's
    lenient policy is not offered.

Messages start with the JSON path of the problem in the reader's terms, e.g.
``#/properties/amount: type narrowed from ["number"] to ["integer"]``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from streamplane.registry.compat._json_compare import RECURSIVE, Comparison, TooComplex
from streamplane.registry.compat._json_nodes import Located, value_key
from streamplane.registry.compat._json_parse import ParsedDocument, SchemaProblem, parse_document
from streamplane.registry.compat._levels import check_levels


class JsonSchemaError(ValueError):
    """The text is not a valid JSON Schema; the message says what, and where (a JSON pointer,
    or line and column for JSON syntax errors)."""


@dataclass(frozen=True)
class ParsedJsonSchema:
    """A validated schema, with the identity the registry deduplicates on."""

    raw: Any = field(compare=False)
    #: Compact JSON with sorted keys and integral numbers without a fraction: equal for
    #: documents that are equal as JSON (and so as JSON Schemas).
    canonical: str
    #: Hex SHA-256 of ``canonical``.
    fingerprint: str
    #: The document with its references resolved; rebuilt from ``raw`` if absent.
    _document: ParsedDocument | None = field(default=None, repr=False, compare=False)


def parse_json_schema(text: str, *, references: dict[str, str] | None = None) -> ParsedJsonSchema:
    """Parse and validate ``text``; ``references`` maps a reference name (the URI a ``$ref``
    uses) to that schema's text. Raises JsonSchemaError, and nothing else."""
    try:
        document = parse_document(text, references or {})
    except SchemaProblem as exc:
        raise JsonSchemaError(f"invalid JSON Schema: {exc}") from None
    except RecursionError:  # hostile input must be refused, not crash the registry
        raise JsonSchemaError("invalid JSON Schema: nested too deeply") from None
    canonical = value_key(document.raw)  # 1.0 and 1 are the same number to JSON Schema
    fingerprint = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    return ParsedJsonSchema(document.raw, canonical, fingerprint, document)


def can_read(reader: ParsedJsonSchema, writer: ParsedJsonSchema) -> list[str]:
    """Why data valid under ``writer`` may not be valid under ``reader``; [] when it is.

    Each message starts with the JSON path of the problem, like
    ``#/properties/amount: type narrowed from ["number"] to ["integer"]``.
    """
    try:
        problems = Comparison().run(_root_of(writer), _root_of(reader))
    except TooComplex as exc:
        return [f"#: {exc} to compare; treated as incompatible"]
    except RecursionError:  # a last resort: MAX_NESTING should stop recursion well before
        return ["#: the schemas nest too deeply to compare; treated as incompatible"]
    messages = [f"#{path}: {text}" for path, text in problems if text != RECURSIVE]
    if problems and not messages:
        return ["#: a recursive part of the schema cannot read the writer's data"]
    return list(dict.fromkeys(messages))  # the same problem reached twice is said once


def check_compatibility(
    new: ParsedJsonSchema, existing: list[ParsedJsonSchema], level: str
) -> list[str]:
    """Why ``new`` may not follow ``existing`` (oldest first) under ``level``; [] if it may."""
    return check_levels(new, existing, level, can_read)


def _root_of(parsed: ParsedJsonSchema) -> Located:
    document = parsed._document
    if document is None:  # built by hand: only a self-contained schema can be rebuilt
        document = parse_json_schema(json.dumps(parsed.raw))._document
        assert document is not None
    return Located(document.raw, document.resolver, document.dialect, document.space)
