"""Object keywords: properties and the content model, ``required``, additional, pattern and
unevaluated properties, ``propertyNames``, property counts and dependencies.

The content model (Confluent's term) is what a schema says about a property it does not
declare: open (anything goes: ``additionalProperties`` absent or true), closed (``false``)
or partially open (a schema, from ``additionalProperties``, a matching
``patternProperties`` or ``unevaluatedProperties``). A property added to or removed from
``properties`` is judged by the other side's model.

``unevaluatedProperties`` also spares the properties that in-place applicators (``allOf``,
``$ref``, ``anyOf``...) evaluate. A reader's is taken to spare only what unconditional
applicators (``allOf``, ``$ref``) declare, which is the stricter reading; a writer's spares
whatever any applicator declares, conditional ones too, the wider reading. Both err on the
safe side; Confluent only looks at the schema object itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from streamplane.registry.compat._json_nodes import (
    DYNAMIC_REFS,
    Comparer,
    Located,
    Problem,
    at,
    count_problems,
    has_in_place,
    pattern_matches,
    prop,
    same_in_place,
    show,
)
from streamplane.registry.compat._json_parse import escape

#: Keywords with which an applicator's subschema evaluates names it does not list.
_EVALUATES_ANY_NAME = ("patternProperties", "additionalProperties", "unevaluatedProperties")
#: In-place subschemas looked at per schema, a backstop against hostile schemas.
_MAX_EVALUATED_SUBSCHEMAS = 1000


def object_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    w, r = writer.keywords, reader.keywords
    w_props, r_props = _map(w.get("properties")), _map(r.get("properties"))
    problems: list[Problem] = []
    for name in [*w_props, *(n for n in r_props if n not in w_props)]:
        if name in w_props and name in r_props:
            found = cmp.compare(writer.child(w_props[name]), reader.child(r_props[name]))
            problems += at(prop(name), found)
        elif name in w_props:
            problems += _property_removed(cmp, writer, reader, name)
        else:
            problems += _property_added(cmp, writer, reader, name)
    problems += _required_problems(writer, reader)
    problems += _additional_problems(cmp, writer, reader, "additionalProperties")
    problems += _unevaluated_problems(cmp, writer, reader)
    problems += _pattern_problems(cmp, writer, reader)
    problems += _property_names_problems(cmp, writer, reader)
    problems += count_problems(w, r, "minProperties", "maxProperties")
    return problems + _dependency_problems(cmp, writer, reader)


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _names(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# --- what in-place applicators evaluate ----------------------------------------------------


@dataclass
class Evaluated:
    """Property names a schema's in-place applicators evaluate."""

    #: Declared by a subschema that always applies (through allOf and $ref), with a schema.
    certain: dict[str, Located] = field(default_factory=dict)
    #: Declared by any subschema, conditional ones (anyOf, if...) included.
    possible: set[str] = field(default_factory=set)
    #: Some subschema evaluates names it does not list (patterns, additionalProperties...).
    any_name: bool = False


def evaluated(node: Located) -> Evaluated:
    result = Evaluated(any_name=any(k in node.keywords for k in DYNAMIC_REFS))
    stack = list(_in_place_subschemas(node, always=True))
    seen: set[tuple[int, bool]] = set()
    while stack:
        subschema, always = stack.pop()
        subschema = subschema.deref()
        if (id(subschema.contents), always) in seen:
            continue
        seen.add((id(subschema.contents), always))
        if len(seen) > _MAX_EVALUATED_SUBSCHEMAS:
            result.any_name = True
            break
        k = subschema.keywords
        for name, schema in _map(k.get("properties")).items():
            result.possible.add(name)
            if always:
                result.certain.setdefault(name, subschema.child(schema))
        if any(key in k for key in (*_EVALUATES_ANY_NAME, *DYNAMIC_REFS)):
            result.any_name = True
        stack.extend(_in_place_subschemas(subschema, always=always))
    return result


