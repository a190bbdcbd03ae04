"""Protobuf parsing, canonical form, rendering and Confluent's compatibility rules.

Compatibility cases are (name, old, new, backward, forward): the schemas are proto3 message
bodies unless they start with ``syntax``; ``backward`` is what the new schema reading data
written with the old one must report (None: nothing), ``forward`` the same the other way
round. An expected message is a substring of one reported problem, path included.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.resources
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from confluent_kafka.schema_registry.common.protobuf import _schema_to_str, _str_to_proto
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

from streamplane.registry.compat.protobuf import (
    ParsedProtobuf,
    ProtobufSchemaError,
    can_read,
    check_compatibility,
    parse_protobuf,
    render_protobuf,
)

PROTO_INCLUDE = importlib.resources.files("grpc_tools") / "_proto"


def p(schema: str, **references: str) -> ParsedProtobuf:
    """Parse a schema; a body without ``syntax`` is proto3. Reference names use ``__`` for
    ``/`` and ``_proto`` for ``.proto``."""
    if not schema.lstrip().startswith(("syntax", "edition")):
        schema = 'syntax = "proto3";\n' + schema
    refs = {k.replace("__", "/").replace("_proto", ".proto"): v for k, v in references.items()}
    return parse_protobuf(schema, references=refs or None)


def serialized(parsed: ParsedProtobuf) -> str:
    return render_protobuf(parsed, "serialized")


ORDER = """
syntax = "proto3";
package shop.v1;

import "google/protobuf/timestamp.proto";
import "common/money.proto";

option java_package = "com.example.shop";

