"""Avro parsing, canonical form and resolution, case by case from the specification.

Each resolution case is (writer, reader, expected): None when data written with the writer
schema can be read with the reader schema, else a substring of the message (with its path).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastavro.schema import to_parsing_canonical_form

from streamplane.registry.compat import (
    LEVELS,
    AvroSchemaError,
    ParsedAvro,
    can_read,
    check_compatibility,
    parse_avro,
)


def p(schema: Any, **references: Any) -> ParsedAvro:
    refs = {name.replace("__", "."): json.dumps(s) for name, s in references.items()}
    return parse_avro(json.dumps(schema), references=refs or None)


def f(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **extra}


def rec(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def enum(name: str, *symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": list(symbols), **extra}


def fixed(name: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"type": "fixed", "name": name, "size": size, **extra}


def arr(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items}


def mp(values: Any) -> dict[str, Any]:
    return {"type": "map", "values": values}


def one(name: str, type_: Any, **extra: Any) -> dict[str, Any]:
    """A record R with one field: most cases are about a single field's type."""
    return rec("R", f(name, type_, **extra))


def dec(precision: int, scale: int) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}


LONG_LIST = rec("LongList", f("value", "long"), f("next", ["null", "LongList"], default=None))

# One case per line, as a table (fmt: off): name, writer, reader, expected.
# fmt: off
CASES: list[tuple[str, Any, Any, str | None]] = [
    # --- primitives: same type, and the spec's promotions ---------------------------------
    ("int reads int", "int", "int", None),
    ("int promotes to long", "int", "long", None),
    ("int promotes to float", "int", "float", None),
    ("int promotes to double", "int", "double", None),
    ("long promotes to float", "long", "float", None),
    ("long promotes to double", "long", "double", None),
    ("float promotes to double", "float", "double", None),
    ("string promotes to bytes", "string", "bytes", None),
    ("bytes promotes to string", "bytes", "string", None),
    ("null reads null", "null", "null", None),
    ("boolean reads boolean", "boolean", "boolean", None),
    ("simple and object primitive forms", "string", {"type": "string"}, None),
    ("long does not narrow to int", "long", "int", "/: writer type long cannot be promoted to reader type int"),
    ("double does not narrow to float", "double", "float", "/: writer type double cannot be promoted to reader type float"),
    ("float does not become long", "float", "long", "writer type float cannot be promoted to reader type long"),
    ("long does not become int via double", "double", "long", "writer type double cannot be promoted to reader type long"),
    ("int is not a string", "int", "string", "writer type int cannot be promoted to reader type string"),
    ("boolean is not an int", "boolean", "int", "writer type boolean cannot be promoted to reader type int"),
    ("null is not a string", "null", "string", "writer type null cannot be promoted to reader type string"),
    ("bytes do not become long", "bytes", "long", "writer type bytes cannot be promoted to reader type long"),
    # --- records: fields matched by name, recursively resolved ------------------------------
    ("field promoted int to long", one("amount", "int"), one("amount", "long"), None),
    ("field narrowed long to int", one("amount", "long"), one("amount", "int"), "/fields/amount: writer type long cannot be promoted to reader type int"),
    ("reader adds field with default", one("id", "long"), rec("R", f("id", "long"), f("currency", "string", default="EUR")), None),
    ("reader adds field without default", one("id", "long"), rec("R", f("id", "long"), f("currency", "string")), "/fields/currency: reader field has no default and is missing from the writer"),
    ("writer's extra field is ignored", rec("R", f("id", "long"), f("note", "string")), one("id", "long"), None),
    ("fields may be reordered", rec("R", f("a", "int"), f("b", "string")), rec("R", f("b", "string"), f("a", "int")), None),
    ("reader field alias renames writer field", one("amount", "long"), one("total", "long", aliases=["amount"]), None),
    ("writer field aliases do not rename", one("amount", "long", aliases=["total"]), one("total", "long"), "/fields/total: reader field has no default and is missing from the writer"),
    ("alias match still resolves the types", one("amount", "long"), one("total", "int", aliases=["amount"]), "/fields/total: writer type long cannot be promoted to reader type int"),
    ("reader null default for missing union field", one("id", "long"), rec("R", f("id", "long"), f("email", ["null", "string"], default=None)), None),
    ("record names must match", one("a", "int"), rec("Other", f("a", "int")), "/: writer record R does not match reader record Other"),
    ("reader record alias renames writer record", rec("Old", f("a", "int")), rec("New", f("a", "int"), aliases=["Old"]), None),
    ("unqualified names match across namespaces", rec("R", f("a", "int"), namespace="a"), rec("R", f("a", "int"), namespace="b"), None),
    ("fully qualified reader alias", rec("Old", f("a", "int"), namespace="x"), rec("New", f("a", "int"), namespace="y", aliases=["x.Old"]), None),
    ("relative alias is in the type's namespace", rec("Old", f("a", "int"), namespace="x"), rec("New", f("a", "int"), namespace="x", aliases=["Old"]), None),
    ("writer record alias does not rename", rec("Old", f("a", "int"), aliases=["New"]), rec("New", f("a", "int")), "writer record Old does not match reader record New"),
    ("nested record path", rec("R", f("customer", rec("C", f("id", "long")))), rec("R", f("customer", rec("C", f("id", "int")))), "/fields/customer/fields/id: writer type long cannot be promoted to reader type int"),
    ("nested record missing field", rec("R", f("customer", rec("C", f("id", "long")))), rec("R", f("customer", rec("C", f("id", "long"), f("vip", "boolean")))), "/fields/customer/fields/vip: reader field has no default"),
    ("record is not a map", one("x", rec("C", f("id", "long"))), one("x", mp("long")), "/fields/x: writer type record C does not match reader type map of long"),
    ("record reads nothing from an int", "int", one("a", "int"), "/: writer type int does not match reader type record R"),
    ("nested named types in different namespaces", rec("R", f("e", enum("E", "A")), namespace="a"), rec("R", f("e", enum("E", "A")), namespace="b"), None),
    # --- enums ---------------------------------------------------------------------------
    ("same enum", one("s", enum("Suit", "SPADES", "HEARTS")), one("s", enum("Suit", "SPADES", "HEARTS")), None),
    ("reader adds a symbol", one("s", enum("Suit", "SPADES")), one("s", enum("Suit", "SPADES", "HEARTS")), None),
    ("symbols may be reordered", one("s", enum("Suit", "A", "B")), one("s", enum("Suit", "B", "A")), None),
    ("writer symbol unknown to reader without default", one("s", enum("Suit", "SPADES", "CLUBS")), one("s", enum("Suit", "SPADES")), "/fields/s: writer enum symbols CLUBS are not in reader enum Suit, which has no default"),
    ("writer symbol unknown to reader with enum default", one("s", enum("Suit", "SPADES", "CLUBS")), one("s", enum("Suit", "UNKNOWN", "SPADES", default="UNKNOWN")), None),
    ("field default does not stand in for enum default", one("s", enum("Suit", "SPADES", "CLUBS")), one("s", enum("Suit", "SPADES"), default="SPADES"), "writer enum symbols CLUBS are not in reader enum Suit"),
    ("enum names must match", one("s", enum("Suit", "A")), one("s", enum("Colour", "A")), "/fields/s: writer enum Suit does not match reader enum Colour"),
    ("reader enum alias", one("s", enum("Suit", "A")), one("s", enum("Colour", "A", aliases=["Suit"])), None),
    ("enum is not a string", one("s", enum("Suit", "A")), one("s", "string"), "/fields/s: writer type enum Suit does not match reader type string"),
    # --- fixed ---------------------------------------------------------------------------
    ("same fixed", one("h", fixed("md5", 16)), one("h", fixed("md5", 16)), None),
    ("fixed sizes must match", one("h", fixed("md5", 16)), one("h", fixed("md5", 8)), "/fields/h: writer fixed md5 has size 16 but reader fixed md5 has size 8"),
    ("fixed names must match", one("h", fixed("md5", 16)), one("h", fixed("hash", 16)), "/fields/h: writer fixed md5 (size 16) does not match reader fixed hash (size 16)"),
    ("reader fixed alias", one("h", fixed("md5", 16)), one("h", fixed("hash", 16, aliases=["md5"])), None),
    ("fixed is not bytes", one("h", fixed("md5", 16)), one("h", "bytes"), "/fields/h: writer type fixed md5 (size 16) does not match reader type bytes"),
    ("bytes are not fixed", one("h", "bytes"), one("h", fixed("md5", 16)), "writer type bytes does not match reader type fixed md5"),
    # --- arrays and maps -----------------------------------------------------------------
    ("array items promote", one("xs", arr("int")), one("xs", arr("long")), None),
    ("array items must resolve", one("xs", arr("long")), one("xs", arr("int")), "/fields/xs/items: writer type long cannot be promoted to reader type int"),
    ("array of records resolves fields", one("xs", arr(rec("I", f("a", "int")))), one("xs", arr(rec("I", f("a", "int"), f("b", "int")))), "/fields/xs/items/fields/b: reader field has no default"),
    ("map values promote", one("m", mp("int")), one("m", mp("double")), None),
    ("map values must resolve", one("m", mp("string")), one("m", mp("int")), "/fields/m/values: writer type string cannot be promoted to reader type int"),
    ("array is not a map", one("m", arr("int")), one("m", mp("int")), "/fields/m: writer type array of int does not match reader type map of int"),
    ("nested arrays", one("m", arr(arr("int"))), one("m", arr(arr("float"))), None),
    # --- unions --------------------------------------------------------------------------
    ("writer type into reader union", one("x", "int"), one("x", ["null", "int"]), None),
    ("writer type promoted into reader union", one("x", "int"), one("x", ["null", "long"]), None),
    ("writer type matches no reader branch", one("x", "int"), one("x", ["null", "string"]), "/fields/x: writer type int matches no branch of reader union [null, string]"),
    ("writer union into wider reader union", one("x", ["null", "int"]), one("x", ["null", "int", "string"]), None),
    ("writer union branch missing from reader union", one("x", ["null", "int", "string"]), one("x", ["null", "int"]), "/fields/x: writer type string matches no branch of reader union [null, int]"),
    ("union branches may be reordered", one("x", ["string", "null"]), one("x", ["null", "string"]), None),
    ("writer union into non-union reader fails on null", one("x", ["null", "int"]), one("x", "int"), "/fields/x: writer type null (a branch of the writer's union) cannot be promoted to reader type int"),
    ("every writer branch promotes to reader", one("x", ["int", "long"]), one("x", "double"), None),
    ("writer union into its widest member", one("x", ["int", "long"]), one("x", "long"), None),
    ("one writer branch cannot be promoted", one("x", ["int", "long"]), one("x", "int"), "/fields/x: writer type long (a branch of the writer's union) cannot be promoted to reader type int"),
    ("union branches resolve by promotion", one("x", ["null", "string"]), one("x", ["null", "bytes"]), None),
    ("union of records gains defaulted field", one("x", [rec("A", f("a", "int")), rec("B", f("b", "int"))]), one("x", [rec("A", f("a", "int")), rec("B", f("b", "int"), f("c", "int", default=0))]), None),
    ("union record branch loses match", one("x", ["null", rec("A", f("a", "int"))]), one("x", ["null", rec("Z", f("a", "int"))]), "writer type record A matches no branch of reader union [null, Z]"),
    ("union record branch found, then resolved", one("x", ["null", rec("A", f("a", "long"))]), one("x", ["null", rec("A", f("a", "int"))]), "/fields/x/fields/a: writer type long cannot be promoted to reader type int"),
    ("exact full name wins over an earlier unqualified match", one("x", rec("Foo", f("a", "int"), namespace="a")), one("x", [rec("Foo", f("a", "int"), f("b", "int"), namespace="b"), rec("Foo", f("a", "int"), namespace="a")]), None),
    ("exact type wins over an earlier promotion", one("x", "int"), one("x", ["long", "int"]), None),
    ("array into reader union", one("x", arr("int")), one("x", ["null", arr("long")]), None),
    # --- recursive named types -----------------------------------------------------------
    ("recursive type reads itself", LONG_LIST, LONG_LIST, None),
    ("recursive type gains defaulted field", LONG_LIST, rec("LongList", f("value", "long"), f("next", ["null", "LongList"], default=None), f("tag", "string", default="")), None),
    ("recursive type narrows", LONG_LIST, rec("LongList", f("value", "int"), f("next", ["null", "LongList"], default=None)), "/fields/value: writer type long cannot be promoted to reader type int"),
    ("mutually recursive types", rec("A", f("b", ["null", rec("B", f("a", ["null", "A"]))])), rec("A", f("b", ["null", rec("B", f("a", ["null", "A"]))])), None),
    # --- logical types: the underlying type decides, decimals need equal precision and scale
    ("date is an int", one("d", "int"), one("d", {"type": "int", "logicalType": "date"}), None),
    ("timestamp units are not checked", one("t", {"type": "long", "logicalType": "timestamp-millis"}), one("t", {"type": "long", "logicalType": "timestamp-micros"}), None),
    ("uuid is a string", one("u", {"type": "string", "logicalType": "uuid"}), one("u", "bytes"), None),
    ("unknown logical type is ignored", one("u", {"type": "string", "logicalType": "fancy"}), one("u", "string"), None),
    ("decimal reads plain bytes", one("a", dec(10, 2)), one("a", "bytes"), None),
    ("same decimal", one("a", dec(10, 2)), one("a", dec(10, 2)), None),
    ("decimal scales must match", one("a", dec(10, 2)), one("a", dec(10, 3)), "/fields/a: writer decimal(10,2) does not match reader decimal(10,3)"),
    ("fixed decimals must match", one("a", {**fixed("d", 8), "logicalType": "decimal", "precision": 10, "scale": 2}), one("a", {**fixed("d", 8), "logicalType": "decimal", "precision": 12, "scale": 2}), "writer decimal(10,2) does not match reader decimal(12,2)"),
    ("date does not narrow long", one("d", "long"), one("d", {"type": "int", "logicalType": "date"}), "writer type long cannot be promoted to reader type int"),
]
# fmt: on