def _in_place_subschemas(node: Located, *, always: bool) -> Iterator[tuple[Located, bool]]:
    k = node.keywords
    if isinstance(k.get("$ref"), str):
        yield node.ref_target(), always
    for branch in _list(k.get("allOf")):
        yield node.child(branch), always
    for keyword in ("anyOf", "oneOf"):
        branches = _list(k.get(keyword))
        for branch in branches:
            yield node.child(branch), always and len(branches) == 1
    for keyword in ("if", "then", "else"):
        if keyword in k:
            yield node.child(k[keyword]), False
    for schema in _map(k.get("dependentSchemas")).values():
        yield node.child(schema), False


# --- declared properties against the content model -----------------------------------------


def _undeclared(node: Located, name: str, *, reader: bool) -> list[tuple[str, Located]]:
    """The schemas that apply to property ``name`` when ``node`` does not declare it: the
    matching ``patternProperties``, else ``additionalProperties``, else
    ``unevaluatedProperties`` (see the module docstring). [] means open to anything.

    A pattern Python cannot evaluate is assumed to match on the reader's side (its schema
    must then be met) and not to on the writer's (its schema cannot be relied on).
    """
    k = node.keywords
    matched = []
    for pattern, schema in _map(k.get("patternProperties")).items():
        matches = pattern_matches(pattern, name)
        if matches or (matches is None and reader):
            matched.append((f"/patternProperties/{escape(pattern)}", node.child(schema)))
    if matched:
        return matched
    if "additionalProperties" in k:
        return _unless_true("/additionalProperties", node, k["additionalProperties"])
    if "unevaluatedProperties" not in k:
        return []
    unevaluated = _unless_true("/unevaluatedProperties", node, k["unevaluatedProperties"])
    if not has_in_place(node):
        return unevaluated
    spared = evaluated(node)
    if name in spared.certain:  # a reader's subschema checks it; a writer's says what it is
        return [] if reader else [("/allOf", spared.certain[name])]
    if not reader and (name in spared.possible or spared.any_name):
        return []  # a conditional subschema may have let anything through
    return unevaluated


def _unless_true(path: str, node: Located, schema: Any) -> list[tuple[str, Located]]:
    return [] if schema is True else [(path, node.child(schema))]


def _property_removed(cmp: Comparer, writer: Located, reader: Located, name: str) -> list[Problem]:
    """The writer declared ``name``, the reader does not: its content model decides."""
    schema = writer.child(writer.keywords["properties"][name])
    problems: list[Problem] = []
    for path, covering in _undeclared(reader, name, reader=True):
        found = cmp.compare(schema, covering)
        if not found:
            continue
        if covering.deref().is_false:
            text = "property removed from a closed content model: the reader rejects it"
            problems.append((prop(name), text))
        else:
            text = f"property removed and not covered by the reader's {path[1:]}"
            problems += [(prop(name), text), *at(prop(name), found)]
    return problems


def _property_added(cmp: Comparer, writer: Located, reader: Located, name: str) -> list[Problem]:
    """The reader declares ``name``, the writer did not: what could the writer have put
    there? Anything, in an open content model; what its partial model allows otherwise."""
    schema = reader.child(reader.keywords["properties"][name])
    required = name in _names(reader.keywords.get("required"))
    covering = _undeclared(writer, name, reader=False)
    if not covering:
        if schema.deref().accepts_everything:
            return []
        kind = "required" if required else "optional"
        text = (
            f"{kind} property added to an open content model: data written with the writer "
            f"may already hold any value under {show(name)}"
        )
        return [(prop(name), text)]
    problems: list[Problem] = []
    results = [(path, cmp.compare(s, schema)) for path, s in covering]
    if all(found for _, found in results):  # the writer's value meets them all: one will do
        path, closest = min(results, key=lambda result: len(result[1]))
        text = f"property added and not covered by the writer's {path[1:]}"
        problems += [(prop(name), text), *at(prop(name), closest)]
    if required and not _has_default(schema):
        text = f"required property added: data written with the writer may lack {show(name)}"
        problems.append((prop(name), text))
    return problems


def _has_default(schema: Located) -> bool:
    """Confluent accepts a newly required property that has a default, as if readers filled
    it in the way Avro readers do."""
    target = schema.deref()
    return isinstance(target.contents, dict) and "default" in target.contents


