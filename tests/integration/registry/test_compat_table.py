"""The compatibility table: every scenario under all seven levels, checked two ways.

Each scenario states only facts taken from the format's specification: whether the new
schema can read data written with each existing schema (``reads_old``), and whether each
existing schema can read data written with the new one (``old_reads``). What a level then
requires is Confluent's definition (BACKWARD: new reads latest; FORWARD: latest reads new;
FULL: both; *_TRANSITIVE: against every existing version). Every (scenario, level) pair is
checked through ``POST /compatibility/...`` and through registration (409 or a new id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from streamplane.local import LocalCluster
from tests.integration.conftest import next_http_port
from tests.integration.registry.serving import serve

LEVELS = (
    "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
    "FULL_TRANSITIVE",
)  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    name: str
    schema_type: str
    history: tuple[str, ...]  # oldest first
    new: str
    reads_old: tuple[bool, ...]  # new schema reads data of history[i]
    old_reads: tuple[bool, ...]  # history[i] reads data of the new schema

    def expected(self, level: str) -> bool:
        backward = {"": self.reads_old[-1], "_TRANSITIVE": all(self.reads_old)}
        forward = {"": self.old_reads[-1], "_TRANSITIVE": all(self.old_reads)}
        if level == "NONE":
            return True
        base, _, rest = level.partition("_")
        suffix = "_" + rest if rest else ""
        if base == "BACKWARD":
            return backward[suffix]
        if base == "FORWARD":
            return forward[suffix]
        return backward[suffix] and forward[suffix]


def record(*fields: dict[str, object], name: str = "Payment", **extra: object) -> str:
    return json.dumps(
        {"type": "record", "name": name, "namespace": "ex", "fields": list(fields), **extra}
    )


def f(name: str, type_: object, **extra: object) -> dict[str, object]:
    return {"name": name, "type": type_, **extra}


def enum(*symbols: str, **extra: object) -> dict[str, object]:
    return {"type": "enum", "name": "Status", "symbols": list(symbols), **extra}


def avro(
    name: str, history: list[str], new: str, reads_old: list[bool], old_reads: list[bool]
) -> Scenario:
    return Scenario(name, "AVRO", tuple(history), new, tuple(reads_old), tuple(old_reads))


ID = f("id", "string")
# Facts from the Avro specification, "Schema Resolution".
AVRO = [
    avro(
        "add-field-with-default",
        [record(ID)],
        record(ID, f("note", "string", default="")),
        [True],
        [True],
    ),
    # The new reader finds no value and no default for the added field.
    avro(
        "add-field-without-default", [record(ID)], record(ID, f("note", "string")), [False], [True]
    ),
    # The old reader fills the removed field from its own default.
    avro(
        "remove-field-with-default",
        [record(ID, f("note", "string", default=""))],
        record(ID),
        [True],
        [True],
    ),
    avro(
        "remove-field-without-default",
        [record(ID, f("note", "string"))],
        record(ID),
        [True],
        [False],
    ),
    # int is promotable to long, float and double; not the reverse.
    avro("promote-int-to-long", [record(f("n", "int"))], record(f("n", "long")), [True], [False]),
    avro("narrow-long-to-int", [record(f("n", "long"))], record(f("n", "int")), [False], [True]),
    avro(
        "promote-float-to-double",
        [record(f("x", "float"))],
        record(f("x", "double")),
        [True],
        [False],
    ),
    avro(
        "promote-long-to-float", [record(f("x", "long"))], record(f("x", "float")), [True], [False]
    ),
    # string and bytes are promotable to each other.
    avro("string-to-bytes", [record(f("b", "string"))], record(f("b", "bytes")), [True], [True]),
    avro("int-to-string", [record(f("n", "int"))], record(f("n", "string")), [False], [False]),
    # A writer symbol the reader lacks fails unless the reader's enum has a default.
    avro(
        "enum-add-symbol",
        [record(f("s", enum("A", "B")))],
        record(f("s", enum("A", "B", "C"))),
        [True],
        [False],
    ),
    avro(
        "enum-add-symbol-old-has-default",
        [record(f("s", enum("A", "B", "U", default="U")))],
        record(f("s", enum("A", "B", "U", "C", default="U"))),
        [True],
        [True],
    ),
    avro(
        "enum-remove-symbol",
        [record(f("s", enum("A", "B", "C")))],
        record(f("s", enum("A", "B"))),
        [False],
        [True],
    ),
    # Aliases let the reader match a writer's field or type by its old name.
    avro(
        "rename-field-with-alias",
        [record(f("a", "int"))],
        record(f("b", "int", aliases=["a"])),
        [True],
        [False],
    ),
    avro(
        "rename-field-without-alias",
        [record(f("a", "int"))],
        record(f("b", "int")),
        [False],
        [False],
    ),
    avro(
        "rename-record-with-alias",
        [record(ID)],
        record(ID, name="Payment2", aliases=["ex.Payment"]),
        [True],
        [False],
    ),
    avro(
        "rename-record-without-alias", [record(ID)], record(ID, name="Payment2"), [False], [False]
    ),
    # Fixed types must agree on size (and name).
    avro(
        "fixed-size-change",
        [record(f("h", {"type": "fixed", "name": "H", "size": 16}))],
        record(f("h", {"type": "fixed", "name": "H", "size": 32})),
        [False],
        [False],
    ),
    # A union reader reads any writer branch it can resolve; a non-union reader must
    # resolve every branch of a union writer.
    avro(
        "widen-to-nullable-union",
        [record(f("n", "int"))],
        record(f("n", ["null", "int"], default=None)),
        [True],
        [False],
    ),
    avro(
        "union-add-branch",
        [record(f("v", ["null", "int"]))],
        record(f("v", ["null", "int", "string"])),
        [True],
        [False],
    ),
    avro(
        "array-items-promoted",
        [record(f("a", {"type": "array", "items": "int"}))],
        record(f("a", {"type": "array", "items": "long"})),
        [True],
        [False],
    ),
    avro(
        "map-values-changed",
        [record(f("m", {"type": "map", "values": "string"}))],
        record(f("m", {"type": "map", "values": "int"})),
        [False],
        [False],
    ),
    # Transitive levels: fine against the latest, not against an older version.
    avro(
        "transitive-backward-breaks-on-v1",
        [record(ID), record(ID, f("b", "string", default=""))],
        record(ID, f("b", "string")),
        [False, True],
        [True, True],
    ),
    avro(
        "transitive-forward-breaks-on-v1",
        [record(ID, f("b", "string")), record(ID, f("b", "string", default=""))],
        record(ID),
        [True, True],
        [False, True],
    ),
]


def proto(body: str, *, package: str = "shop", syntax: str = "proto3") -> str:
    return f'syntax = "{syntax}";\npackage {package};\n{body}\n'


def order(*fields: str, extra: str = "") -> str:
    return proto("message Order {\n  " + "\n  ".join(fields) + "\n}\n" + extra)


def pb(
    name: str, history: list[str], new: str, reads_old: list[bool], old_reads: list[bool]
) -> Scenario:
    return Scenario(name, "PROTOBUF", tuple(history), new, tuple(reads_old), tuple(old_reads))


ITEM = "message Item {\n  string sku = 1;\n}"
NOTE = "message Note {\n  string text = 1;\n}"
# Facts from Confluent's Protobuf rules: fields are matched by number; a change is judged
# by the wire format (int32/uint32/int64/uint64/bool share varint encoding, sint32/sint64
# zigzag, fixed32/sfixed32, fixed64/sfixed64, string/bytes); names are not on the wire.
PROTOBUF = [
    pb(
        "add-field",
        [order("string id = 1;")],
        order("string id = 1;", "int64 amount = 2;"),
        [True],
        [True],
    ),
    pb(
        "remove-field",
        [order("string id = 1;", "int64 amount = 2;")],
        order("string id = 1;"),
        [True],
        [True],
    ),
    pb("rename-field", [order("string id = 1;")], order("string order_id = 1;"), [True], [True]),
    pb("int32-to-int64", [order("int32 n = 1;")], order("int64 n = 1;"), [True], [True]),
    pb("uint64-to-bool", [order("uint64 n = 1;")], order("bool n = 1;"), [True], [True]),
    pb("sint32-to-int32", [order("sint32 n = 1;")], order("int32 n = 1;"), [False], [False]),
    pb("fixed32-to-sfixed32", [order("fixed32 n = 1;")], order("sfixed32 n = 1;"), [True], [True]),
    pb("fixed32-to-fixed64", [order("fixed32 n = 1;")], order("fixed64 n = 1;"), [False], [False]),
    pb("string-to-bytes", [order("string b = 1;")], order("bytes b = 1;"), [True], [True]),
    pb("int32-to-string", [order("int32 n = 1;")], order("string n = 1;"), [False], [False]),
    pb(
        "scalar-to-message",
        [order("string item = 1;", extra=ITEM)],
        order("Item item = 1;", extra=ITEM),
        [False],
        [False],
    ),
    pb(
        "message-type-changed",
        [order("Item x = 1;", extra=ITEM + "\n" + NOTE)],
        order("Note x = 1;", extra=ITEM + "\n" + NOTE),
        [False],
        [False],
    ),
    # Removing a message breaks readers that use it; adding one is the reverse.
    pb(
        "remove-message",
        [order("string id = 1;", extra=ITEM)],
        order("string id = 1;"),
        [False],
        [True],
    ),
    pb(
        "add-message",
        [order("string id = 1;")],
        order("string id = 1;", extra=ITEM),
        [True],
        [False],
    ),
    pb(
        "package-changed",
        [order("string id = 1;")],
        proto("message Order {\n  string id = 1;\n}", package="store"),
        [False],
        [False],
    ),
    pb(
        "enum-add-value",
        [order("Status s = 1;", extra="enum Status {\n  NEW = 0;\n  PAID = 1;\n}")],
        order("Status s = 1;", extra="enum Status {\n  NEW = 0;\n  PAID = 1;\n  VOID = 2;\n}"),
        [True],
        [True],
    ),
    pb(
        "field-into-new-oneof",
        [order("string a = 1;")],
        order("oneof pick {\n    string a = 1;\n  }"),
        [True],
        [True],
    ),
    pb(
        "two-fields-into-new-oneof",
        [order("string a = 1;", "string b = 2;")],
        order("oneof pick {\n    string a = 1;\n    string b = 2;\n  }"),
        [False],
        [True],
    ),
    pb(
        "field-into-existing-oneof",
        [order("string b = 2;", "oneof pick {\n    string a = 1;\n  }")],
        order("oneof pick {\n    string a = 1;\n    string b = 2;\n  }"),
        [False],
        [True],
    ),
    pb(
        "proto2-add-required",
        [proto("message Order {\n  optional string id = 1;\n}", syntax="proto2")],
        proto(
            "message Order {\n  optional string id = 1;\n  required int64 n = 2;\n}",
            syntax="proto2",
        ),
        [False],
        [False],
    ),
    pb(
        "transitive-message-removed-two-versions-ago",
        [order("string id = 1;", extra=ITEM), order("string id = 1;")],
        order("string id = 1;", "int64 amount = 2;"),
        [False, True],
        [True, True],
    ),
]


def obj(
    props: dict[str, object],
    *,
    required: list[str] | None = None,
    closed: bool | None = None,
    draft: str = "http://json-schema.org/draft-07/schema#",
) -> str:
    schema: dict[str, object] = {"$schema": draft, "type": "object", "properties": props}
    if required:
        schema["required"] = required
    if closed is not None:
        schema["additionalProperties"] = not closed
    return json.dumps(schema)


def js(
    name: str, history: list[str], new: str, reads_old: list[bool], old_reads: list[bool]
) -> Scenario:
    return Scenario(name, "JSON", tuple(history), new, tuple(reads_old), tuple(old_reads))


STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema"
# A reader "reads" a writer's data when every document valid under the writer's schema is
# valid under the reader's (Confluent's JSON Schema rules, content models included: an open
# model admits any value for a property it does not declare, a closed one admits none).
JSON = [
    js(
        "closed-add-optional-property",
        [obj({"id": STR}, closed=True)],
        obj({"id": STR, "note": STR}, closed=True),
        [True],
        [False],
    ),
    js(
        "open-add-typed-property",
        [obj({"id": STR}, closed=False)],
        obj({"id": STR, "note": STR}, closed=False),
        [False],
        [True],
    ),
    js("open-remove-property", [obj({"id": STR, "note": STR})], obj({"id": STR}), [True], [False]),
    js(
        "closed-remove-property",
        [obj({"id": STR, "note": STR}, closed=True)],
        obj({"id": STR}, closed=True),
        [False],
        [True],
    ),
    js(
        "make-property-required",
        [obj({"id": STR})],
        obj({"id": STR}, required=["id"]),
        [False],
        [True],
    ),
    js("drop-required", [obj({"id": STR}, required=["id"])], obj({"id": STR}), [True], [False]),
    js("narrow-number-to-integer", [obj({"n": NUM})], obj({"n": INT}), [False], [True]),
    js("widen-integer-to-number", [obj({"n": INT})], obj({"n": NUM}), [True], [False]),
    js("string-to-integer", [obj({"n": STR})], obj({"n": INT}), [False], [False]),
    js(
        "add-null-to-type",
        [obj({"n": STR})],
        obj({"n": {"type": ["string", "null"]}}),
        [True],
        [False],
    ),
    js(
        "enum-extended",
        [obj({"s": {"enum": ["NEW", "PAID"]}})],
        obj({"s": {"enum": ["NEW", "PAID", "VOID"]}}),
        [True],
        [False],
    ),
    js(
        "enum-narrowed",
        [obj({"s": {"enum": ["NEW", "PAID"]}})],
        obj({"s": {"enum": ["NEW"]}}),
        [False],
        [True],
    ),
    js(
        "max-length-decreased",
        [obj({"s": {"type": "string", "maxLength": 10}})],
        obj({"s": {"type": "string", "maxLength": 5}}),
        [False],
        [True],
    ),
    js(
        "max-length-increased",
        [obj({"s": {"type": "string", "maxLength": 5}})],
        obj({"s": {"type": "string", "maxLength": 10}}),
        [True],
        [False],
    ),
    js(
        "minimum-raised",
        [obj({"n": {"type": "integer", "minimum": 0}})],
        obj({"n": {"type": "integer", "minimum": 10}}),
        [False],
        [True],
    ),
    js(
        "array-items-widened",
        [obj({"a": {"type": "array", "items": INT}})],
        obj({"a": {"type": "array", "items": NUM}}),
        [True],
        [False],
    ),
    js(
        "closed-to-open",
        [obj({"id": STR}, closed=True)],
        obj({"id": STR}, closed=False),
        [True],
        [False],
    ),
    js(
        "draft-2020-12-defs-narrowed",
        [
            json.dumps(
                {
                    "$schema": DRAFT_2020,
                    "type": "object",
                    "$defs": {"amt": NUM},
                    "properties": {"a": {"$ref": "#/$defs/amt"}},
                }
            )
        ],
        json.dumps(
            {
                "$schema": DRAFT_2020,
                "type": "object",
                "$defs": {"amt": INT},
                "properties": {"a": {"$ref": "#/$defs/amt"}},
            }
        ),
        [False],
        [True],
    ),
    js(
        "transitive-breaks-on-v1",
        [obj({"n": STR}), obj({"n": INT})],
        obj({"n": NUM}),
        [False, True],
        [False, False],
    ),
]

SCENARIOS = AVRO + PROTOBUF + JSON


@pytest.fixture(scope="module")
def http(cluster1: LocalCluster) -> Iterator[httpx.Client]:
    served = serve(cluster1, f"_schemas-{uuid.uuid4().hex[:8]}", next_http_port())
    with httpx.Client(base_url=served.url, timeout=60) as client:
        yield client
    served.stop()


def test_the_table_covers_three_formats_and_150_cases() -> None:
    assert len(SCENARIOS) * len(LEVELS) >= 150
    assert {s.schema_type for s in SCENARIOS} == {"AVRO", "PROTOBUF", "JSON"}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.schema_type}-{s.name}")
def test_compatibility(http: httpx.Client, scenario: Scenario, level: str) -> None:
    subject = f"{scenario.name}-{level}-{uuid.uuid4().hex[:6]}".lower()
    body = {"schemaType": scenario.schema_type}
    assert http.put(f"/config/{subject}", json={"compatibility": "NONE"}).status_code == 200
    for schema in scenario.history:
        response = http.post(f"/subjects/{subject}/versions", json={**body, "schema": schema})
        assert response.status_code == 200, response.text
    assert http.put(f"/config/{subject}", json={"compatibility": level}).status_code == 200
    expected = scenario.expected(level)

    checked = http.post(
        f"/compatibility/subjects/{subject}/versions/latest",
        params={"verbose": "true"}, json={**body, "schema": scenario.new},
    )  # fmt: skip
    assert checked.status_code == 200, checked.text
    verdict = checked.json()
    assert verdict["is_compatible"] is expected, verdict
    assert bool(verdict["messages"]) is not expected, verdict  # incompatible says why

    registered = http.post(f"/subjects/{subject}/versions", json={**body, "schema": scenario.new})
    if expected:
        assert registered.status_code == 200, registered.text
        versions = http.get(f"/subjects/{subject}/versions").json()
        assert versions == list(range(1, len(scenario.history) + 2))
    else:
        assert registered.status_code == 409, registered.text
        assert registered.json()["error_code"] == 409
        assert http.get(f"/subjects/{subject}/versions").json() == list(
            range(1, len(scenario.history) + 1)
        )


def test_schemas_differing_only_in_a_default_keep_their_own_ids(http: httpx.Client) -> None:
    # Avro's Parsing Canonical Form drops defaults; deduplicating on it would hand out
    # one id for both and serve the wrong text for one of them.
    with_default = record(ID, f("note", "string", default=""))
    without = record(ID, f("note", "string"))
    ids = [
        http.post(f"/subjects/dedup-{uuid.uuid4().hex[:6]}/versions", json={"schema": s}).json()[
            "id"
        ]
        for s in (with_default, without)
    ]
    assert ids[0] != ids[1]
    assert [http.get(f"/schemas/ids/{i}").json()["schema"] for i in ids] == [with_default, without]