// An order, as the checkout service writes it.
message Order {
  string id = 1;
  common.Money total = 2;
  google.protobuf.Timestamp placed_at = 3;
  repeated Line lines = 4;
  map<string, string> labels = 5;
  oneof payment {
    string card_token = 6;
    string iban = 7;
  }
  optional int32 priority = 8;
  Status status = 9;

  message Line {
    string sku = 1;
    int32 quantity = 2;
  }
  enum Status {
    STATUS_UNSPECIFIED = 0;
    PLACED = 1;
    SHIPPED = 2;
  }
  reserved 15, 20 to 25;
  reserved "legacy_total";
}
"""
MONEY = """
syntax = "proto3";
package common;
message Money {
  string currency = 1;
  int64 units = 2;
  int32 nanos = 3;
}
"""


def order() -> ParsedProtobuf:
    return parse_protobuf(ORDER, references={"common/money.proto": MONEY})


# --- parsing and the canonical form ------------------------------------------------------


def test_parse_returns_canonical_text_and_its_sha256() -> None:
    parsed = order()
    assert parsed.fingerprint == hashlib.sha256(parsed.canonical.encode()).hexdigest()
    assert "package shop.v1;" in parsed.canonical
    assert "map<string, string> labels = 5;" in parsed.canonical
    assert "optional int32 priority = 8;" in parsed.canonical
    assert "oneof payment {" in parsed.canonical
    assert parsed.descriptor.name == "default"
    assert list(parsed.descriptor.dependency) == [
        "google/protobuf/timestamp.proto",
        "common/money.proto",
    ]


def test_canonical_ignores_comments_layout_and_how_type_names_are_written() -> None:
    compact = p("package a; message B { C c = 1; message C { int32 x = 1; } }")
    spread = p(
        """
        package a;
        /* a block comment */
        message B {
          .a.B.C   c = 1;  // fully qualified this time
          message C { int32 x = 1; }
        }
        """
    )
    assert compact.canonical == spread.canonical
    assert compact == spread


def test_different_schemas_have_different_canonical_forms() -> None:
    assert p("message A { int32 x = 1; }").canonical != p("message A { int64 x = 1; }").canonical
    assert p("message A { int32 x = 1; }") != p("message A { int32 y = 1; }")


def test_canonical_keeps_the_order_of_messages_since_it_sets_their_wire_indexes() -> None:
    first = p("message A {} message B {}")
    second = p("message B {} message A {}")
    assert first.canonical != second.canonical


def test_serialized_form_from_confluent_client_equals_text_form() -> None:
    text = (PROTO_INCLUDE / "google/protobuf/timestamp.proto").read_text()
    from_text = parse_protobuf(text)
    from_client = parse_protobuf(_schema_to_str(timestamp_pb2.DESCRIPTOR))
    assert from_client.canonical == from_text.canonical
    assert from_client.fingerprint == from_text.fingerprint


def test_both_forms_of_schema_and_references_give_the_same_canonical() -> None:
    text = order()
    money = serialized(parse_protobuf(MONEY))
    forms = [
        parse_protobuf(serialized(text), references={"common/money.proto": MONEY}),
        parse_protobuf(ORDER, references={"common/money.proto": money}),
        parse_protobuf(serialized(text), references={"common/money.proto": money}),
    ]
    assert {f.canonical for f in forms} == {text.canonical}


def test_json_names_sent_for_every_field_do_not_change_the_canonical_form() -> None:
    # Java's ProtobufSerializer sends a json_name for each field, Python's for none.
    parsed = p("message A { int32 order_id = 1; string note = 2; }")
    descriptor = descriptor_pb2.FileDescriptorProto()
    descriptor.CopyFrom(parsed.descriptor)
    descriptor.message_type[0].field[0].json_name = "orderId"
    descriptor.message_type[0].field[1].json_name = "note"
    java = base64.b64encode(descriptor.SerializeToString()).decode()
    assert parse_protobuf(java).canonical == parsed.canonical


def test_a_custom_json_name_is_kept() -> None:
    parsed = p('message A { int32 order_id = 1 [json_name = "id"]; }')
    assert 'json_name = "id"' in parsed.canonical
    assert parsed.canonical != p("message A { int32 order_id = 1; }").canonical


def test_render_then_parse_round_trips_in_both_formats() -> None:
    parsed = order()
    refs = {"common/money.proto": MONEY}
    assert render_protobuf(parsed) == parsed.canonical
    assert parse_protobuf(render_protobuf(parsed), references=refs).canonical == parsed.canonical
    assert parse_protobuf(serialized(parsed), references=refs).canonical == parsed.canonical


def test_serialized_form_loads_into_a_descriptor_pool_with_its_dependencies() -> None:
    # What confluent-kafka's ProtobufDeserializer does with format=serialized.
    parsed = order()
    money = serialized(parse_protobuf(MONEY))
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(_str_to_proto("common/money.proto", money))
    pool.Add(_str_to_proto("default", serialized(parsed)))
    order_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.v1.Order"))
    message = order_class(id="o-1", labels={"channel": "web"})
    message.total.units = 12
    assert order_class.FromString(message.SerializeToString()) == message


def test_proto2_features_survive_both_round_trips() -> None:
    parsed = p(
        r"""
        syntax = "proto2";
        package legacy;
        import "google/protobuf/descriptor.proto";
        option optimize_for = CODE_SIZE;
        extend google.protobuf.MessageOptions { optional string label = 51234; }
        message C {
          option (label) = "audited";
          required int32 id = 1 [default = -5];
          optional string s = 2 [default = "a\"b\n"];
          optional bytes b = 3 [default = "\377\000x"];
          optional double d = 4 [default = inf];
          optional E e = 6 [default = Y];
          optional group Item = 7 { optional int32 a = 8; }
          repeated int32 nums = 11 [packed = true];
          extensions 100 to 199, 300 to max;
          enum E { option allow_alias = true; X = 1; Y = 2; Z = 2 [deprecated = true]; }
        }
        extend C { optional group Note = 101 { optional string text = 1; } }
        service Orders {
          rpc Get(C) returns (C);
          rpc Watch(stream C) returns (stream C) { option deprecated = true; }
        }
        """
    )
    assert "optional group Item = 7 {" in parsed.canonical
    assert 'option (.legacy.label) = "audited";' in parsed.canonical
    assert parse_protobuf(parsed.canonical).canonical == parsed.canonical
    assert parse_protobuf(serialized(parsed)).canonical == parsed.canonical


def test_editions_survive_both_round_trips() -> None:
    parsed = p(
        """
        edition = "2023";
        package ed;
        option features.field_presence = IMPLICIT;
        message M {
          int32 a = 1 [features.field_presence = EXPLICIT];
          M child = 2 [features.message_encoding = DELIMITED];
          reserved old_name;
        }
        """
    )
    assert parsed.canonical.startswith('edition = "2023";')
    assert parse_protobuf(parsed.canonical).canonical == parsed.canonical
    assert parse_protobuf(serialized(parsed)).canonical == parsed.canonical


GOOGLE_TYPES = [
    "calendar_period",
    "color",
    "date",
    "datetime",
    "dayofweek",
    "decimal",
    "expr",
    "fraction",
    "interval",
    "latlng",
    "money",
    "month",
    "phone_number",
    "postal_address",
    "quaternion",
    "timeofday",
]


@pytest.mark.parametrize(
    "imported",
    [
        *(f"google/protobuf/{name}.proto" for name in ("any", "api", "descriptor", "duration")),
        *(f"google/protobuf/{name}.proto" for name in ("empty", "field_mask", "struct")),
        *(f"google/protobuf/{name}.proto" for name in ("timestamp", "type", "wrappers")),
        *(f"google/type/{name}.proto" for name in GOOGLE_TYPES),
        "confluent/meta.proto",
        "confluent/type/decimal.proto",
        "confluent/type/variant.proto",
    ],
)
def test_well_known_files_resolve_without_a_reference(imported: str) -> None:
    parsed = p(f'import "{imported}"; message A {{ int32 x = 1; }}')
    assert f'import "{imported}";' in parsed.canonical


def test_confluent_field_metadata_options_are_rendered_and_round_trip() -> None:
    parsed = p(
        'import "confluent/meta.proto";\n'
        "message Payment {\n"
        '  string card = 1 [(confluent.field_meta).tags = "PII"];\n'
        "}"
    )
    assert '(.confluent.field_meta) = { tags: "PII" }' in parsed.canonical
    assert parse_protobuf(serialized(parsed)).canonical == parsed.canonical


def test_references_may_import_each_other_in_any_form() -> None:
    base = 'syntax = "proto3"; package base; message Id { string value = 1; }'
    middle = (
        'syntax = "proto3"; package mid; import "base/id.proto"; message Ref { base.Id id = 1; }'
    )
    schema = 'import "mid/ref.proto"; message Top { mid.Ref ref = 1; }'
    as_text = p(schema, base__id_proto=base, mid__ref_proto=middle)
    middle_serialized = serialized(p(middle, base__id_proto=base))
    mixed = p(schema, base__id_proto=base, mid__ref_proto=middle_serialized)
    assert mixed.canonical == as_text.canonical


def test_public_imports_are_followed_and_kept() -> None:
    parsed = p(
        'import "api.proto"; message Order { common.Money total = 1; }',
        api_proto='syntax = "proto3"; import public "common/money.proto";',
        common__money_proto=MONEY,
    )
    refs = {"api.proto": 'syntax = "proto3"; import public "common/money.proto";'}
    refs["common/money.proto"] = MONEY
    assert parse_protobuf(serialized(parsed), references=refs).canonical == parsed.canonical


def test_a_reference_named_like_a_well_known_file_is_ignored() -> None:
    parsed = p(
        'import "google/protobuf/timestamp.proto"; message A { google.protobuf.Timestamp t = 1; }',
        google__protobuf__timestamp_proto="not a schema at all",
    )
    assert "google.protobuf.Timestamp t = 1;" in parsed.canonical


# --- errors --------------------------------------------------------------------------------


def test_unknown_type_error_names_file_line_and_column() -> None:
    with pytest.raises(
        ProtobufSchemaError, match=r'line 3:3 of the schema: "strin" is not defined'
    ):
        p("message A {\n  strin b = 1;\n}")


def test_syntax_error_names_line_and_column() -> None:
    with pytest.raises(
        ProtobufSchemaError, match=r"line 3:14 of the schema: Expected field number"
    ):
        p("message A {\n  string b = ; }")


def test_import_without_reference_is_refused_and_named() -> None:
    with pytest.raises(
        ProtobufSchemaError,
        match=r'line 2:1 of the schema: import "common/money.proto" is neither a reference',
    ):
        p('import "common/money.proto";\nmessage A { common.Money m = 1; }')


def test_serialized_schema_with_unresolved_import_is_refused_and_named() -> None:
    with_money = order()
    with pytest.raises(
        ProtobufSchemaError, match=r"imports 'common/money.proto', which is neither"
    ):
        parse_protobuf(serialized(with_money))


def test_error_in_a_reference_names_the_reference() -> None:
    with pytest.raises(ProtobufSchemaError, match=r"line 1:.* of reference 'bad.proto'"):
        p('import "bad.proto"; message A {}', bad_proto='syntax = "proto3"; message B { x y = 1; }')


def test_proto3_rules_are_enforced() -> None:
    with pytest.raises(ProtobufSchemaError, match="Required fields are not allowed in proto3"):
        p("message A { required int32 a = 1; }")
    with pytest.raises(ProtobufSchemaError, match="Field number 1 has already been used"):
        p("message A { int32 a = 1; int32 b = 1; }")


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../x.proto", "a//b.proto", "a\\b.proto", "", "default"]
)
def test_reference_names_that_are_not_import_paths_are_refused(name: str) -> None:
    with pytest.raises(ProtobufSchemaError, match="invalid reference name"):
        parse_protobuf('syntax = "proto3";', references={name: 'syntax = "proto3";'})


def test_import_cycle_between_references_is_refused() -> None:
    with pytest.raises(ProtobufSchemaError, match="recursively imports itself"):
        p(
            'import "a.proto";',
            a_proto='syntax = "proto3"; import "b.proto";',
            b_proto='syntax = "proto3"; import "a.proto";',
        )


def test_serialized_import_cycle_is_refused() -> None:
    a = base64.b64encode(
        descriptor_pb2.FileDescriptorProto(
            name="a.proto", dependency=["b.proto"]
        ).SerializeToString()
    ).decode()
    b = base64.b64encode(
        descriptor_pb2.FileDescriptorProto(
            name="b.proto", dependency=["a.proto"]
        ).SerializeToString()
    ).decode()
    with pytest.raises(ProtobufSchemaError, match="import cycle"):
        parse_protobuf(
            'syntax = "proto3"; import "a.proto";', references={"a.proto": a, "b.proto": b}
        )


def test_serialized_descriptor_with_invalid_names_is_refused() -> None:
    descriptor = descriptor_pb2.FileDescriptorProto(
        name="x.proto", message_type=[descriptor_pb2.DescriptorProto(name="A } message B {")]
    )
    with pytest.raises(ProtobufSchemaError, match="not a valid descriptor"):
        parse_protobuf(base64.b64encode(descriptor.SerializeToString()).decode())


def test_base64_that_is_not_a_descriptor_is_refused() -> None:
    with pytest.raises(ProtobufSchemaError, match="not a serialized FileDescriptorProto"):
        parse_protobuf(base64.b64encode(b"\xff\xff\xff\xff").decode())


def test_unknown_render_format_is_refused() -> None:
    with pytest.raises(ProtobufSchemaError, match="unknown Protobuf format 'json'"):
        render_protobuf(order(), "json")


@pytest.mark.parametrize(
    "text",
    [
        'syntax = "proto3";' + "message M { " * 5000 + "}" * 5000,
        'syntax = "proto3"; message A\0 { }',
        'syntax = "proto3"; message A { } // \udc80',
        "}}}{{{",
        "AAAA",
        'syntax = "proto3"; message A { int32 a = 99999999999999999999; }',
        'syntax = "proto9";',
        'syntax = "proto3"; message A { map<map<int32, int32>, int32> m = 1; }',
    ],
    ids=["nesting", "nul", "surrogate", "braces", "short-base64", "number", "syntax", "map-key"],
)
def test_hostile_text_is_refused_with_a_schema_error(text: str) -> None:
    with pytest.raises(ProtobufSchemaError):
        parse_protobuf(text)


def test_option_value_nested_too_deeply_is_refused() -> None:
    depth = 3000
    text = (
        'syntax = "proto2"; import "google/protobuf/descriptor.proto";'
        " message R { optional R r = 1; }"
        " extend google.protobuf.FieldOptions { optional R deep = 50000; }"
        " message A { optional int32 a = 1 [(deep) = { "
        + "r { " * depth
        + "}" * (depth + 1)
        + "]; }"
    )
    with pytest.raises(ProtobufSchemaError):
        parse_protobuf(text)


@pytest.mark.filterwarnings("ignore::grpc_tools._protoc_compiler.ProtocWarning")
def test_mutated_schemas_parse_or_fail_with_a_schema_error_only() -> None:
    rng = random.Random(20260101)
    source = ORDER
    descriptor = order().descriptor.SerializeToString()
    for _ in range(150):
        cut = rng.randrange(len(source))
        mutated = (
            source[:cut]
            + rng.choice(["", "{", "}", ";", '"', "=", "0", "\n"])
            + source[cut + rng.randrange(4) :]
        )
        raw = bytearray(descriptor)
        raw[rng.randrange(len(raw))] = rng.randrange(256)
        for text in (mutated, base64.b64encode(bytes(raw)).decode()):
            with contextlib.suppress(ProtobufSchemaError):
                parse_protobuf(text, references={"common/money.proto": MONEY})


def test_parses_from_many_threads_agree_with_sequential_parses() -> None:
    schemas = [f"message M{i} {{ int32 f{i} = {i + 1}; }}" for i in range(24)]
    expected = [p(s).canonical for s in schemas]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda s: p(s).canonical, schemas * 2))
    assert results == expected * 2


# --- compatibility: Confluent's rules, both directions ------------------------------------

# fmt: off
CASES: list[tuple[str, str, str, str | None, str | None]] = [
    # name, old, new, backward (new reads old), forward (old reads new)
    ("identical", "message A { int32 x = 1; }", "message A { int32 x = 1; }", None, None),
    ("package changed",
     "package a; message A { int32 x = 1; }", "package b; message A { int32 x = 1; }",
     "/: package changed from a to b", "/: package changed from b to a"),
    ("message removed is missing for the new reader only",
     "message A {} message B {}", "message A {}",
     "/B: message is in the writer's schema but not in the reader's", None),
    ("nested message removed",
     "message A { message In { int32 x = 1; } }", "message A {}",
     "/A/In: message is in the writer's schema but not", None),
    ("messages reordered", "message A {} message B {}", "message B {} message A {}", None, None),
    ("optional field added or removed",
     "message A { int32 x = 1; }", "message A { int32 x = 1; string y = 2; }", None, None),
    ("field renamed", "message A { int32 x = 1; }", "message A { int32 renamed = 1; }", None, None),
    ("field number changed", "message A { int32 x = 1; }", "message A { int32 x = 2; }", None, None),
    ("int32 to int64", "message A { int32 x = 1; }", "message A { int64 x = 1; }", None, None),
    ("uint32 to uint64 to bool",
     "message A { uint32 x = 1; uint64 y = 2; }", "message A { uint64 x = 1; bool y = 2; }",
     None, None),
    ("sint32 to sint64", "message A { sint32 x = 1; }", "message A { sint64 x = 1; }", None, None),
    ("string to bytes", "message A { string x = 1; }", "message A { bytes x = 1; }", None, None),
    ("fixed32 to sfixed32", "message A { fixed32 x = 1; }", "message A { sfixed32 x = 1; }", None, None),
    ("fixed64 to sfixed64", "message A { fixed64 x = 1; }", "message A { sfixed64 x = 1; }", None, None),
    ("int64 to string",
     "message Order { int64 amount = 3; }", "message Order { string amount = 3; }",
     "/Order/fields/amount (3): scalar type changed from int64 to string",
     "/Order/fields/amount (3): scalar type changed from string to int64"),
    ("int32 to sint32 changes the encoding",
     "message A { int32 x = 1; }", "message A { sint32 x = 1; }",
     "scalar type changed from int32 to sint32", "scalar type changed from sint32 to int32"),
    ("fixed32 to fixed64",
     "message A { fixed32 x = 1; }", "message A { fixed64 x = 1; }",
     "from fixed32 to fixed64", "from fixed64 to fixed32"),
    ("float to double",
     "message A { float x = 1; }", "message A { double x = 1; }",
     "from float to double", "from double to float"),
    ("int32 to fixed32",
     "message A { int32 x = 1; }", "message A { fixed32 x = 1; }",
     "from int32 to fixed32", "from fixed32 to int32"),
    ("int32 to enum is a number either way",
     "message A { int32 s = 1; }", "message A { S s = 1; enum S { Z = 0; } }", None, None),
    ("enum to sint32",
     "message A { S s = 1; enum S { Z = 0; } }", "message A { sint32 s = 1; enum S { Z = 0; } }",
     "/A/fields/s (1): scalar type changed from enum A.S to sint32",
     "scalar type changed from sint32 to enum A.S"),
    ("scalar to message",
     "message A { int64 x = 1; } message M {}", "message A { M x = 1; } message M {}",
     "/A/fields/x (1): kind changed from int64 to message M",
     "/A/fields/x (1): kind changed from message M to int64"),
    ("message type renamed",
     "message A { M x = 1; } message M {} message N {}", "message A { N x = 1; } message M {} message N {}",
     "/A/fields/x (1): message type changed from M to N", "message type changed from N to M"),
    ("map value within a scalar group",
     "message A { map<string, int32> m = 1; }", "message A { map<string, int64> m = 1; }", None, None),
    ("map value scalar group changed",
     "message A { map<string, int32> m = 1; }", "message A { map<string, string> m = 1; }",
     "/A/fields/m (1): map value scalar type changed from int32 to string",
     "map value scalar type changed from string to int32"),
    ("map key changed",
     "message A { map<string, int32> m = 1; }", "message A { map<int32, int32> m = 1; }",
     "map key scalar type changed from string to int32", "map key scalar type changed from int32 to string"),
    ("map to repeated entry message",
     "message A { map<string, string> m = 1; }",
     "message A { repeated E m = 1; } message E { string key = 1; string value = 2; }",
     "/A/fields/m (1): kind changed from map<string, string> to message E",
     "kind changed from message E to map<string, string>"),
    ("map field removed does not count as a message removed",
     "message A { map<string, string> m = 1; }", "message A {}", None, None),
    # Labels: proto3 fields without a keyword have no label in Confluent's model.
    ("proto3 optional int32 to repeated",
     "message A { optional int32 x = 1; }", "message A { repeated int32 x = 1; }",
     "/A/fields/x (1): label changed from optional to repeated",
     "label changed from repeated to optional"),
    ("proto3 implicit int32 to repeated is not a label change",
     "message A { int32 x = 1; }", "message A { repeated int32 x = 1; }", None, None),
    ("proto3 implicit to optional", "message A { int32 x = 1; }", "message A { optional int32 x = 1; }", None, None),
    ("string label change is allowed",
     "message A { optional string x = 1; }", "message A { repeated string x = 1; }", None, None),
    ("message label change is allowed",
     "message A { optional M x = 1; } message M {}", "message A { repeated M x = 1; } message M {}",
     None, None),
    ("proto2 optional to required int",
     'syntax = "proto2"; message A { optional int32 x = 1; }',
     'syntax = "proto2"; message A { required int32 x = 1; }',
     "label changed from optional to required", "label changed from required to optional"),
    ("proto2 required field added",
     'syntax = "proto2"; message A { optional int32 x = 1; }',
     'syntax = "proto2"; message A { optional int32 x = 1; required string y = 2; }',
     "/A/fields/y (2): required field is in the reader's schema but not in the writer's",
     "/A/fields/y (2): required field is in the writer's schema but not in the reader's"),
    ("proto2 optional field added",
     'syntax = "proto2"; message A { optional int32 x = 1; }',
     'syntax = "proto2"; message A { optional int32 x = 1; optional string y = 2; }', None, None),
    # Oneofs.
    ("field added to a oneof: old readers miss a member",
     "message A { oneof o { int32 x = 1; } }", "message A { oneof o { int32 x = 1; string y = 2; } }",
     None, "/A/fields/y (2): member of oneof o in the writer's schema is missing from the reader's"),
    ("whole oneof removed",
     "message A { int32 k = 9; oneof o { int32 x = 1; string y = 2; } }", "message A { int32 k = 9; }",
     None, None),
    ("oneof renamed", "message A { oneof o { int32 x = 1; } }", "message A { oneof p { int32 x = 1; } }",
     None, None),
    ("one field moved into a new oneof",
     "message A { int32 x = 1; }", "message A { oneof o { int32 x = 1; } }", None, None),
    ("two fields moved into a new oneof",
     "message A { int32 x = 1; int32 y = 2; }", "message A { oneof o { int32 x = 1; int32 y = 2; } }",
     "/A/oneofs/o: fields x (1), y (2) are not in a oneof in the writer's schema", None),
    ("field moved into an existing oneof",
     "message A { int32 x = 1; oneof o { int32 y = 2; } }", "message A { oneof o { int32 x = 1; int32 y = 2; } }",
     "/A/oneofs/o: holds fields from field 1 and oneof o of the writer's schema", None),
    ("two oneofs merged",
     "message A { oneof a { int32 x = 1; } oneof b { int32 y = 2; } }",
     "message A { oneof c { int32 x = 1; int32 y = 2; } }",
     "/A/oneofs/c: holds fields from oneof a and oneof b", None),
    ("member moved out of a oneof",
     "message A { oneof o { int32 x = 1; int32 y = 2; } }", "message A { int32 x = 1; oneof o { int32 y = 2; } }",
     None, "/A/oneofs/o: holds fields from field 1 and oneof o"),
    ("type change inside a renamed oneof is still seen",
     "message A { oneof o { int32 x = 1; } }", "message A { oneof p { string x = 1; } }",
     "/A/fields/x (1): scalar type changed from int32 to string", "from string to int32"),
    ("proto3 optional is not a oneof",
     "message A { optional int32 x = 1; int32 k = 2; }", "message A { int32 k = 2; }", None, None),
    # Enums: Confluent accepts every enum change.
    ("enum values added, renamed and removed",
     "message A { S s = 1; enum S { Z = 0; A = 1; B = 2; } }",
     "message A { S s = 1; enum S { Z = 0; RENAMED = 1; C = 3; } }", None, None),
    ("top-level enum removed",
     "message A { int32 s = 1; } enum S { Z = 0; }", "message A { int32 s = 1; }", None, None),
    # Nested and recursive messages.
    ("change in a nested message",
     "message A { message In { int32 x = 1; } In in = 1; }", "message A { message In { string x = 1; } In in = 1; }",
     "/A/In/fields/x (1): scalar type changed from int32 to string", "from string to int32"),
    ("recursive message",
     "message Node { Node next = 1; int32 v = 2; }", "message Node { Node next = 1; int64 v = 2; }", None, None),
]
# fmt: on


@pytest.mark.parametrize(
    ("old", "new", "backward", "forward"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_confluent_rule(old: str, new: str, backward: str | None, forward: str | None) -> None:
    old_schema, new_schema = p(old), p(new)
    for problems, expected in (
        (can_read(new_schema, old_schema), backward),
        (can_read(old_schema, new_schema), forward),
    ):
        if expected is None:
            assert problems == []
        else:
            assert any(expected in problem for problem in problems), problems


def test_problems_start_with_their_path() -> None:
    problems = can_read(
        p("package s; message Order { string amount = 3; }"),
        p("package s; message Order { int64 amount = 3; }"),
    )
    assert problems == ["/Order/fields/amount (3): scalar type changed from int64 to string"]


MONEY_V2 = (
    'syntax = "proto3"; package common; message Money { string currency = 1; string units = 2; }'
)
PRICE = 'import "common/money.proto"; message Price { common.Money amount = 1; }'


def test_referenced_type_is_compared_field_by_field() -> None:
    old = p(PRICE, common__money_proto=MONEY)
    new = p(PRICE, common__money_proto=MONEY_V2)
    expected = (
        "/Price/fields/amount (1): message type common.Money cannot read common.Money: "
        "/Money/fields/units (2): scalar type changed from int64 to string"
    )
    assert can_read(new, old) == [expected]
    assert can_read(old, new) == [expected.replace("int64 to string", "string to int64")]


def test_referenced_type_may_change_package_but_not_name() -> None:
    moved = 'syntax = "proto3"; package money.v2; message Money { string currency = 1; int64 units = 2; }'
    old = p(PRICE, common__money_proto=MONEY)
    new = p('import "m.proto"; message Price { money.v2.Money amount = 1; }', m_proto=moved)
    assert can_read(new, old) == []
    renamed = moved.replace("message Money", "message Amount")
    newer = p('import "m.proto"; message Price { money.v2.Amount amount = 1; }', m_proto=renamed)
    assert can_read(newer, old) == [
        "/Price/fields/amount (1): message type changed from common.Money to money.v2.Amount"
    ]


def test_moving_a_message_into_a_reference_counts_as_removing_it() -> None:
    local = p("message Price { Money amount = 1; } message Money { int64 units = 2; }")
    imported = p(
        'import "m.proto"; message Price { Money amount = 1; }',
        m_proto='syntax = "proto3"; message Money { int64 units = 2; }',
    )
    assert can_read(imported, local) == [
        "/Money: message is in the writer's schema but not in the reader's"
    ]
    assert can_read(local, imported) == []


def test_recursive_referenced_types_terminate() -> None:
    node = 'syntax = "proto3"; package g; message Node { Node next = 1; int32 v = 2; }'
    old = p('import "n.proto"; message G { g.Node head = 1; }', n_proto=node)
    new = p(
        'import "n.proto"; message G { g.Node head = 1; }',
        n_proto=node.replace("int32 v", "string v"),
    )
    assert can_read(new, old) == [
        "/G/fields/head (1): message type g.Node cannot read g.Node: "
        "/Node/fields/v (2): scalar type changed from int32 to string"
    ]


def test_check_compatibility_uses_the_shared_levels() -> None:
    v1 = p("message A { int64 x = 1; }")
    v2 = p("message A { int64 x = 1; string y = 2; }")
    v3 = p("message A { string x = 1; string y = 2; }")
    assert check_compatibility(v2, [v1], "FULL") == []
    assert check_compatibility(v3, [v1, v2], "NONE") == []
    backward = check_compatibility(v3, [v1, v2], "BACKWARD")
    assert backward == [
        "BACKWARD: the new schema cannot read data written with existing schema #2 of 2 (latest): "
        "/A/fields/x (1): scalar type changed from int64 to string"
    ]
    assert len(check_compatibility(v3, [v1, v2], "FULL_TRANSITIVE")) == 4
    with pytest.raises(ValueError, match="unknown compatibility level"):
        check_compatibility(v2, [v1], "SIDEWAYS")


def test_only_added_message_is_forward_compatible_but_removal_is_not_backward() -> None:
    small, large = p("message A {}"), p("message A {} message B {}")
    assert check_compatibility(large, [small], "BACKWARD") == []
    assert check_compatibility(small, [large], "FORWARD") == []
    assert check_compatibility(small, [large], "BACKWARD")
