"""Keyword-by-keyword rules: can data valid under the writer's own keywords pass the
reader's? Each rule is a Confluent difference type seen from the reader's side: a reader
that constrains less (bound removed or relaxed, enum extended, type extended) is
compatible, a reader that constrains more is not.

Type-specific keywords are compared only for the types both schemas let through: a
``maxLength`` added beside ``"type": ["string", "null"]`` matters to a writer of strings,
not to a writer that only ever wrote ``null``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from streamplane.registry.compat._json_nodes import (
    JSON_TYPES,
    Comparer,
    Located,
    Problem,
    accepts_type,
    at,
    count,
    count_problems,
    declared_types,
    has_in_place,
    is_number,
    json_type,
    same_in_place,
    same_schema,
    show,
    value_key,
)
from streamplane.registry.compat._json_objects import object_problems

#: Compared for equality (see json_schema.py): subschemas structurally, with their $refs
#: followed; ``if``/``then``/``else`` as one group. Dynamic references cannot be followed
#: without an instance, so they compare as written.
EQUALITY_SUBSCHEMAS = ("if", "then", "else", "contentSchema")
EQUALITY_VALUES = ("contentEncoding", "contentMediaType", "$dynamicRef", "$recursiveRef")


def keyword_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    """The reader's own keywords against the writer's (combinators are compared elsewhere)."""
    w, r = writer.keywords, reader.keywords
    writer_types = _writer_types(w)
    problems = _type_problems(w, r, writer_types)
    live = _live_types(writer_types, declared_types(r))
    problems += _value_problems(w, r)
    problems += _format_problems(w, r)
    if "string" in live:
        problems += _string_problems(w, r)
    if live & {"number", "integer"}:
        integers_only = writer_types is not None and writer_types <= {"integer"}
        problems += _number_problems(w, r, integers_only)
    if "object" in live:
        problems += object_problems(cmp, writer, reader)
    if "array" in live:
        problems += array_problems(cmp, writer, reader)
    problems += _not_problems(cmp, writer, reader)
    problems += _equality_problems(writer, reader)
    return problems


# --- type, enum, const -----------------------------------------------------------------


def _writer_values(w: dict[str, Any]) -> list[Any] | None:
    """The finite set of values the writer allows, if it is finite; None otherwise."""
    types = declared_types(w)
    values: list[Any] | None = None
    if isinstance(w.get("enum"), list):
        values = [v for v in w["enum"] if accepts_type(json_type(v), types)]
    if "const" in w:
        const_key = value_key(w["const"])
        values = [v for v in (values or [w["const"]]) if value_key(v) == const_key]
    if values is None and types is not None and set(types) <= {"null", "boolean"}:
        values = ([None] if "null" in types else []) + ([False, True] if "boolean" in types else [])
    return values


def _writer_types(w: dict[str, Any]) -> set[str] | None:
    """The JSON types the writer can produce; None for any. Declared ``type``, narrowed by
    ``enum``/``const`` when those say more."""
    values = _writer_values(w)
    if values is not None:
        return {json_type(v) for v in values}
    types = declared_types(w)
    return set(types) & JSON_TYPES if types is not None else None


def _type_problems(
    w: dict[str, Any], r: dict[str, Any], writer_types: set[str] | None
) -> list[Problem]:
    reader_types = declared_types(r)
    if reader_types is None:
        return []
    if writer_types is None:
        return [("", f"type narrowed from any type to {show(reader_types)}")]
    rejected = {t for t in writer_types if not accepts_type(t, reader_types)}
    if not rejected:
        return []
    shown = declared_types(w) if "type" in w else sorted(writer_types)
    # Overlapping types narrow (number to integer keeps the integers); disjoint ones change.
    overlap = rejected != writer_types or ("number" in rejected and "integer" in reader_types)
    change = "narrowed" if overlap else "changed"
    return [("", f"type {change} from {show(shown)} to {show(reader_types)}")]


def _live_types(writer_types: set[str] | None, reader_types: list[str] | None) -> set[str]:
    """Types of values that pass both schemas' ``type``: only their keywords matter."""
    produced = set(JSON_TYPES) if writer_types is None else set(writer_types)
    if reader_types is None:
        return produced
    accepted = set(reader_types)
    if "number" in accepted:
        accepted.add("integer")
    if "integer" in accepted:
        accepted.add("number")  # the integral part of a writer's numbers
    return produced & accepted