def _required_problems(writer: Located, reader: Located) -> list[Problem]:
    w, r = writer.keywords, reader.keywords
    w_props, r_props = _map(w.get("properties")), _map(r.get("properties"))
    already = set(_names(w.get("required")))
    problems: list[Problem] = []
    for name in _names(r.get("required")):
        if name in already or (name in r_props and name not in w_props):
            continue  # required by both, or reported as an added property
        if name in r_props and _has_default(reader.child(r_props[name])):
            continue
        text = f"required property added: data written with the writer may lack {show(name)}"
        problems.append((f"/required/{escape(name)}", text))
    return problems


# --- additional, unevaluated and pattern properties ----------------------------------------


def _additional_problems(
    cmp: Comparer, writer: Located, reader: Located, keyword: str
) -> list[Problem]:
    """Confluent's added/removed/extended/narrowed rules for an ``additionalProperties``-like
    keyword (absent means ``true``), then the two schemas compared."""
    if keyword not in reader.keywords:
        return []
    reader_rest = reader.child(reader.keywords[keyword])
    writer_rest = writer.child(writer.keywords.get(keyword, True))
    if reader_rest.deref().accepts_everything or writer_rest.deref().is_false:
        return []
    if reader_rest.deref().is_false:
        text = f"{keyword} is false: the reader rejects additional properties the writer allowed"
        return [(f"/{keyword}", text)]
    if writer_rest.deref().accepts_everything:
        text = f"{keyword} narrowed: the reader constrains additional properties the writer did not"
        return [(f"/{keyword}", text)]
    return at(f"/{keyword}", cmp.compare(writer_rest, reader_rest))


def _unevaluated_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    """As ``additionalProperties``, plus the properties the writer's applicators evaluated
    that the reader leaves to its ``unevaluatedProperties`` (unless both schemas have the
    same applicators, which then evaluate the same properties)."""
    keyword = "unevaluatedProperties"
    problems = _additional_problems(cmp, writer, reader, keyword)
    if keyword not in reader.keywords or not has_in_place(writer):
        return problems
    reader_rest = reader.child(reader.keywords[keyword])
    if reader_rest.deref().accepts_everything or same_in_place(writer, reader):
        return problems
    spared_by_writer = evaluated(writer)
    if spared_by_writer.any_name:
        text = (
            f"{keyword}: the writer's subschemas allow properties the reader leaves to its "
            f"{keyword}"
        )
        return [*problems, (f"/{keyword}", text)]
    spared_by_reader = evaluated(reader) if has_in_place(reader) else Evaluated()
    declared = _map(reader.keywords.get("properties"))
    patterns = _map(reader.keywords.get("patternProperties"))
    # Names the writer's unconditional subschemas declare were merged into the writer and
    # met the property rules; the conditional ones may hold anything the branches allow.
    conditional = spared_by_writer.possible - spared_by_writer.certain.keys()
    for name in sorted(conditional):
        if name in declared or name in spared_by_reader.certain:
            continue
        if any(pattern_matches(p, name) for p in patterns):
            continue
        text = (
            f"{keyword} now applies to {show(name)}, which a subschema of the writer may "
            f"have let through"
        )
        problems.append((f"/{keyword}", text))
    return problems


def _pattern_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    w, r = writer.keywords, reader.keywords
    w_patterns, r_patterns = _map(w.get("patternProperties")), _map(r.get("patternProperties"))
    problems: list[Problem] = []
    for pattern, schema in r_patterns.items():
        path = f"/patternProperties/{escape(pattern)}"
        if pattern in w_patterns:
            found = cmp.compare(writer.child(w_patterns[pattern]), reader.child(schema))
            problems += at(path, found)
        elif not reader.child(schema).deref().accepts_everything:
            problems += _pattern_added(cmp, writer, reader.child(schema), pattern, path)
    r_rest = r.get("additionalProperties", True)
    for pattern, schema in w_patterns.items():
        if pattern in r_patterns or r_rest is True:
            continue
        if cmp.compare(writer.child(schema), reader.child(r_rest)):
            text = (
                f"patternProperties {show(pattern)} removed and not covered by the reader's "
                f"additionalProperties"
            )
            problems.append((f"/patternProperties/{escape(pattern)}", text))
    return problems


