"""FileDescriptorProto to .proto text: the registry's canonical form, and how a serialized schema
is handed to protoc (which only reads text).

Written so that protoc rebuilds the very same descriptor from it, and nothing more: type and
extension names are fully qualified (``.pkg.Msg``) so no nested scope can shadow them, maps and
groups get their own syntax back, proto3 ``optional`` fields lose their synthetic oneof, and a
``json_name`` is only written where it differs from the one protoc derives (Java clients send
it for every field, Python clients for none). Declarations keep their order: the order of
messages is part of Confluent's wire format (the message indexes in each record).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from google.protobuf import (
    descriptor_pb2,
    message_factory,
    text_encoding,
    text_format,
    unknown_fields,
)
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message

from streamplane.registry.compat._proto_errors import ProtobufSchemaError

_F = descriptor_pb2.FieldDescriptorProto

#: Scalar field types by their descriptor number; message, group and enum fields have a name.
SCALARS: dict[int, str] = {
    _F.TYPE_DOUBLE: "double",
    _F.TYPE_FLOAT: "float",
    _F.TYPE_INT64: "int64",
    _F.TYPE_UINT64: "uint64",
    _F.TYPE_INT32: "int32",
    _F.TYPE_FIXED64: "fixed64",
    _F.TYPE_FIXED32: "fixed32",
    _F.TYPE_BOOL: "bool",
    _F.TYPE_STRING: "string",
    _F.TYPE_BYTES: "bytes",
    _F.TYPE_UINT32: "uint32",
    _F.TYPE_SFIXED32: "sfixed32",
    _F.TYPE_SFIXED64: "sfixed64",
    _F.TYPE_SINT32: "sint32",
    _F.TYPE_SINT64: "sint64",
}

# Exclusive ends that the .proto text spells "max": field numbers stop at 2^29 - 1 (2^31 - 2
# in a message_set_wire_format message), enum numbers at 2^31 - 1 (enum ends are inclusive).
_FIELD_MAX_END = 2**29
_MESSAGE_SET_MAX_END = 2**31 - 1
_ENUM_MAX = 2**31 - 1

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A default value that is not a string: a number, inf/nan, true/false or an enum value name.
_PLAIN_DEFAULT = re.compile(r"-?[A-Za-z0-9_.+]+")


def render_file(file: descriptor_pb2.FileDescriptorProto, pool: DescriptorPool) -> str:
    """The .proto text of ``file``; ``pool`` holds its imports, to name custom options.

    Raises ProtobufSchemaError for an option no imported extension defines (it could only be
    written as raw bytes, which .proto text cannot express).
    """
    return _FileWriter(file, pool).write()


def quote(text: str) -> str:
    """A .proto string literal (UTF-8 kept, quotes and control characters escaped)."""
    return '"' + text_encoding.CEscape(text.encode("utf-8"), True) + '"'


def default_json_name(field_name: str) -> str:
    """The JSON name protoc gives a field that does not set one: ``order_id`` -> ``orderId``."""
    parts: list[str] = []
    upper = False
    for char in field_name:
        if char == "_":
            upper = True
        elif upper:
            parts.append(char.upper())
            upper = False
        else:
            parts.append(char)
    return "".join(parts)


class _FileWriter:
    """Writes one file; ``scope`` arguments are fully qualified names with a leading dot."""

    def __init__(self, file: descriptor_pb2.FileDescriptorProto, pool: DescriptorPool) -> None:
        self.file = file
        self.pool = pool
        self.syntax = file.syntax if file.syntax in ("proto3", "editions") else "proto2"
        self.lines: list[str] = []

    def write(self) -> str:
        file = self.file
        self._header()
        scope = f".{file.package}" if file.package else ""
        nested = {f"{scope}.{m.name}": m for m in file.message_type}
        inlined = self._inlined(file.extension, nested)
        for message in file.message_type:
            if f"{scope}.{message.name}" not in inlined:
                self._blank()
                self._message(message, 0, scope)
        for enum in file.enum_type:
            self._blank()
            self._enum(enum, 0)
        self._extensions(file.extension, 0, nested)
        for service in file.service:
            self._blank()
            self._service(service)
        return "\n".join(self.lines) + "\n"

    def _emit(self, level: int, text: str) -> None:
        self.lines.append("  " * level + text)

    def _blank(self) -> None:
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def _header(self) -> None:
        file = self.file
        if self.syntax == "editions":
            try:
                edition = descriptor_pb2.Edition.Name(file.edition).removeprefix("EDITION_")
            except ValueError:
                raise ProtobufSchemaError(f"unknown edition number {file.edition}") from None
            self._emit(0, f"edition = {quote(edition)};")
        else:
            self._emit(0, f'syntax = "{self.syntax}";')
        if file.package:
            self._blank()
            self._emit(0, f"package {file.package};")
        if file.dependency or file.option_dependency:
            self._blank()
        for index, dependency in enumerate(file.dependency):
            modifier = (
                "public "
                if index in file.public_dependency
                else "weak "
                if index in file.weak_dependency
                else ""
            )
            self._emit(0, f"import {modifier}{quote(dependency)};")
        for dependency in file.option_dependency:
            self._emit(0, f"import option {quote(dependency)};")
        if file.HasField("options"):
            self._blank()
            self._option_statements(file.options, 0)

    # --- messages ------------------------------------------------------------------------

    def _message(self, message: descriptor_pb2.DescriptorProto, level: int, scope: str) -> None:
        self._emit(level, f"message {message.name} {{")
        self._message_body(message, level + 1, f"{scope}.{message.name}")
        self._emit(level, "}")

    def _message_body(
        self, message: descriptor_pb2.DescriptorProto, level: int, full_name: str
    ) -> None:
        if message.HasField("options"):
            self._option_statements(message.options, level)
        nested = {f"{full_name}.{n.name}": n for n in message.nested_type}
        inlined = self._inlined([*message.field, *message.extension], nested)
        written_oneofs: set[int] = set()
        for field in message.field:
            if not _in_real_oneof(field):
                self._field(field, level, nested)
                continue
            if field.oneof_index in written_oneofs:
                continue
            written_oneofs.add(field.oneof_index)
            self._oneof(message, field.oneof_index, level, nested)
        for enum in message.enum_type:
            self._enum(enum, level)
        for child in message.nested_type:
            if f"{full_name}.{child.name}" not in inlined:
                self._message(child, level, full_name)
        self._extensions(message.extension, level, nested)
        for extension_range in message.extension_range:
            end = extension_range.end
            max_end = (
                _MESSAGE_SET_MAX_END if message.options.message_set_wire_format else _FIELD_MAX_END
            )
            numbers = _range(extension_range.start, end - 1, end == max_end)
            options = self._bracketed(_assignments(self._options(extension_range.options)))
            self._emit(level, f"extensions {numbers}{options};")
        self._reserved(
            [_range(r.start, r.end - 1, r.end == _FIELD_MAX_END) for r in message.reserved_range],
            message.reserved_name,
            level,
        )

    def _oneof(
        self,
        message: descriptor_pb2.DescriptorProto,
        index: int,
        level: int,
        nested: dict[str, descriptor_pb2.DescriptorProto],
    ) -> None:
        declaration = message.oneof_decl[index]
        self._emit(level, f"oneof {declaration.name} {{")
        if declaration.HasField("options"):
            self._option_statements(declaration.options, level + 1)
        for member in message.field:
            if _in_real_oneof(member) and member.oneof_index == index:
                self._field(member, level + 1, nested, in_oneof=True)
        self._emit(level, "}")

    def _field(
        self,
        field: descriptor_pb2.FieldDescriptorProto,
        level: int,
        nested: dict[str, descriptor_pb2.DescriptorProto],
        *,
        in_oneof: bool = False,
    ) -> None:
        entry = nested.get(field.type_name)
        options = self._bracketed(self._field_options(field))
        if entry is not None and entry.options.map_entry:
            key, value = _map_key_value(entry)
            kind = f"map<{_type_of(key)}, {_type_of(value)}>"
            self._emit(level, f"{kind} {field.name} = {field.number}{options};")
            return
        label = self._label(field, in_oneof)
        if entry is not None and self._is_group(field):
            self._emit(level, f"{label}group {entry.name} = {field.number}{options} {{")
            self._message_body(entry, level + 1, field.type_name)
            self._emit(level, "}")
            return
        self._emit(level, f"{label}{_type_of(field)} {field.name} = {field.number}{options};")

    def _is_group(self, field: descriptor_pb2.FieldDescriptorProto) -> bool:
        """Written with group syntax (editions has none: there a group is a message field
        with the DELIMITED encoding feature)."""
        return field.type == _F.TYPE_GROUP and self.syntax != "editions"

    def _inlined(
        self,
        fields: Sequence[descriptor_pb2.FieldDescriptorProto],
        nested: dict[str, descriptor_pb2.DescriptorProto],
    ) -> set[str]:
        """Messages of ``nested`` written inside a field of ``fields``: map entries, groups."""
        return {
            f.type_name
            for f in fields
            if f.type_name in nested
            and (nested[f.type_name].options.map_entry or self._is_group(f))
        }

    def _label(self, field: descriptor_pb2.FieldDescriptorProto, in_oneof: bool) -> str:
        if in_oneof:
            return ""
        if field.label == _F.LABEL_REPEATED:
            return "repeated "
        if field.label == _F.LABEL_REQUIRED and self.syntax != "editions":
            return "required "  # invalid in proto3, and written so that protoc says so
        if self.syntax == "proto2" or field.proto3_optional:
            return "optional "
        return ""  # proto3 implicit presence; in editions presence is a feature option

    def _field_options(self, field: descriptor_pb2.FieldDescriptorProto) -> list[str]:
        entries: list[str] = []
        if field.HasField("default_value"):
            entries.append(f"default = {_default_value(field)}")
        if field.HasField("json_name") and field.json_name != default_json_name(field.name):
            entries.append(f"json_name = {quote(field.json_name)}")
        entries.extend(_assignments(self._options(field.options)))
        return entries

    def _extensions(
        self,
        fields: Sequence[descriptor_pb2.FieldDescriptorProto],
        level: int,
        nested: dict[str, descriptor_pb2.DescriptorProto],
    ) -> None:
        """``extend`` blocks, one per run of extensions of the same message (in order)."""
        extendee: str | None = None
        for field in fields:
            if field.extendee != extendee:
                if extendee is not None:
                    self._emit(level, "}")
                extendee = field.extendee
                self._blank()
                self._emit(level, f"extend {extendee} {{")
            self._field(field, level + 1, nested)
        if extendee is not None:
            self._emit(level, "}")

    # --- enums and services ----------------------------------------------------------------

    def _enum(self, enum: descriptor_pb2.EnumDescriptorProto, level: int) -> None:
        self._emit(level, f"enum {enum.name} {{")
        if enum.HasField("options"):
            self._option_statements(enum.options, level + 1)
        for value in enum.value:
            options = self._bracketed(_assignments(self._options(value.options)))
            self._emit(level + 1, f"{value.name} = {value.number}{options};")
        self._reserved(
            [_range(r.start, r.end, r.end == _ENUM_MAX) for r in enum.reserved_range],
            enum.reserved_name,
            level + 1,
        )
        self._emit(level, "}")

    def _service(self, service: descriptor_pb2.ServiceDescriptorProto) -> None:
        self._emit(0, f"service {service.name} {{")
        if service.HasField("options"):
            self._option_statements(service.options, 1)
        for method in service.method:
            request = ("stream " if method.client_streaming else "") + method.input_type
            response = ("stream " if method.server_streaming else "") + method.output_type
            head = f"rpc {method.name}({request}) returns ({response})"
            options = self._options(method.options)
            if not options:
                self._emit(1, head + ";")
                continue
            self._emit(1, head + " {")
            for name, value in options:
                self._emit(2, f"option {name} = {value};")
            self._emit(1, "}")
        self._emit(0, "}")

    def _reserved(self, ranges: list[str], names: Sequence[str], level: int) -> None:
        if ranges:
            self._emit(level, f"reserved {', '.join(ranges)};")
        if names:
            # Edition 2023 writes reserved names as identifiers, the older syntaxes as strings.
            bare = self.syntax == "editions" and all(_IDENTIFIER.fullmatch(n) for n in names)
            listed = ", ".join(names) if bare else ", ".join(quote(n) for n in names)
            self._emit(level, f"reserved {listed};")

    # --- options ---------------------------------------------------------------------------

    def _option_statements(self, options: Message, level: int) -> None:
        for name, value in self._options(options):
            self._emit(level, f"option {name} = {value};")

    @staticmethod
    def _bracketed(entries: Sequence[str]) -> str:
        return f" [{', '.join(entries)}]" if entries else ""

    def _options(self, options: Message) -> list[tuple[str, str]]:
        """(name, value) pairs of the options set, custom ones named ``(.pkg.extension)``.

        Custom options arrive as unknown fields of descriptor_pb2's options messages; parsing
        the bytes again with the options class of ``pool`` turns them into extensions.
        """
        data = options.SerializeToString(deterministic=True)
        if not data:
            return []
        try:
            resolved = self._options_class(options).FromString(data)
        except DecodeError as exc:  # nested deeper than the runtime reads (100 levels)
            raise ProtobufSchemaError(f"{options.DESCRIPTOR.name} cannot be read: {exc}") from None
        unknown = unknown_fields.UnknownFieldSet(resolved)
        if len(unknown):
            kind = options.DESCRIPTOR.name
            raise ProtobufSchemaError(
                f"{kind} field {unknown[0].field_number} is set, but no imported file "
                "defines an extension with that number"
            )
        entries: list[tuple[str, str]] = []
        for field, value in resolved.ListFields():
            name = f"(.{field.full_name})" if field.is_extension else field.name
            values = value if field.is_repeated else [value]
            entries.extend((name, _option_value(field, item)) for item in values)
        return entries

    def _options_class(self, options: Message) -> type[Message]:
        try:
            descriptor = self.pool.FindMessageTypeByName(options.DESCRIPTOR.full_name)
        except KeyError:  # descriptor.proto not in the pool: no custom option can be in use
            return type(options)
        return message_factory.GetMessageClass(descriptor)


def _assignments(options: list[tuple[str, str]]) -> list[str]:
    return [f"{name} = {value}" for name, value in options]


def _in_real_oneof(field: descriptor_pb2.FieldDescriptorProto) -> bool:
    """In a oneof the schema declares (proto3 ``optional`` makes a synthetic one)."""
    return field.HasField("oneof_index") and not field.proto3_optional


def _map_key_value(
    entry: descriptor_pb2.DescriptorProto,
) -> tuple[descriptor_pb2.FieldDescriptorProto, descriptor_pb2.FieldDescriptorProto]:
    by_number = {f.number: f for f in entry.field}
    if 1 not in by_number or 2 not in by_number:
        raise ProtobufSchemaError(f"map entry {entry.name} lacks its key or value field")
    return by_number[1], by_number[2]


def _type_of(field: descriptor_pb2.FieldDescriptorProto) -> str:
    return SCALARS.get(field.type) or field.type_name


def _range(start: int, last: int, to_max: bool) -> str:
    if to_max:
        return f"{start} to max"
    return str(start) if start == last else f"{start} to {last}"


def _default_value(field: descriptor_pb2.FieldDescriptorProto) -> str:
    value = field.default_value
    if field.type == _F.TYPE_STRING:
        return quote(value)
    if field.type == _F.TYPE_BYTES:  # stored C-escaped; unescaped and escaped again to be sure
        return '"' + text_encoding.CEscape(text_encoding.CUnescape(value), False) + '"'
    if not _PLAIN_DEFAULT.fullmatch(value):
        raise ProtobufSchemaError(f"field {field.name} has an invalid default value {value!r}")
    return value


def _option_value(field: FieldDescriptor, value: object) -> str:
    if field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        assert isinstance(value, Message)
        body = text_format.MessageToString(value, as_one_line=True)
        return f"{{ {body} }}" if body else "{}"
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert isinstance(value, int) and field.enum_type is not None
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else str(value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if field.type == FieldDescriptor.TYPE_STRING:
        assert isinstance(value, str)
        return quote(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        assert isinstance(value, bytes)
        return '"' + text_encoding.CEscape(value, False) + '"'
    return repr(value) if isinstance(value, float) else str(value)
