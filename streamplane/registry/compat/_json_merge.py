"""A writer's own keywords merged with those of the subschemas it always satisfies too
(``allOf`` branches, a ``$ref`` beside other keywords), so that a reader's keyword can be
met by whichever part says it: ``"type": "object"`` from a ``$ref``'d base and
``"unevaluatedProperties": false`` from the schema that refers to it.

The merge may only ever be wider than the true conjunction, never narrower, since a wider
writer can only produce more problems. So where parts disagree one is kept (dropping a
constraint widens), ``type``/``enum``/``required`` combine exactly, maps combine entry by
entry, and keywords whose meaning depends on their neighbours (a tuple and the items after
it, a draft 4 bound and its exclusivity flag, ``contains`` and its counts, ``if``/``then``/
``else``) are taken together from a single part. ``additionalProperties`` and
``unevaluatedProperties`` spare the merged properties, more than their own part's: wider.
"""

from __future__ import annotations

from typing import Any

from streamplane.registry.compat._json_nodes import (
    COMBINATORS,
    Located,
    accepts_type,
    declared_types,
    value_key,
)

#: Keywords that must come from one part together.
_GROUPS = (
    ("items", "additionalItems", "prefixItems", "unevaluatedItems"),
    ("maximum", "exclusiveMaximum"),
    ("minimum", "exclusiveMinimum"),
    ("contains", "minContains", "maxContains"),
    ("if", "then", "else"),
)
_MAPS = frozenset(
    {"properties", "patternProperties", "dependencies", "dependentRequired", "dependentSchemas"}
)
#: The structure that stays with the writer's own schema object.
_NOT_MERGED = frozenset({*COMBINATORS, "$ref"})
#: Conjuncts looked at, a backstop against hostile schemas.
_MAX_PARTS = 100


def merge_conjuncts(node: Located) -> Located:
    """``node`` (dereferenced) with the keywords of its unconditional conjuncts added."""
    parts = unconditional_parts(node)
    if not parts or not isinstance(node.contents, dict):
        return node
    merged = _Merged(dict(node.contents), dict(node.origins), set(node.keywords))
    for part in parts:
        merged.add(part)
    return Located(
        merged.contents, node.resolver, node.dialect, node.space, merged.origins, merged=True
    )


def unconditional_parts(node: Located) -> list[Located]:
    """The subschemas ``node`` always satisfies too: allOf branches, $ref with siblings,
    single-branch choices, and theirs in turn (dereferenced, each once)."""
    parts: list[Located] = []
    seen = {id(node.contents)}
    stack = [conjunct for _, conjunct in node.shape.conjuncts]
    while stack and len(parts) < _MAX_PARTS:
        part = stack.pop(0).deref()
        if id(part.contents) in seen or not isinstance(part.contents, dict):
            continue
        seen.add(id(part.contents))
        parts.append(part)
        stack.extend(conjunct for _, conjunct in part.shape.conjuncts)
    return parts


class _Merged:
    def __init__(self, contents: dict[str, Any], origins: dict[int, Located], present: set[str]):
        self.contents = contents
        self.origins = origins
        #: Keywords already said, by the schema itself or an earlier part.
        self.present = present

    def add(self, part: Located) -> None:
        keywords = {k: v for k, v in part.keywords.items() if k not in _NOT_MERGED}
        for group in _GROUPS:
            if not any(k in self.present for k in group):
                for keyword in group:
                    if keyword in keywords:
                        self._take(keyword, keywords[keyword], part)
        grouped = {k for group in _GROUPS for k in group}
        for keyword, value in keywords.items():
            if keyword in grouped:
                continue
            if keyword not in self.present:
                self._take(keyword, value, part)
            else:
                self._combine(keyword, value, part)

    def _take(self, keyword: str, value: Any, part: Located) -> None:
        self.contents[keyword] = value
        self.present.add(keyword)
        self.origins[id(value)] = part
        items = value.values() if isinstance(value, dict) else value
        for item in items if isinstance(value, dict | list) else ():
            if isinstance(item, dict):
                self.origins[id(item)] = part

    def _combine(self, keyword: str, value: Any, part: Located) -> None:
        """Both say ``keyword``: combine exactly where that is easy, else keep the first."""
        current = self.contents[keyword]
        if keyword == "type":
            self.contents["type"] = _both_types(
                declared_types(self.contents), declared_types(part.keywords)
            )
        elif keyword == "required" and isinstance(value, list) and isinstance(current, list):
            self.contents["required"] = [*current, *value]
        elif keyword == "enum" and isinstance(value, list) and isinstance(current, list):
            allowed = {value_key(v) for v in value}
            self.contents["enum"] = [v for v in current if value_key(v) in allowed]
        elif keyword in _MAPS and isinstance(value, dict) and isinstance(current, dict):
            entries = dict(current)
            for name, entry in value.items():
                if name not in entries:
                    entries[name] = entry
                    self.origins[id(entry)] = part
            self.contents[keyword] = entries


def _both_types(first: list[str] | None, second: list[str] | None) -> list[str] | None:
    if first is None or second is None:
        return first if second is None else second
    both = [t for t in first if accepts_type(t, second)]
    if "number" in first and "integer" in second and "integer" not in both:
        both.append("integer")
    return both