def _pattern_added(
    cmp: Comparer, writer: Located, schema: Located, pattern: str, path: str
) -> list[Problem]:
    """Everything the writer may have put under a matching name must pass the new pattern's
    schema: its matching declared properties, its own patterns' values (which may overlap;
    the safe side assumes they do) and its additional properties."""
    w = writer.keywords
    sources = [
        (f"the writer's property {show(name)}", s)
        for name, s in _map(w.get("properties")).items()
        if pattern_matches(pattern, name) is not False
    ]
    sources += [
        (f"the writer's patternProperties {show(p)}", s)
        for p, s in _map(w.get("patternProperties")).items()
    ]
    rest = w.get("additionalProperties", True)
    if "additionalProperties" not in w and not has_in_place(writer):
        rest = w.get("unevaluatedProperties", True)
    if rest is True:
        text = (
            f"patternProperties {show(pattern)} added to an open content model: the writer "
            f"allowed any value under matching names"
        )
        return [(path, text)]
    sources.append(("the writer's additional properties", rest))
    problems: list[Problem] = []
    for source, s in sources:
        found = cmp.compare(writer.child(s), schema)
        if found:
            text = f"patternProperties {show(pattern)} added and does not accept {source}"
            problems += [(path, text), *at(path, found)]
    return problems


def _property_names_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    if "propertyNames" not in reader.keywords:
        return []
    reader_names = reader.child(reader.keywords["propertyNames"])
    if reader_names.deref().accepts_everything:
        return []
    if "propertyNames" not in writer.keywords:
        return [("/propertyNames", "propertyNames added: the reader restricts property names")]
    writer_names = writer.child(writer.keywords["propertyNames"])
    return at("/propertyNames", cmp.compare(writer_names, reader_names))


# --- dependencies --------------------------------------------------------------------------

_Required = dict[str, tuple[str, list[str]]]
_Schemas = dict[str, tuple[str, Any]]


def _dependencies(node: Located) -> tuple[_Required, _Schemas]:
    """(name -> required names, name -> schema), each with the keyword that said so, from
    draft 4-7 ``dependencies`` or 2019-09+ ``dependentRequired``/``dependentSchemas``."""
    required: _Required = {}
    schemas: _Schemas = {}
    for keyword in ("dependencies", "dependentRequired", "dependentSchemas"):
        for name, value in _map(node.keywords.get(keyword)).items():
            if isinstance(value, list) and keyword != "dependentSchemas":
                required[name] = (keyword, _names(value))
            elif isinstance(value, dict | bool) and keyword != "dependentRequired":
                schemas[name] = (keyword, value)
    return required, schemas


def _dependency_problems(cmp: Comparer, writer: Located, reader: Located) -> list[Problem]:
    """Confluent's DEPENDENCY_ARRAY_* and DEPENDENCY_SCHEMA_* rules; names the writer always
    required anyway cannot make a dependency stricter."""
    w_required, w_schemas = _dependencies(writer)
    r_required, r_schemas = _dependencies(reader)
    always = set(_names(writer.keywords.get("required")))
    problems: list[Problem] = []
    for name, (keyword, names) in r_required.items():
        known = always | set(w_required[name][1] if name in w_required else [])
        extra = [n for n in names if n not in known]
        if extra:
            change = "extended" if name in w_required else "added"
            text = f"dependency {change}: with {show(name)} the reader also requires {show(extra)}"
            problems.append((f"/{keyword}/{escape(name)}", text))
    for name, (keyword, schema) in r_schemas.items():
        path = f"/{keyword}/{escape(name)}"
        if name in w_schemas:
            found = cmp.compare(writer.child(w_schemas[name][1]), reader.child(schema))
            problems += at(path, found)
        elif not reader.child(schema).deref().accepts_everything:
            problems.append((path, f"dependent schema added for {show(name)}"))
    return problems
