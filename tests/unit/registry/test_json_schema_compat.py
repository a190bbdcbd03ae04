"""JSON Schema parsing and compatibility, case by case from Confluent's documented rules.

Confluent's checker compares an original (writer) schema with an update (reader) and names
each difference (``TYPE_NARROWED``, ``PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL``...); a fixed
set of difference types is compatible under its default, strict policy. Each case below is
(name, writer, reader, expected): None when data valid under the writer can be read with
the reader, else a substring of the message (path included). Comments name the Confluent
difference type a case stands for.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamplane.registry.compat.json_schema import (
    JsonSchemaError,
    ParsedJsonSchema,
    can_read,
    check_compatibility,
    parse_json_schema,
)

DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT6 = "http://json-schema.org/draft-06/schema#"
DRAFT7 = "http://json-schema.org/draft-07/schema#"
DRAFT2019 = "https://json-schema.org/draft/2019-09/schema"
DRAFT2020 = "https://json-schema.org/draft/2020-12/schema"

S: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
N: dict[str, Any] = {"type": "number"}
B: dict[str, Any] = {"type": "boolean"}
NULL: dict[str, Any] = {"type": "null"}


def p(schema: Any, **references: Any) -> ParsedJsonSchema:
    """Parse a schema given as a Python value; reference names use ``__`` for ``.``."""
    refs = {name.replace("__", "."): json.dumps(s) for name, s in references.items()}
    return parse_json_schema(json.dumps(schema), references=refs or None)


def obj(properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties or {}, **extra}


def closed(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return obj(properties, additionalProperties=False, **extra)


def s(**keywords: Any) -> dict[str, Any]:
    return {"type": "string", **keywords}


def n(**keywords: Any) -> dict[str, Any]:
    return {"type": "number", **keywords}


def arr(**keywords: Any) -> dict[str, Any]:
    return {"type": "array", **keywords}


ADDRESS = closed({"street": S, "zip": S}, required=["street"])
ADDRESS_INT_ZIP = closed({"street": S, "zip": INT}, required=["street"])

# One case per line, as a table (fmt: off): name, writer, reader, expected.
# fmt: off
CASES: list[tuple[str, Any, Any, str | None]] = [
    # --- types: TYPE_EXTENDED is compatible, TYPE_NARROWED and TYPE_CHANGED are not -------
    ("integer widens to number", INT, N, None),
    ("number narrows to integer", N, INT, '#: type narrowed from ["number"] to ["integer"]'),
    ("string changes to integer", S, INT, '#: type changed from ["string"] to ["integer"]'),
    ("type list extended with null", S, {"type": ["string", "null"]}, None),
    ("type list narrowed", {"type": ["string", "null"]}, S, '#: type narrowed from ["string", "null"] to ["string"]'),
    ("anything can change to the empty schema", obj({"a": S}), {}, None),
    ("anything can change to true", S, True, None),
    ("the empty schema cannot change to a type", {}, S, "#: type narrowed from any type to"),
    ("false writer wrote nothing", False, S, None),
    ("false reader reads nothing", S, False, "#: the reader's schema here is false"),
    ("type nested in a property", obj({"amount": N}), obj({"amount": INT}), '#/properties/amount: type narrowed from ["number"] to ["integer"]'),
    ("string keywords do not matter to a null-only writer", NULL, {"type": ["null", "string"], "maxLength": 3}, None),
    # --- ID_CHANGED, TITLE_CHANGED, DESCRIPTION_CHANGED, DEFAULT_CHANGED: compatible -------
    ("annotations change freely", s(title="a", description="x", default="d", examples=["e"]), s(title="b", description="y", default="z", examples=[], readOnly=True), None),
    ("$id changes freely", s(**{"$id": "urn:example:a"}), s(**{"$id": "urn:example:b"}), None),
    ("keywords no draft defines are annotations", s(**{"connect.index": 1, "x-owner": "a"}), s(**{"connect.index": 2, "x-owner": "b"}), None),
    # --- strings: MAX/MIN_LENGTH_*, PATTERN_* ---------------------------------------------
    ("maxLength increased", s(maxLength=5), s(maxLength=10), None),
    ("maxLength decreased", s(maxLength=10), s(maxLength=5), "#/maxLength: maxLength decreased from 10 to 5"),
    ("maxLength removed", s(maxLength=5), S, None),
    ("maxLength added", S, s(maxLength=5), "#/maxLength: maxLength added: 5"),
    ("minLength decreased", s(minLength=2), s(minLength=1), None),
    ("minLength increased", s(minLength=1), s(minLength=2), "#/minLength: minLength increased from 1 to 2"),
    ("minLength 0 added says nothing", S, s(minLength=0), None),
    ("pattern removed", s(pattern="^a"), S, None),
    ("pattern added", S, s(pattern="^a"), '#/pattern: pattern added: "^a"'),
    ("pattern changed", s(pattern="^a"), s(pattern="^b"), "#/pattern: pattern changed"),
    # --- numbers: MAXIMUM_*, MINIMUM_*, EXCLUSIVE_*, MULTIPLE_OF_* ------------------------
    ("maximum increased", n(maximum=5), n(maximum=10), None),
    ("maximum decreased", n(maximum=10), n(maximum=5), "#/maximum: maximum decreased from 10 to 5"),
    ("maximum removed", n(maximum=5), N, None),
    ("maximum added", N, n(maximum=5), "#/maximum: maximum added: 5"),
    ("minimum decreased", n(minimum=5), n(minimum=1), None),
    ("minimum increased", n(minimum=1), n(minimum=5), "#/minimum: minimum increased from 1 to 5"),
    ("exclusiveMaximum added", N, n(exclusiveMaximum=5), "#/exclusiveMaximum: exclusiveMaximum added: 5"),
    ("exclusiveMaximum removed", n(exclusiveMaximum=5), N, None),
    ("inclusive bound made exclusive", n(maximum=10), n(exclusiveMaximum=10), "#/exclusiveMaximum: maximum 10 became exclusive"),
    ("exclusive bound made inclusive", n(exclusiveMinimum=0), n(minimum=0), None),
    ("draft 4 boolean exclusiveMaximum added", {"$schema": DRAFT4, **n(maximum=10)}, {"$schema": DRAFT4, **n(maximum=10, exclusiveMaximum=True)}, "#/maximum: maximum 10 became exclusive"),
    ("multipleOf reduced", n(multipleOf=10), n(multipleOf=5), None),
    ("multipleOf reduced in decimals", n(multipleOf=0.1), n(multipleOf=0.01), None),
    ("multipleOf expanded", n(multipleOf=5), n(multipleOf=10), "#/multipleOf: multipleOf expanded from 5 to 10"),
    ("multipleOf changed", n(multipleOf=4), n(multipleOf=6), "#/multipleOf: multipleOf changed from 4 to 6"),
    ("multipleOf added", N, n(multipleOf=2), "#/multipleOf: multipleOf added: 2"),
    ("multipleOf removed", n(multipleOf=2), N, None),
    ("integers are multiples of 1", INT, n(multipleOf=1), None),
    # --- enum and const: ENUM_ARRAY_EXTENDED compatible; NARROWED and CHANGED not ----------
    ("enum extended", s(enum=["a", "b"]), s(enum=["a", "b", "c"]), None),
    ("enum narrowed", s(enum=["a", "b", "c"]), s(enum=["a", "b"]), '#/enum: enum narrowed: the reader does not accept "c"'),
    ("enum changed", s(enum=["a", "b"]), s(enum=["a", "c"]), '#/enum: enum narrowed: the reader does not accept "b"'),
    ("enum removed", s(enum=["a"]), S, None),
    ("enum added", S, s(enum=["a"]), "#/enum: enum added"),
    ("enum values are compared as JSON numbers", {"enum": [1, 2.0]}, {"enum": [1.0, 2]}, None),
    ("enum of strings read by a string type", {"enum": ["a", "b"]}, S, None),
    ("const changed", obj({"kind": {"const": "a"}}), obj({"kind": {"const": "b"}}), '#/properties/kind/const: const changed from "a" to "b"'),
    ("const widened to an enum", {"const": "a"}, {"enum": ["a", "b"]}, None),
    # --- properties and the content model -------------------------------------------------
    # An open model (additionalProperties absent or true) may already hold anything under
    # a new name, so even an optional property added to it is incompatible.
    ("optional property added to open model", obj({"a": S}), obj({"a": S, "b": S}), '#/properties/b: optional property added to an open content model'),
    ("required property added to open model", obj({"a": S}), obj({"a": S, "b": S}, required=["b"]), '#/properties/b: required property added to an open content model'),
    ("property with empty schema added to open model", obj({"a": S}), obj({"a": S, "b": {}}), None),
    ("property removed from open model", obj({"a": S, "b": S}), obj({"a": S}), None),
    ("optional property added to closed model", closed({"a": S}), closed({"a": S, "b": S}), None),
    ("required property added to closed model", closed({"a": S}), closed({"a": S, "b": S}, required=["b"]), '#/properties/b: required property added: data written with the writer may lack "b"'),
    ("required property with default added to closed model", closed({"a": S}), closed({"a": S, "b": s(default="x")}, required=["b"]), None),
    ("property removed from closed model", closed({"a": S, "b": S}), closed({"a": S}), "#/properties/b: property removed from a closed content model"),
    ("property with false schema removed from closed model", closed({"a": S, "b": False}), closed({"a": S}), None),
    ("property added, covered by partially open model", obj({"a": S}, additionalProperties=S), obj({"a": S, "b": S}, additionalProperties=S), None),
    ("property added, not covered by partially open model", obj({"a": S}, additionalProperties=S), obj({"a": S, "b": INT}, additionalProperties=S), "#/properties/b: property added and not covered by the writer's additionalProperties"),
    ("property added, covered by patternProperties", obj({}, patternProperties={"^i_": INT}, additionalProperties=False), obj({"i_count": N}, patternProperties={"^i_": INT}, additionalProperties=False), None),
    ("property added, not covered by patternProperties", obj({}, patternProperties={"^i_": INT}, additionalProperties=False), obj({"i_name": S}, patternProperties={"^i_": INT}, additionalProperties=False), "#/properties/i_name: property added and not covered by the writer's patternProperties/^i_"),
    ("property removed, covered by partially open model", obj({"a": S, "b": S}, additionalProperties=S), obj({"a": S}, additionalProperties=S), None),
    ("property removed, not covered by partially open model", obj({"a": S, "b": INT}, additionalProperties=S), obj({"a": S}, additionalProperties=S), "#/properties/b: property removed and not covered by the reader's additionalProperties"),
    ("property removed, covered by a wider partial model", obj({"b": INT}, additionalProperties=False), obj({}, additionalProperties=N), None),
    # --- required: REQUIRED_ATTRIBUTE_ADDED incompatible; REMOVED and WITH_DEFAULT_ADDED not
    ("required added", obj({"a": S}), obj({"a": S}, required=["a"]), '#/required/a: required property added'),
    ("required removed", obj({"a": S}, required=["a"]), obj({"a": S}), None),
    ("required with default added", obj({"a": s(default="x")}), obj({"a": s(default="x")}, required=["a"]), None),
    # --- additionalProperties: ADDED and EXTENDED compatible; REMOVED and NARROWED not -----
    ("additionalProperties false to true", closed({"a": S}), obj({"a": S}, additionalProperties=True), None),
    ("additionalProperties true to false", obj({"a": S}), closed({"a": S}), "#/additionalProperties: additionalProperties is false"),
    ("additionalProperties narrowed to a schema", obj({"a": S}), obj({"a": S}, additionalProperties=S), "#/additionalProperties: additionalProperties narrowed"),
    ("additionalProperties extended from a schema", obj({"a": S}, additionalProperties=S), obj({"a": S}), None),
    ("additionalProperties schema changed", obj({}, additionalProperties=S), obj({}, additionalProperties=INT), '#/additionalProperties: type changed from ["string"] to ["integer"]'),
    # --- other object keywords ------------------------------------------------------------
    ("maxProperties increased", obj(maxProperties=2), obj(maxProperties=3), None),
    ("maxProperties decreased", obj(maxProperties=3), obj(maxProperties=2), "#/maxProperties: maxProperties decreased from 3 to 2"),
    ("minProperties increased", obj(minProperties=1), obj(minProperties=2), "#/minProperties: minProperties increased from 1 to 2"),
    ("minProperties removed", obj(minProperties=1), obj(), None),
    ("dependency array added", obj({"a": S, "b": S}), obj({"a": S, "b": S}, dependencies={"a": ["b"]}), '#/dependencies/a: dependency added: with "a" the reader also requires ["b"]'),
    ("dependency array removed", obj({"a": S, "b": S}, dependencies={"a": ["b"]}), obj({"a": S, "b": S}), None),
    ("dependency array narrowed", obj(dependencies={"a": ["b", "c"]}), obj(dependencies={"a": ["b"]}), None),
    ("dependency array extended", obj(dependencies={"a": ["b"]}), obj(dependencies={"a": ["b", "c"]}), '#/dependencies/a: dependency extended: with "a" the reader also requires ["c"]'),
    ("dependency schema added", obj(), obj(dependencies={"a": obj(required=["b"])}), '#/dependencies/a: dependent schema added for "a"'),
    ("dependency schema removed", obj(dependencies={"a": obj(required=["b"])}), obj(), None),
    ("dependency schema changed", obj(dependencies={"a": obj({"b": S})}), obj(dependencies={"a": obj({"b": INT})}), '#/dependencies/a/properties/b: type changed'),
    ("2019-09 dependentRequired added", {"$schema": DRAFT2019, **obj()}, {"$schema": DRAFT2019, **obj(dependentRequired={"a": ["b"]})}, "#/dependentRequired/a: dependency added"),
    ("propertyNames added", obj(), obj(propertyNames={"maxLength": 3}), "#/propertyNames: propertyNames added"),
    ("propertyNames removed", obj(propertyNames={"maxLength": 3}), obj(), None),
    ("nested property path", obj({"address": ADDRESS}), obj({"address": ADDRESS_INT_ZIP}), '#/properties/address/properties/zip: type changed from ["string"] to ["integer"]'),
    # --- arrays: items, tuples and their content model ------------------------------------
    ("items type changed", arr(items=S), arr(items=INT), '#/items: type changed from ["string"] to ["integer"]'),
    ("items schema added", arr(), arr(items=S), "#/items: type narrowed from any type"),
    ("items schema removed", arr(items=S), arr(), None),
    ("tuple item removed from open tuple", arr(items=[S, INT]), arr(items=[S]), None),
    ("tuple item added to open tuple", arr(items=[S]), arr(items=[S, INT]), "#/items/1: type narrowed from any type"),
    ("tuple item with empty schema added to open tuple", arr(items=[S]), arr(items=[S, {}]), None),
    ("tuple item added to closed tuple", arr(items=[S], additionalItems=False), arr(items=[S, INT], additionalItems=False), None),
    ("tuple item removed from closed tuple", arr(items=[S, INT], additionalItems=False), arr(items=[S], additionalItems=False), "#/items/1: the reader's schema here is false"),
    ("tuple item with false schema removed from closed tuple", arr(items=[S, False], additionalItems=False), arr(items=[S], additionalItems=False), None),
    ("tuple item added, covered by partially open tuple", arr(items=[S], additionalItems=S), arr(items=[S, S], additionalItems=S), None),
    ("tuple item added, not covered by partially open tuple", arr(items=[S], additionalItems=S), arr(items=[S, INT], additionalItems=S), '#/items/1: type changed from ["string"] to ["integer"]'),
    ("additionalItems false to true", arr(items=[S], additionalItems=False), arr(items=[S]), None),
    ("additionalItems true to false", arr(items=[S]), arr(items=[S], additionalItems=False), "#/additionalItems: the reader's schema here is false"),
    ("positions past the writer's maxItems do not matter", arr(items=[S], maxItems=1), arr(items=[S, INT]), None),
    ("2020-12 prefixItems item added to open tuple", {"$schema": DRAFT2020, **arr(prefixItems=[S])}, {"$schema": DRAFT2020, **arr(prefixItems=[S, INT])}, "#/prefixItems/1: type narrowed from any type"),
    ("2020-12 prefixItems item added to closed tuple", {"$schema": DRAFT2020, **arr(prefixItems=[S], items=False)}, {"$schema": DRAFT2020, **arr(prefixItems=[S, INT], items=False)}, None),
    ("2020-12 unevaluatedItems closes a tuple", {"$schema": DRAFT2020, **arr(prefixItems=[S, INT], unevaluatedItems=False)}, {"$schema": DRAFT2020, **arr(prefixItems=[S], unevaluatedItems=False)}, "#/prefixItems/1: the reader's schema here is false"),
    ("maxItems decreased", arr(maxItems=3), arr(maxItems=2), "#/maxItems: maxItems decreased from 3 to 2"),
    ("minItems decreased", arr(minItems=2), arr(minItems=1), None),
    ("minItems increased", arr(minItems=1), arr(minItems=2), "#/minItems: minItems increased from 1 to 2"),
    ("uniqueItems added", arr(), arr(uniqueItems=True), "#/uniqueItems: uniqueItems added"),
    ("uniqueItems removed", arr(uniqueItems=True), arr(), None),
    ("contains added", arr(), arr(contains=S), "#/contains: contains added"),
    ("contains widened", arr(contains=INT), arr(contains=N), None),
    # --- combined types: SUM_TYPE_EXTENDED, PRODUCT_TYPE_NARROWED, COMBINED_TYPE_EXTENDED
    # are compatible; SUM_TYPE_NARROWED, PRODUCT_TYPE_EXTENDED, COMBINED_TYPE_CHANGED and
    # COMBINED_TYPE_SUBSCHEMAS_CHANGED are not.
    ("oneOf extended", {"oneOf": [S, INT]}, {"oneOf": [S, INT, B]}, None),
    ("oneOf narrowed", {"oneOf": [S, INT, B]}, {"oneOf": [S, INT]}, "#/oneOf: oneOf narrowed from 3 to 2 subschemas"),
    ("oneOf subschemas reordered", {"oneOf": [S, INT]}, {"oneOf": [INT, S]}, None),
    ("oneOf subschema changed", {"oneOf": [S, INT]}, {"oneOf": [S, B]}, "#/oneOf: no subschema of the reader's oneOf reads the writer's oneOf/1"),
    ("plain schema to anyOf containing it", S, {"anyOf": [INT, S]}, None),
    ("anyOf to one of its subschemas", {"anyOf": [INT, S]}, S, '#: type changed from ["integer"] to ["string"]'),
    ("plain schema to anyOf without it", S, {"anyOf": [INT, B]}, "#/anyOf: no subschema of the reader's anyOf accepts the writer's data"),
    ("singleton oneOf to its subschema", {"oneOf": [S]}, S, None),
    ("subschema to a singleton oneOf", S, {"oneOf": [S]}, None),
    ("oneOf to anyOf", {"oneOf": [S, INT]}, {"anyOf": [S, INT]}, None),
    ("anyOf to oneOf", {"anyOf": [S, INT]}, {"oneOf": [S, INT]}, "#/oneOf: combined type changed from anyOf to oneOf"),
    ("allOf subschema removed", {"allOf": [S, s(maxLength=5)]}, {"allOf": [S]}, None),
    ("allOf subschema added", {"allOf": [S]}, {"allOf": [S, s(maxLength=5)]}, "#/allOf/1/maxLength: maxLength added: 5"),
    ("allOf to one of its subschemas", {"allOf": [s(maxLength=5), S]}, S, None),
    ("duplicate subschemas collapse", {"anyOf": [S, S, INT]}, {"anyOf": [S, INT]}, None),
    ("choice added beside an object's own keywords", obj({"a": S, "b": S}), obj({"a": S, "b": S}, oneOf=[{"required": ["a"]}, {"required": ["b"]}]), "#/oneOf: no subschema of the reader's oneOf accepts the writer's data"),
    ("choice removed beside an object's own keywords", obj({"a": S, "b": S}, oneOf=[{"required": ["a"]}, {"required": ["b"]}]), obj({"a": S, "b": S}), None),
    # --- not: NOT_TYPE_NARROWED compatible, NOT_TYPE_EXTENDED not -------------------------
    ("not narrowed", {"not": {"type": ["string", "null"]}}, {"not": S}, None),
    ("not extended", {"not": S}, {"not": {"type": ["string", "null"]}}, "#/not: not extended"),
    ("not added", S, s(**{"not": {"enum": [""]}}), "#/not: not added"),
    ("not removed", s(**{"not": {"enum": [""]}}), S, None),
    # --- keywords compared for equality, and format ---------------------------------------
    ("if/then/else changed", obj({"a": S}, **{"if": obj(required=["a"]), "then": obj(required=["b"])}), obj({"a": S}, **{"if": obj(required=["a"]), "then": obj(required=["c"])}), "#/if: if/then/else changed; these keywords are compared for equality"),
    ("if/then/else removed", obj({"a": S}, **{"if": obj(required=["a"]), "then": obj(required=["b"])}), obj({"a": S}), None),
    ("contentEncoding added", S, s(contentEncoding="base64"), "#/contentEncoding: contentEncoding added; it is compared for equality"),
    ("format added", S, s(format="date"), '#/format: format added: "date"'),
    ("format changed", s(format="date"), s(format="date-time"), '#/format: format changed from "date" to "date-time"'),
    ("format removed", s(format="date"), S, None),
]
# fmt: on


@pytest.mark.parametrize(("name", "writer", "reader", "expected"), CASES, ids=[c[0] for c in CASES])
def test_can_read(name: str, writer: Any, reader: Any, expected: str | None) -> None:
    messages = can_read(p(reader), p(writer))
    if expected is None:
        assert messages == []
    else:
        assert any(expected in m for m in messages), messages


def test_messages_start_with_the_json_path_of_the_problem() -> None:
    messages = can_read(p(obj({"amount": INT})), p(obj({"amount": N})))
    assert messages == ['#/properties/amount: type narrowed from ["number"] to ["integer"]']


# --- $ref, recursion and schema references ------------------------------------------------


def _with_definitions(root: Any, **definitions: Any) -> dict[str, Any]:
    return {"definitions": definitions, **root}


def test_moving_a_schema_behind_a_local_ref_is_compatible_both_ways() -> None:
    inline = obj({"home": ADDRESS})
    behind_ref = _with_definitions(
        obj({"home": {"$ref": "#/definitions/Address"}}), Address=ADDRESS
    )
    assert can_read(p(behind_ref), p(inline)) == []
    assert can_read(p(inline), p(behind_ref)) == []


def test_a_change_behind_a_ref_is_reported_at_the_referring_path() -> None:
    old = _with_definitions(obj({"home": {"$ref": "#/definitions/Address"}}), Address=ADDRESS)
    new = _with_definitions(
        obj({"home": {"$ref": "#/definitions/Address"}}), Address=ADDRESS_INT_ZIP
    )
    assert can_read(p(new), p(old)) == [
        '#/properties/home/properties/zip: type changed from ["string"] to ["integer"]'
    ]


def test_nullable_through_oneof_and_ref_extends_but_does_not_narrow() -> None:
    plain = _with_definitions(obj({"home": {"$ref": "#/definitions/A"}}), A=ADDRESS)
    nullable = _with_definitions(
        obj({"home": {"oneOf": [NULL, {"$ref": "#/definitions/A"}]}}), A=ADDRESS
    )
    assert can_read(p(nullable), p(plain)) == []  # SUM_TYPE_EXTENDED
    assert can_read(p(plain), p(nullable)) != []  # the reader would see null


def _linked_list(value_type: str, draft: str = DRAFT2020) -> dict[str, Any]:
    node = obj({"value": {"type": value_type}, "next": {"$ref": "#/$defs/node"}})
    return {"$schema": draft, "$defs": {"node": node}, "$ref": "#/$defs/node"}


def test_recursive_schema_reads_itself_and_a_recursive_change_is_found() -> None:
    assert can_read(p(_linked_list("integer")), p(_linked_list("integer"))) == []
    assert can_read(p(_linked_list("number")), p(_linked_list("integer"))) == []
    messages = can_read(p(_linked_list("string")), p(_linked_list("integer")))
    assert '#/properties/value: type changed from ["integer"] to ["string"]' in messages


def test_wide_recursive_unions_compare_quickly() -> None:
    """Many oneOf branches referring back to the union: a combinatorial trap."""
    branches = {
        f"K{i}": obj({f"l{j}": {"$ref": "#/$defs/U"} for j in range(5)} | {"k": {"const": i}})
        for i in range(12)
    }
    union = {"oneOf": [{"$ref": f"#/$defs/K{i}"} for i in range(12)]}
    schema = {"$schema": DRAFT2020, "$defs": {**branches, "U": union}, "$ref": "#/$defs/U"}
    assert can_read(p(schema), p(schema)) == []
    changed = json.loads(json.dumps(schema))
    changed["$defs"]["K3"]["properties"]["k"] = {"const": "3"}
    assert any("/const: const changed from 3 to" in m for m in can_read(p(changed), p(schema)))


def test_reference_by_name_with_fragment_resolves_and_is_compared() -> None:
    refs = {"address.json": {"definitions": {"street": S}}}
    old = p(obj({"s": {"$ref": "address.json#/definitions/street"}}), **_names(refs))
    refs_v2 = {"address.json": {"definitions": {"street": s(maxLength=10)}}}
    new = p(obj({"s": {"$ref": "address.json#/definitions/street"}}), **_names(refs_v2))
    assert can_read(new, old) == ["#/properties/s/maxLength: maxLength added: 10"]
    assert can_read(old, new) == []


def _names(references: dict[str, Any]) -> dict[str, Any]:
    return {name.replace(".", "__"): schema for name, schema in references.items()}


def test_reference_by_absolute_uri_and_relative_to_the_root_id() -> None:
    address = "https://example.com/schemas/address.json"
    by_uri = parse_json_schema(
        json.dumps(obj({"a": {"$ref": address}})), references={address: json.dumps(ADDRESS)}
    )
    relative = parse_json_schema(
        json.dumps(
            {
                "$id": "https://example.com/schemas/customer.json",
                **obj({"a": {"$ref": "address.json"}}),
            }
        ),
        references={"address.json": json.dumps(ADDRESS)},
    )
    assert can_read(by_uri, relative) == []


def test_references_may_use_each_other_and_their_own_draft() -> None:
    street = {"$schema": DRAFT2020, "$defs": {"s": S}, "$ref": "#/$defs/s"}
    address = closed({"street": {"$ref": "street.json"}})
    parsed = p(obj({"a": {"$ref": "address.json"}}), address__json=address, street__json=street)
    assert can_read(parsed, parsed) == []


def test_draft_7_ignores_keywords_beside_ref_and_2020_12_applies_them() -> None:
    def with_sibling(draft: str) -> dict[str, Any]:
        return {"$schema": draft, "$defs": {"s": S}, "$ref": "#/$defs/s", "maxLength": 3}

    def plain(draft: str) -> dict[str, Any]:
        return {"$schema": draft, **S}

    assert can_read(p(with_sibling(DRAFT7)), p(plain(DRAFT7))) == []
    assert can_read(p(with_sibling(DRAFT2020)), p(plain(DRAFT2020))) == [
        "#/maxLength: maxLength added: 3"
    ]


def _closed_derived(base: dict[str, Any], **own: Any) -> dict[str, Any]:
    """2020-12 inheritance: a $ref'd base plus own properties, closed by
    unevaluatedProperties, which spares what the base declares."""
    return {
        "$schema": DRAFT2020,
        "$defs": {"Base": base},
        "$ref": "#/$defs/Base",
        "properties": {"c": S, **own},
        "unevaluatedProperties": False,
    }


BASE = obj({"a": S, "b": S})


# fmt: off
UNEVALUATED_CASES: list[tuple[str, Any, Any, str | None]] = [
    ("unchanged", _closed_derived(BASE), _closed_derived(BASE), None),
    ("base gains an optional property", _closed_derived(BASE), _closed_derived(obj({"a": S, "b": S, "e": S})), None),
    ("derived gains an optional property", _closed_derived(BASE), _closed_derived(BASE, d=S), None),
    ("base loses a property", _closed_derived(BASE), _closed_derived(obj({"a": S})), "#/properties/b: property removed from a closed content model"),
    ("derived loses a property", _closed_derived(BASE, d=S), _closed_derived(BASE), "#/properties/d: property removed from a closed content model"),
    ("base property type changed", _closed_derived(BASE), _closed_derived(obj({"a": S, "b": INT})), '#/properties/b: type changed from ["string"] to ["integer"]'),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "writer", "reader", "expected"),
    UNEVALUATED_CASES,
    ids=[c[0] for c in UNEVALUATED_CASES],
)
def test_unevaluated_properties_spares_what_applicators_declare(
    name: str, writer: Any, reader: Any, expected: str | None
) -> None:
    messages = can_read(p(reader), p(writer))
    if expected is None:
        assert messages == []
    else:
        assert any(expected in m for m in messages), messages


def test_unevaluated_properties_beside_a_conditional_subschema_is_read_safely() -> None:
    """A writer's anyOf may have let "x" through; a reader without it leaves "x" to its
    unevaluatedProperties: false."""
    writer = {"$schema": DRAFT2020, "anyOf": [obj({"x": S}), obj()], "unevaluatedProperties": False}
    reader = {"$schema": DRAFT2020, **obj(), "unevaluatedProperties": False}
    assert any('now applies to "x"' in m for m in can_read(p(reader), p(writer)))
    assert can_read(p(writer), p(writer)) == []


def test_a_repeated_oneof_branch_matches_nothing() -> None:
    """A value valid under a repeated branch is valid under two, which oneOf rejects."""
    assert can_read(p({"oneOf": [S, S]}), p(S)) != []
    assert can_read(p({"oneOf": [S, S, INT]}), p(INT)) == []
    assert can_read(p({"anyOf": [S, S]}), p(S)) == []


def test_compared_for_equality_follows_refs() -> None:
    def conditional(then_type: dict[str, Any]) -> dict[str, Any]:
        return _with_definitions(
            obj({"a": S}, **{"if": obj(required=["a"]), "then": {"$ref": "#/definitions/t"}}),
            t=obj({"b": then_type}),
        )

    assert can_read(p(conditional(S)), p(conditional(S))) == []
    assert can_read(p(conditional(INT)), p(conditional(S))) == [
        "#/if: if/then/else changed; these keywords are compared for equality"
    ]


def test_contains_with_min_contains_zero_promises_nothing() -> None:
    writer = {"$schema": DRAFT2019, **arr(contains=S, minContains=0)}
    reader = {"$schema": DRAFT2019, **arr(contains=S)}
    assert can_read(p(reader), p(writer)) == [
        "#/contains: contains added: the reader requires a matching item"
    ]


# --- levels: the shared loop in _levels.py ------------------------------------------------


def test_levels_check_the_direction_they_name() -> None:
    old, new = p(closed({"a": S})), p(closed({"a": S, "b": S}))  # optional added, closed
    assert check_compatibility(new, [old], "BACKWARD") == []
    forward = check_compatibility(new, [old], "FORWARD")
    assert forward == [
        "FORWARD: existing schema #1 of 1 (latest) cannot read data written with the new "
        "schema: #/properties/b: property removed from a closed content model: the reader "
        "rejects it"
    ]
    assert check_compatibility(new, [old], "FULL") == forward
    assert check_compatibility(new, [old], "NONE") == []


def test_transitive_levels_check_every_existing_schema() -> None:
    v1, v2, v3 = p(s(maxLength=5)), p(s(maxLength=10)), p(s(maxLength=8))
    assert check_compatibility(v3, [v1, v2], "FORWARD") == []  # v2 reads up to 10
    assert check_compatibility(v3, [v1, v2], "FORWARD_TRANSITIVE") == [
        "FORWARD: existing schema #1 of 2 cannot read data written with the new schema: "
        "#/maxLength: maxLength decreased from 8 to 5"
    ]


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [DRAFT4, DRAFT6, DRAFT7, DRAFT2019, DRAFT2020, DRAFT7.rstrip("#"), DRAFT2020 + "#"],
)
def test_each_supported_draft_parses(uri: str) -> None:
    parsed = p({"$schema": uri, **obj({"a": S}, required=["a"])})
    assert parsed.raw["$schema"] == uri


def test_without_schema_the_draft_is_07() -> None:
    # "items" as an array is a draft-07 tuple; 2020-12 requires a schema there.
    assert p(arr(items=[S])).raw == arr(items=[S])
    with pytest.raises(JsonSchemaError, match=r"not a valid draft 2020-12 schema at #/items"):
        p({"$schema": DRAFT2020, **arr(items=[S])})


def test_unsupported_schema_uri_is_refused_with_the_supported_ones() -> None:
    with pytest.raises(
        JsonSchemaError, match=r"unsupported \$schema 'http://example.com/s'.*draft-07"
    ):
        p({"$schema": "http://example.com/s"})


def test_syntax_errors_say_line_and_column() -> None:
    with pytest.raises(JsonSchemaError, match=r"not valid JSON: .* at line 3 column 1"):
        parse_json_schema('{\n  "type": "string",\n}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type": "string", "type": "integer"}', "duplicate key 'type'"),
        ('{"maximum": NaN}', "NaN is not a JSON value"),
        ('{"maximum": 1e999}', "out of range"),
        ('{"maximum": ' + "9" * 5000 + "}", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_json_that_is_not_portable_is_refused(text: str, expected: str) -> None:
    with pytest.raises(JsonSchemaError, match=expected):
        parse_json_schema(text)


def test_meta_schema_errors_give_the_json_pointer() -> None:
    with pytest.raises(JsonSchemaError, match="draft-07 schema at #/properties/a/minLength: -1"):
        p(obj({"a": s(minLength=-1)}))
    with pytest.raises(JsonSchemaError, match=r"at #/properties/a/type: 'strin'"):
        p(obj({"a": {"type": "strin"}}))


def test_patterns_must_compile_but_ecma_only_syntax_is_accepted() -> None:
    with pytest.raises(JsonSchemaError, match=r"#/properties/a/pattern: '\(\[' is not a 'regex'"):
        p(obj({"a": s(pattern="([")}))
    p(obj({"a": s(pattern=r"^\p{L}+$")}, patternProperties={r"^(?<word>\w+)$": S}))


def test_unresolvable_refs_are_named_with_their_location() -> None:
    with pytest.raises(
        JsonSchemaError, match=r"#/properties/a/\$ref: 'address.json' resolves to no schema"
    ):
        p(obj({"a": {"$ref": "address.json"}}))
    with pytest.raises(JsonSchemaError, match=r"'#/definitions/Missing' resolves to no schema"):
        p(obj({"a": {"$ref": "#/definitions/Missing"}}))
    with pytest.raises(JsonSchemaError, match=r"reference 'a.json' #/\$ref: 'b.json'"):
        p(obj({"x": {"$ref": "a.json"}}), a__json={"$ref": "b.json"})


def test_reference_errors_name_the_reference() -> None:
    with pytest.raises(JsonSchemaError, match=r"reference 'address\.json' is not valid JSON"):
        parse_json_schema("{}", references={"address.json": "{"})
    with pytest.raises(JsonSchemaError, match=r"reference 'address\.json' is not a valid draft-07"):
        p({}, address__json={"type": 1})


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        _with_definitions(
            {"$ref": "#/definitions/a"},
            a={"$ref": "#/definitions/b"},
            b={"$ref": "#/definitions/a"},
        ),
        {"$schema": DRAFT2020, "allOf": [{"$ref": "#"}]},
        _with_definitions({"anyOf": [{"$ref": "#/definitions/a"}]}, a={"not": {"$ref": "#"}}),
    ],
    ids=["self", "two definitions", "allOf of itself", "through anyOf and not"],
)
def test_ref_cycles_that_never_reach_the_data_are_refused(schema: Any) -> None:
    with pytest.raises(JsonSchemaError, match="refers back to itself"):
        p(schema)


def test_ref_cycles_through_properties_are_recursive_types() -> None:
    p(_linked_list("integer", draft=DRAFT7).copy() | {"$schema": DRAFT2020})
    p(_with_definitions(obj({"children": arr(items={"$ref": "#"})})))


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"a":' * 100_000,
        json.dumps(
            {"type": "object", "properties": {"a": {"allOf": [{"not": {"not": {"anyOf": []}}}]}}}
        )[:-2],
        "{" + ",".join(f'"k{i}": {{"type": "string"}}' for i in range(3)) + "}",
    ],
    ids=["deep arrays", "deep objects", "truncated", "unknown keywords only"],
)
def test_hostile_text_raises_only_json_schema_error(text: str) -> None:
    with contextlib.suppress(JsonSchemaError):
        parse_json_schema(text)


def test_nesting_past_the_limit_is_refused_and_deep_schemas_compare() -> None:
    deep: Any = S
    for _ in range(31):
        deep = obj({"a": deep})
    changed = json.loads(json.dumps(deep).replace('"string"', '"integer"'))
    messages = can_read(p(changed), p(deep))
    assert messages == [
        "#" + "/properties/a" * 31 + ': type changed from ["string"] to ["integer"]'
    ]
    with pytest.raises(JsonSchemaError, match="nested more than 64 levels deep"):
        p(obj({"a": deep}))


def test_long_ref_chains_are_reported_not_crashed() -> None:
    definitions = {f"d{i}": obj({"n": {"$ref": f"#/definitions/d{i + 1}"}}) for i in range(300)}
    old = p(_with_definitions({"$ref": "#/definitions/d0"}, **definitions, d300=S))
    new = p(_with_definitions({"$ref": "#/definitions/d0"}, **definitions, d300=INT))
    assert can_read(new, old) == [
        "#: the schemas nest more than 100 levels deep to compare; treated as incompatible"
    ]


def test_dependencies_may_mix_schemas_and_property_lists() -> None:
    """A schema dependency before a property-list one (referencing 0.37 trips on this)."""
    mixed = obj({"a": S, "b": S}, dependencies={"a": obj({"c": S}), "b": ["a"]})
    assert can_read(p(mixed), p(mixed)) == []
    p({"$id": "https://example.com/s.json", **mixed})


def test_non_text_input_raises_json_schema_error() -> None:
    with pytest.raises(JsonSchemaError):
        parse_json_schema(None)  # type: ignore[arg-type]
    with pytest.raises(JsonSchemaError):
        parse_json_schema("{}", references={"a.json": 1})  # type: ignore[dict-item]
    with pytest.raises(JsonSchemaError):
        parse_json_schema("{}", references={"": "{}"})


# --- identity -----------------------------------------------------------------------------


def test_canonical_form_ignores_key_order_whitespace_and_number_spelling() -> None:
    a = parse_json_schema('{"type": "object", "properties": {"x": {"maximum": 1.0}}}')
    b = parse_json_schema('{"properties":{"x":{"maximum":1}},\n"type":"object"}')
    assert a == b
    assert a.canonical == '{"properties":{"x":{"maximum":1}},"type":"object"}'
    assert len(a.fingerprint) == 64
    assert hash(a) == hash(b)
    assert a != parse_json_schema('{"type": "object"}')


def test_can_read_rebuilds_a_hand_made_parsed_schema() -> None:
    parsed = p(obj({"a": N}))
    bare = ParsedJsonSchema(parsed.raw, parsed.canonical, parsed.fingerprint)
    assert can_read(bare, p(obj({"a": INT}))) == []
    assert can_read(p(obj({"a": INT})), bare) != []


# --- properties that hold for any schema ---------------------------------------------------

_KEYWORD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "type": st.sampled_from(
        ["string", "integer", "number", "object", "array", "null", ["string", "null"]]
    ),
    "maxLength": st.integers(0, 5),
    "minimum": st.integers(-3, 3),
    "multipleOf": st.sampled_from([1, 2, 0.5]),
    "enum": st.lists(
        st.one_of(st.integers(0, 3), st.sampled_from(["a", "b"])),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    "required": st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True),
    "additionalProperties": st.booleans(),
    "uniqueItems": st.booleans(),
    "pattern": st.sampled_from(["^a", "b$"]),
}


def _schemas() -> st.SearchStrategy[Any]:
    leaves = st.builds(
        dict, st.dictionaries(st.sampled_from(sorted(_KEYWORD_VALUES)), st.just(None), max_size=3)
    ).flatmap(lambda d: st.fixed_dictionaries({k: _KEYWORD_VALUES[k] for k in d}))
    return st.recursive(
        st.one_of(leaves, st.booleans()),
        lambda children: st.one_of(
            st.fixed_dictionaries(
                {"properties": st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2)}
            ),
            st.fixed_dictionaries({"anyOf": st.lists(children, min_size=1, max_size=3)}),
            st.fixed_dictionaries({"allOf": st.lists(children, min_size=1, max_size=2)}),
            st.fixed_dictionaries({"items": children}),
            st.fixed_dictionaries({"not": children}),
        ),
        max_leaves=6,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_schemas(), _schemas())
def test_every_schema_reads_itself_and_comparisons_never_raise(a: Any, b: Any) -> None:
    first, second = p(a), p(b)
    assert can_read(first, first) == []
    assert isinstance(can_read(first, second), list)


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=60)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(["type", "$ref", "items", "properties", "enum", "x"]), c, max_size=3
            )
        ),
    ).map(json.dumps)
)
def test_arbitrary_text_parses_or_raises_json_schema_error(text: str) -> None:
    try:
        parsed = parse_json_schema(text)
    except JsonSchemaError:
        return
    assert can_read(parsed, parsed) == []
