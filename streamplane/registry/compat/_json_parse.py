"""JSON Schema text to a checked document set: strict JSON, a known draft, a valid schema
for that draft, and ``$ref``s that all resolve.

The meta-schema check uses the ``jsonschema`` library and ``$ref`` resolution uses
``referencing``, the library ``jsonschema`` itself resolves with: both are the maintained
Python implementations of the specifications, so the registry agrees with what validators
built on them (the Python serdes among them) will do with a stored schema.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import attrs
from jsonschema import (
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
    FormatChecker,
)
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from referencing import Registry, Specification
from referencing import jsonschema as specifications
from referencing._core import Resolver  # the package does not re-export the type
from referencing.exceptions import Unresolvable

#: JSON nesting deeper than this is refused: no real schema comes close, and recursion in
#: the validators (and in the comparison) must stay well inside Python's recursion limit.
MAX_DEPTH = 64

_DRAFT4_KEYWORDS = frozenset(
    {
        "$ref",
        "additionalItems",
        "additionalProperties",
        "allOf",
        "anyOf",
        "dependencies",
        "enum",
        "exclusiveMaximum",
        "exclusiveMinimum",
        "format",
        "items",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "multipleOf",
        "not",
        "oneOf",
        "pattern",
        "patternProperties",
        "properties",
        "required",
        "type",
        "uniqueItems",
    }
)
_DRAFT6_KEYWORDS = _DRAFT4_KEYWORDS | {"const", "contains", "propertyNames"}
_DRAFT7_KEYWORDS = _DRAFT6_KEYWORDS | {"if", "then", "else", "contentEncoding", "contentMediaType"}
_DRAFT201909_KEYWORDS = (_DRAFT7_KEYWORDS - {"dependencies"}) | {
    "$recursiveRef",
    "contentSchema",
    "dependentRequired",
    "dependentSchemas",
    "maxContains",
    "minContains",
    "unevaluatedItems",
    "unevaluatedProperties",
}
_DRAFT202012_KEYWORDS = (_DRAFT201909_KEYWORDS - {"$recursiveRef"}) | {"$dynamicRef", "prefixItems"}


class SchemaProblem(Exception):
    """What is wrong with a schema text, already phrased for the person who sent it."""


@dataclass(frozen=True)
class Dialect:
    """A JSON Schema draft: how to validate it, resolve in it, and which keywords it has."""

    name: str
    uri: str
    validator: type[Validator]
    specification: Specification[Any]
    #: Keywords that constrain instances in this draft; any other keyword is an annotation.
    keywords: frozenset[str]
    #: Drafts 4 to 7 ignore every keyword beside ``$ref``; later drafts apply them all.
    ref_overrides_siblings: bool
    #: 2020-12 spells tuples ``prefixItems`` + ``items``; earlier drafts ``items`` as an
    #: array + ``additionalItems``.
    prefix_items: bool


def _with_mixed_dependencies(specification: Specification[Any]) -> Specification[Any]:
    """``referencing`` (0.37) reads every value of drafts 4-7 ``dependencies`` as the kind of
    the first one, so ``{"a": {...}, "b": ["c"]}`` (valid: a schema, then property names)
    crashes its crawl. Same specification, with subschemas found one value at a time."""
    find = specification.subresources_of

    def subresources_of(contents: Any) -> Iterator[Any]:
        dependencies = contents.get("dependencies") if isinstance(contents, dict) else None
        if not isinstance(dependencies, dict):
            yield from find(contents)
            return
        yield from find({k: v for k, v in contents.items() if k != "dependencies"})
        yield from (value for value in dependencies.values() if isinstance(value, dict))

    # referencing declares its classes through a wrapper mypy does not see as attrs.
    return attrs.evolve(specification, subresources_of=subresources_of)  # type: ignore[misc]


DIALECTS: tuple[Dialect, ...] = (
    Dialect(
        "draft-04",
        "http://json-schema.org/draft-04/schema#",
        Draft4Validator,
        _with_mixed_dependencies(specifications.DRAFT4),
        _DRAFT4_KEYWORDS,
        ref_overrides_siblings=True,
        prefix_items=False,
    ),
    Dialect(
        "draft-06",
        "http://json-schema.org/draft-06/schema#",
        Draft6Validator,
        _with_mixed_dependencies(specifications.DRAFT6),
        _DRAFT6_KEYWORDS,
        ref_overrides_siblings=True,
        prefix_items=False,
    ),
    Dialect(
        "draft-07",
        "http://json-schema.org/draft-07/schema#",
        Draft7Validator,
        _with_mixed_dependencies(specifications.DRAFT7),
        _DRAFT7_KEYWORDS,
        ref_overrides_siblings=True,
        prefix_items=False,
    ),
    Dialect(
        "draft 2019-09",
        "https://json-schema.org/draft/2019-09/schema",
        Draft201909Validator,
        specifications.DRAFT201909,
        _DRAFT201909_KEYWORDS,
        ref_overrides_siblings=False,
        prefix_items=False,
    ),
    Dialect(
        "draft 2020-12",
        "https://json-schema.org/draft/2020-12/schema",
        Draft202012Validator,
        specifications.DRAFT202012,
        _DRAFT202012_KEYWORDS,
        ref_overrides_siblings=False,
        prefix_items=True,
    ),
)

#: Confluent's default when a schema has no ``$schema``.
DEFAULT_DIALECT = DIALECTS[2]


def _uri_key(uri: str) -> str:
    """``$schema`` URIs are written with and without the empty fragment, http or https."""
    return uri.removesuffix("#").removeprefix("https://").removeprefix("http://")


_BY_URI = {_uri_key(d.uri): d for d in DIALECTS}


@dataclass
class SchemaSpace:
    """Everything a comparison needs to walk one schema: its registry and, for each schema
    object (by identity), the draft it is written in."""

    registry: Registry[Any]
    dialects: dict[int, Dialect] = field(default_factory=dict)
    #: The comparison's view of each schema object and of each $ref's target, by identity:
    #: a schema object means the same wherever it is reached from, so both are computed once.
    views: dict[int, Any] = field(default_factory=dict)
    targets: dict[int, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedDocument:
    """The root schema, located in its space."""

    raw: Any
    dialect: Dialect
    resolver: Resolver[Any]
    space: SchemaSpace


def parse_document(text: str, references: Mapping[str, str]) -> ParsedDocument:
    """Load, validate and resolve ``text`` with its ``references`` (name -> schema text)."""
    raw = load_json(text, "the schema")
    dialect = dialect_of(raw, "the schema")
    check_meta_schema(raw, dialect, "the schema")
    documents: list[tuple[str, Any, Dialect, str]] = [("", raw, dialect, "")]
    if not isinstance(references, Mapping):
        raise SchemaProblem("references must map each reference name to its schema text")
    for name, reference_text in references.items():
        label = f"reference {name!r}"
        if not isinstance(name, str) or not name or not isinstance(reference_text, str):
            raise SchemaProblem(f"{label}: a reference needs a non-empty name and schema text")
        reference_raw = load_json(reference_text, label)
        reference_dialect = dialect_of(reference_raw, label)
        check_meta_schema(reference_raw, reference_dialect, label)
        documents.append((name, reference_raw, reference_dialect, f"{label} "))
    registry = _registry_of(documents)
    space = SchemaSpace(registry)
    checker = _ReferenceChecker(space)
    resolvers = []
    for name, document, document_dialect, label in documents:
        resource = document_dialect.specification.create_resource(document)
        resolver = registry.resolver(base_uri=name).in_subresource(resource)
        checker.walk(document, document_dialect, resolver, label)
        resolvers.append(resolver)
    checker.refuse_in_place_cycles()
    return ParsedDocument(raw, dialect, resolvers[0], space)


def load_json(text: str, label: str) -> Any:
    """Parse strictly: duplicate keys, NaN and numbers out of double range are not portable
    JSON, and Java parsers (Confluent's among them) reject or mangle them."""
    if not isinstance(text, str):
        raise SchemaProblem(f"{label} must be JSON text, not {type(text).__name__}")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        raise SchemaProblem(
            f"{label} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise SchemaProblem(f"{label} is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python will convert
        raise SchemaProblem(f"{label} is not valid JSON: {exc}") from None
    _check_depth(value, label)
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in an object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"number {literal[:40]} is out of range")
    return value


def _check_depth(value: Any, label: str) -> None:
    """Iterative, so that the check itself cannot overflow the stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SchemaProblem(f"{label} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def dialect_of(raw: Any, label: str) -> Dialect:
    """The draft named by ``$schema``; draft-07 when there is none, as in Confluent."""
    if not isinstance(raw, dict) or "$schema" not in raw:
        return DEFAULT_DIALECT
    uri = raw["$schema"]
    dialect = _BY_URI.get(_uri_key(uri)) if isinstance(uri, str) else None
    if dialect is None:
        supported = ", ".join(d.uri for d in DIALECTS)
        raise SchemaProblem(f"{label} has unsupported $schema {uri!r}; use one of {supported}")
    return dialect


def check_meta_schema(raw: Any, dialect: Dialect, label: str) -> None:
    """Validate against the draft's meta-schema; report the most relevant failure and where."""
    validator = dialect.validator(dialect.validator.META_SCHEMA, format_checker=_FORMATS)
    error = best_match(validator.iter_errors(raw))
    if error is not None:
        where = pointer(error.absolute_path)
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        raise SchemaProblem(f"{label} is not a valid {dialect.name} schema at {where}: {message}")


def pointer(tokens: Iterator[Any] | Any) -> str:
    """A JSON pointer in URI-fragment form: ``#/properties/a~1b``."""
    return "#" + "".join("/" + escape(str(token)) for token in tokens)


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# Only "regex" is checked among the meta-schemas' formats: the URI formats need optional
# packages, and checking them only when those happen to be installed would make the
# registry's answer depend on the environment.
_FORMATS = FormatChecker(formats=())

# ECMA 262 constructs Python's re lacks: Unicode property escapes and named groups without
# the P. They are rewritten only to check the syntax of the rest of the pattern.
_PROPERTY_ESCAPE = re.compile(r"\\[pP]\{[A-Za-z0-9_=]+\}")
_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def python_pattern(pattern: str) -> str:
    return _NAMED_GROUP.sub("(?P<", _PROPERTY_ESCAPE.sub(r"\\w", pattern))


@_FORMATS.checks("regex", raises=re.error)
def _is_regex(instance: object) -> bool:
    if isinstance(instance, str):
        re.compile(python_pattern(instance))
    return True


def _registry_of(documents: list[tuple[str, Any, Dialect, str]]) -> Registry[Any]:
    """Each reference is registered under its name and, for every document with an absolute
    ``$id``, under its name resolved against that ``$id``, so both ``"address.json"`` and
    the URI it means next to ``"$id": "https://example.com/customer.json"`` resolve."""
    resources = [(name, d.specification.create_resource(raw)) for name, raw, d, _ in documents]
    bases = {resource.id() for _, resource in resources} - {None}
    named = list(resources)
    for name, resource in resources[1:]:
        named.extend((urljoin(base, name), resource) for base in bases if base)
    try:
        return Registry().with_resources(named).crawl()
    except (ValueError, TypeError, LookupError, AttributeError) as exc:
        raise SchemaProblem(f"the schema's identifiers cannot be registered: {exc}") from None


# Keywords whose values are subschemas, by shape of the value.
ONE_SUBSCHEMA = (
    "additionalItems",
    "additionalProperties",
    "contains",
    "contentSchema",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
)
LIST_OF_SUBSCHEMAS = ("allOf", "anyOf", "oneOf", "items", "prefixItems")
MAP_OF_SUBSCHEMAS = (
    "$defs",
    "definitions",
    "dependencies",
    "dependentSchemas",
    "patternProperties",
    "properties",
)
#: Applicators that apply to the same instance rather than to a part of it: a cycle through
#: only these (and $ref) never reaches a value, so every validator would loop on it.
_CYCLE_APPLICATORS = frozenset(
    {"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependencies", "dependentSchemas"}
)


def subschemas(schema: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(keyword, pointer suffix, subschema) for every subschema directly inside ``schema``."""
    for keyword, value in schema.items():
        if keyword in ONE_SUBSCHEMA and isinstance(value, dict | bool):
            yield keyword, "/" + escape(keyword), value
        elif keyword in LIST_OF_SUBSCHEMAS and isinstance(value, list):
            for index, item in enumerate(value):
                yield keyword, f"/{keyword}/{index}", item
        elif keyword in MAP_OF_SUBSCHEMAS and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, dict | bool):
                    yield keyword, f"/{escape(keyword)}/{escape(name)}", item


class _ReferenceChecker:
    """Walks every schema object: records its draft, resolves its ``$ref``, and builds the
    graph of in-place edges in which a cycle would make validation loop forever."""

    def __init__(self, space: SchemaSpace) -> None:
        self.space = space
        self.edges: dict[int, list[int]] = {}
        self.labels: dict[int, str] = {}

    def walk(self, schema: Any, dialect: Dialect, resolver: Resolver[Any], where: str) -> None:
        stack = [(schema, dialect, resolver, where + "#")]
        while stack:
            node, node_dialect, node_resolver, label = stack.pop()
            if not isinstance(node, dict):
                continue
            self.space.dialects[id(node)] = node_dialect
            self.labels[id(node)] = label
            edges = self.edges.setdefault(id(node), [])
            ref = node.get("$ref")
            if isinstance(ref, str):
                edges.append(id(self._resolve(node_resolver, ref, label)))
            if isinstance(ref, str) and node_dialect.ref_overrides_siblings:
                in_place: frozenset[str] = frozenset()
            else:
                in_place = _CYCLE_APPLICATORS & node_dialect.keywords
            for keyword, suffix, child in subschemas(node):
                child_dialect, child_resolver = node_dialect, node_resolver
                if isinstance(child, dict):
                    if "$schema" in child and ("$id" in child or "id" in child):
                        child_dialect = dialect_of(child, label + suffix)  # embedded resource
                    resource = child_dialect.specification.create_resource(child)
                    child_resolver = node_resolver.in_subresource(resource)
                    if keyword in in_place:
                        edges.append(id(child))
                stack.append((child, child_dialect, child_resolver, label + suffix))

    def _resolve(self, resolver: Resolver[Any], ref: str, label: str) -> Any:
        try:
            return resolver.lookup(ref).contents
        except Unresolvable:
            raise SchemaProblem(
                f"{label}/$ref: {ref!r} resolves to no schema; define it locally or pass it "
                f"as a schema reference with that name"
            ) from None
        except (ValueError, TypeError, LookupError) as exc:
            raise SchemaProblem(f"{label}/$ref: {ref!r} cannot be resolved: {exc}") from None

    def refuse_in_place_cycles(self) -> None:
        """Depth-first search with colours; iterative, so wide or long graphs cannot overflow."""
        state: dict[int, int] = {}  # 1: on the current path, 2: done
        for start in self.edges:
            if start in state:
                continue
            state[start] = 1
            path: list[tuple[int, Iterator[int]]] = [(start, iter(self.edges[start]))]
            while path:
                node, successors = path[-1]
                successor = next(successors, None)
                if successor is None:
                    state[node] = 2
                    path.pop()
                elif state.get(successor) == 1:
                    raise SchemaProblem(
                        f"{self.labels.get(successor, '#')}: this schema refers back to itself "
                        f"through $ref without descending into the data, so no validator can "
                        f"finish checking it"
                    )
                elif successor not in state:
                    state[successor] = 1
                    path.append((successor, iter(self.edges.get(successor, []))))
