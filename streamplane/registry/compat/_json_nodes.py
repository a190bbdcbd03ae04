"""Schemas as the comparison sees them: located (resolver and draft), dereferenced, and split
into the keywords of the schema object itself and its combinators.

A comparison problem is a ``(path, text)`` pair; the path is relative to the pair of schemas
being compared (``""`` for the pair itself), so a result can be reused at another path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from referencing._core import Resolver  # the package does not re-export the type
from referencing.exceptions import Unresolvable

from streamplane.registry.compat._json_parse import (
    LIST_OF_SUBSCHEMAS,
    MAP_OF_SUBSCHEMAS,
    ONE_SUBSCHEMA,
    Dialect,
    SchemaSpace,
    escape,
    python_pattern,
)

Problem = tuple[str, str]

JSON_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})
COMBINATORS = ("allOf", "anyOf", "oneOf")


class Comparer(Protocol):
    """What the keyword rules need from the comparison: to compare two subschemas."""

    def compare(self, writer: Located, reader: Located) -> list[Problem]:
        """Problems reading data valid under ``writer`` with ``reader``; [] when none."""
        ...


@dataclass(frozen=True, eq=False)
class Located:
    """A schema (object or boolean) with the resolver and draft that give it meaning."""

    contents: Any
    resolver: Resolver[Any]
    dialect: Dialect
    space: SchemaSpace
    #: For a merged schema (see ``merge_conjuncts``): the schema each value was taken
    #: from, by identity, so that its ``$ref``s resolve where they were written.
    origins: Mapping[int, Located] = field(default_factory=dict)
    #: A merged schema's contents are a temporary dict: nothing may be cached by its id.
    merged: bool = False

    @cached_property
    def keywords(self) -> dict[str, Any]:
        """The keywords that constrain instances in this draft; the rest are annotations."""
        if not isinstance(self.contents, dict):
            return {}
        known = self.dialect.keywords
        return {k: v for k, v in self.contents.items() if k in known}

    @cached_property
    def shape(self) -> Shape:
        """See ``shape_of``; computed once per schema object."""
        return shape_of(self)

    @property
    def is_false(self) -> bool:
        return self.contents is False

    @property
    def accepts_everything(self) -> bool:
        """``true``, ``{}`` or a schema of annotations only (after dereferencing)."""
        return self.contents is True or (isinstance(self.contents, dict) and not self.keywords)

    def child(self, contents: Any) -> Located:
        """A subschema of this one: it inherits the resolver, rebased on its own ``$id``."""
        if id(contents) in self.origins:
            return self.origins[id(contents)].child(contents)
        if not isinstance(contents, dict):
            return Located(contents, self.resolver, self.dialect, self.space)
        view: Located | None = self.space.views.get(id(contents))
        if view is None:
            dialect = self.space.dialects.get(id(contents), self.dialect)
            resource = dialect.specification.create_resource(contents)
            view = Located(contents, self.resolver.in_subresource(resource), dialect, self.space)
            self.space.views[id(contents)] = view
        return view

    def deref(self) -> Located:
        """Follow ``$ref`` while the referring schema adds nothing of its own.

        In drafts 4-7 keywords beside ``$ref`` are ignored, so the target replaces the schema;
        in later drafts they apply too, and ``shape_of`` keeps the target as a conjunct.
        Parsing refused ``$ref`` cycles that never reach a schema; a cycle met here anyway
        (a hand-built schema) reads as ``true``.
        """
        node, seen = self, set[int]()
        while node.follows_ref:
            if id(node.contents) in seen:
                return Located(True, node.resolver, node.dialect, node.space)
            seen.add(id(node.contents))
            node = node.ref_target()
        return node

    @property
    def follows_ref(self) -> bool:
        keywords = self.keywords
        if not isinstance(keywords.get("$ref"), str):
            return False
        return self.dialect.ref_overrides_siblings or len(keywords) == 1

    def ref_target(self) -> Located:
        if self.merged:
            return self._resolve(self.keywords["$ref"])
        target: Located | None = self.space.targets.get(id(self.contents))
        if target is None:
            target = self._resolve(self.keywords["$ref"])
            self.space.targets[id(self.contents)] = target
        return target

    def _resolve(self, ref: str) -> Located:
        try:
            resolved = self.resolver.lookup(ref)
        except Unresolvable:  # parsing checked every $ref; only hand-built schemas get here
            return Located(False, self.resolver, self.dialect, self.space)
        contents = resolved.contents
        if isinstance(contents, dict) and id(contents) in self.space.views:
            return self.space.views[id(contents)]  # type: ignore[no-any-return]
        dialect = self.space.dialects.get(id(contents), self.dialect)
        return Located(contents, resolved.resolver, dialect, self.space)


@dataclass(frozen=True)
class Shape:
    """A schema as a conjunction: its own keywords, whole subschemas it must also satisfy
    (``allOf`` branches, single-branch ``anyOf``/``oneOf``, a ``$ref`` with siblings), and
    choices (``anyOf``/``oneOf`` with two or more distinct branches)."""

    has_own_keywords: bool
    conjuncts: tuple[tuple[str, Located], ...]
    choices: tuple[tuple[str, tuple[tuple[str, Located], ...]], ...]


def shape_of(node: Located) -> Shape:
    """``node`` must already be dereferenced."""
    keywords = node.keywords
    conjuncts: list[tuple[str, Located]] = []
    choices: list[tuple[str, tuple[tuple[str, Located], ...]]] = []
    if isinstance(keywords.get("$ref"), str):  # a later draft's $ref beside other keywords
        conjuncts.append(("", node.ref_target()))
    for index, branch in enumerate(_schemas(keywords.get("allOf"))):
        conjuncts.append((f"/allOf/{index}", node.child(branch)))
    for keyword in ("anyOf", "oneOf"):
        if keyword not in keywords:
            continue
        exclusive = keyword == "oneOf"
        branches = _distinct(_schemas(keywords.get(keyword)), drop_repeated=exclusive)
        located = tuple((f"/{keyword}/{i}", node.child(b)) for i, b in branches)
        if len(located) == 1:
            conjuncts.append(located[0])
        elif located:
            choices.append((keyword, located))
        else:  # every branch repeated: no value matches exactly one
            conjuncts.append((f"/{keyword}", node.child(False)))
    own = any(k not in COMBINATORS and k != "$ref" for k in keywords)
    return Shape(own, tuple(conjuncts), tuple(choices))


def _schemas(value: Any) -> list[Any]:
    return [v for v in value if isinstance(v, dict | bool)] if isinstance(value, list) else []


def _distinct(branches: list[Any], *, drop_repeated: bool) -> list[tuple[int, Any]]:
    """Branches with their indexes, a repeated branch once (Confluent collapses them).

    ``oneOf`` is the exception: a value matching a repeated branch matches two, so no value
    is valid through it, and ``drop_repeated`` leaves such branches out altogether.
    """
    keys = [value_key(branch) for branch in branches]
    result = []
    for index, (key, branch) in enumerate(zip(keys, branches, strict=True)):
        repeated = keys.count(key) > 1
        if (drop_repeated and not repeated) or (not drop_repeated and keys.index(key) == index):
            result.append((index, branch))
    return result


def at(prefix: str, problems: Iterable[Problem]) -> list[Problem]:
    return [(prefix + path, text) for path, text in problems]


def prop(name: str) -> str:
    return "/properties/" + escape(name)


def value_key(value: Any) -> str:
    """Equal for JSON values that JSON Schema considers equal (``1`` and ``1.0`` are)."""
    return json.dumps(_normalise(value), sort_keys=True, separators=(",", ":"))


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def declared_types(keywords: dict[str, Any]) -> list[str] | None:
    """The ``type`` keyword as a list; None when absent (any type)."""
    value = keywords.get("type")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for t in value if isinstance(t, str)]
    return None


def accepts_type(json_type_name: str, types: Iterable[str] | None) -> bool:
    """Whether a value of ``json_type_name`` passes ``type``; integers are numbers."""
    if types is None:
        return True
    allowed = set(types)
    return json_type_name in allowed or (json_type_name == "integer" and "number" in allowed)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def count_problems(w: dict[str, Any], r: dict[str, Any], low: str, high: str) -> list[Problem]:
    """Bounds on a count (length, items, properties); an absent minimum is 0."""
    problems: list[Problem] = []
    writer_low, reader_low = count(w.get(low)) or 0, count(r.get(low)) or 0
    if reader_low > writer_low:
        change = "added:" if low not in w else f"increased from {writer_low} to"
        problems.append((f"/{low}", f"{low} {change} {reader_low}"))
    writer_high, reader_high = count(w.get(high)), count(r.get(high))
    if reader_high is not None and (writer_high is None or reader_high < writer_high):
        change = "added:" if writer_high is None else f"decreased from {writer_high} to"
        problems.append((f"/{high}", f"{high} {change} {reader_high}"))
    return problems


def count(value: Any) -> int | None:
    return int(value) if is_number(value) else None


def pattern_matches(pattern: str, name: str) -> bool | None:
    """Whether ECMA regex ``pattern`` matches ``name``; None when Python cannot tell (a
    construct such as ``\\p{L}`` that ``re`` lacks), and callers take the safe side."""
    if python_pattern(pattern) != pattern:
        return None
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return None


#: Applicators whose subschemas apply to the same instance, and so evaluate its properties
#: and items alongside the schema object's own keywords.
EVALUATING_APPLICATORS = (
    "allOf",
    "anyOf",
    "oneOf",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "$ref",
)
#: References resolved at validation time; the comparison cannot follow them.
DYNAMIC_REFS = ("$dynamicRef", "$recursiveRef")


def has_in_place(node: Located) -> bool:
    return any(key in node.keywords for key in (*EVALUATING_APPLICATORS, *DYNAMIC_REFS))


def same_in_place(a: Located, b: Located) -> bool:
    """Whether two schemas' in-place applicators are the same, references followed."""
    keys = [k for k in (*EVALUATING_APPLICATORS, *DYNAMIC_REFS) if k in a.keywords]
    if keys != [k for k in (*EVALUATING_APPLICATORS, *DYNAMIC_REFS) if k in b.keywords]:
        return False
    if any(k in DYNAMIC_REFS for k in keys):
        return False
    seen: set[tuple[int, int]] = set()
    if "$ref" in keys and not same_schema(a.ref_target(), b.ref_target(), seen):
        return False
    return all(_same_keyword(a, b, k, seen) for k in keys if k != "$ref")