@pytest.mark.parametrize(
    ("writer", "reader", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_resolution(writer: Any, reader: Any, expected: str | None) -> None:
    messages = can_read(p(reader), p(writer))
    if expected is None:
        assert messages == []
    else:
        assert any(expected in m for m in messages), messages


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


def test_every_problem_is_reported() -> None:
    writer = rec("R", f("amount", "long"), f("id", "long"))
    reader = rec("R", f("amount", "int"), f("id", "long"), f("currency", "string"))
    assert can_read(p(reader), p(writer)) == [
        "/fields/amount: writer type long cannot be promoted to reader type int",
        "/fields/currency: reader field has no default and is missing from the writer",
    ]


def test_a_problem_in_a_shared_type_is_reported_once() -> None:
    address = rec("Address", f("zip", "long"))
    writer = rec("R", f("home", address), f("work", "Address"))
    reader = rec("R", f("home", rec("Address", f("zip", "int"))), f("work", "Address"))
    assert can_read(p(reader), p(writer)) == [
        "/fields/home/fields/zip: writer type long cannot be promoted to reader type int"
    ]


# --- compatibility levels ----------------------------------------------------------------

# Each history passes the non-transitive level (new vs latest) and fails the transitive one
# (new vs the oldest).
HISTORIES: dict[str, list[Any]] = {
    # v3 makes b required: it reads v2 (which has b) but not v1 (which does not).
    "BACKWARD": [
        rec("R", f("a", "int")),
        rec("R", f("a", "int"), f("b", "string", default="x")),
        rec("R", f("a", "int"), f("b", "string")),
    ],
    # v3 drops b: v2 reads it (b has a default there) but v1 does not (no default).
    "FORWARD": [
        rec("R", f("a", "int"), f("b", "string")),
        rec("R", f("a", "int"), f("b", "string", default="")),
        rec("R", f("a", "int")),
    ],
    # v3 brings b back as a string: fine both ways with v2 (no b), not with v1's int b.
    "FULL": [
        rec("R", f("a", "int"), f("b", "int", default=0)),
        rec("R", f("a", "int")),
        rec("R", f("a", "int"), f("b", "string", default="")),
    ],
}


@pytest.mark.parametrize("base", sorted(HISTORIES))
def test_non_transitive_level_checks_only_the_latest(base: str) -> None:
    *existing, new = (p(s) for s in HISTORIES[base])
    assert check_compatibility(new, existing, base) == []


@pytest.mark.parametrize("base", sorted(HISTORIES))
def test_transitive_level_checks_every_version(base: str) -> None:
    *existing, new = (p(s) for s in HISTORIES[base])
    errors = check_compatibility(new, existing, f"{base}_TRANSITIVE")
    assert errors
    assert all("existing schema #1 of 2" in e for e in errors), errors


def test_backward_transitive_message_names_direction_version_and_path() -> None:
    *existing, new = (p(s) for s in HISTORIES["BACKWARD"])
    assert check_compatibility(new, existing, "BACKWARD_TRANSITIVE") == [
        "BACKWARD: the new schema cannot read data written with existing schema #1 of 2: "
        "/fields/b: reader field has no default and is missing from the writer"
    ]


def test_forward_transitive_message() -> None:
    *existing, new = (p(s) for s in HISTORIES["FORWARD"])
    assert check_compatibility(new, existing, "FORWARD_TRANSITIVE") == [
        "FORWARD: existing schema #1 of 2 cannot read data written with the new schema: "
        "/fields/b: reader field has no default and is missing from the writer"
    ]


def test_full_checks_both_directions() -> None:
    old = p(rec("R", f("a", "int")))
    new = p(rec("R", f("a", "int"), f("b", "string")))  # required b: backward fails only
    assert check_compatibility(new, [old], "FORWARD") == []
    errors = check_compatibility(new, [old], "FULL")
    assert errors == [
        "BACKWARD: the new schema cannot read data written with existing schema #1 of 1 "
        "(latest): /fields/b: reader field has no default and is missing from the writer"
    ]
    narrowed = p(rec("R", f("a", "long")))  # int -> long: backward ok, forward fails
    assert check_compatibility(narrowed, [old], "BACKWARD") == []
    assert check_compatibility(narrowed, [old], "FULL") == [
        "FORWARD: existing schema #1 of 1 (latest) cannot read data written with the new "
        "schema: /fields/a: writer type long cannot be promoted to reader type int"
    ]


def test_none_accepts_anything_and_no_history_accepts_anything() -> None:
    assert check_compatibility(p("int"), [p("string")], "NONE") == []
    for level in LEVELS:
        assert check_compatibility(p("int"), [], level) == []


def test_every_level_is_known_and_others_are_refused() -> None:
    assert LEVELS == (
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    )
    for level in LEVELS:
        check_compatibility(p("int"), [p("int")], level)
    with pytest.raises(ValueError, match="unknown compatibility level 'backward'"):
        check_compatibility(p("int"), [p("int")], "backward")


def test_transitive_reports_every_failing_version_newest_first() -> None:
    history = [p(one("a", "string")), p(one("a", "boolean")), p(one("a", "int"))]
    errors = check_compatibility(p(one("a", "long")), history, "BACKWARD_TRANSITIVE")
    assert [e.split(":")[1].strip() for e in errors] == [
        "the new schema cannot read data written with existing schema #2 of 3",
        "the new schema cannot read data written with existing schema #1 of 3",
    ]


# --- parse errors ------------------------------------------------------------------------

# fmt: off
PARSE_ERRORS: list[tuple[str, str, str]] = [
    ("bad JSON", '{"type": "record",', "not valid JSON"),
    ("duplicate JSON key", '{"type": "int", "type": "long"}', "duplicate key 'type'"),
    ("NaN", '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "double", "default": NaN}]}', "NaN is not a JSON value"),
    ("not a schema", "42", "a schema is a JSON string, object or array"),
    ("unknown primitive", '"integer"', "/: unknown type 'integer'"),
    ("unknown type keyword", '{"type": "decimal"}', "unknown type 'decimal'"),
    ("no type", '{"name": "R"}', "schema object has no 'type'"),
    ("unknown named type in field", json.dumps(one("a", "Money")), "/fields/a: unknown type 'Money'"),
    ("unknown name in namespace", json.dumps(rec("R", f("a", "Money"), namespace="shop")), "unknown type 'shop.Money' (a name without a dot is looked up in namespace 'shop')"),
    ("duplicate field names", json.dumps(rec("R", f("a", "int"), f("a", "long"))), "/fields/a: record R has more than one field 'a'"),
    ("invalid field name", json.dumps(one("a-b", "int")), "/fields/0: field name \"a-b\" is not a valid name"),
    ("invalid record name", json.dumps(rec("1R")), "invalid name '1R'"),
    ("invalid namespace", json.dumps(rec("R", namespace="com..acme")), "invalid name 'com..acme.R'"),
    ("record named after a primitive", json.dumps(rec("int")), "may not be called 'int'"),
    ("record without fields", '{"type": "record", "name": "R"}', "record R needs a 'fields' array"),
    ("record without name", '{"type": "record", "fields": []}', "record schema needs a 'name' string"),
    ("type defined twice", json.dumps(rec("R", f("a", rec("C")), f("b", rec("C")))), "/fields/b: type 'C' is defined more than once"),
    ("field without type", json.dumps(rec("R", {"name": "a"})), "/fields/a: field has no 'type'"),
    ("bad field order", json.dumps(one("a", "int", order="up")), "'order' must be one of"),
    ("bad aliases", json.dumps(one("a", "int", aliases="b")), "'aliases' must be an array of strings"),
    ("array without items", '{"type": "array"}', "array schema has no 'items'"),
    ("map without values", '{"type": "map"}', "map schema has no 'values'"),
    ("enum without symbols", '{"type": "enum", "name": "E"}', "enum E needs a 'symbols' array"),
    ("duplicate enum symbols", json.dumps(enum("E", "A", "A")), "enum E has duplicate symbols"),
    ("invalid enum symbol", json.dumps(enum("E", "A-1")), "enum symbol \"A-1\" is not a valid name"),
    ("enum default not a symbol", json.dumps(enum("E", "A", default="B")), "enum default \"B\" is not one of its symbols"),
    ("fixed without size", '{"type": "fixed", "name": "F"}', "fixed F needs a non-negative integer 'size'"),
    ("fixed negative size", json.dumps(fixed("F", -1)), "non-negative integer 'size'"),
    ("union in union", json.dumps(["null", ["int", "string"]]), "/1: a union may not immediately contain another union"),
    ("duplicate union branch", json.dumps(["int", "null", "int"]), "/2: the union already has a branch of type 'int'"),
    ("two arrays in a union", json.dumps([arr("int"), arr("long")]), "already has a branch of type 'array'"),
    ("same named type twice in a union", json.dumps([rec("A"), "A"]), "already has a branch of type 'A'"),
    ("string default for int", json.dumps(one("a", "int", default="1")), "/fields/a: default \"1\" is not valid for int: expected a JSON integer"),
    ("boolean default for int", json.dumps(one("a", "int", default=True)), "default true is not valid for int"),
    ("int default out of range", json.dumps(one("a", "int", default=2**31)), "2147483648 is out of range for int"),
    ("float default for long", json.dumps(one("a", "long", default=1.5)), "default 1.5 is not valid for long"),
    ("null default for string", json.dumps(one("a", "string", default=None)), "default null is not valid for string"),
    ("union default must match first branch", json.dumps(one("a", ["null", "string"], default="x")), "a union's default must match its first branch (null)"),
    ("enum field default not a symbol", json.dumps(one("a", enum("E", "A"), default="B")), "expected one of the symbols A"),
    ("fixed default wrong length", json.dumps(one("a", fixed("F", 2), default="abc")), "expected exactly 2 bytes, got 3"),
    ("bytes default out of byte range", json.dumps(one("a", "bytes", default="\u0100")), "bytes defaults map characters"),
    ("array default item", json.dumps(one("a", arr("int"), default=[1, "2"])), "item 1: expected a JSON integer"),
    ("map default value", json.dumps(one("a", mp("int"), default={"k": "v"})), "value 'k': expected a JSON integer"),
    ("record default missing field", json.dumps(one("a", rec("C", f("x", "int")), default={})), "field 'x' is missing and has no default of its own"),
    ("record default wrong field", json.dumps(one("a", rec("C", f("x", "int")), default={"x": "1"})), "field 'x': expected a JSON integer"),
    ("fastavro's second opinion", json.dumps(dec(2, 5)), "decimal scale must be less than or equal to the precision"),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in PARSE_ERRORS], ids=[c[0] for c in PARSE_ERRORS]
)
def test_parse_errors(text: str, expected: str) -> None:
    with pytest.raises(AvroSchemaError) as caught:
        parse_avro(text)
    assert expected in str(caught.value)
    assert str(caught.value).startswith("invalid Avro schema")


VALID_DEFAULTS: list[tuple[Any, Any]] = [
    ("null", None),
    ("boolean", False),
    ("int", -(2**31)),
    ("long", 2**63 - 1),
    ("float", 1),
    ({"type": "double"}, 0),  # fastavro alone rejects this valid default
    ("double", 1.5),
    ("bytes", "\u00ff"),
    ("string", "foo"),
    (["null", "string"], None),
    (["string", "null"], "x"),
    (enum("E", "A", "B"), "B"),
    (fixed("F", 2), "\u00ff\u0000"),
    (arr("int"), [1, 2]),
    (mp("long"), {"a": 1}),
    (rec("C", f("x", "int"), f("y", "int", default=0)), {"x": 1}),
    (LONG_LIST, {"value": 1, "next": None}),
]


@pytest.mark.parametrize(
    ("type_", "default"), VALID_DEFAULTS, ids=[json.dumps(d) for _, d in VALID_DEFAULTS]
)
def test_valid_defaults_are_accepted(type_: Any, default: Any) -> None:
    p(one("a", type_, default=default))


def test_absurd_nesting_is_refused_not_crashed() -> None:
    with pytest.raises(AvroSchemaError, match="nested too deeply"):
        parse_avro('{"type": "array", "items": ' * 5000 + '"int"' + "}" * 5000)


def test_schema_error_is_a_value_error() -> None:
    assert issubclass(AvroSchemaError, ValueError)


# --- canonical form and dedup ------------------------------------------------------------

ORDER = rec(
    "Order",
    f("id", "long", doc="the id"),
    f("amount", dec(10, 2)),
    f("status", enum("Status", "NEW", "PAID", default="NEW")),
    f("lines", arr(rec("Line", f("sku", "string"), f("qty", "int", default=1)))),
    f("attrs", mp(["null", "string"])),
    f("hash", fixed("md5", 16)),
    f("next", ["null", "Order"], default=None),
    namespace="com.acme",
    doc="An order.",
    aliases=["Purchase"],
)


def test_canonical_form_matches_fastavro() -> None:
    schemas: list[Any] = [
        ORDER,
        LONG_LIST,
        "int",
        {"type": "string"},
        ["null", ORDER],
        arr(mp(fixed("F", 1))),
    ]
    for schema in schemas:
        assert p(schema).canonical == to_parsing_canonical_form(schema)


def test_canonical_form_is_the_spec_form() -> None:
    parsed = p(rec("R", f("e", enum("E", "A")), namespace="n", doc="d"))
    assert parsed.canonical == (
        '{"name":"n.R","type":"record","fields":[{"name":"e","type":'
        '{"name":"n.E","type":"enum","symbols":["A"]}}]}'
    )


def test_whitespace_attribute_order_doc_and_namespace_style_do_not_matter() -> None:
    compact = parse_avro(json.dumps(ORDER, separators=(",", ":")))
    spread = parse_avro(json.dumps(ORDER, indent=4, sort_keys=True))
    undocumented = json.loads(json.dumps(ORDER))
    del undocumented["doc"], undocumented["aliases"]
    undocumented["fields"][0].pop("doc")
    undocumented["name"] = "com.acme.Order"
    undocumented.pop("namespace")
    stripped = p(undocumented)
    assert compact.canonical == spread.canonical == stripped.canonical
    assert compact.fingerprint == spread.fingerprint == stripped.fingerprint
    assert compact == spread  # raw JSON values are equal too; the text is not kept
    assert compact != stripped


def test_canonical_form_tells_real_differences_apart() -> None:
    base = p(rec("R", f("a", "int"), f("b", "int")))
    assert base.fingerprint != p(rec("R", f("b", "int"), f("a", "int"))).fingerprint
    assert base.fingerprint != p(rec("R", f("a", "int"), f("b", "long"))).fingerprint
    assert base.fingerprint != p(rec("R", f("a", "int"), f("b", "int"), namespace="x")).fingerprint


def test_fingerprint_is_sha256_of_the_canonical_form() -> None:
    import hashlib

    parsed = p(ORDER)
    assert parsed.fingerprint == hashlib.sha256(parsed.canonical.encode()).hexdigest()
    assert len(parsed.fingerprint) == 64


def test_a_parsed_avro_built_by_hand_still_resolves() -> None:
    full = p(one("a", "long"))
    bare = ParsedAvro(raw=full.raw, canonical=full.canonical, fingerprint=full.fingerprint)
    assert bare == full
    assert can_read(p(one("a", "int")), bare) == [
        "/fields/a: writer type long cannot be promoted to reader type int"
    ]


def test_raw_is_the_json_value() -> None:
    assert p("int").raw == "int"
    assert p(["null", "int"]).raw == ["null", "int"]
    assert p(ORDER).raw == ORDER


# --- schema references -------------------------------------------------------------------

ADDRESS = rec("Address", f("zip", "string"), f("country", "com.acme.Country"), namespace="com.acme")
COUNTRY = enum("Country", "NL", "BE", namespace="com.acme")


def test_references_resolve_by_full_name_in_any_order() -> None:
    person = rec("Person", f("home", "com.acme.Address"))
    parsed = p(person, com__acme__Address=ADDRESS, com__acme__Country=COUNTRY)
    assert parsed.canonical == (
        '{"name":"Person","type":"record","fields":[{"name":"home","type":"com.acme.Address"}]}'
    )
    union = p(
        ["com.acme.Address", "com.acme.Country"],
        com__acme__Address=ADDRESS,
        com__acme__Country=COUNTRY,
    )
    assert union.canonical == '["com.acme.Address","com.acme.Country"]'


def test_referenced_types_take_part_in_resolution() -> None:
    narrowed = enum("Country", "NL", namespace="com.acme")
    person = rec("Person", f("home", "com.acme.Address"))
    writer = p(person, com__acme__Address=ADDRESS, com__acme__Country=COUNTRY)
    reader = p(person, com__acme__Address=ADDRESS, com__acme__Country=narrowed)
    assert can_read(reader, writer) == [
        "/fields/home/fields/country: writer enum symbols BE are not in reader enum "
        "com.acme.Country, which has no default"
    ]


def test_missing_reference_is_an_error() -> None:
    with pytest.raises(
        AvroSchemaError, match=r"reference 'com.acme.Address'.*unknown type 'com.acme.Country'"
    ):
        p(rec("P", f("a", "com.acme.Address")), com__acme__Address=ADDRESS)
    with pytest.raises(AvroSchemaError, match=r"/fields/a: unknown type 'com.acme.Address'"):
        p(rec("P", f("a", "com.acme.Address")))


def test_invalid_reference_and_redefinition_are_errors() -> None:
    with pytest.raises(AvroSchemaError, match=r"reference 'bad': .*not valid JSON"):
        parse_avro('"int"', references={"bad": "{"})
    with pytest.raises(AvroSchemaError, match=r"type 'com.acme.Country' is defined more than once"):
        p(rec("P", f("c", COUNTRY)), com__acme__Country=COUNTRY)