def _value_problems(w: dict[str, Any], r: dict[str, Any]) -> list[Problem]:
    reader_values = r.get("enum") if isinstance(r.get("enum"), list) else None
    if "const" in r:
        reader_values = [r["const"]]
    if reader_values is None:
        return []
    keyword = "const" if "const" in r else "enum"
    writer_values = _writer_values(w)
    if writer_values is None:
        allowed = ", ".join(show(v) for v in reader_values[:5])
        return [(f"/{keyword}", f"{keyword} added: the reader accepts only {allowed}")]
    accepted = {value_key(v) for v in reader_values}
    if "enum" in r and "const" in r:
        accepted &= {value_key(v) for v in r["enum"]}
    missing = [v for v in writer_values if value_key(v) not in accepted]
    if not missing:
        return []
    if keyword == "const" and "const" in w:
        return [("/const", f"const changed from {show(w['const'])} to {show(r['const'])}")]
    listed = ", ".join(show(v) for v in missing[:5]) + (", ..." if len(missing) > 5 else "")
    return [(f"/{keyword}", f"{keyword} narrowed: the reader does not accept {listed}")]


# --- strings and numbers -----------------------------------------------------------------


def _format_problems(w: dict[str, Any], r: dict[str, Any]) -> list[Problem]:
    if "format" not in r or w.get("format") == r["format"]:
        return []
    if "format" not in w:
        return [("/format", f"format added: {show(r['format'])}")]
    return [("/format", f"format changed from {show(w['format'])} to {show(r['format'])}")]


def _string_problems(w: dict[str, Any], r: dict[str, Any]) -> list[Problem]:
    problems = count_problems(w, r, "minLength", "maxLength")
    if "pattern" in r and w.get("pattern") != r["pattern"]:
        if "pattern" not in w:
            problems.append(("/pattern", f"pattern added: {show(r['pattern'])}"))
        else:
            text = f"pattern changed from {show(w['pattern'])} to {show(r['pattern'])}"
            problems.append(("/pattern", text))
    return problems


def _number_problems(w: dict[str, Any], r: dict[str, Any], integers_only: bool) -> list[Problem]:
    problems = _bound_problems(_bound(w, upper=True), _bound(r, upper=True), upper=True)
    problems += _bound_problems(_bound(w, upper=False), _bound(r, upper=False), upper=False)
    return problems + _multiple_of_problems(w, r, integers_only)


def _bound(k: dict[str, Any], *, upper: bool) -> tuple[Any, bool, str] | None:
    """The tighter of ``maximum`` and ``exclusiveMaximum`` (or the minimums), as (value,
    exclusive, keyword). Draft 4 spells exclusivity as a boolean beside the bound."""
    inclusive, exclusive = (
        ("maximum", "exclusiveMaximum") if upper else ("minimum", "exclusiveMinimum")
    )
    candidates = []
    if is_number(k.get(inclusive)):
        candidates.append((k[inclusive], k.get(exclusive) is True, inclusive))
    if is_number(k.get(exclusive)):
        candidates.append((k[exclusive], True, exclusive))
    if not candidates:
        return None
    sign = 1 if upper else -1
    return min(candidates, key=lambda c: (sign * c[0], not c[1]))


def _bound_problems(
    writer: tuple[Any, bool, str] | None, reader: tuple[Any, bool, str] | None, *, upper: bool
) -> list[Problem]:
    if reader is None:
        return []
    value, exclusive, keyword = reader
    if writer is None:
        return [(f"/{keyword}", f"{keyword} added: {value}")]
    sign = 1 if upper else -1
    tighter = sign * value < sign * writer[0] or (value == writer[0] and exclusive > writer[1])
    if not tighter:
        return []
    if value == writer[0]:
        return [(f"/{keyword}", f"{writer[2]} {value} became exclusive")]
    if keyword == writer[2]:
        direction = "decreased" if upper else "increased"
        return [(f"/{keyword}", f"{keyword} {direction} from {writer[0]} to {value}")]
    text = f"bound narrowed from {writer[2]} {writer[0]} to {keyword} {value}"
    return [(f"/{keyword}", text)]


def _multiple_of_problems(
    w: dict[str, Any], r: dict[str, Any], integers_only: bool
) -> list[Problem]:
    if not is_number(r.get("multipleOf")):
        return []
    reader = Fraction(repr(r["multipleOf"]))
    if is_number(w.get("multipleOf")):
        writer = Fraction(repr(w["multipleOf"]))
        if (writer / reader).denominator == 1:
            return []  # every multiple of the writer's is one of the reader's (reduced)
        change = "expanded" if (reader / writer).denominator == 1 else "changed"
        text = f"multipleOf {change} from {w['multipleOf']} to {r['multipleOf']}"
        return [("/multipleOf", text)]
    if integers_only and (1 / reader).denominator == 1:
        return []  # every integer is a multiple of 1/n
    return [("/multipleOf", f"multipleOf added: {r['multipleOf']}")]


# --- arrays ------------------------------------------------------------------------------


