"""Protobuf schemas for the registry: parse and validate, canonicalise, render, and check
compatibility the way Confluent Schema Registry does.

A schema arrives in one of two forms, and both mean the same thing: .proto text (what people
and most clients send) or the base64 of a serialized FileDescriptorProto (what confluent-kafka's
Python ProtobufSerializer registers, and what ``GET /schemas/ids/{id}?format=serialized``
returns). References map an import path (the Confluent reference *name*) to the text of that
file, in either form; well-known files (google/protobuf, google/type, confluent) need none.

Parser: protoc itself, in-process through grpcio-tools, rather than the pure-Python
proto-schema-parser. Both were tried. protoc is the grammar every Protobuf user's code
generator applies, so the registry accepts exactly the schemas clients can compile, and it
resolves names, checks field numbers, reserved ranges, proto2/proto3/editions rules and
option types, then hands over a FileDescriptorProto. proto-schema-parser gives a syntax tree
only (an undefined type such as ``strin`` parses), so name resolution, the checks and the
descriptor would all have to be written again here; its ANTLR parser was also about seven
times slower on a small schema (1.3 ms against 0.2 ms), printed syntax errors to stderr, and
hit Python's recursion limit on deeply nested input, where protoc stops at 32 levels with an
error. Each parse gets its own directory, protoc importer and descriptor pool, so parses on
different threads share nothing but the read-only well-known files (see ``_proto_compile``);
a parse takes about 1.5 ms.

Compatibility follows Confluent's Protobuf checker (see ``_proto_diff``); the levels are
``_levels.check_levels``, shared with the other formats.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from google.protobuf.descriptor_pb2 import FileDescriptorProto

from streamplane.registry.compat._levels import check_levels
from streamplane.registry.compat._proto_compile import compile_schema
from streamplane.registry.compat._proto_diff import incompatibilities
from streamplane.registry.compat._proto_errors import ProtobufSchemaError

__all__ = [
    "ParsedProtobuf",
    "ProtobufSchemaError",
    "can_read",
    "check_compatibility",
    "parse_protobuf",
    "render_protobuf",
]

#: ``render_protobuf`` formats: .proto text (Confluent's default), or base64 of the descriptor.
FORMATS: tuple[str | None, ...] = (None, "serialized")


@dataclass(frozen=True)
class ParsedProtobuf:
    """A validated schema, with the identity the registry deduplicates on."""

    #: Normalised .proto text, equal for schemas that are the same whatever form they came in.
    canonical: str
    #: Hex SHA-256 of ``canonical``.
    fingerprint: str
    #: The schema's own file (named "default", as Confluent names it), as protoc built it.
    descriptor: FileDescriptorProto = field(compare=False, repr=False)
    #: Every file it imports, transitively, imports first: the checker follows named types
    #: into them. Empty when built by hand; the checker then compares such types by name.
    _dependencies: tuple[FileDescriptorProto, ...] = field(default=(), compare=False, repr=False)


def parse_protobuf(text: str, *, references: dict[str, str] | None = None) -> ParsedProtobuf:
    """Parse and validate ``text``: .proto source, or base64 of a serialized FileDescriptorProto.

    ``references`` maps an import path to the text (either form) of that file; references may
    import one another. Raises ProtobufSchemaError, whose message names the file and, for
    .proto text, the line:column of the problem.
    """
    try:
        compiled = compile_schema(text, references or {})
    except RecursionError:  # hostile input must be refused, not crash the registry
        raise ProtobufSchemaError("invalid Protobuf schema: nested too deeply") from None
    fingerprint = hashlib.sha256(compiled.canonical.encode()).hexdigest()
    return ParsedProtobuf(
        canonical=compiled.canonical,
        fingerprint=fingerprint,
        descriptor=compiled.file,
        _dependencies=compiled.dependencies,
    )


def render_protobuf(parsed: ParsedProtobuf, fmt: str | None = None) -> str:
    """The schema as Confluent Schema Registry returns it: .proto text by default, or with
    ``fmt="serialized"`` the base64 of its FileDescriptorProto (what confluent-kafka's
    ProtobufDeserializer decodes; its imports keep the reference names as paths).
    """
    if fmt is None:
        return parsed.canonical
    if fmt == "serialized":
        data = parsed.descriptor.SerializeToString(deterministic=True)
        return base64.standard_b64encode(data).decode("ascii")
    raise ProtobufSchemaError(f"unknown Protobuf format {fmt!r}; expected one of {FORMATS}")


def can_read(reader: ParsedProtobuf, writer: ParsedProtobuf) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; [] when it can.

    Confluent's rules: each message starts with the path of the problem, like
    ``/Order/fields/amount (3): scalar type changed from int64 to string`` (writer's type
    first). Changes Confluent accepts (new or removed optional fields, enum changes, renames,
    reordered messages) are not reported.
    """
    return incompatibilities(
        reader=(reader.descriptor, reader._dependencies),
        writer=(writer.descriptor, writer._dependencies),
    )


def check_compatibility(
    new: ParsedProtobuf, existing: list[ParsedProtobuf], level: str
) -> list[str]:
    """Why ``new`` may not follow ``existing`` (oldest first) under ``level``; [] if it may."""
    return check_levels(new, existing, level, can_read)