def same_schema(a: Located, b: Located, seen: set[tuple[int, int]]) -> bool:
    """Structural equality of two schemas' keywords (annotations aside), following $ref;
    a pair met again is taken as equal, so recursive schemas compare."""
    a, b = a.deref(), b.deref()
    if not isinstance(a.contents, dict) or not isinstance(b.contents, dict):
        return a.accepts_everything == b.accepts_everything and a.is_false == b.is_false
    key = (id(a.contents), id(b.contents))
    if key in seen:
        return True
    seen.add(key)
    if a.keywords.keys() != b.keywords.keys():
        return False
    if "$ref" in a.keywords and not same_schema(a.ref_target(), b.ref_target(), seen):
        return False
    return all(_same_keyword(a, b, k, seen) for k in a.keywords if k != "$ref")


def _same_keyword(a: Located, b: Located, keyword: str, seen: set[tuple[int, int]]) -> bool:
    """One keyword's values: subschemas as schemas, anything else as JSON."""
    x, y = a.keywords[keyword], b.keywords[keyword]

    def same(i: Any, j: Any) -> bool:
        if isinstance(i, dict | bool) and isinstance(j, dict | bool):
            return same_schema(a.child(i), b.child(j), seen)
        return value_key(i) == value_key(j)

    if keyword in LIST_OF_SUBSCHEMAS and isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(same(i, j) for i, j in zip(x, y, strict=True))
    if keyword in MAP_OF_SUBSCHEMAS and isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if keyword in ONE_SUBSCHEMA:
        return same(x, y)
    return value_key(x) == value_key(y)