def _tuple_form(node: Located, *, trust_unevaluated: bool) -> tuple[list[Any], Any, str, str]:
    """(positional item schemas, schema of the rest, keyword of each), in either spelling.

    Without a rest keyword, ``unevaluatedItems`` is what applies to the items past the
    tuple, as Confluent reads it. In-place applicators may evaluate more items than the
    schema object lists; a reader's is then read at face value (stricter), a writer's only
    when the reader has the same applicators (``trust_unevaluated``).
    """
    k = node.keywords
    if not trust_unevaluated:
        k = {key: v for key, v in k.items() if key != "unevaluatedItems"}
    if node.dialect.prefix_items:
        prefix = k.get("prefixItems")
        tuple_keyword, rest_keyword = "prefixItems", "items"
    elif isinstance(k.get("items"), list):
        prefix = k["items"]
        tuple_keyword, rest_keyword = "items", "additionalItems"
    else:
        prefix = []
        tuple_keyword, rest_keyword = "items", "items"
    if rest_keyword not in k and "unevaluatedItems" in k:
        rest_keyword = "unevaluatedItems"
    prefix = prefix if isinstance(prefix, list) else []
    return prefix, k.get(rest_keyword, True), tuple_keyword, rest_keyword


def array_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    """Positions compare pairwise; a position one side lacks uses that side's rest schema,
    which gives Confluent's item added/removed rules for open, closed and partially open
    tuples. Positions the writer's ``maxItems`` rules out are skipped."""
    w, r = writer.keywords, reader.keywords
    trust = not has_in_place(writer) or same_in_place(writer, reader)
    w_prefix, w_rest, _, _ = _tuple_form(writer, trust_unevaluated=trust)
    r_prefix, r_rest, r_tuple_keyword, r_rest_keyword = _tuple_form(reader, trust_unevaluated=True)
    most = count(w.get("maxItems"))
    positions = max(len(w_prefix), len(r_prefix))
    problems: list[Problem] = []
    for i in range(positions if most is None else min(positions, most)):
        w_item = w_prefix[i] if i < len(w_prefix) else w_rest
        r_item = r_prefix[i] if i < len(r_prefix) else r_rest
        found = cmp.compare(writer.child(w_item), reader.child(r_item))
        problems += at(f"/{r_tuple_keyword}/{i}", found)
    if most is None or most > positions:
        found = cmp.compare(writer.child(w_rest), reader.child(r_rest))
        problems += at(f"/{r_rest_keyword}", found)
    problems += count_problems(w, r, "minItems", "maxItems")
    if r.get("uniqueItems") is True and w.get("uniqueItems") is not True:
        problems.append(("/uniqueItems", "uniqueItems added: the reader rejects repeated items"))
    return problems + _contains_problems(cmp, writer, reader)


def _contains_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    w, r = writer.keywords, reader.keywords
    if "contains" not in r or r.get("minContains") == 0:
        return count_problems(w, r, "minContains", "maxContains") if "contains" in r else []
    if "contains" not in w or w.get("minContains") == 0:  # the writer promised no such item
        return [("/contains", "contains added: the reader requires a matching item")]
    found = cmp.compare(writer.child(w["contains"]), reader.child(r["contains"]))
    defaults = {"minContains": 1}  # contains alone asks for one matching item
    bounds = count_problems({**defaults, **w}, {**defaults, **r}, "minContains", "maxContains")
    return at("/contains", found) + bounds


# --- not and equality --------------------------------------------------------------------


def _not_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    """The reader excludes what its ``not`` matches; that must already be excluded by the
    writer's ``not``, so the two are compared the other way round."""
    if "not" not in reader.keywords:
        return []
    if "not" not in writer.keywords:
        return [("/not", "not added: the reader rejects values the writer allowed")]
    excluded_by_reader = reader.child(reader.keywords["not"])
    excluded_by_writer = writer.child(writer.keywords["not"])
    if cmp.compare(excluded_by_reader, excluded_by_writer):
        return [("/not", "not extended: the reader rejects values the writer allowed")]
    return []


def _equality_problems(writer: Located, reader: Located) -> list[Problem]:
    w, r = writer.keywords, reader.keywords
    problems: list[Problem] = []
    conditional = ("if", "then", "else")
    if any(k in r for k in conditional) and not _same_subschemas(writer, reader, conditional):
        text = "if/then/else changed; these keywords are compared for equality"
        problems.append(("/if", text))
    unchanged = {
        "contentSchema": _same_subschemas(writer, reader, ("contentSchema",)),
        **{k: k in w and k in r and value_key(w[k]) == value_key(r[k]) for k in EQUALITY_VALUES},
    }
    for keyword, same in unchanged.items():
        if keyword in r and not same:
            change = "added" if keyword not in w else "changed"
            problems.append((f"/{keyword}", f"{keyword} {change}; it is compared for equality"))
    return problems


def _same_subschemas(writer: Located, reader: Located, keywords: tuple[str, ...]) -> bool:
    w, r = writer.keywords, reader.keywords
    if [k for k in keywords if k in w] != [k for k in keywords if k in r]:
        return False
    seen: set[tuple[int, int]] = set()
    return all(
        same_schema(writer.child(w[k]), reader.child(r[k]), seen) for k in keywords if k in w
    )
